"""Operator actions on the exchange: replay from a sequence number (audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit
from xinyong.core.errors import Forbidden, ValidationFailed
from xinyong.exchange import feed
from xinyong.exchange.push import _state


def replay_from(session: Session, *, actor: Principal, seq: int, reason: str) -> dict[str, Any]:
    """Send everything from ``seq`` on again (the receiver lost rows, or a new receiver starts): the acknowledged
    cursor moves back to ``seq - 1``. The receiver keeps each sequence number once, so replaying is safe."""
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以重发", code="forbidden")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("重发必须说明原因", code="reason_required")
    last = feed.last_seq(session)
    if not 1 <= seq <= max(last, 1):
        raise ValidationFailed(f"序号应在 1 到 {last} 之间：{seq}", code="bad_seq")
    state = _state(session)
    before = state.acked_seq
    state.acked_seq = min(state.acked_seq, seq - 1)
    state.next_attempt_at = None
    audit.record(
        session,
        actor=actor.actor,
        action="exchange.replay",
        entity_type="exchange_feed",
        entity_id=seq,
        reason=reason,
        before={"acked_seq": before},
        after={"acked_seq": state.acked_seq},
    )
    return {
        "from_seq": seq,
        "acked_seq_before": before,
        "acked_seq": state.acked_seq,
        "backlog": last - state.acked_seq,
    }
