"""FastAPI dependencies: the database session and who is calling.

Every API route declares who may call it with exactly one policy dependency: ``Depends(allow(Role.X, ...))``
for authenticated roles or ``Depends(public)`` for routes open to everyone. ``tests/auth/test_route_policies.py``
walks every route and fails if one has no policy, then calls each route as every role to prove it.

Callers authenticate with ``Authorization: Bearer <token>`` (API tokens, see ``auth.service``); console pages
(``/console``) also accept the login token in the session cookie (``web.security.SESSION_COOKIE``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xinyong.auth.roles import ANONYMOUS, Principal, Role
from xinyong.core.db import Database
from xinyong.core.errors import Forbidden, Unauthenticated


def get_database(request: Request) -> Database:
    return request.app.state.db


def _session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    with db.session() as session:
        yield session


#: The request's session: one transaction, committed before the response is sent (scope="function"), so that
#: a 2xx answer means the change is durable.
SessionDep = Depends(_session, scope="function")


def _principal(request: Request, session: Session = SessionDep) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    principal = ANONYMOUS
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated("认证信息格式错误，应为 Authorization: Bearer <令牌>", code="bad_auth_header")
        from xinyong.auth import service

        found = service.principal_for_token(session, raw.strip())
        if found is None:
            raise Unauthenticated("令牌无效、已过期或已撤销", code="invalid_token")
        principal = found
    elif request.url.path == CONSOLE_PREFIX or request.url.path.startswith(CONSOLE_PREFIX + "/"):
        principal = _console_session(request, session)
    request.state.principal = principal
    return principal


#: Pages under this prefix (the department console) also accept the login token kept in the session cookie.
#: Only there: the API never authenticates by cookie, so a page on another site cannot make a browser call it
#: with the user's rights (the console's forms carry CSRF tokens; the API has none).
CONSOLE_PREFIX = "/console"


def _console_session(request: Request, session: Session) -> Principal:
    """The user of the console's session cookie; anonymous when there is none or it is no longer valid (expired,
    revoked at logout, user deactivated), so that the console sends the browser to its login page."""
    from xinyong.auth import service
    from xinyong.web.security import session_token

    raw = session_token(request)
    found = service.principal_for_token(session, raw) if raw else None
    return found if found is not None and found.kind == "user" else ANONYMOUS


def allow(*roles: Role) -> Callable[..., Principal]:
    """A policy: only these roles (always including the platform admin) may call the route."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def dependency(principal: Principal = Depends(_principal)) -> Principal:
        if principal.role is None:
            raise Unauthenticated("需要登录或提供 API 令牌")
        if principal.role not in allowed:
            raise Forbidden("当前角色无权执行此操作", code="role_not_allowed")
        return principal

    dependency.xinyong_policy = tuple(sorted(allowed))  # type: ignore[attr-defined]
    return dependency


def public(principal: Principal = Depends(_principal)) -> Principal:
    """Policy of routes open to everyone; the caller may still be authenticated."""
    return principal


public.xinyong_policy = "public"  # type: ignore[attr-defined]
