"""Writing and reading the outbox feed (``exchange_feed``).

:func:`enqueue` takes the next ``n`` sequence numbers from the head row in the caller's transaction and inserts the
messages set-based: ``UPDATE exchange_feed_head SET last_seq = last_seq + n`` (a row lock on PostgreSQL, the write
lock on SQLite) and then a read of the new value. The numbers are gap-free (a rollback gives them back) and
increase in commit order, so a reader that has seen ``seq = s`` never later finds a new message below ``s``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from xinyong.core.bulk import insert_rows
from xinyong.core.db import utcnow
from xinyong.exchange.models import FeedHead, FeedMessage

KINDS = ("licence", "penalty", "list_entry", "commitment")


def enqueue(session: Session, messages: list[dict[str, Any]]) -> list[int]:
    """Append messages (``kind``, ``op``, ``entity_id``, ``subject_id``, ``department_id``, ``payload``) to the feed,
    in the caller's transaction; returns their sequence numbers."""
    n = len(messages)
    if not n:
        return []
    take = (
        update(FeedHead)
        .where(FeedHead.id == 1)
        .values(last_seq=FeedHead.last_seq + n)
        .execution_options(synchronize_session=False)
    )
    if not cast("CursorResult[Any]", session.execute(take)).rowcount:
        dialect = session.get_bind(FeedHead).dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        session.execute(
            module.insert(FeedHead).values(id=1, last_seq=0).on_conflict_do_nothing(index_elements=[FeedHead.id])
        )
        session.execute(take)
    last = session.execute(select(FeedHead.last_seq).where(FeedHead.id == 1)).scalar_one()
    first = last - n + 1
    now = utcnow()
    rows = [
        {
            "seq": first + i,
            "kind": m["kind"],
            "op": m["op"],
            "entity_id": m["entity_id"],
            "subject_id": m.get("subject_id"),
            "department_id": m.get("department_id"),
            "payload": m.get("payload") or {},
            "created_at": now,
        }
        for i, m in enumerate(messages)
    ]
    insert_rows(session, FeedMessage.__table__, rows)  # COPY / executemany: a batch's messages are thousands
    return list(range(first, last + 1))


def last_seq(session: Session) -> int:
    return session.scalar(select(FeedHead.last_seq).where(FeedHead.id == 1)) or 0


def messages_after(session: Session, after: int, *, limit: int | None = None) -> list[FeedMessage]:
    q = select(FeedMessage).where(FeedMessage.seq > after).order_by(FeedMessage.seq)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def messages_since(session: Session, *, seq: int | None = None, since: dt.datetime | None = None) -> list[FeedMessage]:
    """Messages with ``seq >= seq`` or written at or after ``since``, in sequence order."""
    q = select(FeedMessage).order_by(FeedMessage.seq)
    if seq is not None:
        q = q.where(FeedMessage.seq >= seq)
    if since is not None:
        q = q.where(FeedMessage.created_at >= since)
    return list(session.scalars(q))


def messages_between(session: Session, start: dt.datetime, end: dt.datetime) -> list[FeedMessage]:
    q = (
        select(FeedMessage)
        .where(FeedMessage.created_at >= start, FeedMessage.created_at < end)
        .order_by(FeedMessage.seq)
    )
    return list(session.scalars(q))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FeedMessage)) or 0


def by_seq(session: Session, seqs: Iterable[int]) -> list[FeedMessage]:
    wanted = sorted(set(seqs))
    return list(session.scalars(select(FeedMessage).where(FeedMessage.seq.in_(wanted)).order_by(FeedMessage.seq)))
