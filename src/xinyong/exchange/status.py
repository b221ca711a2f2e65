"""``xinyong exchange status`` and ``xinyong exchange reconcile``: how far the exchange is, and whether the receiver
holds what it acknowledged.

Reconciliation of a day compares, per kind and department, the messages written that day (local time) with the
receipts (acknowledged, rejected) and — when the receiver is configured — with what the receiver says it holds
(``GET {url}/reconcile?first_seq=…&last_seq=…`` → ``{"seqs": [...]}``). A message acknowledged but not held is
*missing at the receiver* (listed); one not yet acknowledged is *pending*. Replaying from a sequence number
(``xinyong exchange push --from SEQ``) sends the missing ones again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.core.errors import XinyongError
from xinyong.exchange import feed
from xinyong.exchange.models import FeedMessage, Lease, PushReceipt, PushState, Rejection
from xinyong.exchange.push import USER_AGENT, ExchangeSettings


def status(session: Session) -> dict[str, Any]:
    last = feed.last_seq(session)
    state = session.get(PushState, 1)
    acked = state.acked_seq if state else 0
    oldest = session.scalar(select(func.min(FeedMessage.created_at)).where(FeedMessage.seq > acked))
    receipts, rejected = session.execute(
        select(func.count(PushReceipt.id), func.coalesce(func.sum(PushReceipt.rejected), 0))
    ).one()
    return {
        "last_seq_written": last,
        "last_seq_sent": state.sent_seq if state else 0,
        "last_seq_acknowledged": acked,
        "backlog": last - acked,
        "oldest_unacknowledged_at": oldest.isoformat() if oldest else None,
        "oldest_unacknowledged_age_seconds": int((utcnow() - oldest).total_seconds()) if oldest else 0,
        "failures": state.failures if state else 0,
        "last_error": state.last_error if state else None,
        "last_attempt_at": state.last_attempt_at.isoformat() if state and state.last_attempt_at else None,
        "next_attempt_at": state.next_attempt_at.isoformat() if state and state.next_attempt_at else None,
        "receipts": receipts,
        "rejected_rows": int(rejected),
        # The departments' work (exchange.rejections) and who is pushing now (exchange.lease).
        "open_rejections": session.scalar(select(func.count()).select_from(Rejection).where(Rejection.status == "open"))
        or 0,
        "pusher": _pusher(session),
    }


def _pusher(session: Session) -> dict[str, Any] | None:
    held = session.get(Lease, "push")
    if held is None or held.expires_at < utcnow():
        return None
    return {"owner": held.owner, "expires_at": held.expires_at.isoformat()}


def day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=clock.zone())
    return start, start + dt.timedelta(days=1)


def remote_seqs(settings: ExchangeSettings, first: int, last: int, *, transport: Any = None) -> set[int]:
    """The sequence numbers in ``[first, last]`` the receiver says it holds."""
    url = (settings.receiver_url or "").rstrip("/")
    headers = {"User-Agent": USER_AGENT}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    try:
        with httpx.Client(timeout=settings.timeout, transport=transport) as client:
            response = client.get(f"{url}/reconcile", params={"first_seq": first, "last_seq": last}, headers=headers)
            response.raise_for_status()
            return {int(s) for s in response.json().get("seqs") or []}
    except (httpx.HTTPError, ValueError, TypeError, AttributeError) as exc:
        raise XinyongError(
            f"无法向省级平台核对：{type(exc).__name__}: {str(exc)[:200]}", code="receiver_unreachable", status_code=502
        ) from None


def reconcile(
    session: Session,
    day: dt.date,
    *,
    settings: ExchangeSettings | None = None,
    transport: Any = None,
) -> dict[str, Any]:
    start, end = day_range(day)
    messages = feed.messages_between(session, start, end)
    state = session.get(PushState, 1)
    acked = state.acked_seq if state else 0
    rejected: dict[int, dict[str, Any]] = {}
    if messages:
        first, last = messages[0].seq, messages[-1].seq
        for r in session.scalars(
            select(PushReceipt).where(PushReceipt.first_seq <= last, PushReceipt.last_seq >= first)
        ):
            for item in r.rejections:
                rejected[int(item["seq"])] = item
    settings = settings if settings is not None else ExchangeSettings()
    held: set[int] | None = None
    if messages and settings.receiver_url:
        held = remote_seqs(settings, messages[0].seq, messages[-1].seq, transport=transport)
    groups: dict[tuple[str, int | None], dict[str, int]] = defaultdict(
        lambda: {"written": 0, "acknowledged": 0, "rejected": 0, "pending": 0, "held": 0, "missing": 0}
    )
    missing: list[dict[str, Any]] = []
    for m in messages:
        g = groups[(m.kind, m.department_id)]
        g["written"] += 1
        if m.seq > acked:
            g["pending"] += 1
            continue
        g["acknowledged"] += 1
        if m.seq in rejected:
            g["rejected"] += 1
            continue  # refused by the receiver: not expected to be held
        if held is None:
            continue
        if m.seq in held:
            g["held"] += 1
        else:
            g["missing"] += 1
            missing.append(
                {"seq": m.seq, "kind": m.kind, "op": m.op, "entity_id": m.entity_id, "department_id": m.department_id}
            )
    rows = [
        {"kind": kind, "department_id": dept, **counts}
        for (kind, dept), counts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))
    ]
    return {
        "date": day.isoformat(),
        "first_seq": messages[0].seq if messages else None,
        "last_seq": messages[-1].seq if messages else None,
        "checked_at_receiver": held is not None,
        "by_kind_department": rows,
        "rejected": [rejected[m.seq] for m in messages if m.seq in rejected],
        "missing": missing,
        "ok": not missing,
    }
