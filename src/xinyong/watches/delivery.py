"""The webhook delivery worker: claims due deliveries with a lease, POSTs signed JSON, records the outcome.

Guarantees (see docs/webhooks.md):
- **Lease.** A delivery is claimed by one conditional UPDATE (``… WHERE status = 'pending' AND (locked_until IS
  NULL OR locked_until < now)``, with ``FOR UPDATE SKIP LOCKED`` in the candidate query on PostgreSQL). On SQLite
  the UPDATE is the transaction's first statement, so it takes the write lock before reading and two workers
  cannot both see a row as free. Only the claimant sends it until the lease ends.
- **Acknowledged means done.** A 2xx answer is committed as ``delivered`` right after the call, in its own
  transaction; a delivered row is never claimed again (and ``redeliver`` refuses it).
- **At least once.** A crash between the receiver's 2xx and that commit leaves the delivery pending; after the
  lease it is sent again. Receivers deduplicate by ``X-Xinyong-Event-Id``.
- **Back-off.** Any other answer (non-2xx, redirect, timeout, connection error) schedules the next attempt after
  ``min(cap, base · 2^(n-1))`` seconds, scaled by a random factor in [0.5, 1] (jitter, so receivers coming back
  are not hit by every worker at once); after ``max_attempts`` the delivery is ``dead``.

HTTP calls are made outside any database transaction, with timeouts. The transport is pluggable (tests pass an
``httpx.MockTransport``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from xinyong.core.db import Database, is_transient, utcnow
from xinyong.core.errors import Busy
from xinyong.watches.models import Delivery, DeliveryStatus, Receiver
from xinyong.watches.service import signing_secrets

log = logging.getLogger(__name__)
USER_AGENT = "xinyong-webhooks/1"
SIGNATURE_HEADER = "X-Xinyong-Signature"
#: Most characters of a receiver's error answer kept in ``last_error``.
ERROR_TEXT_LIMIT = 300


class WebhookSettings(BaseSettings):
    """Delivery policy, from the environment (``XINYONG_WEBHOOK_BASE_DELAY=30`` …)."""

    model_config = SettingsConfigDict(env_prefix="XINYONG_WEBHOOK_", env_file=".env", extra="ignore")

    #: Seconds before the second attempt; doubles with each failure.
    base_delay: float = 30.0
    #: Longest wait between two attempts (seconds).
    max_delay: float = 6 * 3600.0
    #: Attempts before a delivery is dead (12 with the defaults ≈ 10–20 hours of trying).
    max_attempts: int = 12
    #: Seconds for connecting, sending and reading the answer of one call.
    timeout: float = 10.0
    #: Seconds a claim lasts; must exceed ``batch_size × timeout`` so a live worker keeps its lease.
    lease_seconds: float = 300.0
    #: Deliveries claimed per round trip to the database.
    batch_size: int = 20


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1-based): exponential, capped, with jitter in
    [50 %, 100 %] of the exponential value."""
    exponential = min(cap, base * (2 ** max(0, attempt - 1)))
    return exponential * (0.5 + rand() / 2)


# Signatures ------------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` with the secret (UTF-8) as key."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex>[,v1=<hex>]``: one ``v1`` per signing secret (two during a rotation's grace period)."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets_)])


