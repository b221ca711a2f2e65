"""API tokens: issue, list, revoke, and which principal a bearer token stands for — with the API's token cache.

A token is random, shown once (``TOKEN_PREFIX`` + secret) and kept only as its SHA-256 (:func:`hash_token`).
:func:`create_token` and :func:`revoke_token` apply the rules of ``auth.service``'s docstring: the admin issues
and revokes tokens of every role, a department operator only his department's ``business_system`` and
``dept_viewer`` tokens (:data:`OPERATOR_TOKEN_ROLES`), anyone the token he calls with; both are audited. Login
tokens come from ``auth.service.login`` through :func:`_issue`. :func:`principal_for_token` reads a token in the
caller's transaction (the CLI, tests); the web layer asks :func:`cached_principal` / :func:`remembered_principal`
and :func:`touch_token`, which keep who a token stands for in this process's memory for at most
:data:`TOKEN_CACHE_TTL` and write ``last_used_at`` apart (see the comment above the cache).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from xinyong.auth.models import ApiToken, Department, User
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.core import audit
from xinyong.core.db import Database, utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

# Policy constants ---------------------------------------------------------------------------------------------

#: ``last_used_at`` is refreshed at most this often, so that calling the API is not a write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
MAX_TOKEN_DAYS = 3650
TOKEN_PREFIX = "xy_"
#: Roles of the tokens a department operator may issue for his own department.
OPERATOR_TOKEN_ROLES = frozenset({Role.BUSINESS_SYSTEM, Role.DEPT_VIEWER})


# Tokens -------------------------------------------------------------------------------------------------------


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def _issue(
    session: Session,
    *,
    name: str,
    role: Role,
    department_id: int | None,
    user_id: int | None,
    created_by: str,
    lifetime: dt.timedelta | None,
) -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        name=name,
        prefix=raw[:8],
        token_hash=hash_token(raw),
        role=role,
        department_id=department_id,
        user_id=user_id,
        created_by=created_by,
        created_at=now,
        expires_at=None if lifetime is None else now + lifetime,
    )
    session.add(token)
    session.flush()
    return token, raw


def create_token(
    session: Session,
    *,
    actor: Principal,
    name: str,
    role: Role,
    department_id: int | None = None,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token; the raw token is returned once and only its hash is kept.

    A department operator's token defaults to (and is confined to) his own department.
    """
    from xinyong.auth.service import _check_scope, _role, _text  # the account rules; service imports this module

    role = _role(role)
    if actor.role is Role.DEPT_OPERATOR:
        if role not in OPERATOR_TOKEN_ROLES:
            raise Forbidden("部门操作员只能为本部门的业务系统或查看员签发令牌", code="token_role_not_allowed")
        if department_id is None:
            department_id = actor.department_id
        if department_id != actor.department_id:
            raise Forbidden("部门操作员只能为本部门签发令牌", code="other_department")
    elif not actor.is_admin:
        raise Forbidden("当前角色无权签发令牌", code="role_not_allowed")
    _check_scope(session, role=role, department_id=department_id)
    name = _text(name, field="令牌名称", max_len=100)
    lifetime = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise ValidationFailed(f"有效天数须在 1 到 {MAX_TOKEN_DAYS} 之间", code="invalid_expiry")
        lifetime = dt.timedelta(days=expires_in_days)
    token, raw = _issue(
        session,
        name=name,
        role=role,
        department_id=department_id,
        user_id=None,
        created_by=actor.actor,
        lifetime=lifetime,
    )
    audit.record(
        session,
        actor=actor.actor,
        action="token.create",
        entity_type="api_token",
        entity_id=token.id,
        after=token.snapshot(),
    )
    return token, raw


def _visible(actor: Principal, token: ApiToken) -> bool:
    if actor.is_admin or actor.token_id == token.id:
        return True
    return (
        actor.role is Role.DEPT_OPERATOR
        and not token.is_session
        and token.department_id is not None
        and token.department_id == actor.department_id
    )


def get_token(session: Session, *, actor: Principal, token_id: int) -> ApiToken:
    """A token the actor may see (others are reported missing, so their existence does not leak)."""
    token = session.get(ApiToken, token_id)
    if token is None or not _visible(actor, token):
        raise NotFound(f"令牌 {token_id} 不存在", code="token_not_found")
    return token


