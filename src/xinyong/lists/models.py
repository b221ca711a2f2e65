"""Tables of `lists`: red and black lists (名单), their entries, history, external syncs and match judgements.

A :class:`ListType` is one list (严重失信主体名单 of a domain, 守信激励名单, 经营异常名录, 失信被执行人 …), seeded from
``lists/data/list_types.yaml``: its authority, legal basis, default term, whether the subject must be notified
before listing, and the catalog class (``catalog_classes.code``) whose public attribute and repair rules apply.

A :class:`ListEntry` is one subject on one list. Whether an entry *counts* on a day is never stored: it is
evaluated from ``listed_on``, ``term_end`` and ``removed_on`` (``lists.rules.in_force``), so an entry stops
counting the day after its term ends without a job having to run. ``status`` stores only what people decided:
``notified`` (notice given, not yet listed), ``active`` (listed) or ``removed`` (with a reason).
Every change is a :class:`ListEntryEvent` (append-only history) and an audit event.

External lists (the court's 失信被执行人, the market regulator's 经营异常名录) arrive as snapshots or deltas
(:class:`ListSync`); entries whose party cannot be linked to a subject by code wait in the review queue
(``match_status = 'pending'``, candidates in ``match_candidates``); a reviewer's same / not-same verdict is a
:class:`MatchJudgement`, applied again in every later sync.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, count_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class ListKind(StrEnum):
    RED = "red"
    BLACK = "black"
    ABNORMAL = "abnormal"
    DEBTOR = "debtor"
    OTHER = "other"


LIST_KINDS = tuple(ListKind)


class EntryStatus(StrEnum):
    """The stored status of a list entry: what people decided (expiry is computed: ``lists.rules.EffectiveStatus``)."""

    NOTIFIED = "notified"  # 已告知（待列入）
    ACTIVE = "active"
    REMOVED = "removed"


class MatchStatus(StrEnum):
    """How an entry found its subject: by code, by matching, by a reviewer's judgement, or not (yet)."""

    CODE = "code"
    MATCHED = "matched"
    JUDGED = "judged"
    PENDING = "pending"
    UNMATCHED = "unmatched"


class Stage(StrEnum):
    """How a department enters an entry: a notice before listing (告知), or listed directly."""

    NOTICE = "notice"
    LISTED = "listed"


class EntrySource(StrEnum):
    """Where an entry came from: entered by a department, imported from its file, or synced from an external list."""

    DEPARTMENT = "department"
    FILE = "file"
    SYNC = "sync"


class Verdict(StrEnum):
    """A reviewer's judgement of a list party against a subject (:class:`MatchJudgement`)."""

    SAME = "same"
    NOT_SAME = "not_same"


ENTRY_STATUSES = tuple(EntryStatus)


class RemovalReason(StrEnum):
    """Why an entry left its list (term expiry is computed, not stored, unless a sync or person records it)."""

    TERM_ENDED = "term_ended"
    REPAIRED = "repaired"
    REVOKED = "revoked"
    COURT_CANCELLED = "court_cancelled"
    OBLIGATION_FULFILLED = "obligation_fulfilled"
    SYNC_REMOVED = "sync_removed"
    NOT_LISTED = "not_listed"
    OTHER = "other"


REMOVAL_REASONS = tuple(RemovalReason)
MATCH_STATUSES = tuple(MatchStatus)


