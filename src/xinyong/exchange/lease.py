"""Leases: one scheduled pusher (or puller) at a time, on both databases, without holding a transaction open.

``exchange push --loop`` and ``exchange pull --loop`` may be started twice (two hosts, a cron run overlapping a
loop). Each batch's HTTP call is made outside any transaction, so a row lock cannot cover it; a *lease* does: a row
of ``exchange_leases`` naming its holder and an expiry, taken and renewed by short write transactions:

- taken when free, expired, or already held by the caller: ``INSERT … ON CONFLICT DO NOTHING`` then
  ``UPDATE … WHERE name = :name AND (owner = :me OR expires_at < :now)`` — on PostgreSQL the second of two
  concurrent updates waits for the first and re-checks the condition against the committed row; on SQLite the
  write lock (``BEGIN IMMEDIATE``) orders them. Exactly one caller gets it;
- renewed by its holder before each batch (the same statement), so a holder that dies leaves it to expire
  (``ttl`` seconds, longer than one batch's HTTP timeout);
- released at the end of the run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from xinyong.core.db import Database, utcnow
from xinyong.exchange.models import Lease


def holder_name() -> str:
    """This process and run: ``host:pid:random`` (two threads of one process take different names)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: Database, name: str, owner: str, *, ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``owner`` for ``ttl`` seconds; False when another holder has it."""

    def take(session: Session) -> bool:
        now = utcnow()
        until = now + dt.timedelta(seconds=ttl)
        module = postgresql if session.get_bind(Lease).dialect.name == "postgresql" else sqlite
        inserted = session.execute(
            module.insert(Lease)
            .values(name=name, owner=owner, expires_at=until, acquired_at=now)
            .on_conflict_do_nothing(index_elements=[Lease.name])
            .returning(Lease.name)  # psycopg reports no row count for INSERT … ON CONFLICT DO NOTHING
        ).first()
        if inserted is not None:
            return True
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.owner == owner) | (Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(cast("CursorResult[Any]", taken).rowcount)

    return db.run(take)


def release(db: Database, name: str, owner: str) -> None:
    db.run(
        lambda session: session.execute(
            delete(Lease).where(Lease.name == name, Lease.owner == owner).execution_options(synchronize_session=False)
        )
    )


def holder(db: Database, name: str) -> dict[str, Any] | None:
    with db.session(write=False) as session:
        lease = session.get(Lease, name)
        if lease is None or lease.expires_at < utcnow():
            return None
        return {"owner": lease.owner, "expires_at": lease.expires_at.isoformat()}
