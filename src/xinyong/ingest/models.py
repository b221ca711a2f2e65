"""Tables of collection (归集): one batch per file or API push, and the rows it refused."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class BatchStatus(StrEnum):
    """What became of a stored batch (a batch refused whole before storing is not stored)."""

    ACCEPTED = "accepted"  # every row
    PARTIAL = "partial"  # the good rows (keep_good); the common summary calls it "partially_accepted"
    REJECTED = "rejected"


class IngestBatch(Base):
    """One submission. Its records carry ``batch_id`` and ``source_row``: every record traces back here."""

    __tablename__ = "ingest_batches"
    __table_args__ = (Index("ix_ingest_batches_dept_kind_sha", "department_id", "kind", "sha256"),)

    id: Mapped[int] = pk_column()
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # penalty | licence
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # file | api
    filename: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    format: Mapped[str | None] = mapped_column(String(20))  # csv | xlsx | json
    standard: Mapped[str | None] = mapped_column(String(20))  # current_zh | current_coded | legacy_2016
    encoding: Mapped[str | None] = mapped_column(String(20))
    headers: Mapped[list[str] | None] = mapped_column(Json)  # the sender's header row, as sent
    mode: Mapped[str] = mapped_column(String(20), nullable=False)  # keep_good | reject_all
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # accepted | partial | rejected
    actor: Mapped[str] = actor_column()
    received_at: Mapped[dt.datetime] = now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int] = count_column()
    accepted: Mapped[int] = count_column()
    created: Mapped[int] = count_column()
    updated: Mapped[int] = count_column()
    unchanged: Mapped[int] = count_column()
    withdrawn: Mapped[int] = count_column()
    rejected: Mapped[int] = count_column()
    late: Mapped[int] = count_column()
    error_counts: Mapped[dict[str, int] | None] = mapped_column(Json)
    summary: Mapped[dict[str, Any] | None] = mapped_column(Json)


class RejectedRow(Base):
    """A row the batch refused, with its cells as sent, so the department can fix and resend just those rows.

    The cells may hold a person's ID number, so they are stored encrypted (``identifiers.vault``); the issues
    carry masked values only.
    """

    __tablename__ = "ingest_rejected_rows"

    id: Mapped[int] = pk_column()
    batch_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ingest_batches.id", ondelete="CASCADE"), nullable=False, index=True
    )
    row: Mapped[int] = mapped_column(Integer, nullable=False)
    values_enc: Mapped[str] = mapped_column(Text, nullable=False)
    issues: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
