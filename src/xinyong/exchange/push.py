"""``xinyong exchange push``: the feed sent to the provincial receiver in batches, at least once, in order.

Protocol (docs/exchange.md): ``POST {url}/batches`` with a JSON body ``{"first_seq", "last_seq", "messages": [...]}``
(each message: the envelope and the national row, ``exchange.render``), headers ``Authorization: Bearer <token>``,
``Idempotency-Key: <first_seq>-<last_seq>`` and ``X-Xinyong-Signature: sha256=<HMAC-SHA256 of the body>``. The
receiver answers 2xx with ``{"receipt_id", "accepted": [seq …], "rejected": [{"seq", "code", "message"} …]}``.

Guarantees:
- **Nothing is lost.** Messages are committed with the change (the outbox); the push reads from the acknowledged
  cursor, so a crash anywhere — before the call, during it, between the receiver's answer and our commit — leaves
  the batch to be sent again.
- **Acknowledged means done.** A 2xx answer is committed at once (the receipt with its per-row rejections, and the
  cursor ``acked_seq`` moved to the batch's end, never backwards); what the receiver acknowledged is never sent
  again. Rejected rows are acknowledged too (the receipt keeps why): they are corrected at the source and come
  back as new messages.
- **At least once, idempotent.** A batch resent after a crash carries the same sequence numbers; the receiver keeps
  each sequence number once.
- **Order.** Batches go out in sequence order, one at a time, so the receiver sees a subject's changes in order.
- **Back-off.** Any failure (connection error, timeout, non-2xx, an answer that is not a receipt) stops the run and
  schedules the next attempt after ``min(max_delay, base_delay · 2^(failures-1))`` seconds.

The HTTP call is made outside any database transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from xinyong.core.db import Database, utcnow
from xinyong.core.errors import Busy, ConfigurationError
from xinyong.exchange import feed, ids, lease, rejections, render
from xinyong.exchange.models import PushReceipt, PushState

LEASE = "push"

SIGNATURE_HEADER = "X-Xinyong-Signature"
USER_AGENT = "xinyong-exchange/1"
ERROR_TEXT_LIMIT = 300


class ExchangeSettings(BaseSettings):
    """The receiver and the push policy, from the environment (``XINYONG_EXCHANGE_RECEIVER_URL=https://…``)."""

    model_config = SettingsConfigDict(env_prefix="XINYONG_EXCHANGE_", env_file=".env", extra="ignore")

    #: The provincial platform's receiver (``…/batches`` and ``…/reconcile`` below it).
    receiver_url: str | None = None
    #: Bearer token the receiver gave this platform.
    token: str | None = None
    #: Shared secret of the body signature (HMAC-SHA256).
    hmac_secret: str | None = None
    batch_size: int = 500
    timeout: float = 30.0
    #: Seconds before the first retry after a failure; doubles with each failure, up to ``max_delay``.
    base_delay: float = 30.0
    max_delay: float = 3600.0
    #: ``--loop``: seconds between polls of an empty feed.
    poll_interval: float = 10.0
    #: Natural persons' ID numbers in the push body: ``masked`` (as stored), ``hashed`` or ``clear``
    #: (``exchange.ids``).
    id_mode: str = "masked"
    #: ``hashed``: the HMAC key agreed with the receiver.
    id_hash_key: str | None = None
    #: Seconds a pusher's lease lasts unless renewed (renewed before a batch once a quarter of it has passed; keep
    #: the HTTP timeout below 3/4 of it).
    lease_ttl: float = 120.0
    #: ``exchange pull --loop``: the directory the province's files arrive in (processed ones go to ``done/``).
    inbox: str | None = None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _state(session: Session) -> PushState:
    """The cursor row, locked for this transaction (created by the first push; ON CONFLICT: two first pushes)."""
    dialect = session.get_bind(PushState).dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    session.execute(
        module.insert(PushState)
        .values(id=1, acked_seq=0, sent_seq=0, failures=0)
        .on_conflict_do_nothing(index_elements=[PushState.id])
    )
    session.execute(update(PushState).where(PushState.id == 1).values(id=1))  # the row lock: pushers in turn
    return session.get_one(PushState, 1, populate_existing=True)


def _delay(settings: ExchangeSettings, failures: int) -> float:
    return float(min(settings.max_delay, settings.base_delay * 2 ** max(failures - 1, 0)))


def _settings_ok(settings: ExchangeSettings) -> str:
    if not settings.receiver_url:
        raise ConfigurationError(
            "未配置省级平台接收地址（XINYONG_EXCHANGE_RECEIVER_URL）", code="exchange_receiver_missing"
        )
    if settings.timeout >= 0.75 * settings.lease_ttl:
        raise ConfigurationError(
            "推送租约（XINYONG_EXCHANGE_LEASE_TTL）须长于请求超时的 4/3", code="exchange_lease_too_short"
        )
    return settings.receiver_url.rstrip("/")


def _request(settings: ExchangeSettings, body: bytes, key: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": USER_AGENT}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    if settings.hmac_secret:
        headers[SIGNATURE_HEADER] = sign(settings.hmac_secret, body)
    return headers


def _receipt(response: httpx.Response, seqs: list[int]) -> dict[str, Any]:
    """The receiver's answer as a receipt, or ValueError when it is not one."""
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("应答不是 JSON 对象")
    accepted = [int(s) for s in data.get("accepted") or []]
    rejected: list[dict[str, Any]] = [  # an ID number the receiver echoes back is kept masked only
        {
            "seq": int(r["seq"]),
            "code": ids.scrub(str(r.get("code") or "")),
            "message": ids.scrub(str(r.get("message") or "")),
        }
        for r in data.get("rejected") or []
    ]
    unknown = (set(accepted) | {int(r["seq"]) for r in rejected}) - set(seqs)
    if unknown:
        raise ValueError(f"应答含有本批以外的序号 {sorted(unknown)[:5]}")
    return {"receipt_id": data.get("receipt_id"), "accepted": accepted, "rejected": rejected}


def _record_receipt(
    db: Database,
    *,
    url: str,
    first: int,
    last: int,
    status: int,
    receipt: dict[str, Any],
    messages: list[dict[str, Any]] | None = None,
) -> None:
    """Commit a 2xx answer: the receipt, the rejections as the departments' work (``exchange.rejections``) and
    the cursor (never moved backwards)."""
    with db.session() as session:
        state = _state(session)
        row = PushReceipt(
            first_seq=first,
            last_seq=last,
            receiver=url,
            http_status=status,
            accepted=len(receipt["accepted"]),
            rejected=len(receipt["rejected"]),
            rejections=receipt["rejected"],
            receipt_id=None if receipt["receipt_id"] is None else str(receipt["receipt_id"])[:200],
        )
        session.add(row)
        session.flush()
        rejections.on_receipt(
            session,
            receipt_id=row.id,
            first=first,
            last=last,
            accepted=receipt["accepted"],
            rejected=receipt["rejected"],
            messages=messages,
        )
        state.acked_seq = max(state.acked_seq, last)
        state.sent_seq = max(state.sent_seq, last)
        state.failures = 0
        state.next_attempt_at = None
        state.last_error = None
        state.last_attempt_at = utcnow()


def _record_failure(db: Database, settings: ExchangeSettings, error: str, *, last: int) -> dt.datetime:
    with db.session() as session:
        state = _state(session)
        state.failures += 1
        state.sent_seq = max(state.sent_seq, last)
        state.last_error = ids.scrub(error)[:ERROR_TEXT_LIMIT]
        state.last_attempt_at = utcnow()
        state.next_attempt_at = state.last_attempt_at + dt.timedelta(seconds=_delay(settings, state.failures))
        return state.next_attempt_at


def push_once(
    db: Database,
    *,
    settings: ExchangeSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    ignore_backoff: bool = False,
    max_batches: int | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Send batches until the feed is drained, a failure, or ``max_batches``; what was done.

    Only the holder of the ``push`` lease sends (``exchange.lease``, renewed before every batch): a second pusher
    started meanwhile (a second ``--loop``, an overlapping cron run) returns at once with ``skipped`` and sends
    nothing, so no batch goes out twice at the same time."""
    settings = settings or ExchangeSettings()
    url = _settings_ok(settings)
    ids.check_mode(settings.id_mode, settings.id_hash_key)
    result: dict[str, Any] = {"batches": 0, "sent": 0, "accepted": 0, "rejected": 0, "ok": True, "error": None}
    me = owner or lease.holder_name()
    if not lease.acquire(db, LEASE, me, ttl=settings.lease_ttl):
        result["skipped"] = "another pusher holds the lease"
        result["holder"] = lease.holder(db, LEASE)
        return result
    try:
        _push_batches(db, settings, url, transport, ignore_backoff, max_batches, me, result)
    finally:
        lease.release(db, LEASE, me)
    return result


def _push_batches(
    db: Database,
    settings: ExchangeSettings,
    url: str,
    transport: httpx.BaseTransport | None,
    ignore_backoff: bool,
    max_batches: int | None,
    me: str,
    result: dict[str, Any],
) -> None:
    renewed = time.monotonic()
    with httpx.Client(timeout=settings.timeout, transport=transport, follow_redirects=False) as client:
        while max_batches is None or result["batches"] < max_batches:
            # Renewed once a quarter of its life has passed (not every batch: one write transaction less per
            # batch); the lease then still covers a whole batch (the HTTP timeout is below 3/4 of the lease).
            if time.monotonic() - renewed > settings.lease_ttl / 4:
                if not lease.acquire(db, LEASE, me, ttl=settings.lease_ttl):
                    result.update(ok=False, error="lease lost")  # expired while this pusher stalled: stop
                    break
                renewed = time.monotonic()
            with db.session(write=False) as session:
                state = session.get(PushState, 1)
                acked = state.acked_seq if state else 0
                waiting = state.next_attempt_at if state else None
                if waiting is not None and waiting > utcnow() and not ignore_backoff:
                    result.update(
                        ok=False, waiting_until=waiting.isoformat(), error=state.last_error if state else None
                    )
                    break
                messages = feed.messages_after(session, acked, limit=settings.batch_size)
                if not messages:
                    break
                items = render.render_messages(session, messages)
                # The receiver's form of persons' ID numbers: in this body only, never stored (exchange.ids).
                ids.apply(session, items, mode=settings.id_mode, hash_key=settings.id_hash_key)
            seqs = [m["seq"] for m in items]
            first, last = seqs[0], seqs[-1]
            body = json.dumps(
                {"first_seq": first, "last_seq": last, "messages": items}, ensure_ascii=False, sort_keys=True
            ).encode()
            try:
                response = client.post(
                    f"{url}/batches", content=body, headers=_request(settings, body, f"{first}-{last}")
                )
                if not 200 <= response.status_code < 300:
                    raise ValueError(f"HTTP {response.status_code}: {response.text[:ERROR_TEXT_LIMIT]}")
                receipt = _receipt(response, seqs)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                error = ids.scrub(f"{type(exc).__name__}: {exc}")  # a receiver may echo an ID number back
                result.update(ok=False, error=error, next_attempt_at=_record_failure(db, settings, error, last=last))
                break
            _record_receipt(
                db, url=url, first=first, last=last, status=response.status_code, receipt=receipt, messages=items
            )
            result["batches"] += 1
            result["sent"] += len(seqs)
            result["accepted"] += len(receipt["accepted"])
            result["rejected"] += len(receipt["rejected"])
            result["acked_seq"] = last


def push_loop(
    db: Database,
    *,
    settings: ExchangeSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> dict[str, Any]:
    """Push, wait (the poll interval, or until the back-off ends), push again … (``rounds`` for tests)."""
    settings = settings or ExchangeSettings()
    total = {"rounds": 0, "sent": 0, "accepted": 0, "rejected": 0}
    owner = lease.holder_name()  # one name for the loop's life: it renews its own lease between rounds
    while rounds is None or total["rounds"] < rounds:
        try:
            result = push_once(db, settings=settings, transport=transport, owner=owner)
        except Busy as exc:  # the database stayed busy: a loop waits and goes on, it does not die
            result = {"batches": 0, "sent": 0, "accepted": 0, "rejected": 0, "ok": False, "error": str(exc)}
        total["rounds"] += 1
        for k in ("sent", "accepted", "rejected"):
            total[k] += result[k]
        wait = settings.poll_interval
        if not result["ok"]:
            until = result.get("next_attempt_at") or result.get("waiting_until")
            if isinstance(until, str):
                until = dt.datetime.fromisoformat(until)
            if until is not None:
                wait = max(0.0, (until - utcnow()).total_seconds())
        elif result["batches"]:
            continue  # more may be waiting: go on at once
        if rounds is None or total["rounds"] < rounds:
            sleep(wait)
    return total


def acked_seq(session: Session) -> int:
    return session.scalar(select(PushState.acked_seq).where(PushState.id == 1)) or 0
