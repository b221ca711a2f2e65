"""Tables of `measures` (联合奖惩): memoranda and measures, the credit checks and what departments did with them.

A :class:`Memorandum` is the document a measure rests on: an inter-ministry memorandum (备忘录), a law, a
regulation, a judicial interpretation or a central policy document. A :class:`Measure` is one action a
department takes (a punishment or a reward) with its legal basis, implementing department, the scenarios where it
applies and the list types that trigger it. Both are seeded from ``measures/data/measures.yaml``; they are data,
not code, and carry confidence marks until checked against the official text.

A :class:`Check` is one call of the credit check (信用核查): who asked (actor, department, system), in which
scenario, when, and a summary. Each subject asked about is a :class:`CheckItem` (the query as given, personal ID
numbers masked; the subject found or the candidates; the entries and measures of the answer) — the trace the
rules require (核查留痕). :class:`CheckFeedback` records, per item and measure, whether the department applied it
and why not (反馈).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, count_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime, utcnow


class MeasureKind(StrEnum):
    PUNISH = "punish"  # 惩戒
    REWARD = "reward"  # 激励


class CheckOutcome(StrEnum):
    """What a check found for one subject asked about."""

    MATCHED = "matched"
    CANDIDATES = "candidates"  # a name without a code: candidates only
    NOT_FOUND = "not_found"
    INVALID = "invalid"


MEASURE_KINDS = tuple(MeasureKind)
#: 全国失信惩戒措施基础清单's three categories (rights, management, market/social) and rewards (激励).
MEASURE_CATEGORIES = ("rights", "management", "market", "incentive")
MEMORANDUM_KINDS = ("memorandum", "law", "regulation", "judicial", "policy", "rule")
CHECK_OUTCOMES = tuple(CheckOutcome)


class Memorandum(Base):
    __tablename__ = "memoranda"
    __table_args__ = (CheckConstraint(f"kind IN {in_list(MEMORANDUM_KINDS)}", name="kind"),)

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    doc_no: Mapped[str | None] = mapped_column(String(100))  # 文号, e.g. 发改财金〔2016〕141号
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    issuers: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    url: Mapped[str | None] = mapped_column(String(300))
    confidence: Mapped[str] = mapped_column(String(20), nullable=False, default="unverified")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class Measure(Base):
    __tablename__ = "measures"
    __table_args__ = (
        CheckConstraint(f"kind IN {in_list(MEASURE_KINDS)}", name="kind"),
        CheckConstraint(f"category IN {in_list(MEASURE_CATEGORIES)}", name="category"),
    )

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    memorandum_id: Mapped[int] = mapped_column(BigId, ForeignKey("memoranda.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    # [{title, article, confidence, note}] — required (non-empty) for punishments (国办发〔2020〕49号).
    legal_basis: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    department: Mapped[str] = mapped_column(String(200), nullable=False)  # 实施部门
    scenarios: Mapped[list[str]] = mapped_column(Json, nullable=False)
    list_types: Mapped[list[str]] = mapped_column(Json, nullable=False)  # triggering list type codes
    # {"records": {kinds, penalty_types, min_fine_wan, severities, lookback_years|months, include_repaired,
    # legal_basis, note}} — measures triggered by credit records (measures.spec.RecordTrigger); None: lists only.
    triggers: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # {roles, legal_basis, related_only, note} — the measure extends to the organisation's related persons in
    # these roles (measures.spec.ExtendsTo, subjects.related); None: the listed subject only.
    extends_to: Mapped[dict[str, Any] | None] = mapped_column(Json)
    mandatory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    party_kinds: Mapped[list[str]] = mapped_column(Json, nullable=False)
    confidence: Mapped[str] = mapped_column(String(20), nullable=False, default="unverified")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sort_order: Mapped[int] = count_column()
    # Set by an admin (with a reason, audited); a reseed never changes it.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class Check(Base):
    """One call of the credit check (核查留痕): who, from which system, in which scenario, when, what came out."""

    __tablename__ = "checks"
    __table_args__ = (Index("ix_checks_department_at", "department_id", "at"),)

    id: Mapped[int] = pk_column()
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    checked_on: Mapped[dt.date] = mapped_column(Date, nullable=False)  # the civil day the entries were judged on
    actor: Mapped[str] = actor_column()
    role: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    system: Mapped[str] = mapped_column(String(200), nullable=False)  # token name, user name or "cli:…"
    reference: Mapped[str | None] = mapped_column(String(200))  # the caller's own case number (办件编号)
    scenario: Mapped[str] = mapped_column(String(20), nullable=False)
    subject_count: Mapped[int] = mapped_column(Integer, nullable=False)
    # Whether any item's answer named a measure (feedback is expected only then).
    with_measures: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    summary: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)


class CheckItem(Base):
    """One subject of a check: the query (personal IDs masked) and the answer's outline. Written in bulk."""

    __tablename__ = "check_items"
    __table_args__ = (
        CheckConstraint(f"outcome IN {in_list(CHECK_OUTCOMES)}", name="outcome"),
        UniqueConstraint("check_id", "position"),
    )

    id: Mapped[int] = pk_column()
    check_id: Mapped[int] = mapped_column(BigId, ForeignKey("checks.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # index in the request, from 0
    query: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)  # why invalid / not found
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    entry_ids: Mapped[list[int]] = mapped_column(Json, nullable=False, default=list)
    measure_codes: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    # Credit records that triggered a measure of the answer (ids of credit_records); None before migration 0014.
    record_ids: Mapped[list[int] | None] = mapped_column(Json)


class CheckFeedback(Base):
    """What the department did with one measure of one item's answer (反馈)."""

    __tablename__ = "check_feedback"
    __table_args__ = (UniqueConstraint("item_id", "measure_code"),)

    id: Mapped[int] = pk_column()
    check_id: Mapped[int] = mapped_column(BigId, ForeignKey("checks.id"), nullable=False, index=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("check_items.id"), nullable=False)
    measure_code: Mapped[str] = mapped_column(String(60), nullable=False)
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = actor_column()
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    at: Mapped[dt.datetime] = now_column()
