"""Tables of `watches`: webhook receivers, watched subjects, the outbox of events and their deliveries.

A :class:`Receiver` is one endpoint of a business system (owned by a department) with its signing secret. The
secret is needed in clear to compute the HMAC, so it is stored encrypted with the platform vault (AES-GCM,
associated data ``receiver:<id>``), never hashed, and shown only once (at creation and at rotation).

A :class:`Watch` says "this receiver wants to hear about this subject". When a watched subject changes (it enters
or leaves a list …), the domain making the change calls ``watches.service.emit_subject_event`` inside its own
transaction: that writes one :class:`OutboxEvent` and one :class:`Delivery` per interested receiver
(transactional outbox), so the event exists if and only if the change was committed. The delivery worker
(``watches.delivery``) then sends the deliveries; a delivery carries its attempts, its next due time and a lease
(``locked_until``/``locked_by``) so that two workers never send the same delivery at the same time.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xinyong.core.columns import count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"
    DEAD = "dead"  # attempts exhausted


DELIVERY_STATUSES = tuple(DeliveryStatus)


class Receiver(Base):
    __tablename__ = "watch_receivers"

    id: Mapped[int] = pk_column()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    # Vault token (``v1:…``) of the signing secret; associated data ``receiver:<id>``.
    secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # First characters of the secret ("whsec_AbCd"), so an operator can tell which secret a system holds.
    secret_prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    # After a rotation the old secret still signs (a second ``v1=``) until ``previous_secret_until``, so the
    # receiving system can switch over without losing deliveries.
    previous_secret_enc: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Event types this receiver wants (e.g. ["list.entered"]); empty = every type.
    event_types: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def snapshot(self) -> dict[str, Any]:
        """The audited state: never the secret, only its prefix."""
        return {
            "name": self.name,
            "department_id": self.department_id,
            "url": self.url,
            "secret_prefix": self.secret_prefix,
            "event_types": list(self.event_types or []),
            "active": self.active,
        }


class Watch(Base):
    __tablename__ = "watches"
    __table_args__ = (
        UniqueConstraint("receiver_id", "subject_id"),
        # emit_subject_event asks "who watches this subject": one index look-up.
        Index("ix_watches_subject", "subject_id"),
    )

    id: Mapped[int] = pk_column()
    receiver_id: Mapped[int] = mapped_column(BigId, ForeignKey("watch_receivers.id"), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = now_column()


class OutboxEvent(Base):
    """Something that happened to a subject, written in the transaction of the change itself."""

    __tablename__ = "watch_events"

    id: Mapped[int] = pk_column()
    # Public, globally unique id of the event (``X-Xinyong-Event-Id``): receivers deduplicate by it.
    uid: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(String(60), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False, index=True)
    # The document sent to receivers (subject identity + the caller's data); no clear personal ID in it.
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    created_at: Mapped[dt.datetime] = now_column()


class Delivery(Base):
    """One event to one receiver: pending until acknowledged (2xx) → delivered, or out of attempts → dead."""

    __tablename__ = "watch_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        UniqueConstraint("event_id", "receiver_id"),
        # The worker asks: which pending deliveries are due.
        Index("ix_watch_deliveries_due", "status", "next_attempt_at"),
        Index("ix_watch_deliveries_receiver_status", "receiver_id", "status"),
    )

    id: Mapped[int] = pk_column()
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("watch_events.id"), nullable=False)
    receiver_id: Mapped[int] = mapped_column(BigId, ForeignKey("watch_receivers.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = count_column()
    next_attempt_at: Mapped[dt.datetime] = now_column()
    # Lease: while locked_until is in the future, only locked_by may send this delivery.
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = now_column()

    event: Mapped[OutboxEvent] = relationship(lazy="joined")
    receiver: Mapped[Receiver] = relationship(lazy="joined")