def verify_signature(header: str, body: bytes, secret: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (docs/webhooks.md has the same code): the timestamp is recent and one ``v1`` matches."""
    timestamp, candidates = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


def body_of(delivery: Delivery) -> bytes:
    """The JSON document POSTed for a delivery (UTF-8, keys sorted, compact)."""
    event = delivery.event
    document = {
        "id": event.uid,
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "subject": event.payload.get("subject"),
        "data": event.payload.get("data", {}),
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# The worker ------------------------------------------------------------------------------------------------

SessionSource = Database | sessionmaker[Session] | Callable[[], Session]


@contextlib.contextmanager
def _transaction(source: SessionSource) -> Iterator[Session]:
    if isinstance(source, Database):
        with source.session() as session:
            yield session
        return
    with source() as session, session.begin():
        yield session


def default_worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


@dataclass
class DeliveryReport:
    """What one run of the worker did."""

    claimed: int = 0
    sent: int = 0  # acknowledged (2xx) → delivered
    failed: int = 0  # not acknowledged, another attempt scheduled
    dead: int = 0  # not acknowledged, out of attempts
    deferred: int = 0  # not tried: an earlier call to the same receiver in this batch failed
    lost: int = 0  # the lease ran out before the outcome was recorded (another worker owns it now)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Job:
    delivery_id: int
    receiver_id: int
    attempts: int
    url: str
    event_type: str
    event_uid: str
    body: bytes
    secrets: list[str]
    problem: str | None = None


def claim_due(session: Session, *, worker: str, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[int]:
    """Lease up to ``limit`` due deliveries of active receivers to ``worker``; their ids (oldest due first).

    ``worker`` must be unique per claim (the caller adds a random suffix). Commit right after.
    """
    candidates = (
        select(Delivery.id)
        .join(Receiver, Receiver.id == Delivery.receiver_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
            Receiver.active.is_(True),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    claimed = session.scalars(
        update(Delivery)
        .where(
            Delivery.id.in_(candidates.scalar_subquery()),
            Delivery.status == DeliveryStatus.PENDING,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < now),
        )
        .values(locked_until=now + lease, locked_by=worker)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted(claimed)


def _jobs(session: Session, ids: list[int], now: dt.datetime) -> list[_Job]:
    jobs = []
    deliveries = session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)).all()
    for d in deliveries:
        try:
            keys, problem = signing_secrets(d.receiver, now=now), None
        except ValueError as exc:  # the master key changed or the row was tampered with: never send unsigned
            keys, problem = [], f"签名密钥无法解密：{exc}"
        jobs.append(
            _Job(
                delivery_id=d.id,
                receiver_id=d.receiver_id,
                attempts=d.attempts,
                url=d.receiver.url,
                event_type=d.event.event_type,
                event_uid=d.event.uid,
                body=body_of(d),
                secrets=keys,
                problem=problem,
            )
        )
    return jobs


def _send(client: httpx.Client, job: _Job) -> tuple[bool, int | None, str | None, bool]:
    """POST one delivery: (acknowledged, status code, error text, receiver unreachable)."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Xinyong-Event": job.event_type,
        "X-Xinyong-Event-Id": job.event_uid,
        "X-Xinyong-Delivery": str(job.delivery_id),
        "X-Xinyong-Attempt": str(job.attempts + 1),
        SIGNATURE_HEADER: signature_header(job.secrets, timestamp, job.body),
    }
    try:
        response = client.post(job.url, content=job.body, headers=headers)
    except httpx.TimeoutException as exc:
        return False, None, f"超时：{type(exc).__name__}", True
    except httpx.HTTPError as exc:
        return False, None, f"连接失败：{type(exc).__name__}: {str(exc)[:ERROR_TEXT_LIMIT]}", True
    if 200 <= response.status_code < 300:
        return True, response.status_code, None, False
    text = response.text[:ERROR_TEXT_LIMIT] if response.content else ""
    return False, response.status_code, f"HTTP {response.status_code}" + (f"：{text}" if text else ""), False


