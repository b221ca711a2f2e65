"""Batches end to end: files and API pushes in, records out, errors back in the department's own format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, COMPANY, PERSON_ID, penalty_row
from xinyong.auth.roles import Role, system_principal
from xinyong.auth.service import remove_authority
from xinyong.catalog.service import seed_catalog
from xinyong.cli import app
from xinyong.core.audit import verify_chain
from xinyong.core.errors import ValidationFailed
from xinyong.ingest import service
from xinyong.ingest.models import IngestBatch, RejectedRow
from xinyong.records.models import CreditRecord, RecordVersion

ADMIN = system_principal("tests")


def recent(days: int = 3) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def rows(n: int, *, bad: dict[int, dict] | None = None, decided: str | None = None) -> list[dict]:
    out = []
    for i in range(n):
        r = penalty_row(
            **{
                "行政处罚决定书文号": f"沁市监罚〔2026〕{i + 1}号",
                "处罚决定日期": decided or recent(),
                "处罚有效期": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
                "公示截止期": "",
            }
        )
        r.update((bad or {}).get(i, {}))
        out.append(r)
    return out


def write_csv(path, data: list[dict], encoding: str = "utf-8-sig"):
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.DictWriter(fh, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    return path


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_file_partial_batch_versions_and_idempotence(session, dept, tmp_path):
    data = rows(
        5,
        bad={
            1: {"罚款金额(万元)": "-3"},
            3: {"处罚决定日期": "2019-02-30"},
            4: {"违法事实": '=HYPERLINK("http://x")', "行政相对人代码_1(统一社会信用代码)": "91350100M000100Y4X"},
        },
    )
    path = write_csv(tmp_path / "处罚.csv", data, encoding="gb18030")
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    session.commit()
    assert (s["status"], s["rows"], s["accepted"], s["rejected"], s["created"]) == ("partial", 5, 2, 3, 2)
    assert s["encoding"] == "gb18030" and s["kind"] == "penalty"
    assert {e["row"] for e in s["errors"]} == {3, 5, 6}
    assert all(e["code"] and e["message"] for e in s["errors"])
    assert count(session, CreditRecord) == 2 and count(session, RejectedRow) == 3
    version = session.scalars(select(RecordVersion)).first()
    assert version.batch_id == s["batch"] and version.source_row in (2, 4)

    again = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    assert again["duplicate_of"] == s["batch"] and count(session, IngestBatch) == 1

    # The department fixes a row and resends: one new record, the others unchanged.
    data[1]["罚款金额(万元)"] = "3"
    data[0]["处罚内容"] = "警告，罚款人民币贰万元"
    s2 = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "2.csv", data))
    session.commit()
    assert (s2["created"], s2["updated"], s2["unchanged"]) == (1, 1, 1)
    assert count(session, RecordVersion) == 4
    assert verify_chain(session).ok


def test_error_report_in_departments_format_and_escaped(session, dept, tmp_path):
    data = rows(3, bad={2: {"违法事实": "=1+2", "罚款金额(万元)": "abc"}})
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "x.csv", data))
    session.commit()
    content, name = service.error_report(session, actor=ADMIN, batch_id=s["batch"], fmt="csv")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0][: len(data[0])] == list(data[0]) and table[0][-3:] == ["错误行号", "错误代码", "错误说明"]
    assert len(table) == 2 and table[1][list(data[0]).index("违法事实")] == "'=1+2"
    assert "罚款金额" in table[1][-1]
    content, name = service.error_report(session, actor=ADMIN, batch_id=s["batch"], fmt="xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(content)).active
    cells = [c.value for c in ws[2]]
    assert "'=1+2" in cells and ws[2][0].data_type == "s" and name.endswith(".xlsx")


def test_reject_all_mode_writes_no_record(session, dept, tmp_path):
    path = write_csv(tmp_path / "x.csv", rows(4, bad={3: {"处罚类别": "打板子"}}))
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path, reject_all=True)
    session.commit()
    assert (s["status"], s["accepted"], s["rejected"]) == ("rejected", 0, 1)
    assert count(session, CreditRecord) == 0
    clean = write_csv(tmp_path / "y.csv", rows(4))
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=clean, reject_all=True)
    assert (s["status"], s["created"]) == ("accepted", 4)


def test_missing_columns_refuse_the_file(session, dept, tmp_path):
    data = [{k: v for k, v in r.items() if k not in ("处罚决定日期", "处罚机关")} for r in rows(2)]
    with pytest.raises(ValidationFailed) as err:
        service.ingest_file(
            session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "x.csv", data), kind="penalty"
        )
    assert err.value.code == "columns_missing"
    assert set(err.value.details["missing"]) >= {"处罚决定日期", "处罚机关"}
    assert count(session, IngestBatch) == 0


def test_duplicates_in_file_and_late_rows(session, dept, tmp_path):
    data = rows(3, decided="2025-01-06")
    data[2]["行政处罚决定书文号"] = data[0]["行政处罚决定书文号"].replace("〔", "【").replace("〕", "】")
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "x.csv", data))
    assert s["rejected"] == 1 and s["errors"][0]["code"] == "duplicate_in_file"
    assert s["late"] == 2
    session.commit()
    report = {r["department"]: r for r in service.timeliness(session)}
    assert report["scjgj"]["late"] == 2 and report["scjgj"]["late_rate"] == 1.0


def test_rows_the_record_store_refuses_are_rejected_not_dropped(session, dept, tmp_path):
    """A valid row naming a decision another department owns is refused by the store: it must come back as a
    rejected row of the batch (counted, in the errors and the error report), not vanish from an 'accepted' count.

    Reached when the admin moves an authority from one department to another: its earlier decisions stay with the
    department that submitted them."""
    other = make_department(session, code="swj")
    session.commit()
    data = rows(3)
    first = service.ingest_file(
        session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "a.csv", data[:1])
    )
    assert first["created"] == 1
    remove_authority(session, actor=ADMIN, ref=dept.id, uscc=AUTHORITY, reason="划转")
    register_authority(session, other, uscc=AUTHORITY, name=AUTHORITY_NAME)
    s = service.ingest_file(session, actor=ADMIN, department_id=other.id, path=write_csv(tmp_path / "b.csv", data))
    session.commit()
    assert (s["status"], s["rows"], s["accepted"], s["created"], s["rejected"]) == ("partial", 3, 2, 2, 1)
    assert s["errors"] == [
        {
            "row": 2,
            "column": "行政处罚决定书文号",
            "value": None,
            "code": "record_of_other_department",
            "message": s["errors"][0]["message"],
        }
    ]
    assert s["error_counts"] == {"record_of_other_department": 1}
    content, _ = service.error_report(session, actor=ADMIN, batch_id=s["batch"], fmt="csv")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(table) == 2 and table[1][list(data[0]).index("行政处罚决定书文号")] == data[0]["行政处罚决定书文号"]
    assert table[1][-2] == "record_of_other_department"
    assert count(session, CreditRecord) == 3


def test_crash_mid_batch_leaves_nothing(database, tmp_path, monkeypatch):
    with database.sessionmaker() as s:
        seed_catalog(s, actor=ADMIN)
        dept = make_department(s, code="scjgj")
        register_authority(s, dept, uscc=AUTHORITY, name=AUTHORITY_NAME)
        dept_id = dept.id
    path = write_csv(tmp_path / "big.csv", rows(5000))
    import xinyong.records.upsert as records_upsert

    real, calls = records_upsert.upsert_records, {"n": 0}

    def crash(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*a, **kw)

    monkeypatch.setattr(records_upsert, "upsert_records", crash)
    with pytest.raises(RuntimeError), database.session() as s:
        service.ingest_file(s, actor=ADMIN, department_id=dept_id, path=path)
    with database.session() as s:
        assert count(s, CreditRecord) == 0 and count(s, IngestBatch) == 0 and count(s, RecordVersion) == 0


def test_api_push_upload_and_department_isolation(client, session, dept, tmp_path):
    other = make_department(session, code="swj")
    op = make_token(session, Role.DEPT_OPERATOR, dept)
    other_op = make_token(session, Role.DEPT_OPERATOR, other)
    coded = [
        {
            "CF_XDR_MC": r["行政相对人名称"],
            "CF_XDR_LB": r["行政相对人类别"],
            "CF_XDR_SHXYM": COMPANY,
            "CF_WSH": r["行政处罚决定书文号"],
            "CF_WFXW": r["违法行为类型"],
            "CF_SY": r["违法事实"],
            "CF_YJ": r["处罚依据"],
            "CF_CFLB": r["处罚类别"],
            "CF_NR": r["处罚内容"],
            "CF_NR_FK": r["罚款金额(万元)"],
            "CF_JDRQ": r["处罚决定日期"],
            "CF_YXQ": r["处罚有效期"],
            "CF_CFJG": r["处罚机关"],
            "CF_CFJGDM": r["处罚机关统一社会信用代码"],
            "CF_SJLY": r["数据来源单位"],
            "CF_SJLYDM": r["数据来源单位统一社会信用代码"],
            "RESOURCE_ID": "abc",
        }
        for r in rows(2)
    ]
    r = client.post("/api/v1/ingest/batches", json={"kind": "penalty", "rows": coded}, headers=auth_headers(op))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["standard"] == "current_coded" and body["created"] == 2 and body["channel"] == "api"
    assert client.post("/api/v1/ingest/batches", json={"kind": "penalty", "rows": coded}).status_code == 401
    assert client.get(f"/api/v1/ingest/batches/{body['batch']}", headers=auth_headers(other_op)).status_code == 404
    assert client.get("/api/v1/ingest/batches", headers=auth_headers(other_op)).json() == []

    bad = rows(
        2,
        bad={
            0: {
                "证件号码": PERSON_ID,
                "行政相对人类别": "自然人",
                "证件类型": "身份证",
                "行政相对人名称": "王小明",
                "行政相对人代码_1(统一社会信用代码)": "",
                "罚款金额(万元)": "-1",
            }
        },
    )
    path = write_csv(tmp_path / "up.csv", bad)
    r = client.post(
        "/api/v1/ingest/files",
        files={"file": ("处罚.csv", path.read_bytes(), "text/csv")},
        data={"kind": "penalty"},
        headers=auth_headers(op),
    )
    assert r.status_code == 201 and r.json()["rejected"] == 1
    assert PERSON_ID not in r.text
    batch = r.json()["batch"]
    r = client.get(f"/api/v1/ingest/batches/{batch}/errors.xlsx", headers=auth_headers(op))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxml")
    assert client.get(f"/api/v1/ingest/batches/{batch}/errors.csv", headers=auth_headers(other_op)).status_code == 404
    raw = session.execute(select(RejectedRow.values_enc)).scalars().all()
    assert raw and all(PERSON_ID not in v for v in raw)


def test_cli_ingest_json_dry_run_and_exit_codes(database, tmp_path):
    with database.sessionmaker() as s:
        seed_catalog(s, actor=ADMIN)
        register_authority(s, make_department(s, code="scjgj"), uscc=AUTHORITY, name=AUTHORITY_NAME)
    runner = CliRunner()
    good = write_csv(tmp_path / "g.csv", rows(3))
    r = runner.invoke(app, ["--db", database.url, "ingest", str(good), "--department", "scjgj", "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["accepted"] == 3 and out["dry_run"] is True
    # Rolled back: no batch number that `batches show` could not find.
    assert out["batch"] is None and out["summary"]["batch"] is None
    with database.session() as s:
        assert count(s, CreditRecord) == 0
    r = runner.invoke(app, ["--db", database.url, "ingest", str(good), "--department", "scjgj", "--json"])
    assert json.loads(r.stdout)["created"] == 3
    bad = write_csv(tmp_path / "b.csv", rows(2, bad={0: {"处罚决定日期": "昨天"}}))
    r = runner.invoke(
        app, ["--db", database.url, "ingest", str(bad), "--department", "scjgj", "--reject-all-on-error", "--json"]
    )
    assert r.exit_code == 1 and json.loads(r.stdout)["errors"][0]["row"] == 2
    r = runner.invoke(app, ["--db", database.url, "ingest", str(bad), "--department", "nope", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"]
    r = runner.invoke(app, ["--db", database.url, "batches", "list", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 2
    out_file = tmp_path / "errors.xlsx"
    batch = json.loads(r.stdout)[0]["batch"]
    r = runner.invoke(app, ["--db", database.url, "batches", "errors", str(batch), "-o", str(out_file)])
    assert r.exit_code == 0 and out_file.stat().st_size > 0


def test_cli_text_reads_in_chinese_and_local_time(database, tmp_path, monkeypatch):
    """Text output for people: labels instead of codes, China Standard Time; --json keeps the codes and UTC."""
    from xinyong.core import clikit
    from xinyong.core.clock import local_text

    monkeypatch.setattr(clikit.console, "width", 200)  # no wrapped cells, whatever the terminal

    with database.sessionmaker() as s:
        seed_catalog(s, actor=ADMIN)
        register_authority(s, make_department(s, code="scjgj"), uscc=AUTHORITY, name=AUTHORITY_NAME)
    runner = CliRunner()
    path = write_csv(tmp_path / "b.csv", rows(2, bad={0: {"处罚决定日期": "昨天"}}))
    dry = runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "scjgj", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "试运行" in dry.stdout and "没有批次号" in dry.stdout and "批次 " not in dry.stdout
    done = runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "scjgj"])
    assert "行政处罚" in done.stdout and "日期无效" in done.stdout and "date_invalid" not in done.stdout
    listed = runner.invoke(app, ["--db", database.url, "batches", "list", "--json"])
    batch = json.loads(listed.stdout)[0]
    assert batch["kind"] == "penalty" and batch["status"] == "partial"
    text = runner.invoke(app, ["--db", database.url, "batches", "list"]).stdout
    assert "行政处罚" in text and "部分退回" in text and "penalty" not in text
    assert local_text(batch["received_at"]) in text and batch["received_at"][:19].replace("T", " ") not in text


def test_a_batch_answers_the_common_summary(session, dept, tmp_path):
    """The shape every bulk import answers (``core.batches.BatchSummary``), beside the batch's own fields."""
    from xinyong.core.batches import BatchSummary

    path = write_csv(tmp_path / "s.csv", rows(3, bad={1: {"罚款金额(万元)": "-3"}}))
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    common = s["summary"]
    assert set(common) == set(BatchSummary("x").as_dict())
    assert (common["importer"], common["batch"], common["mode"], common["status"]) == (
        "ingest",
        s["batch"],
        "keep_good",
        "partially_accepted",
    )
    assert (common["rows"], common["accepted"], common["rejected"]) == (3, 2, 1)
    assert [(e["row"], e["code"]) for e in common["errors"]] == [(e["row"], e["code"]) for e in s["errors"]]
    assert sum(common["error_counts"].values()) == len(common["errors"])
