"""Read-side queries other domains use (the check, reports, evaluation): entries in force for subjects."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.lists.models import ListEntry, ListType
from xinyong.lists.rules import in_force_clause

_CHUNK = 900  # below SQLite's default bound-parameter limit


def entries_in_force(session: Session, subject_ids: Iterable[int], on: dt.date) -> dict[int, list[ListEntry]]:
    """Entries that count on ``on`` for each of ``subject_ids`` (subjects without any are absent)."""
    ids = sorted(set(subject_ids))
    out: dict[int, list[ListEntry]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        stmt = (select(ListEntry)
                .where(ListEntry.subject_id.in_(chunk), in_force_clause(ListEntry, on))
                .order_by(ListEntry.subject_id, ListEntry.listed_on, ListEntry.id))
        for entry in session.scalars(stmt):
            out[entry.subject_id].append(entry)  # type: ignore[index]
    return dict(out)


def list_types_by_id(session: Session) -> dict[int, ListType]:
    return {t.id: t for t in session.scalars(select(ListType))}