def revoke_token(session: Session, *, actor: Principal, token_id: int, reason: str) -> ApiToken:
    from xinyong.auth.service import _text  # the account rules; service imports this module

    reason_text = _text(reason, field="撤销原因", max_len=500)
    token = get_token(session, actor=actor, token_id=token_id)
    if not (actor.is_admin or actor.token_id == token.id or token.role in OPERATOR_TOKEN_ROLES):
        raise Forbidden("部门操作员只能撤销本部门业务系统或查看员的令牌", code="token_role_not_allowed")
    if token.revoked_at is not None:
        raise Conflict(f"令牌 {token.id} 已于 {token.revoked_at:%Y-%m-%d %H:%M} 撤销", code="token_already_revoked")
    before = token.snapshot()
    _forget_tokens_on_commit(session)
    token.revoked_at = utcnow()
    token.revoked_reason = reason_text
    audit.record(
        session,
        actor=actor.actor,
        action="token.revoke",
        entity_type="api_token",
        entity_id=token.id,
        reason=reason_text,
        before=before,
        after=token.snapshot(),
    )
    return token


def list_tokens(
    session: Session,
    *,
    actor: Principal,
    department_id: int | None = None,
    include_inactive: bool = False,
    include_sessions: bool = False,
) -> list[ApiToken]:
    """Tokens the actor may manage: all for the admin, his department's API tokens for an operator.

    By default only usable tokens (not revoked, not expired) and no login sessions.
    """

    stmt = select(ApiToken).order_by(ApiToken.id)
    if actor.role is Role.DEPT_OPERATOR:
        if department_id is not None and department_id != actor.department_id:
            raise Forbidden("部门操作员只能查看本部门的令牌", code="other_department")
        department_id = actor.department_id
        include_sessions = False
    elif not actor.is_admin:
        raise Forbidden("当前角色无权查看令牌", code="role_not_allowed")
    if department_id is not None:
        stmt = stmt.where(ApiToken.department_id == department_id)
    if not include_sessions:
        stmt = stmt.where(ApiToken.user_id.is_(None))
    if not include_inactive:
        now = utcnow()
        stmt = stmt.where(ApiToken.revoked_at.is_(None), (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now))
    return list(session.scalars(stmt))


def principal_for_token(session: Session, raw_token: str) -> Principal | None:
    """Who a bearer token stands for, or None when it is unknown, revoked, expired or its owner is inactive.

    The token is found by its SHA-256 hash, never compared character by character, so response time tells an
    attacker nothing about how close a guess was. ``last_used_at`` is written at most once per
    ``LAST_USED_RESOLUTION``, with the request's transaction.
    """
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 200:
        return None
    token = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(raw_token))
        .execution_options(populate_existing=True)  # revocation and deactivation must be read fresh
    )
    if token is None:
        return None
    now = utcnow()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if token.department is not None and not token.department.active:
        return None
    if token.user is not None and not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    if token.user is not None:
        return Principal(
            kind=PrincipalKind.USER,
            name=token.user.username,
            role=token.role,
            department_id=token.department_id,
            user_id=token.user_id,
            token_id=token.id,
        )
    return Principal(
        kind=PrincipalKind.TOKEN, name=token.name, role=token.role, department_id=token.department_id, token_id=token.id
    )


# The API's token cache --------------------------------------------------------------------------------------------
#
# Every API request names its token. Reading the token, its department and its user for each one, and writing
# ``last_used_at`` in the request's transaction, cost more than the credit check itself, and that write made
# concurrent requests on SQLite fail ("database is locked": a transaction that has read cannot start writing
# once another process has committed). The web layer (``auth.deps``) therefore asks :func:`cached_principal`:
# - who a token stands for is kept in this process's memory for at most ``TOKEN_CACHE_TTL``. A token revoked, a
#   user deactivated or a password reset through this module or ``auth.service`` in *this* process takes effect
#   at once (the cache is emptied when that transaction commits); done by another process (the CLI, another
#   server worker) it takes effect within ``TOKEN_CACHE_TTL``. Expiry is exact: the remembered ``expires_at`` is compared on every use;
# - ``last_used_at`` is written at most once per ``LAST_USED_RESOLUTION`` per token and process, in a short
#   transaction of its own that waits at most ``TOUCH_LOCK_WAIT`` for the database and is skipped (and logged) when
#   it cannot be done: bookkeeping never fails a request.
# ``principal_for_token`` (no cache, ``last_used_at`` in the caller's transaction) stays for the CLI and tests.

