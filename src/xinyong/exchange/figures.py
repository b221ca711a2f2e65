"""The exchange's figures per department and period (docs/exchange.md §5): 上报率 and 上报合格率.

For the messages a department's changes wrote to the feed in the period (``exchange_feed.created_at``):

- ``due``: messages written — what the department's data owed the provincial platform;
- ``sent``: of those, the ones a receipt of the receiver covers (``exchange_receipts``: the batches are contiguous
  from the first sequence number, so a message is sent once its number is at most the highest receipt's end);
- ``rejected``: sent and refused by the receiver, as the latest receipt covering the number says (a replayed batch
  whose row the receiver now keeps counts as accepted); ``accepted`` = ``sent`` − ``rejected``;
- ``pending`` = ``due`` − ``sent``;
- **上报率** ``report_rate`` = sent ÷ due, **上报合格率** ``acceptance_rate`` = accepted ÷ sent; ``None`` ("—") when
  the denominator is 0: a department that had nothing to send, or sent nothing, earns no points in the assessment.

The departments are the city's own (active, not external: the 省平台's data never enter the feed). ``period`` is
anything with ``utc_bounds()`` (``analytics.dashboards.Period``: this layer is below analytics).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.service import reporting_departments
from xinyong.core import clock
from xinyong.core.db import IN_CHUNK
from xinyong.core.errors import ValidationFailed
from xinyong.exchange.models import FeedMessage, PushReceipt

PARTS = ("due", "sent", "accepted", "rejected", "pending")


class _Period(Protocol):
    def utc_bounds(self) -> Any: ...


@dataclass(frozen=True)
class Span:
    """Civil days ``date_from`` … ``date_to`` (both included), for the API and the CLI (the dashboards pass their
    ``Period``). Default: the current month up to today."""

    date_from: dt.date
    date_to: dt.date

    @classmethod
    def of(cls, date_from: dt.date | None, date_to: dt.date | None) -> Span:
        today = clock.today()
        end = date_to or today
        span = cls(date_from or end.replace(day=1), end)
        if span.date_to < span.date_from:
            raise ValidationFailed(f"结束日期 {span.date_to} 早于开始日期 {span.date_from}", code="bad_period")
        return span

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        zone = clock.zone()
        start = dt.datetime.combine(self.date_from, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.UTC)
        return start, end

    def to_dict(self) -> dict[str, str]:
        return {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}


def report(session: Session, *, span: Span, department_id: int | None = None) -> dict[str, Any]:
    """The API's and the CLI's answer: the period, the rows and the city's totals."""
    rows = by_department(session, period=span, department_id=department_id)
    totals = {k: sum(r[k] for r in rows) for k in PARTS}
    totals["report_rate"] = _rate(totals["sent"], totals["due"])
    totals["acceptance_rate"] = _rate(totals["accepted"], totals["sent"])
    return {"period": span.to_dict(), "departments": rows, "totals": totals}


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _departments(session: Session, department_id: int | None) -> list[Department]:
    return reporting_departments(session, department_id=department_id)


def _rejected_seqs(session: Session, first: int, last: int) -> set[int]:
    """Sequence numbers in ``[first, last]`` the latest receipt covering them rejected."""
    rejected: set[int] = set()
    receipts = session.execute(
        select(PushReceipt.first_seq, PushReceipt.last_seq, PushReceipt.rejections)
        .where(PushReceipt.last_seq >= first, PushReceipt.first_seq <= last)
        .order_by(PushReceipt.id)
    )
    for r_first, r_last, rejections in receipts:
        now = {int(x["seq"]) for x in rejections or [] if isinstance(x, dict) and str(x.get("seq", "")).isdigit()}
        rejected = {s for s in rejected if not r_first <= s <= r_last} | now
    return {s for s in rejected if first <= s <= last}


def by_department(session: Session, *, period: _Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department: due, sent, accepted, rejected, pending, ``report_rate`` (上报率) and ``acceptance_rate``
    (上报合格率) over the period (see the module's doc)."""
    start, end = period.utc_bounds()
    sent_up_to = session.scalar(select(func.max(PushReceipt.last_seq))) or 0
    in_period = [FeedMessage.created_at >= start, FeedMessage.created_at < end]
    if department_id is not None:
        in_period.append(FeedMessage.department_id == department_id)
    counts = session.execute(
        select(
            FeedMessage.department_id,
            func.count(),
            func.coalesce(func.sum(case((FeedMessage.seq <= sent_up_to, 1), else_=0)), 0),
            func.min(FeedMessage.seq),
            func.max(FeedMessage.seq),
        )
        .where(*in_period)
        .group_by(FeedMessage.department_id)
    ).all()
    due = {d: int(n) for d, n, _s, _a, _b in counts}
    sent = {d: int(s) for d, _n, s, _a, _b in counts}
    rejected: dict[int | None, int] = defaultdict(int)
    lows = [a for *_x, a, _b in counts if a is not None]
    highs = [b for *_x, b in counts if b is not None]
    if lows and sent_up_to:
        seqs = sorted(_rejected_seqs(session, min(lows), min(max(highs), sent_up_to)))
        for i in range(0, len(seqs), IN_CHUNK):
            chunk = seqs[i : i + IN_CHUNK]
            for (dept,) in session.execute(
                select(FeedMessage.department_id).where(FeedMessage.seq.in_(chunk), *in_period)
            ):
                rejected[dept] += 1
    rows = []
    for d in _departments(session, department_id):
        n_due, n_sent, n_rej = due.get(d.id, 0), sent.get(d.id, 0), rejected.get(d.id, 0)
        rows.append(
            {
                "department_id": d.id,
                "department_code": d.code,
                "department_name": d.short_name or d.name,
                "due": n_due,
                "sent": n_sent,
                "accepted": n_sent - n_rej,
                "rejected": n_rej,
                "pending": n_due - n_sent,
                "report_rate": _rate(n_sent, n_due),
                "acceptance_rate": _rate(n_sent - n_rej, n_sent),
            }
        )
    return rows