def _record(
    source: SessionSource,
    job: _Job,
    *,
    worker: str,
    now: dt.datetime,
    ok: bool,
    code: int | None,
    error: str | None,
    settings: WebhookSettings,
    rand: Callable[[], float],
) -> str:
    attempts = job.attempts + 1
    with _transaction(source) as session:
        if ok:
            # Acknowledged: delivered whoever holds the lease now — the receiver has it.
            done = cast(
                "CursorResult[Any]",
                session.execute(
                    update(Delivery)
                    .where(Delivery.id == job.delivery_id, Delivery.status == DeliveryStatus.PENDING)
                    .values(
                        status=DeliveryStatus.DELIVERED,
                        delivered_at=now,
                        attempts=Delivery.attempts + 1,
                        last_attempt_at=now,
                        last_status_code=code,
                        last_error=None,
                        locked_until=None,
                        locked_by=None,
                    )
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount  # an UPDATE: a CursorResult
            return "sent" if done else "lost"
        dead = attempts >= settings.max_attempts
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_attempt_at": now,
            "last_status_code": code,
            "last_error": error,
            "locked_until": None,
            "locked_by": None,
        }
        if dead:
            values["status"] = DeliveryStatus.DEAD
        else:
            delay = backoff_delay(attempts, base=settings.base_delay, cap=settings.max_delay, rand=rand)
            values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
        done = cast(
            "CursorResult[Any]",
            session.execute(
                update(Delivery)
                .where(
                    Delivery.id == job.delivery_id,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.locked_by == worker,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount  # an UPDATE: a CursorResult
        if not done:
            return "lost"
        return "dead" if dead else "failed"


def _defer(source: SessionSource, job: _Job, *, worker: str, until: dt.datetime) -> None:
    """Hand a delivery back without an attempt (its receiver just failed): due again with the failed one."""
    with _transaction(source) as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id == job.delivery_id, Delivery.status == DeliveryStatus.PENDING, Delivery.locked_by == worker
            )
            .values(next_attempt_at=until, locked_until=None, locked_by=None)
            .execution_options(synchronize_session=False)
        )


def deliver_due(
    source: SessionSource,
    *,
    now: dt.datetime | None = None,
    limit: int = 500,
    transport: httpx.BaseTransport | None = None,
    settings: WebhookSettings | None = None,
    worker: str | None = None,
    rand: Callable[[], float] = random.random,
) -> DeliveryReport:
    """Send up to ``limit`` due deliveries; returns the counts.

    ``source`` is a :class:`Database` or a session factory. ``now`` fixes the clock (tests); by default the real
    time is read at every step. ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """
    settings = settings or WebhookSettings()
    worker = worker or default_worker_name()
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else utcnow
    lease = dt.timedelta(seconds=settings.lease_seconds)
    report = DeliveryReport()
    timeout = httpx.Timeout(settings.timeout)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        while report.claimed < limit:
            token = f"{worker[:80]}:{uuid.uuid4().hex[:12]}"
            with _transaction(source) as session:
                ids = claim_due(
                    session,
                    worker=token,
                    now=clock(),
                    lease=lease,
                    limit=min(settings.batch_size, limit - report.claimed),
                )
                jobs = _jobs(session, ids, clock()) if ids else []
            if not jobs:
                break
            report.claimed += len(jobs)
            down: dict[int, dt.datetime] = {}
            for job in jobs:
                error: str | None
                if job.receiver_id in down:
                    _defer(source, job, worker=token, until=down[job.receiver_id])
                    report.deferred += 1
                    continue
                if job.problem:
                    ok, code, error, unreachable = False, None, job.problem, False
                else:
                    ok, code, error, unreachable = _send(client, job)
                outcome = _record(
                    source, job, worker=token, now=clock(), ok=ok, code=code, error=error, settings=settings, rand=rand
                )
                setattr(report, outcome, getattr(report, outcome) + 1)
                if error:
                    report.errors.append({"delivery_id": job.delivery_id, "error": error})
                if unreachable:
                    with _transaction(source) as session:
                        due = session.scalar(select(Delivery.next_attempt_at).where(Delivery.id == job.delivery_id))
                    floor = clock() + dt.timedelta(seconds=max(settings.base_delay, 1.0))
                    down[job.receiver_id] = due if due is not None and due > floor else floor
    return report


def run_forever(
    source: SessionSource,
    *,
    interval: float = 5.0,
    transport: httpx.BaseTransport | None = None,
    settings: WebhookSettings | None = None,
    on_report: Callable[[DeliveryReport], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Deliver in a loop: drain what is due, then wait ``interval`` seconds (the CLI's ``--loop``)."""
    while not should_stop():
        try:
            report = deliver_due(source, transport=transport, settings=settings)
        except Exception as exc:
            # The database stayed busy (core.db.is_transient): what was claimed and not recorded is claimed again
            # when its lease ends; try again after the interval rather than stop the worker.
            if not is_transient(exc) and not isinstance(exc, Busy):
                raise
            log.warning("webhook delivery: database busy (%s); trying again in %.0f s", type(exc).__name__, interval)
            time.sleep(interval)
            continue
        if on_report is not None and report.claimed:
            on_report(report)
        if report.claimed == 0:
            time.sleep(interval)