#: How long a process trusts its memory of a token (see above); the bound on revocation by another process.
TOKEN_CACHE_TTL = 10.0  # seconds


#: How long the ``last_used_at`` write waits for a database lock before it is skipped.
TOUCH_LOCK_WAIT = 0.2  # seconds


#: Tokens remembered at most (the cache is emptied when full); unknown and refused tokens are never remembered,
#: so guessing cannot fill it.
TOKEN_CACHE_SIZE = 10_000


@dataclass
class _KnownToken:
    principal: Principal | None  # None: unknown, revoked or its owner inactive when it was read (not kept)
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    read_at: float  # time.monotonic() of the read


_known: dict[tuple[str, str], _KnownToken] = {}


_known_lock = threading.Lock()


_clock = time.monotonic  # replaced by tests


_t, _d, _u = ApiToken.__table__, Department.__table__, User.__table__


_TOKEN_ROW = (
    select(
        _t.c.id,
        _t.c.name,
        _t.c.role,
        _t.c.department_id,
        _t.c.user_id,
        _t.c.expires_at,
        _t.c.revoked_at,
        _t.c.last_used_at,
        _d.c.active.label("department_active"),
        _u.c.active.label("user_active"),
        _u.c.username,
    )
    .select_from(_t.outerjoin(_d, _d.c.id == _t.c.department_id).outerjoin(_u, _u.c.id == _t.c.user_id))
    .where(_t.c.token_hash == bindparam("token_hash"))
)


_TOUCH = (
    update(_t)
    .where(
        _t.c.id == bindparam("token_id"), (_t.c.last_used_at.is_(None)) | (_t.c.last_used_at <= bindparam("due_before"))
    )
    .values(last_used_at=bindparam("now"))
)


def forget_tokens() -> None:
    """Empty this process's token cache (a token, user or department changed)."""
    with _known_lock:
        _known.clear()


def _forget_tokens_on_commit(session: Session) -> None:
    """Empty the token cache when ``session``'s transaction commits (then the change is visible to new reads)."""
    if not session.info.get("xinyong_forget_tokens"):
        session.info["xinyong_forget_tokens"] = True

        def _after_commit(s: Session) -> None:
            s.info.pop("xinyong_forget_tokens", None)
            forget_tokens()

        event.listen(session, "after_commit", _after_commit, once=True)
        if session.get_bind().dialect.name == "postgresql":
            # Every other server process forgets too, when this transaction commits (NOTIFY is transactional):
            # see start_token_listener.
            session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": TOKENS_CHANNEL})
    forget_tokens()


#: PostgreSQL channel on which a committed change to tokens, users or departments is announced to every process.
TOKENS_CHANNEL = "xinyong_tokens"
_listeners: dict[str, threading.Thread] = {}


def start_token_listener(db: Database) -> bool:
    """On PostgreSQL, a daemon thread of this process that empties its token cache whenever another process
    commits a change to tokens, users or departments (``LISTEN xinyong_tokens``): a logout, a revoked token or a
    deactivated user on one server process takes effect on every other at once, not within ``TOKEN_CACHE_TTL``.
    Once per process and database; does nothing on SQLite (one server process). While the listener is
    disconnected the cache's TTL remains the bound. Returns whether a listener runs."""
    if db.dialect != "postgresql":
        return False
    with _known_lock:
        if db.url in _listeners and _listeners[db.url].is_alive():
            return True
        thread = threading.Thread(target=_listen, args=(db,), name="xinyong-token-listener", daemon=True)
        _listeners[db.url] = thread
    thread.start()
    return True


