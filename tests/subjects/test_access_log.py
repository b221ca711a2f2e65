"""Who looked at me (查询记录): reads of a natural person's data by departments, and checks naming a person, are
in the person's access log and in the audit chain; the log is append-only and checked against the chain."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.measures.helpers import person, seed_all
from xinyong.auth.roles import Role
from xinyong.core import clikit
from xinyong.core.audit import AuditEvent, verify_chain
from xinyong.subjects import access_log, commands
from xinyong.subjects.access_log import SubjectAccess
from xinyong.subjects.service import find_subject


@pytest.fixture
def env(session):
    seed_all(session)
    dept = make_department(session, code="rsj", name="沁阳市人力资源和社会保障局")
    code = person(session, "王小明")
    return {
        "code": code,
        "subject_id": find_subject(session, code).id,
        "viewer": auth_headers(make_token(session, Role.DEPT_VIEWER, dept)),
        "system": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, dept, name="人社局审批系统")),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
    }


def _rows(session, subject_id):
    session.commit()
    return list(
        session.scalars(select(SubjectAccess).where(SubjectAccess.subject_id == subject_id).order_by(SubjectAccess.id))
    )


def test_department_reads_and_checks_of_a_person_are_logged(client, session, env):
    assert (
        client.get(
            f"/api/v1/subjects/{env['code']}", params={"purpose": "招聘资格审查"}, headers=env["viewer"]
        ).status_code
        == 200
    )
    assert client.get("/api/v1/records", params={"subject": env["code"]}, headers=env["viewer"]).status_code == 200
    check = client.post(
        "/api/v1/checks", json={"scenario": "general", "subjects": [{"code": env["code"]}]}, headers=env["system"]
    )
    assert check.status_code == 200, check.text
    rows = _rows(session, env["subject_id"])
    assert [r.endpoint for r in rows] == ["GET /api/v1/subjects/{code}", "GET /api/v1/records", "POST /api/v1/checks"]
    assert rows[0].purpose == "招聘资格审查" and rows[0].role == "dept_viewer" and rows[0].department_id
    assert rows[2].actor.startswith("token:") and rows[2].role == "business_system"
    events = {
        e.id: e for e in session.scalars(select(AuditEvent).where(AuditEvent.id.in_([r.audit_event_id for r in rows])))
    }
    assert [events[r.audit_event_id].action for r in rows] == [
        "subjects.person_viewed",
        "records.person_read",
        "measures.check_named_person",
    ]
    assert events[rows[2].audit_event_id].after["check_id"] == check.json()["check_id"]
    assert verify_chain(session).ok and access_log.verify(session)["ok"]
    # The admin's view over HTTP, newest first; the subject's own view names no user or token.
    page = client.get(f"/api/v1/subjects/{env['code']}/access-log", headers=env["admin"]).json()
    assert page["total"] == 3 and page["items"][0]["endpoint"] == "POST /api/v1/checks"
    assert page["items"][0]["who"] == "沁阳市人力资源和社会保障局"
    assert "actor" not in access_log.views(session, rows, for_subject=True)[0]


def test_a_company_check_is_not_logged(client, session, env):
    from tests.measures.helpers import org

    code = org(session, "沁阳市某某有限公司")
    assert (
        client.post(
            "/api/v1/checks", json={"scenario": "general", "subjects": [{"code": code}]}, headers=env["system"]
        ).status_code
        == 200
    )
    session.commit()
    assert session.scalar(select(SubjectAccess.id)) is None


def test_the_log_is_append_only_and_checked_against_the_chain(client, session, env):
    client.get(f"/api/v1/subjects/{env['code']}", params={"purpose": "核查"}, headers=env["viewer"])
    row = _rows(session, env["subject_id"])[0]
    for statement in ("UPDATE subject_access_log SET purpose = 'x'", "DELETE FROM subject_access_log"):
        with pytest.raises(Exception, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert session.get(SubjectAccess, row.id).purpose == "核查"


def test_access_log_cli(session, database, env, client):
    client.get(f"/api/v1/subjects/{env['code']}", params={"purpose": "核查"}, headers=env["viewer"])
    session.commit()
    clikit.state.db_url = database.url
    runner = CliRunner()
    result = runner.invoke(commands.app, ["access-log", env["code"], "--json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["total"] == 1 and data["items"][0]["purpose"] == "核查"
    assert env["code"] not in result.stdout  # the person's ID never printed in full
    missing = runner.invoke(commands.app, ["access-log", "91410882MA0000000X", "--json"])
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["code"] == "subject_not_found"
    assert runner.invoke(commands.app, ["access-log", env["code"], "--limit", "1000"]).exit_code == 2
    verified = runner.invoke(commands.app, ["access-log-verify", "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"]
