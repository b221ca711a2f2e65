"""Files through the real readers: open_table → detect_format → validate_row."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import openpyxl

from xinyong.catalog.rules import PartyKind
from xinyong.ingest.readers import open_table
from xinyong.ingest.standards import detect_format, guess_kind, known_headers
from xinyong.ingest.validate import validate_row

from .helpers import LICENCE, PENALTY, PERSON_ID, SHOP, TODAY, licence_row, penalty_row

HEADERS = [
    "行政相对人名称",
    "行政相对人类别",
    "行政相对人代码_1（统一社会信用代码）",
    "法定代表人",
    "证件类型",
    "证件号码",
    "行政处罚决定书文号",
    "违法行为类型",
    "违法事实",
    "处罚依据",
    "处罚类别",
    "处罚内容",
    "罚款金额（万元）",
    "处罚决定日期",
    "处罚有效期",
    "处罚机关",
    "处罚机关统一社会信用代码",
    "数据来源单位",
    "数据来源单位统一社会信用代码",
    "ID",
]


def _values(row: dict, extra_id: str) -> list:
    by_norm = {k.replace("(", "（").replace(")", "）"): v for k, v in row.items()}
    return [extra_id if h == "ID" else by_norm.get(h, row.get(h, "")) for h in HEADERS]


def _run(path, kind=None):
    table = open_table(path, known_headers=known_headers())
    kind = kind or guess_kind(table.headers)
    hm = detect_format(kind, table.headers, today=TODAY)
    hm.require_complete()
    results = [(n, *validate_row(kind, hm, n, values)) for n, values in table.rows]
    return table, hm, results


def test_gbk_csv(tmp_path):
    path = tmp_path / "penalties.csv"
    rows = [
        _values(penalty_row(行政处罚决定书文号="榕鼓市监罚【2024】1号"), "a1"),
        _values(
            penalty_row(
                行政相对人类别="个体工商户",
                行政相对人名称="鼓楼区张记小吃店",
                **{"行政相对人代码_1(统一社会信用代码)": SHOP, "处罚决定日期": "2024年3月5日"},
            ),
            "a2",
        ),
        _values(
            penalty_row(
                行政相对人类别="自然人",
                行政相对人名称="李明",
                法定代表人="",
                **{
                    "行政相对人代码_1(统一社会信用代码)": "",
                    "证件类型": "身份证",
                    "证件号码": PERSON_ID,
                    "处罚类别": "警告",
                    "罚款金额(万元)": "",
                },
            ),
            "a3",
        ),
        _values(penalty_row(处罚决定日期="2019-02-30"), "a4"),
    ]
    with path.open("w", encoding="gbk", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerow([""] * len(HEADERS))  # blank line between rows: skipped, numbers kept
        writer.writerows(rows)
    table, hm, results = _run(path)
    assert table.encoding == "gb18030" and hm.kind is PENALTY and hm.format == "current_zh"
    assert [n for n, _, _ in results] == [3, 4, 5, 6]
    (_, a, _), (_, b, _), (_, c, _), (n, bad, issues) = results
    assert a.doc_no_norm == "榕鼓市监罚〔2024〕1号" and a.fine_wan == Decimal("1.5") and a.extra == {"ID": "a1"}
    assert b.party_kind is PartyKind.INDIVIDUAL_BUSINESS and b.decision_date == dt.date(2024, 3, 5)
    assert c.party_kind is PartyKind.NATURAL_PERSON and c.party_id_number == PERSON_ID
    assert (
        bad is None and n == 6 and [(i.row, i.column, i.code) for i in issues] == [(6, "处罚决定日期", "date_invalid")]
    )


def test_xlsx_with_a_title_row(tmp_path):
    path = tmp_path / "licences.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["福州市鼓楼区行政许可信息（双公示）"])
    ws.append([])
    row = licence_row()
    headers = list(row)
    ws.append([h.replace("(", "（").replace(")", "）") for h in headers])
    values = [row[h] for h in headers]
    values[headers.index("许可决定日期")] = dt.datetime(2024, 3, 5)  # a date cell
    values[headers.index("有效期自")] = 45356  # an Excel serial
    values[headers.index("有效期至")] = "长期"
    values[headers.index("当前状态")] = 1
    ws.append(values)
    ws.append([row[h] if h != "许可类别" else "审批" for h in headers])
    wb.save(path)
    table, hm, results = _run(path)
    assert table.header_row == 3 and hm.kind is LICENCE and hm.missing == []
    (n1, rec, issues), (n2, bad, errors) = results
    assert (n1, n2) == (4, 5) and issues == []
    assert rec.decision_date == rec.licence_valid_from == dt.date(2024, 3, 5)
    assert rec.licence_valid_to is None and rec.data["valid_to_open_ended"] is True
    assert rec.current_status_valid is True and rec.licence_category == "普通"
    assert bad is None and [(i.row, i.column, i.code) for i in errors] == [(5, "许可类别", "enum_invalid")]


def test_file_missing_required_columns_is_refused(tmp_path):
    import pytest

    from xinyong.core.errors import ValidationFailed

    path = tmp_path / "short.csv"
    path.write_text("行政相对人名称,行政处罚决定书文号,处罚类别\n某公司,罚〔2024〕1号,警告\n", encoding="utf-8-sig")
    table = open_table(path, known_headers=known_headers(PENALTY))
    hm = detect_format(PENALTY, table.headers)
    with pytest.raises(ValidationFailed) as exc:
        hm.require_complete()
    assert exc.value.code == "columns_missing"
    assert "处罚决定日期" in exc.value.details["missing"] and "行政相对人类别" in exc.value.details["missing"]
