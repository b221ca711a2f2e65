"""The API's memory of tokens (``auth.tokens.cached_principal``) and its ``last_used_at`` bookkeeping, over HTTP
on both backends: a change made through the service in this process takes effect at once, one made elsewhere
within ``TOKEN_CACHE_TTL``, expiry is exact, and writing ``last_used_at`` never fails a request."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.factories import (
    ACTOR,
    DEFAULT_PASSWORD,
    auth_headers,
    make_department,
    make_token,
    make_user,
)
from xinyong.auth import service, tokens
from xinyong.auth.models import ApiToken
from xinyong.auth.roles import Role
from xinyong.core.db import Database, utcnow

ME = "/api/v1/auth/me"


def _token(session: Session, raw: str) -> ApiToken:
    session.rollback()  # a fresh snapshot: the app wrote in its own sessions
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == tokens.hash_token(raw))).one()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, moved by hand."""
    now = [1_000.0]
    monkeypatch.setattr(tokens, "_clock", lambda: now[0])
    return now


def test_changes_through_the_service_take_effect_at_once(
    session: Session, client: TestClient, clock: list[float]
) -> None:
    dept = make_department(session)
    system = make_token(session, Role.BUSINESS_SYSTEM, dept)
    other = make_token(session, Role.BUSINESS_SYSTEM, dept)
    for raw in (system, other):
        assert client.get(ME, headers=auth_headers(raw)).status_code == 200  # now remembered
    tokens.revoke_token(session, actor=ACTOR, token_id=_token(session, system).id, reason="泄露")
    session.commit()
    assert client.get(ME, headers=auth_headers(system)).status_code == 401
    assert client.get(ME, headers=auth_headers(other)).status_code == 200
    service.update_department(session, actor=ACTOR, ref=dept.id, active=False, reason="撤并")
    session.commit()
    assert client.get(ME, headers=auth_headers(other)).status_code == 401


def test_logout_and_password_reset_end_remembered_sessions(
    session: Session, client: TestClient, clock: list[float]
) -> None:
    user = make_user(session, username="zhangsan", role=Role.ADMIN)
    login = client.post("/api/v1/auth/login", json={"username": "zhangsan", "password": DEFAULT_PASSWORD}).json()
    headers = auth_headers(login["token"])
    assert client.get(ME, headers=headers).status_code == 200
    service.set_password(session, actor=ACTOR, user_id=user.id, password="another-horse-43")
    session.commit()
    assert client.get(ME, headers=headers).status_code == 401
    again = client.post("/api/v1/auth/login", json={"username": "zhangsan", "password": "another-horse-43"}).json()
    headers = auth_headers(again["token"])
    assert client.get(ME, headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get(ME, headers=headers).status_code == 401


def test_a_revocation_elsewhere_is_seen_within_the_ttl(
    session: Session, client: TestClient, clock: list[float]
) -> None:
    raw = make_token(session, Role.BANK)
    headers = auth_headers(raw)
    assert client.get(ME, headers=headers).status_code == 200
    # Another process (the CLI, another server worker) revokes it: this process does not hear of it ...
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == tokens.hash_token(raw))
        .values(revoked_at=utcnow(), revoked_reason="另一进程撤销")
    )
    session.commit()
    clock[0] += tokens.TOKEN_CACHE_TTL - 0.5
    assert client.get(ME, headers=headers).status_code == 200  # the documented staleness
    # ... and reads the token again once its memory of it is TOKEN_CACHE_TTL old.
    clock[0] += 0.5
    resp = client.get(ME, headers=headers)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token"


def test_expiry_is_exact_although_remembered(
    session: Session, client: TestClient, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = make_token(session, Role.BANK, expires_in_days=1)
    assert client.get(ME, headers=auth_headers(raw)).status_code == 200
    later = utcnow() + dt.timedelta(days=1, seconds=1)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    assert client.get(ME, headers=auth_headers(raw)).status_code == 401


def test_unknown_tokens_are_not_remembered(client: TestClient) -> None:
    before = len(tokens._known)
    for i in range(20):
        assert client.get(ME, headers=auth_headers(f"xy_guess{i:040d}")).status_code == 401
    assert len(tokens._known) == before


def test_last_used_is_written_at_most_once_a_minute(
    session: Session, client: TestClient, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = make_token(session, Role.BANK)
    start = utcnow()
    now = [start]
    monkeypatch.setattr(tokens, "utcnow", lambda: now[0])
    assert client.get(ME, headers=auth_headers(raw)).status_code == 200
    assert _token(session, raw).last_used_at == start
    now[0] = start + dt.timedelta(seconds=30)
    clock[0] += tokens.TOKEN_CACHE_TTL  # read again: the row says it was used 30 s ago
    assert client.get(ME, headers=auth_headers(raw)).status_code == 200
    assert _token(session, raw).last_used_at == start
    now[0] = start + tokens.LAST_USED_RESOLUTION
    assert client.get(ME, headers=auth_headers(raw)).status_code == 200  # remembered, and due
    assert _token(session, raw).last_used_at == start + tokens.LAST_USED_RESOLUTION


def test_a_locked_database_never_fails_the_request(
    database: Database, session: Session, client: TestClient, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer holds the lock the ``last_used_at`` write needs (on SQLite the database's write lock, as a
    second server worker or the CLI may; on PostgreSQL the token's row): the request is answered all the same,
    after at most ``TOUCH_LOCK_WAIT``, and the skipped write is logged."""
    raw = make_token(session, Role.BANK)
    token_id = _token(session, raw).id
    session.rollback()
    holder = database.engine.raw_connection()
    try:
        if database.dialect == "sqlite":
            holder.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        else:
            holder.cursor().execute("SELECT id FROM api_tokens WHERE id = %s FOR UPDATE", (token_id,))
        with caplog.at_level(logging.WARNING, logger="xinyong.auth.tokens"):
            resp = client.get(ME, headers=auth_headers(raw))
    finally:
        holder.rollback()
        holder.close()
    assert resp.status_code == 200 and resp.json()["token_id"] == token_id
    assert "last_used_at of token" in caplog.text
    assert _token(session, raw).last_used_at is None
    # Not retried at every request; written again once the resolution has passed.
    assert client.get(ME, headers=auth_headers(raw)).status_code == 200
    assert _token(session, raw).last_used_at is None
