"""Pure rules of list entries: whether an entry counts on a day, and its effective status. No database.

An entry counts on day ``d`` when it has been listed (not merely notified), ``listed_on <= d``, its term has not
ended (``term_end`` is the last day it counts, inclusive) and it was not removed on or before ``d``
(``removed_on`` is the first day it no longer counts). Evaluated at query time, so expiry is exact to the day
without a job having to run; the SQL form (:func:`in_force_clause`) is the same predicate.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_

from xinyong.catalog.rules import add_months


class EffectiveStatus(StrEnum):
    """An entry's status as of a day (:func:`effective_status`): the stored one, with expiry computed."""

    NOTIFIED = "notified"
    ACTIVE = "active"
    EXPIRED = "expired"
    REMOVED = "removed"


STATUS_LABELS = {
    "notified": "已告知（待列入）",
    "active": "有效",
    "expired": "已到期",
    "removed": "已移出",
}
REMOVAL_REASON_LABELS = {
    "term_ended": "期限届满",
    "repaired": "信用修复",
    "revoked": "撤销认定",
    "court_cancelled": "法院删除",
    "obligation_fulfilled": "已履行义务",
    "sync_removed": "来源名单已移出",
    "not_listed": "告知后决定不予列入",
    "other": "其他",
}
KIND_LABELS = {
    "red": "守信激励名单",
    "black": "严重失信主体名单",
    "abnormal": "经营异常名录",
    "debtor": "失信被执行人名单",
    "other": "其他名单",
}


class EntryFacts(Protocol):
    status: str
    listed_on: dt.date | None
    term_end: dt.date | None
    removed_on: dt.date | None


def in_force(entry: EntryFacts, on: dt.date) -> bool:
    if entry.status == EffectiveStatus.NOTIFIED or entry.listed_on is None or entry.listed_on > on:
        return False
    if entry.term_end is not None and entry.term_end < on:
        return False
    return entry.removed_on is None or entry.removed_on > on


def effective_status(entry: EntryFacts, on: dt.date) -> EffectiveStatus:
    """notified / active / expired / removed as of ``on`` (an entry listed in the future shows as notified)."""
    if entry.removed_on is not None and entry.removed_on <= on:
        return EffectiveStatus.REMOVED
    if entry.status == EffectiveStatus.NOTIFIED or entry.listed_on is None or entry.listed_on > on:
        return EffectiveStatus.NOTIFIED
    if entry.term_end is not None and entry.term_end < on:
        return EffectiveStatus.EXPIRED
    return EffectiveStatus.ACTIVE


def term_end_for(listed_on: dt.date, months: int | None) -> dt.date | None:
    """Last day an entry listed on ``listed_on`` for ``months`` counts (the day before the corresponding day)."""
    if months is None:
        return None
    return add_months(listed_on, months) - dt.timedelta(days=1)


def in_force_clause(model: Any, on: dt.date | ColumnElement[Any]) -> Any:
    """SQL predicate equal to :func:`in_force` for a mapped class with the entry columns."""
    return and_(
        model.status != EffectiveStatus.NOTIFIED,
        model.listed_on.is_not(None),
        model.listed_on <= on,
        or_(model.term_end.is_(None), model.term_end >= on),
        or_(model.removed_on.is_(None), model.removed_on > on),
    )
