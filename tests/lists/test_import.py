"""File import of list entries: Chinese headers, row errors, keep-good vs reject-all, idempotent re-import."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
from sqlalchemy import func, select

from tests.lists.entry_helpers import (
    ADMIN,
    API,
    COMPANY,
    OTHER_COMPANY,
    PERSON,
    PERSON_ID,
    company_uscc,
    make_env,
)
from xinyong.core import clock
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import ValidationFailed
from xinyong.lists import importer
from xinyong.lists.models import ListEntry

HEADERS = [
    "名单类型",
    "主体名称",
    "统一社会信用代码",
    "列入事由",
    "失信事实",
    "认定依据",
    "决定文书号",
    "认定日期",
    "有效期至",
    "告知日期",
]


@pytest.fixture
def env(session):
    return make_env(session)


def _rows(today: dt.date) -> list[list[str]]:
    good_day = (today - dt.timedelta(days=10)).strftime("%Y年%m月%d日")
    return [
        ["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "", "", "A〔2024〕1号", good_day, "", ""],
        [
            "纳税信用A级纳税人名单",
            OTHER_COMPANY,
            company_uscc(2),
            "纳税信用A级",
            "",
            "",
            "A〔2024〕2号",
            today.isoformat(),
            "",
            "",
        ],
        ["tax_a_grade", COMPANY, "91410882MA0000XXXX", "纳税信用A级", "", "", "A〔2024〕3号", good_day, "", ""],
        ["no_such_list", COMPANY, company_uscc(1), "x", "", "", "A〔2024〕4号", good_day, "", ""],
        ["tax_a_grade", "别的公司", company_uscc(1), "纳税信用A级", "", "", "A〔2024〕5号", good_day, "", ""],
        ["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "", "", "A〔2024〕1号", good_day, "", ""],
        ["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "", "", "A〔2024〕6号", "2024-02-30", "", ""],
        [
            "tax_serious_dishonest",
            COMPANY,
            company_uscc(1),
            "偷税",
            "少缴税款",
            "",
            "沁税罚〔2024〕1号",
            today.isoformat(),
            "",
            today.isoformat(),
        ],
    ]


def _csv(path, rows, encoding="utf-8-sig"):
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


def test_bad_rows_are_reported_and_good_rows_kept(session, env, tmp_path):
    today = clock.today()
    path = _csv(tmp_path / "名单.csv", _rows(today), encoding="gb18030")
    report = importer.import_entries(session, actor=ADMIN, path=path)
    session.commit()
    assert report["rows"] == 8 and report["created"] == 2 and report["rejected"] == 6 and report["applied"]
    by_row = {e["row"]: e for e in report["errors"]}
    assert by_row[4]["code"] == "bad_subject_code" and by_row[4]["column"] == "统一社会信用代码"
    assert by_row[5]["code"] == "unknown_list_type" and by_row[5]["column"] == "名单类型"
    assert by_row[6]["code"] == "name_mismatch" and by_row[6]["column"] == "主体名称"
    assert by_row[7]["code"] == "duplicate_in_file" and "第 2 行" in by_row[7]["message"]
    assert by_row[8]["code"] == "bad_date" and by_row[8]["column"] == "认定日期"
    assert by_row[9]["code"] == "notice_period_running" and by_row[9]["column"] == "告知日期"
    assert all(e["message"] for e in report["errors"])
    entries = session.scalars(select(ListEntry).order_by(ListEntry.id)).all()
    assert [(e.decision_no, e.source, e.status) for e in entries] == [
        ("A〔2024〕1号", "file", "active"),
        ("A〔2024〕2号", "file", "active"),
    ]
    assert entries[0].listed_on == today - dt.timedelta(days=10)
    assert entries[0].legal_basis.startswith("纳税信用管理办法")  # the type's first basis by default
    imports = session.scalars(select(AuditEvent).where(AuditEvent.action == "lists.entry.import")).all()
    assert len(imports) == 1 and imports[0].after["created"] == 2

    # The same file again: nothing new, the stored rows skipped, the bad rows reported again.
    again = importer.import_entries(session, actor=ADMIN, path=path)
    session.commit()
    assert again["created"] == 0 and again["skipped"] == 2 and again["rejected"] == 6
    assert session.scalar(select(func.count()).select_from(ListEntry)) == 2


def test_reject_all_writes_nothing(session, env, tmp_path):
    path = _csv(tmp_path / "x.csv", _rows(clock.today()))
    with pytest.raises(ValidationFailed) as exc:
        importer.import_entries(session, actor=ADMIN, path=path, reject_all=True)
    session.rollback()
    assert exc.value.code == "import_rejected" and exc.value.details["rejected"] == 6
    assert session.scalar(select(func.count()).select_from(ListEntry)) == 0


def test_changed_row_is_an_error_not_an_overwrite(session, env, tmp_path):
    today = clock.today()
    rows = [["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "", "", "A〔2024〕1号", today.isoformat(), "", ""]]
    importer.import_entries(session, actor=ADMIN, path=_csv(tmp_path / "a.csv", rows))
    session.commit()
    rows[0][4] = "新的事实"
    report = importer.import_entries(session, actor=ADMIN, path=_csv(tmp_path / "b.csv", rows))
    assert report["created"] == 0 and [e["code"] for e in report["errors"]] == ["entry_exists"]
    assert session.scalar(select(ListEntry.facts)) == ""


def test_xlsx_with_list_for_whole_file_and_person_notice(session, env, tmp_path):
    today = clock.today()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["重大税收违法失信主体名单导入"])  # a title row above the header
    ws.append(["主体名称", "身份证号码", "列入事由", "决定文书号", "告知日期"])
    ws.append([PERSON, PERSON_ID, "虚开发票", "沁税罚〔2024〕7号", today])
    path = tmp_path / "notice.xlsx"
    wb.save(path)
    report = importer.import_entries(session, actor=ADMIN, path=path, list_code="tax_serious_dishonest")
    session.commit()
    assert report["notified"] == 1 and report["errors"] == [], report
    entry = session.scalar(select(ListEntry))
    assert entry.status == "notified" and entry.party_code != PERSON_ID and "*" in entry.party_code
    assert PERSON_ID not in json.dumps(report, ensure_ascii=False)


def test_missing_columns_and_foreign_list_refused_for_the_whole_file(session, env, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("主体名称,决定文书号\n某公司,1号\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        importer.import_entries(session, actor=ADMIN, path=path, list_code="tax_a_grade")
    assert exc.value.code == "import_columns_missing"


def test_import_over_http_by_department_operator(client, session, env):
    today = clock.today()
    rows = [
        {
            "主体名称": COMPANY,
            "统一社会信用代码": company_uscc(1),
            "列入事由": "纳税信用A级",
            "决定文书号": "A〔2024〕1号",
            "认定日期": today.isoformat(),
        },
        {
            "主体名称": OTHER_COMPANY,
            "统一社会信用代码": "不是代码",
            "列入事由": "纳税信用A级",
            "决定文书号": "A〔2024〕2号",
            "认定日期": today.isoformat(),
        },
    ]
    content = json.dumps(rows, ensure_ascii=False).encode()
    files = {"file": ("名单.json", io.BytesIO(content), "application/json")}
    r = client.post(f"{API}/imports", files=files, data={"list_code": "tax_a_grade"}, headers=env.swj_op)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 1 and body["rejected"] == 1 and body["errors"][0]["row"] == 2
    assert body["errors"][0]["code"] == "bad_subject_code"
    listed = client.get(f"{API}/entries", headers=env.swj_op).json()
    assert [x["department_id"] for x in listed] == [env.swj.id]
    # Another department cannot import into the tax list; nothing is written.
    files = {"file": ("名单.json", io.BytesIO(content), "application/json")}
    r = client.post(f"{API}/imports", files=files, data={"list_code": "tax_a_grade"}, headers=env.scjgj_op)
    assert r.status_code == 403 and r.json()["error"]["code"] == "list_not_managed"
    # Reject-all over HTTP: 422 with the row errors, nothing written.
    rows[0]["决定文书号"] = "A〔2024〕9号"
    files = {"file": ("x.json", io.BytesIO(json.dumps(rows, ensure_ascii=False).encode()), "application/json")}
    r = client.post(
        f"{API}/imports",
        files=files,
        data={"list_code": "tax_a_grade", "reject_all_on_error": "true"},
        headers=env.swj_op,
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["errors"][0]["row"] == 2
    assert len(client.get(f"{API}/entries", headers=env.swj_op).json()) == 1


def test_numbers_in_text_columns_and_absurd_dates_are_row_errors(session, env, tmp_path):
    """JSON numbers where text belongs (1e308, NaN, 2^64) and a day of 20 digits: row errors, never a crash."""
    day = clock.today().isoformat()
    values = ["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "", "", "A〔2024〕1号", day, "", ""]
    base = dict(zip(HEADERS, values, strict=True))
    rows = [
        base | {"主体名称": "__1e308"},
        base | {"认定依据": "__NaN", "决定文书号": "A〔2024〕2号"},
        base | {"主体名称": "__18446744073709551616", "决定文书号": "A〔2024〕3号"},
        base | {"认定日期": "2024-01-99999999999999999999", "决定文书号": "A〔2024〕4号"},
    ]
    text = json.dumps(rows, ensure_ascii=False)
    for number in ("1e308", "NaN", "18446744073709551616"):
        text = text.replace(f'"__{number}"', number)
    path = tmp_path / "entries.json"
    path.write_text(text, encoding="utf-8")
    report = importer.import_entries(session, actor=ADMIN, path=path)
    assert {(e["row"], e["code"]) for e in report["errors"]} == {
        (1, "name_mismatch"),
        (3, "name_mismatch"),
        (4, "bad_date"),
    }, report["errors"]
    assert report["created"] == 1  # 认定依据 NaN is text "nan": an odd basis, but text


def test_an_import_answers_the_common_summary(session, env, tmp_path):
    from xinyong.core.batches import BatchSummary

    today = clock.today()
    report = importer.import_entries(session, actor=ADMIN, path=_csv(tmp_path / "名单.csv", _rows(today)))
    common = report["summary"]
    assert set(common) == set(BatchSummary("x").as_dict())
    assert (
        common["importer"],
        common["mode"],
        common["status"],
        common["rows"],
        common["accepted"],
        common["rejected"],
    ) == ("lists", "keep_good", "partially_accepted", 8, 2, 6)
    assert common["errors"] == report["errors"]
