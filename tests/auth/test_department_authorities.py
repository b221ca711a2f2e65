"""Registering the authorities a department reports for: admin only, audited, over the service, the API and the
CLI (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import ACTOR, auth_headers, make_department, make_token, make_uscc, register_authority
from xinyong.auth import service
from xinyong.auth.models import DepartmentAuthority
from xinyong.auth.roles import Principal, Role
from xinyong.cli import app
from xinyong.core.audit import AuditEvent, verify_chain
from xinyong.core.db import Database, forget_databases
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

API = "/api/v1/auth/departments"
UNIT = make_uscc(8801)
UNIT_NAME = "焦作市生态环境局沁阳分局"


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_service_registers_checks_and_removes_with_audit(session: Session) -> None:
    a = make_department(session, code="sthjj", name="沁阳市生态环境局", short_name="生态环境局")
    b = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    row = service.add_authority(
        session, actor=ACTOR, ref="sthjj", uscc=UNIT.lower(), name=f" {UNIT_NAME} ", reason="分局的行政处罚由市局报送"
    )
    session.commit()
    assert (row.department_id, row.uscc, row.name, row.added_by) == (a.id, UNIT, UNIT_NAME, ACTOR.actor)

    rule = service.authorities_of(session, department_id=a.id)
    assert rule.usccs == {a.uscc, UNIT}
    assert rule.check(name="生态环境局", uscc=a.uscc) is None and rule.check(name=UNIT_NAME, uscc=UNIT) is None
    assert service.authorities_of(session, department_id=b.id).usccs == {b.uscc}

    [added] = _events(session, "department.authority_add")
    assert added.entity_type == "department" and added.entity_id == str(a.id)
    assert added.reason == "分局的行政处罚由市局报送"
    assert added.after == {
        "department": "sthjj",
        "department_id": a.id,
        "uscc": UNIT,
        "name": UNIT_NAME,
        "reason": "分局的行政处罚由市局报送",
    }

    removed = service.remove_authority(session, actor=ACTOR, ref=a.id, uscc=UNIT, reason="分局撤销")
    session.commit()
    assert removed.uscc == UNIT
    assert session.scalar(select(DepartmentAuthority)) is None
    assert service.authorities_of(session, department_id=a.id).usccs == {a.uscc}
    [gone] = _events(session, "department.authority_remove")
    assert gone.before["uscc"] == UNIT and gone.reason == "分局撤销" and gone.after is None
    assert verify_chain(session).ok


def test_what_cannot_be_registered(session: Session) -> None:
    a = make_department(session, code="sthjj")
    b = make_department(session, code="scjgj")
    register_authority(session, a, uscc=UNIT, name=UNIT_NAME)

    def refused(ref: str, uscc: str, name: str = "某机关", reason: str = "原因") -> Any:
        with pytest.raises((Conflict, ValidationFailed, NotFound)) as caught:
            service.add_authority(session, actor=ACTOR, ref=ref, uscc=uscc, name=name, reason=reason)
        session.rollback()
        return caught.value.code

    assert refused("sthjj", a.uscc) == "authority_is_own"
    # B's own code: B submits its own decisions (the finding), no one else may be registered for them.
    assert refused("sthjj", b.uscc) == "authority_of_other_department"
    # An authority reports through one department.
    assert refused("scjgj", UNIT) == "authority_taken"
    assert refused("sthjj", "91410882MA00000000") == "invalid_uscc"
    assert refused("sthjj", make_uscc(), name=" ") == "missing_field"
    assert refused("sthjj", make_uscc(), reason="") == "missing_field"
    assert refused("nope", make_uscc()) == "department_not_found"
    with pytest.raises(NotFound) as caught:
        service.remove_authority(session, actor=ACTOR, ref="scjgj", uscc=UNIT, reason="x")
    assert caught.value.code == "authority_not_found"
    # A department's USCC cannot become one that is registered for a department.
    with pytest.raises(Conflict) as caught:
        service.create_department(session, actor=ACTOR, code="fenju", name="分局", uscc=UNIT)
    assert caught.value.code == "department_uscc_registered"
    session.rollback()
    with pytest.raises(Conflict) as caught:
        service.update_department(session, actor=ACTOR, ref="scjgj", uscc=UNIT)
    assert caught.value.code == "department_uscc_registered"
    session.rollback()
    assert _events(session, "department.authority_add")[-1].after["uscc"] == UNIT  # the one that was allowed


def test_only_the_admin_registers(session: Session) -> None:
    a = make_department(session, code="sthjj")
    operator = Principal(kind="token", name="op", role=Role.DEPT_OPERATOR, department_id=a.id, token_id=1)
    with pytest.raises(Forbidden) as caught:
        service.add_authority(session, actor=operator, ref=a.id, uscc=UNIT, name=UNIT_NAME, reason="自己登记")
    assert caught.value.code == "admin_only"
    register_authority(session, a, uscc=UNIT, name=UNIT_NAME)
    with pytest.raises(Forbidden):
        service.remove_authority(session, actor=operator, ref=a.id, uscc=UNIT, reason="自己移除")
    # He may read his own department's list, not another's.
    _, rows = service.list_authorities(session, actor=operator, ref=a.id)
    assert [r.uscc for r in rows] == [UNIT]
    other = make_department(session, code="scjgj")
    with pytest.raises(Forbidden):
        service.list_authorities(session, actor=operator, ref=other.id)


def test_api_admin_manages_department_roles_read_their_own(session: Session, client: TestClient) -> None:
    a = make_department(session, code="sthjj", name="沁阳市生态环境局")
    b = make_department(session, code="scjgj")
    admin = auth_headers(make_token(session, Role.ADMIN))
    operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, a))
    viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, a))
    other_operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, b))
    body = {"uscc": UNIT, "name": UNIT_NAME, "reason": "分局的行政处罚由市局报送"}

    resp = client.post(f"{API}/sthjj/authorities", json=body, headers=operator)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "role_not_allowed"
    assert session.scalar(select(DepartmentAuthority)) is None
    resp = client.post(f"{API}/sthjj/authorities", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    assert resp.json() | {"added_at": None} == {
        "id": resp.json()["id"],
        "department_id": a.id,
        "uscc": UNIT,
        "name": UNIT_NAME,
        "own": False,
        "reason": body["reason"],
        "added_by": resp.json()["added_by"],
        "added_at": None,
    }
    assert resp.json()["added_by"].startswith("token:")
    again = client.post(f"{API}/scjgj/authorities", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "authority_taken"

    listed = client.get(f"{API}/sthjj/authorities", headers=viewer)
    assert listed.status_code == 200
    assert [(x["uscc"], x["name"], x["own"]) for x in listed.json()] == [
        (a.uscc, "沁阳市生态环境局", True),
        (UNIT, UNIT_NAME, False),
    ]
    assert client.get(f"{API}/sthjj/authorities", headers=other_operator).status_code == 403
    assert client.get(f"{API}/sthjj/authorities", headers=admin).status_code == 200

    resp = client.delete(f"{API}/sthjj/authorities/{UNIT}", params={"reason": "分局撤销"}, headers=operator)
    assert resp.status_code == 403
    resp = client.delete(f"{API}/sthjj/authorities/{UNIT}", params={"reason": "分局撤销"}, headers=admin)
    assert resp.status_code == 200 and resp.json()["uscc"] == UNIT
    resp = client.delete(f"{API}/sthjj/authorities/{UNIT}", params={"reason": "再次"}, headers=admin)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "authority_not_found"
    session.rollback()  # a new transaction sees what the app and the CLI committed
    assert [
        e.action
        for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("department.authority%")).order_by(AuditEvent.seq)
        )
    ] == ["department.authority_add", "department.authority_remove"]


runner = CliRunner()


@pytest.fixture
def cli(database: Database) -> Iterator[Any]:
    def run(*args: str) -> Any:
        return runner.invoke(app, ["--db", database.url, *args])

    yield run
    forget_databases()


def test_cli_list_add_remove_json_and_exit_codes(session: Session, cli: Any) -> None:
    a = make_department(session, code="sthjj", name="沁阳市生态环境局")
    result = cli(
        "departments",
        "authorities",
        "add",
        "sthjj",
        "--uscc",
        UNIT,
        "--name",
        UNIT_NAME,
        "--reason",
        "分局的行政处罚由市局报送",
        "--json",
    )
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert (added["uscc"], added["name"], added["own"]) == (UNIT, UNIT_NAME, False)
    assert added["added_by"].startswith("system:cli:")

    result = cli("departments", "authorities", "list", "sthjj", "--json")
    assert result.exit_code == 0
    assert [(x["uscc"], x["own"]) for x in json.loads(result.stdout)] == [(a.uscc, True), (UNIT, False)]
    text = cli("departments", "authorities", "list", "sthjj")
    assert text.exit_code == 0 and UNIT in text.stdout and a.uscc in text.stdout and "部门自身" in text.stdout

    result = cli(
        "departments", "authorities", "add", "sthjj", "--uscc", a.uscc, "--name", "x", "--reason", "y", "--json"
    )
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "authority_is_own"
    result = cli("departments", "authorities", "add", "sthjj", "--uscc", "123", "--name", "x", "--reason", "y")
    assert result.exit_code == 2 and "invalid_uscc" in result.output

    result = cli("departments", "authorities", "remove", "sthjj", "--uscc", UNIT, "--reason", "分局撤销", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["uscc"] == UNIT
    result = cli("departments", "authorities", "remove", "sthjj", "--uscc", UNIT, "--reason", "再次", "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "authority_not_found"
    result = cli("departments", "authorities", "list", "nope", "--json")
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "department_not_found"
    session.rollback()  # a new transaction sees what the app and the CLI committed
    assert len(_events(session, "department.authority_add")) == 1
    assert len(_events(session, "department.authority_remove")) == 1
