"""Issue #13, finding 1: a department cannot submit a decision in another authority's name (both backends).

Department B (税务局) submits a penalty whose 处罚机关 is department A (市场监管局): the row is rejected with
``authority_not_registered`` on every path — file upload over HTTP, JSON push, the CLI, the admin acting for B —
and is counted, reported and downloadable like any rejected row; nothing is published. A then submits its own
decision with that document number and it is accepted as A's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token, make_uscc, register_authority
from tests.ingest.helpers import LICENCE, PENALTY, header_map, licence_row, penalty_row, zh_headers
from xinyong.auth.roles import Role, system_principal
from xinyong.auth.service import authorities_of
from xinyong.catalog.service import seed_catalog
from xinyong.cli import app
from xinyong.ingest import service
from xinyong.ingest.models import IngestBatch, RejectedRow
from xinyong.ingest.standards import detect_format
from xinyong.ingest.validate import validate_row
from xinyong.records.models import CreditRecord

ADMIN = system_principal("tests")
A_NAME, B_NAME = "沁阳市市场监督管理局", "沁阳市税务局"
A_USCC, B_USCC, UNIT_USCC = make_uscc(6601), make_uscc(6602), make_uscc(6603)
UNIT_NAME = "沁阳市市场监督管理局城区分局"
DOC = "沁市监罚〔2026〕88号"


def today(days: int = 2) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def decision(doc: str = DOC, *, name: str = A_NAME, code: str = A_USCC, **changes: str) -> dict[str, str]:
    """A recent penalty decided by ``name`` / ``code``."""
    return penalty_row(
        **{
            "行政处罚决定书文号": doc,
            "处罚决定日期": today(),
            "公示截止期": "",
            "处罚有效期": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
            "处罚机关": name,
            "处罚机关统一社会信用代码": code,
            "数据来源单位": name,
            "数据来源单位统一社会信用代码": code,
            **changes,
        }
    )


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


@pytest.fixture
def departments(session):
    seed_catalog(session, actor=ADMIN)
    a = make_department(session, code="scjgj", name=A_NAME, uscc=A_USCC, short_name="市场监管局")
    b = make_department(session, code="swj", name=B_NAME, uscc=B_USCC)
    return a, b


def records(session) -> list[tuple[str, int]]:
    session.rollback()  # see what the app and the CLI committed
    return [(r.doc_no, r.department_id) for r in session.scalars(select(CreditRecord).order_by(CreditRecord.id))]


def assert_refused(
    summary: dict, *, row: int = 2, column: str = "处罚机关统一社会信用代码", code: str = "authority_not_registered"
):
    """One row (the sender's row number: 2 in a file under its header, 1 in a JSON push), refused by the rule."""
    assert summary["status"] == "rejected" and (summary["accepted"], summary["rejected"]) == (0, 1), summary
    assert summary["error_counts"] == {code: 1}
    [error] = summary["errors"]
    assert (error["row"], error["column"], error["code"]) == (row, column, code)
    assert A_NAME in error["message"] and B_NAME in error["message"] and "平台管理员" in error["message"]


def test_file_upload_over_http(session, client, departments):
    a, b = departments
    op_a = auth_headers(make_token(session, Role.DEPT_OPERATOR, a))
    op_b = auth_headers(make_token(session, Role.DEPT_OPERATOR, b))
    resp = client.post(
        "/api/v1/ingest/files",
        files={"file": ("处罚.csv", csv_bytes([decision()]), "text/csv")},
        data={"kind": "penalty"},
        headers=op_b,
    )
    assert resp.status_code == 201, resp.text
    summary = resp.json()
    assert_refused(summary)
    assert records(session) == []
    # The rejected row is downloadable in B's own columns, with the reason, for correction.
    report = client.get(f"/api/v1/ingest/batches/{summary['batch']}/errors.csv", headers=op_b)
    table = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert len(table) == 2 and "authority_not_registered" in table[1] and A_USCC in table[1]
    # A's own decision with that number is accepted as A's.
    resp = client.post(
        "/api/v1/ingest/files",
        files={"file": ("处罚.csv", csv_bytes([decision()]), "text/csv")},
        data={"kind": "penalty"},
        headers=op_a,
    )
    assert resp.status_code == 201 and resp.json()["created"] == 1, resp.text
    assert records(session) == [(DOC, a.id)]


def test_json_push(session, client, departments):
    a, b = departments
    body = {"kind": "penalty", "rows": [decision()]}
    resp = client.post(
        "/api/v1/ingest/batches", json=body, headers=auth_headers(make_token(session, Role.DEPT_OPERATOR, b))
    )
    assert resp.status_code == 201
    assert_refused(resp.json(), row=1)
    # The admin acting for B is held to B's authorities too.
    admin = auth_headers(make_token(session, Role.ADMIN))
    resp = client.post(
        "/api/v1/ingest/batches",
        params={"department_id": b.id},
        json={"kind": "penalty", "rows": [decision(**{"备注": "管理员代报"})]},
        headers=admin,
    )
    assert resp.status_code == 201
    assert_refused(resp.json(), row=1)
    assert records(session) == []
    resp = client.post(
        "/api/v1/ingest/batches", json=body, headers=auth_headers(make_token(session, Role.DEPT_OPERATOR, a))
    )
    assert resp.status_code == 201 and resp.json()["created"] == 1
    assert records(session) == [(DOC, a.id)]


def test_cli_ingest(database, tmp_path):
    with database.sessionmaker() as s:
        seed_catalog(s, actor=ADMIN)
        make_department(s, code="scjgj", name=A_NAME, uscc=A_USCC)
        make_department(s, code="swj", name=B_NAME, uscc=B_USCC)
    path = tmp_path / "处罚.csv"
    path.write_bytes(csv_bytes([decision()]))
    runner = CliRunner()
    result = runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "swj", "--json"])
    assert result.exit_code == 1, result.output  # it ran, the batch was refused
    assert_refused(json.loads(result.stdout))
    text = runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "swj"])
    assert text.exit_code == 1 and "整批退回" in text.stdout and "退回 1" in text.stdout
    result = runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "scjgj", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["created"] == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(CreditRecord)) == 1
        assert s.scalar(select(func.count()).select_from(RejectedRow)) == 2


