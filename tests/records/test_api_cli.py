"""The records API (public vs department views, isolation), the CLI and the daily transitions job."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.records.helpers import (
    ADMIN,
    PERSON_ID,
    company_uscc,
    licence,
    make_batch,
    penalty,
    seed_catalog,
)
from xinyong.auth.roles import Role
from xinyong.catalog import service as catalog_service
from xinyong.catalog.rules import PartyKind
from xinyong.core import clikit, clock
from xinyong.core.db import utcnow
from xinyong.records import commands, queries, service, upsert
from xinyong.records.models import PublicityTransition

API = "/api/v1/records"
D = dt.date


@pytest.fixture
def env(session):
    seed_catalog(session)
    a, b = make_department(session, code="depa"), make_department(session, code="depb")
    today = clock.today()
    decided = today - dt.timedelta(days=20)
    ra = upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=a.id,
        batch_id=make_batch(session, a.id, batch_id=1),
        received_at=utcnow(),
        rows=[
            penalty(doc="A罚1", decided=decided, code=company_uscc(1)),
            penalty(doc="A罚人", decided=decided, party="王小明", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID),
        ],
    )
    rb = upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=b.id,
        batch_id=make_batch(session, b.id, batch_id=2),
        received_at=utcnow(),
        rows=[
            licence(
                doc="B许1",
                decided=decided,
                valid_to=today + dt.timedelta(days=365),
                code=company_uscc(2),
                party="沁阳市怀府食品有限公司",
            )
        ],
    )
    # Natural persons' penalties are public in this city by a (test) local rule, so masking is exercised.
    catalog_service.update_class(
        session,
        actor=ADMIN,
        code="penalty",
        changes={"natural_person_attribute": "public", "natural_person_basis": [{"title": "测试依据"}]},
        reason="测试",
    )
    session.commit()
    return {"a": a, "b": b, "a_ids": [o.record_id for o in ra.outcomes], "b_ids": [o.record_id for o in rb.outcomes]}


def test_public_list_masks_persons_and_has_no_internal_fields(client, env):
    r = client.get(f"{API}/public", params={"limit": 100})
    assert r.status_code == 200
    body = r.json()
    assert {x["doc_no"] for x in body} == {"A罚1", "A罚人", "B许1"}
    person = next(x for x in body if x["doc_no"] == "A罚人")
    assert person["party_name"] == "王*明" and person["party_id"].startswith("410882") and "*" in person["party_id"]
    assert PERSON_ID not in r.text and "王小明" not in r.text
    for key in ("department_id", "content_hash", "withdrawn_reason", "versions", "subject"):
        assert key not in body[0]
    # Searching the public list by a person's ID never confirms a person.
    assert client.get(f"{API}/public", params={"subject": PERSON_ID}).json() == []
    only_b = client.get(f"{API}/public", params={"subject": company_uscc(2)}).json()
    assert [x["doc_no"] for x in only_b] == ["B许1"]


def test_department_views_are_isolated(client, session, env):
    a_viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, env["a"]))
    b_operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, env["b"]))
    admin = auth_headers(make_token(session, Role.ADMIN))
    listed = client.get(API, headers=a_viewer).json()
    assert {x["doc_no"] for x in listed} == {"A罚1", "A罚人"}
    assert all(x["department_id"] == env["a"].id and x["versions"] == 1 for x in listed)
    assert PERSON_ID not in client.get(API, headers=a_viewer).text
    assert client.get(API, params={"department": "depb"}, headers=a_viewer).status_code == 403
    assert {x["doc_no"] for x in client.get(API, headers=admin).json()} == {"A罚1", "A罚人", "B许1"}
    a_id = env["a_ids"][0]
    assert client.get(f"{API}/{a_id}", headers=a_viewer).status_code == 200
    assert client.get(f"{API}/{a_id}", headers=b_operator).status_code == 404
    assert client.get(f"{API}/{a_id}/versions", headers=b_operator).status_code == 404
    versions = client.get(f"{API}/{a_id}/versions", headers=a_viewer).json()
    assert versions[0]["batch_id"] == 1 and versions[0]["source_row"] == 2
    # Withdrawal: only the owning department's operator, with a reason.
    assert client.post(f"{API}/{a_id}/withdraw", json={"reason": "越权"}, headers=b_operator).status_code == 404
    assert client.post(f"{API}/{a_id}/withdraw", json={"reason": "x"}, headers=a_viewer).status_code == 403
    a_operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, env["a"]))
    assert client.post(f"{API}/{a_id}/withdraw", json={}, headers=a_operator).status_code == 422
    r = client.post(f"{API}/{a_id}/withdraw", json={"reason": "处罚决定已撤销"}, headers=a_operator)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert "A罚1" not in {x["doc_no"] for x in client.get(f"{API}/public").json()}
    withdrawn = client.get(API, params={"status": "withdrawn"}, headers=a_viewer).json()
    assert [x["doc_no"] for x in withdrawn] == ["A罚1"]


def test_transitions_job_is_idempotent_per_day(session, env):
    today = clock.today()
    first = service.record_transitions(session, today=today)
    assert (first.started, first.ended, first.public) == (3, 0, 3)
    again = service.record_transitions(session, today=today)
    assert again.already_ran and again.started == 3
    assert session.query(PublicityTransition).count() == 3
    service.withdraw(session, actor=ADMIN, record_id=env["b_ids"][0], reason="许可已撤销")
    later = service.record_transitions(session, today=today + dt.timedelta(days=1))
    assert (later.started, later.ended, later.public) == (0, 1, 2)
    [ended] = queries.transitions_on(session, run_date=today + dt.timedelta(days=1))
    assert ended.record_id == env["b_ids"][0] and "撤回" in ended.reason
    with pytest.raises(Exception, match="不能补记"):
        service.record_transitions(session, today=today - dt.timedelta(days=1))
    # A year and a bit later the general penalties' windows are over.
    far = service.record_transitions(session, today=today + dt.timedelta(days=400))
    assert (far.ended, far.public) == (2, 0)


def test_cli_list_show_transitions(database, session, env):
    clikit.state.db_url = database.url
    runner = CliRunner()
    r = runner.invoke(commands.app, ["list", "--department", "depa", "--public-only", "--json"])
    assert r.exit_code == 0, r.output
    assert {x["doc_no"] for x in json.loads(r.output)} == {"A罚1", "A罚人"}
    assert PERSON_ID not in r.output
    text = runner.invoke(commands.app, ["list", "--department", "depa", "--public-only"]).output
    assert "公示中" in text and "public" not in text
    r = runner.invoke(commands.app, ["show", str(env["a_ids"][0]), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["history"][0]["version_no"] == 1
    r = runner.invoke(commands.app, ["show", "999999", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "record_not_found"
    r = runner.invoke(commands.app, ["transitions", "--date", clock.today().isoformat(), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["started"] == 3
    r = runner.invoke(commands.app, ["transitions", "--date", clock.today().isoformat(), "--json"])
    assert json.loads(r.output)["already_ran"] is True


def test_cli_id_past_64_bits_is_bad_input_not_a_traceback(database, session, env):
    """An id no database column can hold is exit 2 with an error document (SQLite's driver raises OverflowError,
    PostgreSQL's an out-of-range error), never a traceback."""
    clikit.state.db_url = database.url
    r = CliRunner().invoke(commands.app, ["show", str(2**64), "--json"])
    assert r.exit_code == 2, r.output
    assert json.loads(r.output)["error"]["code"] in {"value_out_of_range", "database_error"}
    assert r.exception is None or isinstance(r.exception, SystemExit)
