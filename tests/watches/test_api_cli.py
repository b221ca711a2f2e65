"""The watches API (roles, departments, bulk subscription) and the CLI (both databases)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.watches.helpers import ADMIN, PERSON_ID, company_uscc, make_org, make_person
from xinyong.auth.roles import Role
from xinyong.cli import app as cli
from xinyong.core.audit import AuditEvent
from xinyong.watches import service
from xinyong.watches.models import Delivery, Watch

API = "/api/v1/watches"


@pytest.fixture
def env(session):
    a, b = make_department(session, code="depa"), make_department(session, code="depb")
    make_org(session, 1)
    make_org(session, 2)
    make_person(session)
    session.commit()
    return {
        "a": a,
        "b": b,
        "a_sys": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, a)),
        "a_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, a)),
        "a_viewer": auth_headers(make_token(session, Role.DEPT_VIEWER, a)),
        "b_sys": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, b)),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
    }


def _receiver(client, headers, **kw):
    r = client.post(
        f"{API}/receivers", json={"name": "审批系统", "url": "https://a.example/hook", **kw}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_receiver_secret_is_shown_once(client, env):
    created = _receiver(client, env["a_sys"], event_types=["list.entered"])
    assert created["secret"].startswith("whsec_") and created["department_id"] == env["a"].id
    assert created["secret_prefix"] == created["secret"][:10]
    listed = client.get(f"{API}/receivers", headers=env["a_sys"]).json()
    assert [r["id"] for r in listed] == [created["id"]]
    assert created["secret"] not in json.dumps(listed)
    one = client.get(f"{API}/receivers/{created['id']}", headers=env["a_op"]).json()
    assert "secret" not in one and one["event_types"] == ["list.entered"]
    rotated = client.post(
        f"{API}/receivers/{created['id']}/rotate-secret", json={"reason": "泄露"}, headers=env["a_op"]
    ).json()
    assert rotated["secret"] != created["secret"] and rotated["secret_rotated_at"]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "ftp://a.example/x"}, "bad_receiver_url"),
        ({"url": "https://user:pw@a.example/x"}, "bad_receiver_url"),
        ({"event_types": ["NOT VALID"]}, "bad_event_type"),
    ],
)
def test_receiver_input_is_validated(client, env, body, code):
    r = client.post(f"{API}/receivers", json={"name": "x", "url": "https://a.example/h", **body}, headers=env["a_sys"])
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_departments_cannot_reach_each_other(client, env, session):
    mine = _receiver(client, env["a_sys"])
    rid = mine["id"]
    # Department B cannot see, change or use A's receiver; it does not even learn that it exists.
    assert client.get(f"{API}/receivers/{rid}", headers=env["b_sys"]).status_code == 404
    assert client.post(f"{API}/receivers/{rid}/rotate-secret", headers=env["b_sys"]).status_code == 404
    assert client.post(f"{API}/receivers/{rid}/deactivate", headers=env["b_sys"]).status_code == 404
    r = client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": [company_uscc(1)]}, headers=env["b_sys"])
    assert r.status_code == 404
    assert client.get(f"{API}/subjects", params={"receiver_id": rid}, headers=env["b_sys"]).status_code == 404
    assert client.get(f"{API}/receivers", headers=env["b_sys"]).json() == []
    # B cannot create a receiver for A either.
    r = client.post(
        f"{API}/receivers",
        json={"name": "x", "url": "https://b.example/h", "department_id": env["a"].id},
        headers=env["b_sys"],
    )
    assert r.status_code == 403
    # A department viewer is not a manager.
    assert client.get(f"{API}/receivers", headers=env["a_viewer"]).status_code == 403
    # The admin sees and manages everything, but must name the department.
    assert [x["id"] for x in client.get(f"{API}/receivers", headers=env["admin"]).json()] == [rid]
    r = client.post(f"{API}/receivers", json={"name": "x", "url": "https://b.example/h"}, headers=env["admin"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "department_required"
    # Deliveries follow their receiver.
    client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": [company_uscc(1)]}, headers=env["a_sys"])
    service.emit_subject_event(session, subject_id=1, event="list.entered", payload={})
    session.commit()
    assert client.get(f"{API}/deliveries", headers=env["b_sys"]).json()["total"] == 0
    a_list = client.get(f"{API}/deliveries", params={"status": "pending"}, headers=env["a_sys"]).json()
    assert a_list["total"] == 1
    did = a_list["items"][0]["id"]
    assert client.post(f"{API}/deliveries/{did}/redeliver", headers=env["b_sys"]).status_code == 404
    assert (
        client.post(f"{API}/deliveries/{did}/redeliver", headers=env["a_sys"]).json()["error"]["code"]
        == "still_pending"
    )


def test_bulk_subscribe_reports_each_code(client, env, session):
    rid = _receiver(client, env["a_sys"])["id"]
    unknown = company_uscc(99)
    codes = [
        company_uscc(1),
        company_uscc(2).lower(),
        PERSON_ID,
        unknown,
        "not-a-code",
        company_uscc(1),
        "11010519491231002X",
    ]
    r = client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": codes}, headers=env["a_sys"])
    assert r.status_code == 200, r.text
    body = r.json()
    statuses = [i["status"] for i in body["items"]]
    assert statuses == ["added", "added", "added", "not_found", "invalid", "duplicate", "not_found"]
    assert body["summary"] == {"added": 3, "not_found": 2, "invalid": 1, "duplicate": 1}
    assert PERSON_ID not in r.text and "11010519491231002X" not in r.text  # personal numbers echoed masked
    assert body["items"][4]["message"].startswith("代码无效")
    # Once more: nothing new.
    again = client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": codes[:3]}, headers=env["a_sys"]).json()
    assert again["summary"] == {"already": 3}

    page = client.get(f"{API}/subjects", params={"receiver_id": rid, "limit": 2}, headers=env["a_op"]).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    rest = client.get(f"{API}/subjects", params={"receiver_id": rid, "offset": 2}, headers=env["a_op"]).json()
    person = rest["items"][0]
    assert person["kind"] == "natural_person" and "*" in person["resident_id_masked"]
    assert PERSON_ID not in json.dumps(rest)

    gone = client.request(
        "DELETE",
        f"{API}/subjects",
        json={"receiver_id": rid, "codes": [company_uscc(1), unknown]},
        headers=env["a_sys"],
    ).json()
    assert [i["status"] for i in gone["items"]] == ["removed", "not_found"]
    assert session.scalar(select(func.count()).select_from(Watch)) == 2
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("watches.%"))))
    assert actions == {"watches.receiver_create", "watches.subscribe", "watches.unsubscribe"}
    assert all(PERSON_ID not in json.dumps(e.after) for e in session.scalars(select(AuditEvent)))


def test_subscribe_limits_codes(client, env):
    rid = _receiver(client, env["a_sys"])["id"]
    r = client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": ["x"] * 10_001}, headers=env["a_sys"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_codes"
    r = client.post(f"{API}/subjects", json={"receiver_id": rid, "codes": []}, headers=env["a_sys"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "codes_missing"


def test_many_codes_resolve_in_bulk(session, env):
    """10,000 codes in one call: a few queries per thousand, not one per code."""
    from sqlalchemy import event

    receiver, _ = service.create_receiver(
        session, actor=ADMIN, name="x", url="https://x.example/", department_id=env["a"].id
    )
    codes = [company_uscc(1), PERSON_ID] + [company_uscc(1000 + i) for i in range(9_998)]
    statements = []
    engine = session.get_bind()
    listener = lambda *a, **k: statements.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = service.subscribe(session, actor=ADMIN, receiver_id=receiver.id, codes=codes)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert result["summary"] == {"added": 2, "not_found": 9_998}
    assert len(statements) < 60


def test_cli_receivers_subscribe_and_deliver(database, env, session):
    runner = CliRunner()
    db = ["--db", database.url]
    r = runner.invoke(
        cli,
        [
            *db,
            "watches",
            "receivers",
            "add",
            "--name",
            "审批系统",
            "--url",
            "http://127.0.0.1:9/hook",
            "--department",
            "depa",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)
    assert created["secret"].startswith("whsec_")
    rid = str(created["id"])
    listed = json.loads(runner.invoke(cli, [*db, "watches", "receivers", "list", "--json"]).output)
    assert [x["id"] for x in listed] == [created["id"]] and "secret" not in listed[0]

    r = runner.invoke(cli, [*db, "watches", "subscribe", company_uscc(1), "bad", "--receiver", rid, "--json"])
    assert r.exit_code == 1  # ran, but one code was invalid
    assert json.loads(r.output)["summary"] == {"added": 1, "invalid": 1}

    service.emit_subject_event(session, subject_id=1, event="list.entered", payload={"list": "测试名单"})
    session.commit()
    # Port 9 (discard) on localhost: the connection is refused at once — a real failed attempt, retried later.
    r = runner.invoke(cli, [*db, "watches", "deliver", "--once", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert (report["claimed"], report["sent"], report["failed"], report["dead"]) == (1, 0, 1, 0)

    r = runner.invoke(cli, [*db, "watches", "deliveries", "--status", "pending", "--json"])
    items = json.loads(r.output)["items"]
    assert len(items) == 1 and items[0]["attempts"] == 1 and items[0]["last_error"].startswith("连接失败")

    r = runner.invoke(cli, [*db, "watches", "receivers", "rotate", rid, "--json"])
    assert json.loads(r.output)["secret"] != created["secret"]
    r = runner.invoke(cli, [*db, "watches", "receivers", "deactivate", rid, "--reason", "下线"])
    assert r.exit_code == 0
    session.expire_all()
    assert session.scalar(select(Delivery.status)) == "dead"
    r = runner.invoke(cli, [*db, "watches", "redeliver", "999", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "delivery_not_found"
