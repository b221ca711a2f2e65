"""The demo city's exchange with the provincial platform (docs/exchange.md): the feed its data wrote is "pushed"
to an in-process stand-in for the provincial receiver, which answers with receipts — a few rows rejected — so
that ``xinyong exchange status``/``reconcile``/``figures``, the dashboards' 上报 block and the assessment's
上报合格率 have something to show.

No HTTP: the demo is built in one transaction, and the receipts are written as the push writes them
(``exchange_receipts``, the cursor ``exchange_push_state``). The last few messages stay unsent (a backlog).
The stand-in rejects deterministically: every 53rd 双公示 message (行政相对人代码 not in the provincial register)
and every 41st list message (名单代码 not known to the province).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.core.db import utcnow
from xinyong.exchange import feed
from xinyong.exchange.models import FeedMessage, PushReceipt
from xinyong.exchange.push import _state

RECEIVER = "demo://省平台数据接收端（演示）"
BATCH = 500
#: Share of the feed left unsent: the backlog the status shows.
UNSENT_SHARE = 0.02


def _rejection(seq: int, kind: str) -> dict[str, Any] | None:
    if kind in ("licence", "penalty") and seq % 53 == 0:
        return {"seq": seq, "code": "XDR_DM_NOT_FOUND", "message": "行政相对人代码在省法人库中不存在"}
    if kind == "list_entry" and seq % 41 == 0:
        return {"seq": seq, "code": "LIST_CODE_UNKNOWN", "message": "名单代码未在省平台登记"}
    return None


def build(session: Session) -> dict[str, Any]:
    """Acknowledge the feed up to all but the last :data:`UNSENT_SHARE`, batch by batch, with receipts."""
    last = feed.last_seq(session)
    send_to = last - max(1, int(last * UNSENT_SHARE)) if last else 0
    state = _state(session)
    first = state.acked_seq + 1
    receipts = accepted = rejected = 0
    while first <= send_to:
        end = min(first + BATCH - 1, send_to)
        rows = session.execute(
            select(FeedMessage.seq, FeedMessage.kind).where(FeedMessage.seq >= first, FeedMessage.seq <= end)
        ).all()
        refused = [r for r in (_rejection(seq, kind) for seq, kind in rows) if r is not None]
        session.add(
            PushReceipt(
                first_seq=first,
                last_seq=end,
                receiver=RECEIVER,
                http_status=200,
                accepted=len(rows) - len(refused),
                rejected=len(refused),
                rejections=refused,
                receipt_id=f"DEMO-{first}-{end}",
            )
        )
        receipts += 1
        accepted += len(rows) - len(refused)
        rejected += len(refused)
        first = end + 1
    if send_to > state.acked_seq:
        state.acked_seq = state.sent_seq = send_to
        state.last_attempt_at = utcnow()
    session.flush()
    return {
        "messages": last,
        "acknowledged": send_to,
        "backlog": last - send_to,
        "receipts": receipts,
        "accepted": accepted,
        "rejected": rejected,
    }
