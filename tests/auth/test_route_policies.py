"""Every API route declares who may call it, and the declaration holds (see ``xinyong.auth.deps``).

Generic over the whole application, so it covers routes that other domains add later:

(a) each API route has exactly one policy dependency (``allow(...)`` or ``public``);
(b) each route is called as every role (anonymous, admin, dept_operator / dept_viewer / business_system of
    department A, bank) with plausible path parameters and an empty JSON body: a role outside the policy gets 401
    (anonymous) or 403, never 2xx; a role inside it is never refused for being who it is; nothing answers 5xx;
(c) a department-A principal cannot read or change department B's tokens and users.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import auth_headers, make_department, make_token, make_user
from xinyong.auth.roles import Role
from xinyong.core.db import Database
from xinyong.web.app import create_app

ANONYMOUS = "anonymous"
CALLERS = (ANONYMOUS, Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM, Role.BANK)
DEPT_A, DEPT_B = "depta", "deptb"
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str  # as declared, e.g. /api/v1/auth/tokens/{token_id}
    url: str  # with plausible path parameters filled in
    policies: tuple[Any, ...]  # the xinyong_policy of each policy dependency found

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _policies(dependant: Dependant) -> list[Any]:
    """Every distinct policy dependency in the route's dependency tree."""
    found: dict[int, Any] = {}

    def walk(dep: Dependant) -> None:
        for sub in dep.dependencies:
            policy = getattr(sub.call, "xinyong_policy", None)
            if policy is not None:
                found[id(sub.call)] = policy
            walk(sub)

    walk(dependant)
    return list(found.values())


def _plausible(annotation: Any) -> str:
    """A value a real caller might put in the path: id 1, the code of department A, an enum's first value."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str(next(iter(annotation)).value)
    if annotation is int:
        return "1"
    return DEPT_A


def _route_cases(app: FastAPI) -> list[RouteCase]:
    cases = []
    for ctx in iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        dependant: Dependant = ctx.dependant
        values = {p.name: _plausible(p.field_info.annotation) for p in dependant.path_params}
        url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, values=values: values.get(m.group(1), "1"), ctx.path)
        for method in sorted(ctx.methods):
            cases.append(RouteCase(method, ctx.path, url, tuple(_policies(dependant))))
    return cases


def _collect() -> list[RouteCase]:
    db = Database("sqlite:///:memory:")  # never connected: only the routing table is read
    try:
        return _route_cases(create_app(db))
    finally:
        db.dispose()


ROUTES = _collect()


def test_routes_were_found() -> None:
    paths = {r.path for r in ROUTES}
    assert {"/api/v1/auth/login", "/api/v1/auth/tokens", "/healthz"} <= paths


def test_every_route_declares_exactly_one_policy() -> None:
    """(a) A route without a policy would be open to everyone by accident; two policies are ambiguous."""
    missing = [r.id for r in ROUTES if not r.policies]
    assert not missing, f"routes without Depends(allow(...)) or Depends(public): {missing}"
    several = [r.id for r in ROUTES if len(r.policies) > 1]
    assert not several, f"routes with more than one policy dependency: {several}"


# (b) -----------------------------------------------------------------------------------------------------------


def _allowed(policy: Any, caller: Any) -> bool:
    if policy == "public":
        return True
    return caller != ANONYMOUS and caller in policy


def _expected_5xx(case: RouteCase, resp: Any) -> bool:
    """/readyz answers 503 by design when the schema is not at the migration head (test databases are made by
    create_all, without Alembic's version table)."""
    return case.path == "/readyz" and resp.status_code == 503 and resp.json().get("status") == "migrations_pending"


@pytest.fixture
def callers(session: Session) -> dict[Any, dict[str, str]]:
    """Request headers for every caller; department roles belong to department A. Department B exists too."""
    a = make_department(session, code=DEPT_A)
    make_department(session, code=DEPT_B)
    headers: dict[Any, dict[str, str]] = {ANONYMOUS: {}}
    for role in CALLERS[1:]:
        department = a if role in (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM) else None
        headers[role] = auth_headers(make_token(session, role, department, name=f"policy test {role}"))
    return headers


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: c.id)
def test_route_policy_holds_for_every_role(
    case: RouteCase, client: TestClient, callers: dict[Any, dict[str, str]]
) -> None:
    """(b) Refused roles first (a refused call must change nothing), then the allowed ones."""
    [policy] = case.policies or [None]
    if policy is None:
        pytest.fail(f"{case.id} has no policy dependency")
    kwargs: dict[str, Any] = {"json": {}} if case.method in BODY_METHODS else {}
    order = sorted(CALLERS, key=lambda c: _allowed(policy, c))
    problems = []
    for caller in order:
        resp = client.request(case.method, case.url, headers=callers[caller], **kwargs)
        status = resp.status_code
        who = f"{case.method} {case.url} as {caller}"
        if status >= 500 and not _expected_5xx(case, resp):
            problems.append(f"{who}: server error {status}: {resp.text[:200]}")
        elif not _allowed(policy, caller):
            expected = 401 if caller == ANONYMOUS else 403
            if status != expected:
                problems.append(f"{who}: expected {expected} (policy {policy}), got {status}: {resp.text[:200]}")
        else:
            refused = status == 401 or (status == 403 and _error_code(resp) == "role_not_allowed")
            if refused:
                problems.append(f"{who}: allowed by policy {policy} but refused with {status}: {resp.text[:200]}")
    assert not problems, "\n".join(problems)


