"""U+0000 in a request is refused with 422 ``nul_character`` on both databases (found by schemathesis: a check or a
list entry whose code held a NUL was a 500 on PostgreSQL, which cannot store it in text, and stored on SQLite)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from tests.factories import auth_headers, make_department, make_token
from tests.measures.helpers import org, seed_all
from xinyong.auth.roles import Role
from xinyong.measures.models import Check
from xinyong.web.check_fast_path import CheckFastPath


@pytest.fixture
def env(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    session.commit()
    return {
        "company": org(session, "沁阳市空字符测试有限公司"),
        "system": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, dept, name="采购系统")),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
    }


def _refused(resp, where: str) -> bool:
    expected = {
        "code": "nul_character",
        "message": "请求中含有空字符（U+0000），请删除后重新提交",
        "details": {"location": where},
    }
    return resp.status_code == 422 and resp.json()["error"] == expected


def test_a_check_with_a_nul_is_refused_on_the_route_and_the_fast_path(client, session, env) -> None:
    good = {"scenario": "procurement", "subjects": [{"code": env["company"]}]}
    assert client.post("/api/v1/checks", json=good, headers=env["system"]).status_code == 200  # the token is known
    before = CheckFastPath.answered
    for bad in (
        {"scenario": "procurement", "subjects": [{"code": env["company"] + "\x00"}]},
        {"scenario": "procurement", "subjects": [{"name": "沁阳\x00", "region": "410882"}]},
        {"scenario": "procurement", "subjects": [{"code": env["company"]}], "reference": "CG\x00-1"},
    ):
        assert _refused(client.post("/api/v1/checks", json=bad, headers=env["system"]), "body")
    assert CheckFastPath.answered == before
    session.commit()
    assert session.scalar(select(func.count()).select_from(Check)) == 1


def test_nul_in_a_body_query_or_path_is_refused(client, env) -> None:
    entry = {
        "list_code": "court_dishonest_debtor",
        "subject_code": env["company"] + "\x00",
        "reason": "失信",
        "decision_no": "(2026)豫0882执1号",
    }
    assert _refused(client.post("/api/v1/lists/entries", json=entry, headers=env["admin"]), "body")
    assert _refused(client.get("/api/v1/subjects?q=%00", headers=env["admin"]), "query")
    assert _refused(client.get(f"/api/v1/lists/entries?subject={env['company']}%00", headers=env["admin"]), "query")
    assert _refused(client.post("/api/v1/auth/login", json={"username": "op\x00", "password": "x"}), "body")
    assert _refused(
        client.post(
            "/api/v1/cases/public/verifications", json={"subject": env["company"] + "\x00", "purpose": "objection"}
        ),
        "body",
    )
    assert _refused(client.get("/api/v1/subjects/9141%00", headers=env["admin"]), "path")
    assert _refused(
        client.post(
            "/console/login",
            content=b"username=a%00&password=b",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        "body",
    )


def test_what_is_not_a_nul_passes(client, env) -> None:
    """The text ``\\u0000`` (an escaped backslash, then u0000) is not a NUL; multipart bodies are not read here."""
    body = json.dumps({"scenario": "procurement", "subjects": [{"code": env["company"]}], "reference": "\\u0000"})
    assert "\\\\u0000" in body
    resp = client.post(
        "/api/v1/checks", content=body.encode(), headers={**env["system"], "content-type": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    resp = client.post(
        "/api/v1/ingest/files",
        headers=env["admin"],
        data={"department_id": "1"},
        files={"file": ("x.csv", b"\x00\x00binary", "text/csv")},
    )
    assert resp.status_code != 422 or resp.json()["error"]["code"] != "nul_character"


def _page_params() -> list[tuple[str, list[str], list[str]]]:
    """(path, text path parameters, text query parameters) of every GET page outside /api/."""
    import re as _re

    from fastapi.routing import APIRoute, iter_route_contexts

    from xinyong.core.db import Database
    from xinyong.web.app import create_app

    db = Database("sqlite:///:memory:")
    try:
        out = []
        for ctx in iter_route_contexts(create_app(db).routes):
            if not isinstance(ctx.original_route, APIRoute) or "GET" not in ctx.methods or ctx.path.startswith("/api/"):
                continue
            texts = [p.name for p in ctx.dependant.query_params if "str" in str(p.field_info.annotation)]
            path_names = _re.findall(r"\{(\w+)", ctx.path)
            out.append((ctx.path, path_names, texts))
        return out
    finally:
        db.dispose()


def test_pages_read_a_nul_in_their_path_or_query_without_a_server_error(client, session, env) -> None:
    """The portal's pages are not refused by the guard (the console's are): each text parameter and path segment
    given a NUL must be an ordinary answer (a page, not found, a refusal), never a 500, on both databases."""
    from tests.factories import DEFAULT_PASSWORD, make_user

    make_user(session, username="chief", role=Role.ADMIN)
    page = client.get("/console/login", headers={"accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert (
        client.post(
            "/console/login",
            data={"username": "chief", "password": DEFAULT_PASSWORD, "next": "/console", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        == 303
    )
    pages = _page_params()
    assert len(pages) > 30
    problems = []
    for path, path_names, texts in pages:
        url = re.sub(r"\{(\w+)(?::\w+)?\}", "x%00", path)
        requests = [(url, {})] if path_names else []
        plain = re.sub(r"\{(\w+)(?::\w+)?\}", "1", path)
        requests += [(plain, {name: "a\x00b"}) for name in texts]
        for target, params in requests:
            resp = client.get(target, params=params, headers={"accept": "text/html"}, follow_redirects=False)
            if resp.status_code >= 500:
                problems.append(f"GET {target} {params!r}: {resp.status_code}")
    assert not problems, "\n".join(problems)
