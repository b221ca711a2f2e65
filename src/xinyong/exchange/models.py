"""Tables of `exchange`: the outbox feed (gap-free sequence), the push cursor and the receivers' receipts.

:class:`FeedMessage` rows are written in the transaction of the change they describe (``exchange.producers``), so a
change that is rolled back leaves no message, and a committed change always has one. Their ``seq`` comes from the
single-row :class:`FeedHead` (``UPDATE … SET last_seq = last_seq + n``, then read): a rolled-back transaction
gives its numbers back with its update, so the sequence has no gaps, and writers take numbers in commit order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class FeedHead(Base):
    """One row: the last sequence number given out."""

    __tablename__ = "exchange_feed_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigId, nullable=False, default=0)


class FeedMessage(Base):
    """One change for the provincial platform: what (kind, op, entity), whose (subject, department), the data."""

    __tablename__ = "exchange_feed"
    __table_args__ = (
        Index("ix_exchange_feed_created_at", "created_at"),
        Index("ix_exchange_feed_subject", "subject_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # licence | penalty | list_entry | commitment
    op: Mapped[str] = mapped_column(String(30), nullable=False)
    entity_id: Mapped[int] = mapped_column(BigId, nullable=False)
    subject_id: Mapped[int | None] = mapped_column(BigId)
    department_id: Mapped[int | None] = mapped_column(BigId)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = now_column()


class PushState(Base):
    """One row: how far the receiver has acknowledged, and the state of the back-off."""

    __tablename__ = "exchange_push_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acked_seq: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    sent_seq: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    failures: Mapped[int] = count_column()
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PushReceipt(Base):
    """The receiver's answer to one acknowledged batch, kept as received (per-row rejections included)."""

    __tablename__ = "exchange_receipts"
    __table_args__ = (Index("ix_exchange_receipts_seq", "first_seq", "last_seq"),)

    id: Mapped[int] = pk_column()
    first_seq: Mapped[int] = mapped_column(BigId, nullable=False)
    last_seq: Mapped[int] = mapped_column(BigId, nullable=False)
    receiver: Mapped[str] = mapped_column(String(500), nullable=False)
    http_status: Mapped[int] = mapped_column(Integer, nullable=False)
    accepted: Mapped[int] = count_column()
    rejected: Mapped[int] = count_column()
    #: ``[{"seq", "code", "message"}]`` as the receiver gave them.
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    receipt_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = now_column()


class Rejection(Base):
    """A row the receiver rejected, as work for the department that owns it (``exchange.rejections``).

    Written with the receipt that carried the rejection; ``open`` until a later message of the same entity (the
    department's correction: a new version through the ingest, a withdrawal …) is acknowledged: accepted →
    ``resolved``, rejected again → ``superseded`` by the new rejection. ``resolved_seq`` names that message."""

    __tablename__ = "exchange_rejections"
    __table_args__ = (
        Index("ix_exchange_rejections_department_status", "department_id", "status"),
        Index("ix_exchange_rejections_entity", "entity_id", "kind"),
    )

    id: Mapped[int] = pk_column()
    seq: Mapped[int] = mapped_column(BigId, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    op: Mapped[str] = mapped_column(String(30), nullable=False)
    entity_id: Mapped[int] = mapped_column(BigId, nullable=False)
    subject_id: Mapped[int | None] = mapped_column(BigId)
    department_id: Mapped[int | None] = mapped_column(BigId)
    #: The receiver's reason, as given (ID numbers in it masked: ``exchange.ids.scrub``).
    code: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    receipt_id: Mapped[int | None] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # open | resolved | superseded
    resolved_seq: Mapped[int | None] = mapped_column(BigId)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rejected_at: Mapped[dt.datetime] = now_column()


class Lease(Base):
    """A named lease (``push``, ``pull``): one holder at a time, until it expires (``exchange.lease``)."""

    __tablename__ = "exchange_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    acquired_at: Mapped[dt.datetime] = now_column()