def _error_code(resp: Any) -> str | None:
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# (c) -----------------------------------------------------------------------------------------------------------


API = "/api/v1/auth"


@pytest.fixture
def departments_a_b(session: Session) -> dict[str, Any]:
    a = make_department(session, code=DEPT_A)
    b = make_department(session, code=DEPT_B)
    b_user = make_user(session, username="b-user", role=Role.DEPT_OPERATOR, department=b)
    b_raw = make_token(session, Role.BUSINESS_SYSTEM, b, name="B 业务系统")
    admin = auth_headers(make_token(session, Role.ADMIN))
    return {
        "a": a,
        "b": b,
        "b_user_id": b_user.id,
        "b_raw": b_raw,
        "admin": admin,
        "a_callers": {
            role: auth_headers(make_token(session, role, a))
            for role in (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM)
        },
    }


def _b_token_id(client: TestClient, env: dict[str, Any]) -> int:
    tokens = client.get(f"{API}/tokens?department={DEPT_B}", headers=env["admin"]).json()
    [token] = [t for t in tokens if t["name"] == "B 业务系统"]
    return token["id"]


def test_department_a_cannot_reach_department_b(client: TestClient, departments_a_b: dict[str, Any]) -> None:
    """(c) Reading or changing B's tokens and users as any department-A role is refused, and B is unchanged."""
    env = departments_a_b
    b_token_id = _b_token_id(client, env)
    user = env["b_user_id"]
    attempts = [
        ("GET", f"{API}/tokens?department={DEPT_B}", None),
        ("GET", f"{API}/tokens?department={env['b'].id}", None),
        ("POST", f"{API}/tokens", {"name": "越权", "role": "business_system", "department": DEPT_B}),
        ("POST", f"{API}/tokens", {"name": "越权", "role": "dept_viewer", "department": env["b"].id}),
        ("DELETE", f"{API}/tokens/{b_token_id}?reason=越权", None),
        ("GET", f"{API}/users?department={DEPT_B}", None),
        ("GET", f"{API}/users/{user}", None),
        ("PUT", f"{API}/users/{user}/password", {"password": "taken-over-1234"}),
        ("POST", f"{API}/users/{user}/deactivate", {"reason": "越权"}),
        ("PATCH", f"{API}/departments/{DEPT_B}", {"active": False}),
    ]
    for role, headers in env["a_callers"].items():
        for method, url, body in attempts:
            resp = client.request(method, url, headers=headers, **({"json": body} if body is not None else {}))
            assert resp.status_code in (403, 404), f"{method} {url} as {role} of A: {resp.status_code} {resp.text}"
        listed = client.get(f"{API}/tokens", headers=headers)
        if listed.status_code == 200:
            assert {t["department_code"] for t in listed.json()} <= {DEPT_A}
            assert b_token_id not in [t["id"] for t in listed.json()]
    # B is untouched: its token still works, its user still logs in, the department is active.
    assert client.get(f"{API}/me", headers=auth_headers(env["b_raw"])).status_code == 200
    b_user = client.get(f"{API}/users/{user}", headers=env["admin"]).json()
    assert b_user["active"] is True and b_user["failed_logins"] == 0
    assert client.get(f"{API}/departments/{DEPT_B}", headers=env["admin"]).json()["active"] is True
    b_tokens = client.get(f"{API}/tokens?department={DEPT_B}", headers=env["admin"]).json()
    assert [t["name"] for t in b_tokens] == ["B 业务系统"]
