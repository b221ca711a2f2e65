"""Tables of `records`: credit records (双公示 licences and penalties, and every other information class with a
data standard), their versions and publicity transitions.

A :class:`CreditRecord` is one decision, identified by ``(kind, authority_uscc, doc_no_norm)``; it carries the
current values the public queries filter on. Every content the platform has received for it is a
:class:`RecordVersion` (append-only, with provenance: department, batch, row, time, actor). Whether a record is
public is *never stored*: it is evaluated at query time from the stored inputs (decision date, severity, penalty
types, fine, licence validity, withdrawal, early end) and the catalog's current rules (``records.publicity``).
:class:`PublicityTransition` is the daily job's audit trail of records entering or leaving the public view.

Natural persons' ID numbers never appear in clear here: the subject row holds them (hash / encrypted / masked),
versions hold the data with ID numbers masked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyong.core.columns import actor_column, count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Digest, Json, UTCDateTime
from xinyong.records import versions


class CreditRecord(Base):
    __tablename__ = "credit_records"
    __table_args__ = (
        # doc_no_norm first: the bulk look-up asks for a chunk of document numbers.
        UniqueConstraint("doc_no_norm", "authority_uscc", "kind"),
        CheckConstraint("party_kind IN ('legal_person', 'individual_business', 'natural_person')", name="party_kind"),
        Index("ix_credit_records_kind_decision_date", "kind", "decision_date"),
        Index("ix_credit_records_department_decision_date", "department_id", "decision_date"),
        Index("ix_credit_records_subject_decision_date", "subject_id", "decision_date"),
        # Dashboards and the department assessment scan receipts by period (covering: no table access).
        Index("ix_credit_records_received", "received_at", "department_id", "kind", "late", "workdays_late"),
        # Incremental evaluation: records changed since the last run.
        Index("ix_credit_records_updated_at", "updated_at"),
    )

    id: Mapped[int] = pk_column()
    # 'licence' / 'penalty' (双公示) or the code of another information class with a data standard (issue #18:
    # catalog/data/classes/<code>.yaml); no CHECK constraint, the standards are data.
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    authority_uscc: Mapped[str] = mapped_column(String(18), nullable=False)
    doc_no_norm: Mapped[str] = mapped_column(String(200), nullable=False)
    doc_no: Mapped[str] = mapped_column(String(200), nullable=False)
    authority: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    # The owning department (the first submitter); later versions from another department are refused.
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    # Pointer to the version now in force. No FK: versions reference their record, and a cycle of foreign keys
    # cannot be created portably (SQLite has no ALTER TABLE … ADD CONSTRAINT).
    current_version_id: Mapped[int | None] = mapped_column(BigId)
    version_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    content_hash: Mapped[str] = mapped_column(Digest, nullable=False)
    # The party as last submitted (names of persons are masked on public output).
    party_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    party_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Publicity inputs (evaluated against the catalog at query time).
    decision_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    severity: Mapped[str] = mapped_column(String(20), nullable=False, default="general")
    penalty_types: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    # Sorted, de-duplicated penalty types joined as "|a|b|": lets SQL test "types ⊆ S" by enumerating subsets.
    penalty_types_key: Mapped[str] = mapped_column(String(400), nullable=False, default="")
    # The fine in fen (分, 1/100 yuan): exact on both backends (SQLite has no decimal type).
    fine_fen: Mapped[int | None] = mapped_column(BigInteger)
    licence_valid_from: Mapped[dt.date | None] = mapped_column(Date)
    licence_valid_to: Mapped[dt.date | None] = mapped_column(Date)  # any class's validity end (while_valid)
    # The record's 领域 (classes with a domain field): picks a publicity exception of the catalog (issue #18.5).
    domain: Mapped[str | None] = mapped_column(String(40))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    # First day no longer public for a reason outside the catalog other than withdrawal (credit repair).
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    # Timeliness of the first receipt (7 working days rule of the catalog class).
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    workdays_late: Mapped[int] = count_column()
    late: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()

    @property
    def fine_yuan(self) -> Decimal | None:
        return None if self.fine_fen is None else Decimal(self.fine_fen) / 100


class RecordVersion(Base):
    """One content of a record as received: append-only history with provenance.

    Stored compactly (``records.versions``): an object loaded or refreshed by the ORM has its full ``content``,
    ``data`` and ``changed_fields`` (rebuilt as it loads, unpacked if packed); columns selected by a query are the
    stored form (``records.packing.full`` rebuilds them)."""

    __tablename__ = "record_versions"
    __table_args__ = (
        UniqueConstraint("record_id", "version_no"),
        CheckConstraint(
            "(packed IS NULL AND content IS NOT NULL AND data IS NOT NULL) "
            "OR (packed IS NOT NULL AND content IS NULL AND data IS NULL)",
            name="packed_or_plain",
        ),
    )

    id: Mapped[int] = pk_column()
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("credit_records.id"), nullable=False)
    version_no: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(Digest, nullable=False)
    # The normalised row (RecordInput without the clear ID number; ID numbers in data/extra masked) and the row's
    # columns: NULL when the version is packed (``records.versions``: both in ``packed``, compressed).
    content: Mapped[dict[str, Any] | None] = mapped_column(Json)
    data: Mapped[dict[str, Any] | None] = mapped_column(Json)
    packed: Mapped[bytes | None] = mapped_column(LargeBinary)
    extra: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    # Warnings of this receipt: the ingest row's warnings and the platform's flags (e.g. name_mismatch).
    flags: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    changed_fields: Mapped[list[str]] = mapped_column(Json, nullable=False)
    # Provenance: the batch (file or API push) and the row of the source this version came from.
    # Not indexed (issue #19): no query looks versions up by batch, and batches are never deleted.
    batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ingest_batches.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()


class VersionDictionary(Base):
    """A preset dictionary versions are packed with (``records.versions``; trained by ``records.packing.train``).
    Never changed nor deleted: a packed version names its dictionary by ``checksum`` (zlib's Adler-32 of ``body``).
    Trained only from legal persons' versions (no natural person's or individual business's name in it)."""

    __tablename__ = "version_dictionaries"

    id: Mapped[int] = pk_column()
    checksum: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # What it was trained from and measured on: versions sampled, held out, mean packed bytes before / after.
    trained_from: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()


def dictionary_loader(session: Session) -> versions.Loader:
    """Finds a dictionary's bytes in ``session``'s database by checksum (``records.versions.documents``)."""

    def load(key: int) -> bytes | None:
        stmt = select(VersionDictionary.body).where(VersionDictionary.checksum == key)
        return session.connection().execute(stmt).scalar_one_or_none()

    return load


@event.listens_for(RecordVersion, "load")
def _full_on_load(target: RecordVersion, context: Any) -> None:
    versions.expand(target, dictionary_loader(context.session))


@event.listens_for(RecordVersion, "refresh")
def _full_on_refresh(target: RecordVersion, context: Any, attrs: Any) -> None:
    versions.expand(target, dictionary_loader(context.session))


class PublicityTransition(Base):
    """A record entered (``started``) or left (``ended``) the public view, as seen by the daily job."""

    __tablename__ = "publicity_transitions"
    __table_args__ = (
        CheckConstraint("transition IN ('started', 'ended')", name="transition"),
        UniqueConstraint("record_id", "run_date", "transition"),
        Index("ix_publicity_transitions_run_date", "run_date"),
    )

    id: Mapped[int] = pk_column()
    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("credit_records.id"), nullable=False)
    run_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    transition: Mapped[str] = mapped_column(String(10), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = now_column()


class PublicityRun(Base):
    """One run of the daily transitions job: one per date, so running it again the same day changes nothing."""

    __tablename__ = "publicity_runs"

    id: Mapped[int] = pk_column()
    run_date: Mapped[dt.date] = mapped_column(Date, nullable=False, unique=True)
    started: Mapped[int] = count_column()
    ended: Mapped[int] = count_column()
    public: Mapped[int] = count_column()
    ran_at: Mapped[dt.datetime] = now_column()