def _listen(db: Database) -> None:
    import psycopg

    from xinyong.core.db import libpq_url

    failures = 0
    while True:
        try:
            with psycopg.connect(libpq_url(db.url), autocommit=True) as conn:
                conn.execute(f"LISTEN {TOKENS_CHANNEL}")
                failures = 0
                forget_tokens()  # anything missed while not listening
                for _ in conn.notifies():
                    forget_tokens()
        except Exception as exc:  # noqa: BLE001 - a lost connection: listen again shortly
            failures += 1
            # once per outage: the cache's TTL bounds revocation meanwhile
            (log.warning if failures == 1 else log.debug)(
                "token listener: %s; listening again in 5 s", type(exc).__name__
            )
        time.sleep(5)


def _read_token(db: Database, raw_token: str) -> _KnownToken:
    with db.engine.connect() as conn:
        row = conn.execute(_TOKEN_ROW, {"token_hash": hash_token(raw_token)}).first()
    read_at = _clock()
    if row is None or row.revoked_at is not None or row.department_active is False or row.user_active is False:
        return _KnownToken(None, None, None, read_at)
    if row.user_id is not None:
        principal = Principal(
            kind=PrincipalKind.USER,
            name=row.username,
            role=row.role,
            department_id=row.department_id,
            user_id=row.user_id,
            token_id=row.id,
        )
    else:
        principal = Principal(
            kind=PrincipalKind.TOKEN, name=row.name, role=row.role, department_id=row.department_id, token_id=row.id
        )
    return _KnownToken(principal, row.expires_at, row.last_used_at, read_at)


def cached_principal(db: Database, raw_token: str) -> tuple[Principal | None, bool]:
    """Who a bearer token stands for, from memory when it was read less than ``TOKEN_CACHE_TTL`` ago (see the
    comment above); and whether its ``last_used_at`` is due to be written (then call :func:`touch_token`).

    Blocking (reads the database on a miss): call it from a worker thread, or :func:`remembered_principal` first.
    """
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 200:
        return None, False
    hit = remembered_principal(db, raw_token)
    if hit is not None:
        return hit
    known = _read_token(db, raw_token)
    if known.principal is not None:
        with _known_lock:
            if len(_known) >= TOKEN_CACHE_SIZE:
                _known.clear()
            _known[(db.url, hash_token(raw_token))] = known
    return _judge(known)


def remembered_principal(db: Database, raw_token: str) -> tuple[Principal | None, bool] | None:
    """:func:`cached_principal` from memory only (never blocks); None when the token must be read."""
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 200:
        return None, False
    known = _known.get((db.url, hash_token(raw_token)))
    if known is None or _clock() - known.read_at >= TOKEN_CACHE_TTL:
        return None
    return _judge(known)


def _judge(known: _KnownToken) -> tuple[Principal | None, bool]:
    if known.principal is None:
        return None, False
    now = utcnow()
    if known.expires_at is not None and known.expires_at <= now:
        return None, False
    due = known.last_used_at is None or now - known.last_used_at >= LAST_USED_RESOLUTION
    return known.principal, due


def touch_token(db: Database, raw_token: str) -> bool:
    """Write the token's ``last_used_at`` (now) in a transaction of its own, unless another request of this
    process or another process did within ``LAST_USED_RESOLUTION``. Waits at most ``TOUCH_LOCK_WAIT`` for the
    database; any failure is logged and skipped. Returns whether the row was written."""
    known = _known.get((db.url, hash_token(raw_token)))
    if known is None or known.principal is None:
        return False
    now = utcnow()
    known.last_used_at = now  # whatever happens below, not again for a minute from this process
    token_id = known.principal.token_id
    params = {"token_id": token_id, "now": now, "due_before": now - LAST_USED_RESOLUTION}
    try:
        with db.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                driver: Any = conn.connection.driver_connection  # sqlite3.Connection (an open one is never None)
                wait_ms = driver.execute("PRAGMA busy_timeout").fetchone()[0]
                driver.execute(f"PRAGMA busy_timeout = {int(TOUCH_LOCK_WAIT * 1000)}")
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(TOUCH_LOCK_WAIT * 1000)}ms'")
                    written = conn.execute(_TOUCH, params).rowcount > 0
            finally:
                if sqlite:
                    driver.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    except SQLAlchemyError as exc:
        log.warning(
            "last_used_at of token %s not written (skipped, the request goes on): %s",
            token_id,
            type(exc).__name__ + ": " + str(exc).splitlines()[0],
        )
        return False
    return written