def test_own_code_under_another_name_and_mixed_batch(session, departments):
    a, b = departments
    rows = [
        decision("沁税罚〔2026〕1号", name=B_NAME, code=B_USCC),
        decision("沁税罚〔2026〕2号", name=A_NAME, code=B_USCC),  # B's code, A's name
        decision("沁税罚〔2026〕3号", name="税务局", code=B_USCC),
    ]  # not B's name, nor its short name (none)
    s = service.ingest_rows(session, actor=ADMIN, department_id=b.id, kind="penalty", rows=rows)
    session.commit()
    assert (s["status"], s["rows"], s["accepted"], s["created"], s["rejected"]) == ("partial", 3, 1, 1, 2)
    assert s["error_counts"] == {"authority_name_mismatch": 2}
    assert {e["column"] for e in s["errors"]} == {"处罚机关"}
    assert f"「{B_NAME}」" in s["errors"][0]["message"]
    # reject_all: one such row refuses the whole batch.
    s = service.ingest_rows(
        session,
        actor=ADMIN,
        department_id=b.id,
        kind="penalty",
        rows=[decision("沁税罚〔2026〕4号", name=B_NAME, code=B_USCC), decision("沁税罚〔2026〕5号")],
        reject_all=True,
    )
    assert (s["status"], s["accepted"], s["rejected"]) == ("rejected", 0, 1)
    assert records(session) == [("沁税罚〔2026〕1号", b.id)]
    # The short name is the department's own.
    s = service.ingest_rows(
        session,
        actor=ADMIN,
        department_id=a.id,
        kind="penalty",
        rows=[decision("沁市监罚〔2026〕9号", name="市场监管局")],
    )
    assert s["created"] == 1


