"""Issuing and verifying credit reports through the service, the API and the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_token
from tests.records.helpers import PERSON_ID
from tests.reports.helpers import COMPANY, PERSON, build, last_code, pdf_text
from xinyong.auth.roles import ANONYMOUS, Role, system_principal
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import Forbidden, NotFound
from xinyong.identifiers import resident_id
from xinyong.reports import service
from xinyong.reports.config import reset_reports_settings
from xinyong.reports.models import IssuedReport

API = "/api/v1/reports"


def test_company_report_sections_and_register(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XINYONG_PUBLIC_BASE_URL", "https://xy.example.test/")
    reset_reports_settings()
    env = build(session)
    try:
        report, data = service.generate_report(session, subject_code=env.uscc, requester=ANONYMOUS)
    finally:
        reset_reports_settings()
    session.commit()
    assert report.sections["licences"] == 1
    assert report.sections["penalties"] == 1  # the penalty whose window is over is left out
    assert report.sections["black"] == 1 and report.sections["red"] == 1
    assert report.sections["commitments"] == 1 and report.sections["evaluation"] == 0
    assert report.requester_kind == "public" and report.subject_name == COMPANY and report.subject_code == env.uscc
    assert "沁阳市市场监督管理局" in report.sources
    text = pdf_text(data)
    for needle in (
        COMPANY,
        env.uscc,
        "沁市监许〔报告〕1号",
        "沁市监罚〔报告〕1号",
        "食品药品安全严重失信主体名单",
        "守合同重信用企业名单",
        service.NO_EVALUATION,
        report.number,
        service.display_code(report.short_code),
    ):
        assert needle in text, needle
    assert "沁市监罚〔报告〕旧号" not in text
    assert f"https://xy.example.test/reports/verify?code={report.short_code}" in text
    assert PERSON not in text
    import hashlib

    assert hashlib.sha256(data).hexdigest() == report.sha256 and report.size == len(data) and report.pages >= 1
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "reports.issue"))
    assert event is not None and event.entity_id == str(report.id)


def test_verify_by_number_code_and_bytes(session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    report, data = service.generate_report(session, subject_code=env.uscc, requester=ANONYMOUS)
    session.commit()
    by_number = service.verify_report(session, number=report.number.lower())
    assert by_number["status"] == "registered" and by_number["report"]["sha256"] == report.sha256
    code = service.display_code(report.short_code).lower()
    assert service.verify_report(session, short_code=f" {code} ")["report"]["number"] == report.number
    assert service.verify_report(session, pdf_bytes=data)["status"] == "valid"
    assert service.verify_report(session, short_code=report.short_code, pdf_bytes=data)["valid"] is True

    tampered = bytearray(data)
    spot = data.index(b"stream") + 200  # inside the first page's content
    tampered[spot] ^= 0x01
    for kwargs in ({}, {"number": report.number}):
        result = service.verify_report(session, pdf_bytes=bytes(tampered), **kwargs)
        assert result["status"] == "mismatch" and result["valid"] is False, result
        assert result["report"]["number"] == report.number and "已被修改" in result["message"]
    other = service.verify_report(session, pdf_bytes=b"%PDF-1.4 not ours")
    assert other["status"] == "unknown_file" and other["valid"] is False

    forged = "XY20250101ABCDEFGHJK"
    for kwargs in (
        {"number": forged},
        {"short_code": "ZZZZ-ZZZZ-ZZ"},
        {"number": "'; drop table --"},
        {"short_code": "x" * 500},
        {"number": forged, "pdf_bytes": data},
    ):
        result = service.verify_report(session, **kwargs)
        assert result["status"] == "not_found" and result["report"] is None, kwargs


def test_natural_person_needs_verification(session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    with pytest.raises(Forbidden) as exc:
        service.generate_report(session, subject_code=PERSON_ID, requester=ANONYMOUS)
    assert exc.value.code == "person_verification_required"
    # An ID nobody registered gets the very same answer: no confirmation that a person is in the database.
    stranger = resident_id.make(region="410882", birth_date=dt.date(1990, 1, 2), sequence=11)
    with pytest.raises(Forbidden) as exc2:
        service.generate_report(session, subject_code=stranger, requester=ANONYMOUS)
    assert (exc2.value.code, exc2.value.message) == (exc.value.code, exc.value.message)
    # A code proving the company does not open the person's report.
    with pytest.raises(Forbidden):
        service.generate_report(
            session, subject_code=PERSON_ID, requester=ANONYMOUS, verified_subject_id=env.company_id
        )
    # The admin at a service window, with a reason.
    report, data = service.generate_report(
        session, subject_code=PERSON_ID, requester=system_principal("window"), reason="窗口核验本人身份证后打印"
    )
    assert report.requester_kind == "staff" and report.subject_name == "王*明"
    assert report.subject_code == PERSON_ID[:6] + "********" + PERSON_ID[14:]
    text = pdf_text(data)
    assert PERSON_ID not in text and report.subject_code in text and "沁市监罚〔报告〕9号" in text
    assert "本报告仅供信用主体本人使用" in text


def test_unknown_subject_is_not_found(session) -> None:  # type: ignore[no-untyped-def]
    build(session)
    with pytest.raises(NotFound):
        service.generate_report(session, subject_code="91410882MA00099990", requester=ANONYMOUS)


def test_rate_limit_per_subject(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XINYONG_REPORTS_PER_SUBJECT_PER_HOUR", "2")
    reset_reports_settings()
    try:
        env = build(session)
        for _ in range(2):
            service.generate_report(session, subject_code=env.uscc, requester=ANONYMOUS)
        with pytest.raises(service.TooManyReports):
            service.generate_report(session, subject_code=env.uscc, requester=ANONYMOUS)
    finally:
        reset_reports_settings()


# API ---------------------------------------------------------------------------------------------------------


def test_api_issue_and_verify(client, session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    resp = client.post(API, json={"subject": env.uscc})
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"] == "application/pdf" and resp.content.startswith(b"%PDF-")
    number, code = resp.headers["x-report-number"], resp.headers["x-report-code"]
    session.commit()
    assert (
        session.scalar(select(IssuedReport.sha256).where(IssuedReport.number == number))
        == resp.headers["x-report-sha256"]
    )

    ok = client.get(f"{API}/verify", params={"code": code})
    assert ok.status_code == 200 and ok.json()["status"] == "registered" and ok.json()["report"]["number"] == number
    up = client.post(f"{API}/verify", files={"file": ("r.pdf", resp.content, "application/pdf")})
    assert up.status_code == 200 and up.json()["status"] == "valid"
    bad = bytearray(resp.content)
    bad[len(bad) // 2] ^= 0xFF
    up2 = client.post(f"{API}/verify", files={"file": ("r.pdf", bytes(bad), "application/pdf")}, data={"code": code})
    assert up2.status_code == 200 and up2.json()["status"] == "mismatch" and up2.json()["valid"] is False

    forged = client.get(f"{API}/verify", params={"number": "XY20250101ABCDEFGHJK"})
    assert forged.status_code == 404 and forged.json()["error"]["code"] == "report_not_found"
    assert client.get(f"{API}/verify").status_code == 422
    assert client.get(f"{API}/verify", params={"code": "<script>"}).status_code == 404
    empty = client.post(f"{API}/verify", files={"file": ("r.pdf", b"", "application/pdf")})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "file_empty"
    assert client.post(f"{API}/verify").status_code == 422
    assert client.post(API, json={"subject": "91410882MA00099990"}).status_code == 404
    assert client.post(API, json={"subject": ""}).status_code == 422


def test_api_person_flow(client, session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    refused = client.post(API, json={"subject": PERSON_ID})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "person_verification_required"
    sent = client.post(f"{API}/verifications", json={"subject": PERSON_ID})
    assert sent.status_code == 201, sent.text
    challenge = sent.json()["challenge"]
    wrong = client.post(API, json={"subject": PERSON_ID, "challenge": challenge, "code": "000000"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] in ("code_invalid",)
    code = last_code(session)
    resp = client.post(API, json={"subject": PERSON_ID, "challenge": challenge, "code": code})
    assert resp.status_code == 201, resp.text
    session.commit()  # end the read snapshot: see what the app committed
    report = session.scalar(select(IssuedReport).where(IssuedReport.number == resp.headers["x-report-number"]))
    assert report.requester_kind == "self" and report.subject_id == env.person_id
    assert PERSON_ID not in pdf_text(resp.content)
    # The code is used up.
    again = client.post(API, json={"subject": PERSON_ID, "challenge": challenge, "code": code})
    assert again.status_code == 422 and again.json()["error"]["code"] == "code_used"
    # A token of a department is no staff path: only the admin with a reason.
    dept_token = auth_headers(make_token(session, Role.DEPT_OPERATOR))
    r = client.post(API, json={"subject": PERSON_ID, "reason": "想看看"}, headers=dept_token)
    assert r.status_code == 403


# CLI ---------------------------------------------------------------------------------------------------------


def test_cli_generate_verify_list(database, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xinyong.cli import app

    env = build(session)
    runner = CliRunner()
    out = tmp_path / "r.pdf"
    res = runner.invoke(app, ["--db", database.url, "reports", "generate", env.uscc, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"%PDF-")
    ok = runner.invoke(app, ["--db", database.url, "reports", "verify", str(out), "--json"])
    assert ok.exit_code == 0 and '"valid"' in ok.output
    out.write_bytes(out.read_bytes() + b"\n% appended")
    bad = runner.invoke(app, ["--db", database.url, "reports", "verify", str(out)])
    assert bad.exit_code == 1
    forged = runner.invoke(app, ["--db", database.url, "reports", "verify", "--number", "XY20250101ABCDEFGHJK"])
    assert forged.exit_code == 1
    person = runner.invoke(app, ["--db", database.url, "reports", "generate", PERSON_ID, "--out", str(out)])
    assert person.exit_code == 2
    # An output path that cannot be written: refused before a report is registered.
    before = runner.invoke(app, ["--db", database.url, "reports", "list", "--json"]).output
    for target in (tmp_path / "no" / "such" / "x.pdf", tmp_path):
        nowhere = runner.invoke(
            app, ["--db", database.url, "reports", "generate", env.uscc, "-o", str(target), "--json"]
        )
        assert nowhere.exit_code == 2 and json.loads(nowhere.stdout)["error"]["code"] == "write_failed"
    assert runner.invoke(app, ["--db", database.url, "reports", "list", "--json"]).output == before
    listed = runner.invoke(app, ["--db", database.url, "reports", "list", "--json"])
    assert listed.exit_code == 0 and env.uscc in listed.output
