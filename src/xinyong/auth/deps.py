"""FastAPI dependencies: the database session and who is calling.

Every API route declares who may call it with exactly one policy dependency: ``Depends(allow(Role.X, ...))``
for authenticated roles or ``Depends(public)`` for routes open to everyone. ``tests/auth/test_route_policies.py``
walks every route and fails if one has no policy, then calls each route as every role to prove it.

Callers authenticate with ``Authorization: Bearer <token>`` (API tokens, see ``auth.service``); console pages
(``/console``) also accept the login token in the session cookie (``SESSION_COOKIE``).

These dependencies are coroutines that do no blocking work on the event loop: opening the session touches no
database (the connection is taken at its first statement, in the route's worker thread), a token known to this
process is answered from memory (``auth.tokens.cached_principal``: at most ``TOKEN_CACHE_TTL`` seconds stale
for a revocation made by another process, at once for one made in this process), and only a token read, a due
``last_used_at`` write (in a transaction of its own that never fails the request) or the commit go to a worker
thread. A synchronous dependency costs a hand-over to the thread pool and back per request even when it has
nothing to wait for. Who is calling does not depend on the request's session, so a route that opens its own
(the credit check) does not pay for one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import NamedTuple

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xinyong.auth import tokens
from xinyong.auth.roles import ANONYMOUS, Principal, PrincipalKind, Role
from xinyong.core.bounds import Id
from xinyong.core.db import Database
from xinyong.core.errors import Forbidden, Unauthenticated, ValidationFailed


def get_database(request: Request) -> Database:
    return request.app.state.db


#: Requests that only read: their session is a deferred reader (on SQLite it neither waits for nor blocks the
#: writer). Every other request's session is a write transaction, and so is a retried request's
#: (``web.transactions``).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``request.state`` key: this attempt's session must be a write transaction (set by ``web.transactions`` on every
#: retried attempt).
WRITE_STATE = "xinyong_write_transaction"
#: The console's session cookie (set and cleared by ``web.security``).
SESSION_COOKIE = "xinyong_session"


async def _session(request: Request) -> AsyncIterator[Session]:
    db: Database = request.app.state.db
    write = request.method not in READ_METHODS or bool(request.scope.get("state", {}).get(WRITE_STATE))
    async with _within(db.session(write=write)) as session:
        yield session


@asynccontextmanager
async def _within(context: AbstractContextManager[Session]) -> AsyncIterator[Session]:
    """The session of ``context`` (a ``Database.session``) for one request, ended by :func:`_close` (an exception
    thrown into the dependency reaches the ``except`` below through ``async with``)."""
    session = context.__enter__()  # a Session in a begun transaction; no connection is taken yet
    try:
        yield session
    except BaseException as exc:
        await _close(context, session, exc)
        raise
    await _close(context, session, None)


async def _close(context: AbstractContextManager[Session], session: Session, exc: BaseException | None) -> None:
    """Commit (or roll back on ``exc``) and close: in a worker thread, unless the route already ended the
    transaction itself (the check commits in its own thread: then nothing here waits for the database)."""
    args = (None, None, None) if exc is None else (type(exc), exc, exc.__traceback__)
    if session.get_transaction() is None:
        context.__exit__(*args)
    else:
        await run_in_threadpool(context.__exit__, *args)


#: The request's session: one transaction, committed before the response is sent (scope="function"), so that
#: a 2xx answer means the change is durable; a write transaction unless the request is a GET or HEAD (see
#: ``READ_METHODS``). A transient conflict it meets is retried by ``web.transactions.RetryTransactions``.
SessionDep = Depends(_session, scope="function")


async def _read_session(request: Request) -> AsyncIterator[Session]:
    """A GET/HEAD request's session on the read replica (``Database.replica``; the primary when none is configured
    or when the request must write): for pages that only read and may be a replication delay behind."""
    db: Database = request.app.state.db
    write = request.method not in READ_METHODS or bool(request.scope.get("state", {}).get(WRITE_STATE))
    async with _within(db.session(write=True) if write else db.replica.session(write=False)) as session:
        yield session


#: :data:`SessionDep` for the public portal's read-only pages: on the read replica (``XINYONG_DATABASE_READ_URL``)
#: when one is configured. A route that writes, or must read what was just written, takes ``SessionDep``.
ReadSessionDep = Depends(_read_session, scope="function")


def _bearer(header: str) -> str:
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthenticated("认证信息格式错误，应为 Authorization: Bearer <令牌>", code="bad_auth_header")
    return raw.strip()


async def _principal(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization", "")
    principal = ANONYMOUS
    if header:
        found = await _token_principal(request.app.state.db, _bearer(header))
        if found is None:
            raise Unauthenticated("令牌无效、已过期或已撤销", code="invalid_token")
        principal = found
    elif request.url.path == CONSOLE_PREFIX or request.url.path.startswith(CONSOLE_PREFIX + "/"):
        principal = await _console_session(request)
    request.state.principal = principal
    return principal


async def _token_principal(db: Database, raw: str) -> Principal | None:
    """Who the token stands for (``auth.tokens.cached_principal``): from memory when this process read it less
    than ``TOKEN_CACHE_TTL`` ago, else read in a worker thread; a due ``last_used_at`` is written there too."""
    known = tokens.remembered_principal(db, raw)
    if known is None:
        known = await run_in_threadpool(tokens.cached_principal, db, raw)
    found, due = known
    if found is not None and due:
        await run_in_threadpool(tokens.touch_token, db, raw)
    return found


#: Pages under this prefix (the department console) also accept the login token kept in the session cookie.
#: Only there: the API never authenticates by cookie, so a page on another site cannot make a browser call it
#: with the user's rights (the console's forms carry CSRF tokens; the API has none).
CONSOLE_PREFIX = "/console"


def session_token(request: Request) -> str | None:
    """The login token the browser holds, if any (validate it with ``auth.tokens.principal_for_token``)."""
    value = request.cookies.get(SESSION_COOKIE)
    return value if value and len(value) <= 200 else None


async def _console_session(request: Request) -> Principal:
    """The user of the console's session cookie; anonymous when there is none or it is no longer valid (expired,
    revoked at logout, user deactivated), so that the console sends the browser to its login page."""
    raw = session_token(request)
    found = await _token_principal(request.app.state.db, raw) if raw else None
    return found if found is not None and found.kind == PrincipalKind.USER else ANONYMOUS


def allow(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A policy: only these roles (always including the platform admin) may call the route."""
    allowed = frozenset(roles) | {Role.ADMIN}

    async def dependency(request: Request) -> Principal:
        principal = await _principal(request)  # called, not declared: one dependency less to solve per request
        if principal.role is None:
            raise Unauthenticated("需要登录或提供 API 令牌")
        if principal.role not in allowed:
            raise Forbidden("当前角色无权执行此操作", code="role_not_allowed")
        return principal

    dependency.xinyong_policy = tuple(sorted(allowed))  # type: ignore[attr-defined]
    return dependency


async def public(request: Request) -> Principal:
    """Policy of routes open to everyone; the caller may still be authenticated."""
    return await _principal(request)


public.xinyong_policy = "public"  # type: ignore[attr-defined]


def submitting_department(principal: Principal, department_id: int | None) -> int:
    """The department a submission (records, commitments) is for: the caller's own; the admin names one."""
    if principal.is_admin:
        if department_id is None:
            raise ValidationFailed("平台管理员代为报送时须指定 department_id", code="department_required")
        return department_id
    assert principal.department_id is not None
    return principal.department_id


class Submitter(NamedTuple):
    """Who submits a batch (records, commitments) and for which department (:func:`submitting_department`)."""

    principal: Principal
    department_id: int


def _submitter(
    department_id: Id | None = Query(None, description="仅平台管理员代为报送时使用"),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
) -> Submitter:
    return Submitter(principal, submitting_department(principal, department_id))


#: A JSON push's submitter: a department operator for its own department, the admin naming one (``?department_id=``).
PushSubmitter = Depends(_submitter)