class ListType(Base):
    __tablename__ = "list_types"
    __table_args__ = (CheckConstraint(f"kind IN {in_list(LIST_KINDS)}", name="kind"),)

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    domain: Mapped[str] = mapped_column(String(40), nullable=False)
    authority: Mapped[str] = mapped_column(String(200), nullable=False)
    # The catalog class whose public attribute, publicity and repair rules govern this list.
    info_class: Mapped[str] = mapped_column(String(60), nullable=False)
    legal_basis: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    # Default term in months from the listing date; NULL = no fixed term (until removed).
    term_months: Mapped[int | None] = mapped_column(Integer)
    max_term_months: Mapped[int | None] = mapped_column(Integer)
    requires_notice: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Working days the subject has to state its case (陈述、申辩) between notice and listing.
    notice_workdays: Mapped[int | None] = mapped_column(Integer)
    removal_rules: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    party_kinds: Mapped[list[str]] = mapped_column(Json, nullable=False)
    # True for lists kept by another authority and only synced here (never edited by hand).
    external: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Department codes allowed to manage entries (empty: admin only).
    managing_departments: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    sync_format: Mapped[str | None] = mapped_column(String(40))  # e.g. "court_debtor", "samr_abnormal"
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    confidence: Mapped[str] = mapped_column(String(20), nullable=False, default="unverified")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sort_order: Mapped[int] = count_column()
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class ListEntry(Base):
    __tablename__ = "list_entries"
    __table_args__ = (
        CheckConstraint(f"status IN {in_list(ENTRY_STATUSES)}", name="status"),
        CheckConstraint(
            f"removal_reason IS NULL OR removal_reason IN {in_list(REMOVAL_REASONS)}", name="removal_reason"
        ),
        CheckConstraint(f"match_status IN {in_list(MATCH_STATUSES)}", name="match_status"),
        CheckConstraint("term_end IS NULL OR term_end >= listed_on", name="term_after_listing"),
        # One entry per list and key (the listing decision number; 案号 for the court's list).
        UniqueConstraint("list_type_id", "entry_key"),
        # The check asks: which entries of these subjects count today.
        Index("ix_list_entries_subject_status", "subject_id", "status"),
        Index("ix_list_entries_type_status", "list_type_id", "status"),
        Index("ix_list_entries_match_status", "match_status"),
    )

    id: Mapped[int] = pk_column()
    list_type_id: Mapped[int] = mapped_column(BigId, ForeignKey("list_types.id"), nullable=False)
    entry_key: Mapped[str] = mapped_column(String(200), nullable=False)
    # NULL while an external entry waits for review (or matched nothing).
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    party_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # As the source gave it; personal numbers only masked (the clear number is never stored here).
    party_code: Mapped[str | None] = mapped_column(String(60))
    party_kind: Mapped[str | None] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(6))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    facts: Mapped[str] = mapped_column(Text, nullable=False, default="")
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)
    decision_no: Mapped[str | None] = mapped_column(String(200))
    authority: Mapped[str] = mapped_column(String(200), nullable=False)
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    notice_given_on: Mapped[dt.date | None] = mapped_column(Date)
    # The earliest listing date after the notice (end of the 陈述申辩 period).
    notice_until: Mapped[dt.date | None] = mapped_column(Date)
    listed_on: Mapped[dt.date | None] = mapped_column(Date)
    # Last day the entry counts (inclusive); NULL = no fixed term.
    term_end: Mapped[dt.date | None] = mapped_column(Date)
    # First day the entry no longer counts because it was removed (not set for plain expiry).
    removed_on: Mapped[dt.date | None] = mapped_column(Date)
    removal_reason: Mapped[str | None] = mapped_column(String(30))
    removal_note: Mapped[str | None] = mapped_column(Text)
    # Source-specific fields (the court's 执行法院, 案号, 履行情况 …) as received.
    data: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    match_status: Mapped[str] = mapped_column(String(20), nullable=False, default=MatchStatus.CODE)
    match_score: Mapped[float | None] = mapped_column(Float)
    match_evidence: Mapped[dict[str, Any] | None] = mapped_column(Json)
    match_candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    source: Mapped[str] = mapped_column(String(40), nullable=False, default=EntrySource.DEPARTMENT)
    last_sync_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("list_syncs.id"))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Set by the daily job once it has announced that the term ended (watches), so it announces it once.
    expiry_announced_on: Mapped[dt.date | None] = mapped_column(Date)
    # Optimistic concurrency: +1 on every change; a stale writer gets a conflict.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class ListEntryEvent(Base):
    """Append-only history of an entry: notice, listing, extension, change, removal, matching, sync."""

    __tablename__ = "list_entry_events"

    id: Mapped[int] = pk_column()
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("list_entries.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(30), nullable=False)
    actor: Mapped[str] = actor_column()
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)
    sync_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("list_syncs.id"))
    at: Mapped[dt.datetime] = now_column()


class ListSync(Base):
    """One import of an external list's snapshot or delta, with its diff counts and report."""

    __tablename__ = "list_syncs"
    __table_args__ = (CheckConstraint("mode IN ('snapshot', 'delta')", name="mode"),)

    id: Mapped[int] = pk_column()
    list_type_id: Mapped[int] = mapped_column(BigId, ForeignKey("list_types.id"), nullable=False, index=True)
    mode: Mapped[str] = mapped_column(String(10), nullable=False)
    filename: Mapped[str] = mapped_column(String(300), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = actor_column()
    started_at: Mapped[dt.datetime] = now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int] = count_column()
    added: Mapped[int] = count_column()
    changed: Mapped[int] = count_column()
    removed: Mapped[int] = count_column()
    unchanged: Mapped[int] = count_column()
    rejected: Mapped[int] = count_column()
    review_queued: Mapped[int] = count_column()
    report: Mapped[dict[str, Any] | None] = mapped_column(Json)


class MatchJudgement(Base):
    """A reviewer's verdict that a list party is (``same``) or is not (``not_same``) a registry subject.

    ``party_key`` identifies the party as the source describes it (normalised name + masked code + region), so the
    verdict applies to every later sync that carries the same party, whatever the entry.
    """

    __tablename__ = "list_match_judgements"
    __table_args__ = (
        CheckConstraint(f"verdict IN {in_list(tuple(Verdict))}", name="verdict"),
        UniqueConstraint("party_key", "subject_id"),
    )

    id: Mapped[int] = pk_column()
    party_key: Mapped[str] = mapped_column(String(300), nullable=False, index=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    verdict: Mapped[str] = mapped_column(String(10), nullable=False)
    actor: Mapped[str] = actor_column()
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = now_column()
