"""Row validation against the 信用承诺 data standard (pure, no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.commitments.helpers import PERSON_ID, code_for, person_row, row
from xinyong.commitments.validate import (
    check_commitment_code,
    map_headers,
    validate_row,
)
from xinyong.ingest.readers import table_from_records

TODAY = dt.date(2024, 6, 1)


def run(rows: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    table = table_from_records(rows)
    hm, missing = map_headers(table.headers, table.raw_headers)
    assert not missing
    return [validate_row(hm, n, v, today=TODAY) for n, v in table.rows]


def errors_of(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, str]:
    [(value, issues)] = run([{**(base or row()), **changes}])
    assert value is None, "row should be rejected"
    return {i.code: i.column for i in issues}


def test_valid_row_is_normalised():
    [(value, issues)] = run([row(7, **{"承诺有效期": "长期", "承诺类型": "信用修复型"})])
    assert issues == [] and value is not None
    assert value.code == code_for(dt.date(2024, 3, 1), 7)
    assert value.commitment_type == "credit_repair" and value.fulfilment_status == "pending"
    assert value.valid_until is None and value.public_type == "public" and value.made_on == dt.date(2024, 3, 1)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("41088220240301000", "commitment_code_length"),
        ("4108822024030100000A", "commitment_code_charset"),
        ("99999920240301000001", "commitment_code_region"),
        ("41088220240231000001", "commitment_code_date"),
        ("41088220990301000001", "commitment_code_date"),
    ],
)
def test_commitment_code_structure(code: str, error: str):
    assert errors_of({"承诺编码": code}) == {error: "承诺编码"}


def test_code_parts_and_date_mismatch_is_a_warning():
    code, when = check_commitment_code("410882 20240301 000123", today=TODAY)
    assert code == "41088220240301000123" and when == dt.date(2024, 3, 1)
    [(value, issues)] = run([row(1, **{"承诺编码": "41088220240302000001"})])
    assert value is not None and [i.code for i in issues] == ["commitment_code_date_mismatch"]


def test_required_and_enums():
    assert errors_of({"承诺人类别": "机关"}) == {"enum_invalid": "承诺人类别"}
    [(_, issues)] = run([{**row(), "承诺内容": "", "承诺类型": "口头型", "公开类型": "内部", "承诺履行状态": "差不多"}])
    codes = sorted((i.column, i.code) for i in issues)
    assert codes == [
        ("公开类型", "enum_invalid"),
        ("承诺内容", "required_missing"),
        ("承诺履行状态", "enum_invalid"),
        ("承诺类型", "enum_invalid"),
    ]
    assert all(i.row == 1 and i.message.startswith(i.column) for i in issues)


def test_conditional_fields_unless_fully_kept():
    assert errors_of({"承诺履行状态": "全部未履行", "履行状态认定日期": "2024-05-01"}) == {
        "unfulfilled_content_missing": "未履行的承诺内容",
        "liability_pursued_missing": "违诺责任追究内容",
    }
    [(value, _)] = run([row(**{"承诺履行状态": "全部履行", "履行状态认定日期": "2024-05-01"})])
    assert value is not None and value.fulfilment_status == "fulfilled"
    [(value, _)] = run(
        [row(**{"承诺履行状态": "部分未履行", "未履行的承诺内容": "未补齐场所证明", "违诺责任追究内容": "撤销许可"})]
    )
    assert value is not None and value.fulfilment_status == "partial"
    assert errors_of({"履行状态认定日期": "2024-05-01"}) == {"fulfilment_status_missing": "承诺履行状态"}


def test_lengths():
    assert errors_of({"承诺人名称": "名" * 201}) == {"too_long": "承诺人名称"}
    assert errors_of({"承诺事由": "由" * 513}) == {"too_long": "承诺事由"}
    assert errors_of({"承诺内容": "容" * 4001}) == {"too_long": "承诺内容"}
    [(value, _)] = run([row(**{"承诺内容": "容" * 4000})])
    assert value is not None


def test_dates():
    assert errors_of({"承诺作出日期": "2024-02-30", "承诺编码": code_for(dt.date(2024, 3, 1), 1)}) == {
        "date_invalid": "承诺作出日期"
    }
    assert errors_of({"承诺有效期": "2024-01-01"}) == {"date_order": "承诺有效期"}
    assert errors_of({"承诺履行状态": "全部履行", "履行状态认定日期": "2024-12-01"}) == {
        "date_in_future": "履行状态认定日期"
    }
    late = dt.date(2024, 5, 30)
    [(value, _)] = run([row(**{"承诺作出日期": "2024年5月30日", "承诺编码": code_for(late, 1)})])
    assert value is not None and value.made_on == late


def test_codes_of_promisor_and_units():
    [(value, issues)] = run([row(**{"承诺人代码": "91410882MA00000000"})])
    assert value is None and [(i.column, i.code[:5]) for i in issues] == [("承诺人代码", "uscc_")]
    assert list(errors_of({"承诺受理单位代码": "123"}).values()) == ["承诺受理单位代码"]
    bad_id = PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")
    [(value, issues)] = run([person_row(**{"承诺人代码": bad_id})])
    assert value is None and issues[0].column == "承诺人代码" and issues[0].code.startswith("resident_id")
    assert bad_id not in repr(issues) and issues[0].value is not None and "*" in issues[0].value
    [(value, _)] = run([person_row()])
    assert value is not None and value.promisor_id_number == PERSON_ID and value.promisor_uscc is None
    assert PERSON_ID not in repr(value.content_dict())


def test_english_keys_and_missing_columns():
    english = {
        "commitment_code": code_for(dt.date(2024, 3, 1), 5),
        "promisor_name": "沁阳市甲公司",
        "promisor_kind": "legal_person",
        "promisor_code": row(5)["承诺人代码"],
        "commitment_type": "voluntary",
        "reason": "行业自律",
        "content": "诚信经营",
        "liability": "接受惩戒",
        "made_on": "2024-03-01",
        "accepting_unit": "沁阳市市场监督管理局",
        "accepting_unit_code": row()["承诺受理单位代码"],
        "public_type": "scoped",
    }
    [(value, issues)] = run([english])
    assert issues == [] and value is not None and value.public_type == "scoped"
    table = table_from_records([{"承诺编码": "x", "承诺人名称": "y"}])
    _, missing = map_headers(table.headers, table.raw_headers)
    assert "承诺内容" in missing and "承诺编码" not in missing
