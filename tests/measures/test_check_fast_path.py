"""The check's fast path (``web.check_fast_path.CheckFastPath``) answers exactly as the route does, and leaves every
request it should not answer to the route: unknown tokens, refused roles, other content types, bodies that do
not validate. The first request of a token always goes through the route (the token is not known yet)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import auth_headers, make_department, make_token
from tests.measures.helpers import entry, org, seed_all
from xinyong.auth.roles import Role
from xinyong.core import clock
from xinyong.web.check_fast_path import CheckFastPath

API = "/api/v1/checks"


@pytest.fixture
def env(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    today = clock.today()
    debtor = org(session, "沁阳市快速核查失信有限公司")
    entry(
        session,
        debtor,
        "court_dishonest_debtor",
        listed_on=today - dt.timedelta(days=30),
        term_end=today + dt.timedelta(days=300),
    )
    session.commit()
    return {
        "debtor": debtor,
        "clean": org(session, "沁阳市快速核查清白有限公司"),
        "system": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, dept, name="采购系统")),
        "bank": auth_headers(make_token(session, Role.BANK)),
    }


def _post(client, headers, **kwargs):
    before = CheckFastPath.answered
    resp = client.post(API, headers=headers, **kwargs)
    return resp, CheckFastPath.answered - before


def _comparable(resp) -> tuple[int, dict[str, str], object]:
    """Status, headers and body without what differs from one check to the next (ids, time, length)."""
    headers = {k: v for k, v in resp.headers.items() if k not in ("content-length", "date")}
    body = resp.json()
    if resp.status_code == 200:
        body = {k: v for k, v in body.items() if k not in ("check_id", "checked_at")}
        for result in body["results"]:
            result.pop("item_id")
    return resp.status_code, headers, body


def test_the_fast_path_answers_as_the_route(client, env) -> None:
    body = {
        "scenario": "procurement",
        "reference": "CG-9",
        "subjects": [
            {"code": env["debtor"]},
            {"code": env["clean"]},
            {"code": "91410882MA0000000X"},
            {"name": "沁阳市快速核查清白有限公司", "region": "410882"},
        ],
    }
    by_route, fast = _post(client, env["system"], json=body)
    assert by_route.status_code == 200 and fast == 0  # the token was not known yet
    by_fast_path, fast = _post(client, env["system"], json=body)
    assert fast == 1
    assert _comparable(by_fast_path) == _comparable(by_route)
    assert by_fast_path.json()["check_id"] == by_route.json()["check_id"] + 1  # recorded, too
    assert by_fast_path.headers["content-security-policy"] and by_fast_path.headers["x-frame-options"] == "DENY"
    assert by_fast_path.headers["content-type"] == "application/json"


def test_errors_of_the_check_are_answered_as_the_app_answers_them(client, session, env) -> None:
    _post(client, env["system"], json={"scenario": "general", "subjects": [{"code": env["clean"]}]})
    unknown = {"scenario": "lottery", "subjects": [{"code": env["clean"]}]}
    answered, fast = _post(client, env["system"], json=unknown)
    assert fast == 1 and answered.status_code == 422
    assert answered.json()["error"]["code"] == "unknown_scenario"
    # The route gives the same answer: another token, not yet known, goes there.
    other = auth_headers(make_token(session, Role.ADMIN))
    by_route, fast = _post(client, other, json=unknown)
    assert fast == 0 and _comparable(by_route) == _comparable(answered)


@pytest.mark.parametrize("case", ["invalid_body", "too_many", "not_json", "form", "bank", "unknown_token"])
def test_what_the_fast_path_leaves_to_the_route(client, env, case) -> None:
    _post(client, env["system"], json={"scenario": "general", "subjects": [{"code": env["clean"]}]})
    _post(client, env["bank"], json={"scenario": "general", "subjects": [{"code": env["clean"]}]})
    headers, kwargs, status, code = env["system"], {}, 422, "validation_failed"
    if case == "invalid_body":
        kwargs = {"json": {"scenario": "general"}}
    elif case == "too_many":
        kwargs = {"json": {"scenario": "general", "subjects": [{"code": env["clean"]}] * 10_001}}
        code = "batch_too_large"
    elif case == "not_json":
        kwargs = {"content": b"{not json", "headers": {**headers, "Content-Type": "application/json"}}
    elif case == "form":
        kwargs = {"data": {"scenario": "general"}}
    elif case == "bank":
        headers, status, code = env["bank"], 403, "role_not_allowed"
    else:
        headers, status, code = {"Authorization": "Bearer xy_not_a_token"}, 401, "invalid_token"
    resp, fast = _post(client, kwargs.pop("headers", headers), **kwargs)
    if case == "too_many":  # validates as CheckIn: the check itself refuses it, on the fast path
        assert fast == 1
    else:
        assert fast == 0
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_limit_is_refused_while_it_arrives(client, session, env, declared) -> None:
    """413 before the body is held whole or parsed — with the length declared, or streamed in chunks without
    one; for a known token (fast path, which hands it to the route) as for any other; nothing recorded."""
    from sqlalchemy import func, select

    from xinyong.measures.api import CHECK_MAX_BODY_BYTES
    from xinyong.measures.models import Check

    _post(client, env["system"], json={"scenario": "general", "subjects": [{"code": env["clean"]}]})
    session.rollback()
    before = session.scalar(select(func.count()).select_from(Check))
    one = b'{"code": "%s"},' % env["clean"].encode()
    n = CHECK_MAX_BODY_BYTES // len(one) + 2
    payload = b'{"scenario": "general", "subjects": [' + one * n + b'{"code": "x"}]}'
    assert len(payload) > CHECK_MAX_BODY_BYTES
    if declared:
        content = payload
    else:

        def content():  # type: ignore[no-redef]
            for start in range(0, len(payload), 1 << 20):
                yield payload[start : start + (1 << 20)]

        content = content()
    headers = {**env["system"], "Content-Type": "application/json"}
    resp, fast = _post(client, headers, content=content)
    assert resp.status_code == 413 and fast == 0
    assert resp.json()["error"]["code"] == "payload_too_large"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Check)) == before


def test_a_large_batch_under_the_limit_takes_the_fast_path(client, env) -> None:
    _post(client, env["system"], json={"scenario": "general", "subjects": [{"code": env["clean"]}]})
    resp, fast = _post(
        client, env["system"], json={"scenario": "general", "subjects": [{"code": env["clean"]}] * 10_000}
    )
    assert resp.status_code == 200 and fast == 1
    assert resp.json()["summary"]["matched"] == 10_000