def test_registered_unit_and_licences(session, departments):
    a, b = departments
    unit = decision("沁市监城罚〔2026〕1号", name=UNIT_NAME, code=UNIT_USCC)
    assert service.ingest_rows(session, actor=ADMIN, department_id=a.id, kind="penalty", rows=[unit])["rejected"] == 1
    register_authority(session, a, uscc=UNIT_USCC, name=UNIT_NAME)
    s = service.ingest_rows(session, actor=ADMIN, department_id=a.id, kind="penalty", rows=[unit])
    assert (s["created"], s["rejected"]) == (1, 0)
    # The same rule for licences (许可机关): B may not license in A's unit's name.
    licence = licence_row(
        **{
            "许可决定日期": today(),
            "有效期自": today(),
            "许可机关": UNIT_NAME,
            "许可机关统一社会信用代码": UNIT_USCC,
            "数据来源单位": B_NAME,
            "数据来源单位统一社会信用代码": B_USCC,
        }
    )
    s = service.ingest_rows(session, actor=ADMIN, department_id=b.id, kind="licence", rows=[licence])
    assert s["error_counts"] == {"authority_not_registered": 1}
    assert s["errors"][0]["column"] == "许可机关统一社会信用代码" and "许可机关" in s["errors"][0]["message"]
    s = service.ingest_rows(session, actor=ADMIN, department_id=a.id, kind="licence", rows=[licence])
    assert s["created"] == 1
    session.commit()
    assert session.scalar(select(func.count()).select_from(IngestBatch)) == 4


def test_row_side_needs_no_database():
    """The rule runs in ``validate_row`` with the set loaded at the start of the batch; other errors of the row
    are reported with it, so one correction round fixes everything."""
    from xinyong.auth.authorities import Authorities

    rule = Authorities.of(department_name=B_NAME, department_uscc=B_USCC)
    hm = header_map(PENALTY)
    headers = zh_headers(PENALTY)
    row = penalty_row(**{"处罚机关": A_NAME, "处罚机关统一社会信用代码": A_USCC, "罚款金额(万元)": "-1"})
    record, issues = validate_row(PENALTY, hm, 2, [row.get(h) for h in headers], rule)
    assert record is None and {i.code for i in issues} == {"authority_not_registered", "amount_negative"}
    # Without a set (the standard's rules only) the same authority passes.
    record, issues = validate_row(PENALTY, hm, 2, [penalty_row().get(h) for h in headers])
    assert record is not None and issues == []
    # A malformed authority code is reported once, as malformed, not also as unregistered.
    bad = penalty_row(**{"处罚机关统一社会信用代码": "123"})
    _, issues = validate_row(PENALTY, hm, 2, [bad.get(h) for h in headers], rule)
    assert [i.code for i in issues if i.column == "处罚机关统一社会信用代码"] == ["uscc_length"]
    # A licence file whose 许可机关 column is named as in the standard.
    lic_headers = zh_headers(LICENCE)
    lic = licence_row(**{"许可机关": B_NAME, "许可机关统一社会信用代码": B_USCC})
    record, issues = validate_row(LICENCE, header_map(LICENCE), 2, [lic.get(h) for h in lic_headers], rule)
    assert record is not None and issues == []


def test_a_2016_file_names_its_authority_by_name_only(session, departments):
    """2016-format files carry no USCC of the authority: the name must be one of the department's."""
    a, b = departments
    headers = [
        "CF_WSH",
        "CF_CFLB1",
        "CF_SY",
        "CF_YJ",
        "CF_XDR",
        "CF_XDR_SHXYM",
        "CF_FR",
        "CF_JG",
        "CF_JDRQ",
        "CF_XZJG",
        "DFBM",
    ]
    hm = detect_format(PENALTY, headers, today=dt.date.today())
    assert hm.format == "legacy_2016" and hm.missing == [] and "authority_uscc" not in hm.columns
    row = [
        DOC,
        "警告",
        "经营超过保质期的食品",
        "《中华人民共和国食品安全法》",
        "某某商贸有限公司",
        penalty_row()["行政相对人代码_1(统一社会信用代码)"],
        "王建国",
        "警告",
        today(),
        A_NAME,
        "410882",
    ]
    record, issues = validate_row(PENALTY, hm, 2, row, authorities_of(session, department_id=b.id))
    assert record is None and [(i.code, i.column) for i in issues] == [("authority_not_registered", "CF_XZJG")]
    assert "未填写统一社会信用代码" in issues[0].message
    record, issues = validate_row(PENALTY, hm, 2, row, authorities_of(session, department_id=a.id))
    assert issues == [] and record is not None and record.authority == A_NAME
