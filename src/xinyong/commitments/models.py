"""Tables of `commitments`: 信用承诺 in the national data standard's fields, their versions and fulfilment (践诺).

A :class:`Commitment` is one pledge, identified by its 承诺编码 (20 characters: 6-digit region, 8-digit date, 6-digit
serial). It belongs to the department that first submitted it (the accepting department); later submissions of the
same code by another department are refused. It carries the current values of the standard's fields; every content
received is a :class:`CommitmentVersion` (append-only, with provenance: batch, row, actor, time).

Fulfilment (践诺) is tracked as :class:`CommitmentFulfilment` events (append-only): each determination of the
履行状态 with its date, unit, the unfulfilled content and the liability pursued. A determination of 部分履行 /
全部未履行 is a breach (违诺): ``broken_on`` is set, the commitment counts as dishonesty information
(``service.broken_commitments``) and the department may ask for a list entry through the lists rules.

Natural persons' ID numbers never appear in clear here: the subject row holds them (hash / encrypted / masked);
``promisor_code`` is the USCC of an organisation or the masked ID of a person.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.catalog.rules import PARTY_KINDS
from xinyong.core.columns import actor_column, count_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class CommitmentType(StrEnum):
    """承诺类型."""

    APPROVAL_SUBSTITUTE = "approval_substitute"
    TOLERANCE_ACCEPTANCE = "tolerance_acceptance"
    CERTIFICATION = "certification"
    CREDIT_REPAIR = "credit_repair"
    SELF_DISCIPLINE = "self_discipline"
    VOLUNTARY = "voluntary"
    OTHER = "other"


COMMITMENT_TYPES = tuple(CommitmentType)


class FulfilmentStatus(StrEnum):
    """履约状态 of a commitment (and of each status change)."""

    PENDING = "pending"  # 履行中 / 未认定
    FULFILLED = "fulfilled"
    PARTIAL = "partial"  # 部分未履行
    UNFULFILLED = "unfulfilled"


FULFILMENT_STATUSES = tuple(FulfilmentStatus)


class BatchStatus(StrEnum):
    """Where a submission (:class:`CommitmentBatch`) stands."""

    PROCESSING = "processing"
    ACCEPTED = "accepted"
    PARTIAL = "partial"
    REJECTED = "rejected"


class Channel(StrEnum):
    """How a batch came in: a file upload or an API push."""

    FILE = "file"
    API = "api"


class PublicType(StrEnum):
    """公开类型: who may see a commitment."""

    PUBLIC = "public"
    SCOPED = "scoped"
    PRIVATE = "private"


PUBLIC_TYPES = tuple(PublicType)


class CommitmentBatch(Base):
    """One submission (file upload or API push) of commitments by a department, with its report."""

    __tablename__ = "commitment_batches"
    __table_args__ = (
        CheckConstraint(f"channel IN {in_list(tuple(Channel))}", name="channel"),
        CheckConstraint("mode IN ('keep_good', 'reject_all')", name="mode"),
        CheckConstraint(f"status IN {in_list(tuple(BatchStatus))}", name="status"),
    )

    id: Mapped[int] = pk_column()
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    filename: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    format: Mapped[str | None] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(12), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=BatchStatus.PROCESSING)
    rows: Mapped[int] = count_column()
    accepted: Mapped[int] = count_column()
    created: Mapped[int] = count_column()
    updated: Mapped[int] = count_column()
    unchanged: Mapped[int] = count_column()
    rejected: Mapped[int] = count_column()
    broken: Mapped[int] = count_column()
    # Row issues (errors and warnings, ID numbers masked), capped; counts per code are exact.
    report: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    actor: Mapped[str] = actor_column()
    received_at: Mapped[dt.datetime] = now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Commitment(Base):
    __tablename__ = "commitments"
    __table_args__ = (
        CheckConstraint(f"commitment_type IN {in_list(COMMITMENT_TYPES)}", name="commitment_type"),
        CheckConstraint(f"fulfilment_status IN {in_list(FULFILMENT_STATUSES)}", name="fulfilment_status"),
        CheckConstraint(f"public_type IN {in_list(PUBLIC_TYPES)}", name="public_type"),
        CheckConstraint(f"promisor_kind IN {in_list(PARTY_KINDS)}", name="promisor_kind"),
        CheckConstraint("valid_until IS NULL OR valid_until >= made_on", name="valid_after_made"),
        Index("ix_commitments_subject_made_on", "subject_id", "made_on"),
        Index("ix_commitments_department_made_on", "department_id", "made_on"),
        Index("ix_commitments_broken_on", "broken_on"),
    )

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(20), nullable=False, unique=True)  # 承诺编码
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    promisor_name: Mapped[str] = mapped_column(String(200), nullable=False)  # 承诺人名称
    promisor_kind: Mapped[str] = mapped_column(String(20), nullable=False)  # 承诺人类别
    promisor_code: Mapped[str] = mapped_column(String(18), nullable=False)  # USCC, or masked ID
    commitment_type: Mapped[str] = mapped_column(String(24), nullable=False)  # 承诺类型
    reason: Mapped[str] = mapped_column(String(512), nullable=False)  # 承诺事由
    content: Mapped[str] = mapped_column(Text, nullable=False)  # 承诺内容
    liability: Mapped[str] = mapped_column(Text, nullable=False)  # 违诺责任
    made_on: Mapped[dt.date] = mapped_column(Date, nullable=False)  # 承诺作出日期
    valid_until: Mapped[dt.date | None] = mapped_column(Date)  # 承诺有效期
    fulfilment_status: Mapped[str] = mapped_column(String(12), nullable=False, default=FulfilmentStatus.PENDING)
    unfulfilled_content: Mapped[str | None] = mapped_column(Text)  # 未履行的承诺内容
    liability_pursued: Mapped[str | None] = mapped_column(Text)  # 违诺责任追究内容
    determined_on: Mapped[dt.date | None] = mapped_column(Date)  # 履行状态认定日期
    determined_by: Mapped[str | None] = mapped_column(String(200))  # 履行状态认定单位
    determined_by_code: Mapped[str | None] = mapped_column(String(18))  # 认定单位代码
    accepting_unit: Mapped[str] = mapped_column(String(200), nullable=False)  # 承诺受理单位
    accepting_unit_code: Mapped[str] = mapped_column(String(18), nullable=False)  # 受理单位代码
    public_type: Mapped[str] = mapped_column(String(10), nullable=False)  # 公开类型
    remarks: Mapped[str | None] = mapped_column(String(512))  # 备注
    extra: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)  # unknown columns
    # The civil date the breach was determined (NULL while not broken): what the evaluation counts.
    broken_on: Mapped[dt.date | None] = mapped_column(Date)
    # A list entry requested because of the breach (lists.models.ListEntry.id; no FK: lists own their table).
    list_entry_id: Mapped[int | None] = mapped_column(BigId)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    version_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Provenance of the content now in force.
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("commitment_batches.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = actor_column()
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    # Optimistic concurrency: +1 on every change (content or fulfilment); a stale writer gets a conflict.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 - typed by SQLAlchemy's DeclarativeBase (not a ClassVar there)

    @property
    def broken(self) -> bool:
        return self.broken_on is not None


class CommitmentVersion(Base):
    """One content of a commitment as received: append-only history with provenance."""

    __tablename__ = "commitment_versions"
    __table_args__ = (UniqueConstraint("commitment_id", "version_no"),)

    id: Mapped[int] = pk_column()
    commitment_id: Mapped[int] = mapped_column(BigId, ForeignKey("commitments.id"), nullable=False, index=True)
    version_no: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # The normalised row (personal ID numbers masked) and the fields changed from the previous version.
    content: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    changed_fields: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("commitment_batches.id"), index=True)
    source_row: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    actor: Mapped[str] = actor_column()
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class CommitmentFulfilment(Base):
    """One determination of a commitment's fulfilment (践诺), append-only."""

    __tablename__ = "commitment_fulfilments"
    __table_args__ = (
        CheckConstraint(f"status IN {in_list(FULFILMENT_STATUSES)}", name="status"),
        CheckConstraint("source IN ('import', 'manual')", name="source"),
    )

    id: Mapped[int] = pk_column()
    commitment_id: Mapped[int] = mapped_column(BigId, ForeignKey("commitments.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    previous_status: Mapped[str] = mapped_column(String(12), nullable=False)
    breach: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    determined_on: Mapped[dt.date | None] = mapped_column(Date)
    determined_by: Mapped[str | None] = mapped_column(String(200))
    determined_by_code: Mapped[str | None] = mapped_column(String(18))
    unfulfilled_content: Mapped[str | None] = mapped_column(Text)
    liability_pursued: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10), nullable=False)
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("commitment_batches.id"))
    note: Mapped[str | None] = mapped_column(Text)
    # The list the department asked the breach to be entered on, and the entry the lists service made.
    list_code: Mapped[str | None] = mapped_column(String(60))
    list_entry_id: Mapped[int | None] = mapped_column(BigId)
    actor: Mapped[str] = actor_column()
    at: Mapped[dt.datetime] = now_column()
