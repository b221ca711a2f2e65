"""Tables of key professions (重点职业人群) and government integrity (政务诚信), issue #18.

- :class:`ProfessionRegistration`: a natural person's qualification / licence of practice in one of the professions
  of ``data/professions.yaml`` — certificate number, level, employer (a legal-person subject), validity, status,
  source department. Unique by (profession, certificate number); every change is a new ``revision`` with a
  :class:`ProfessionRegistrationVersion` (append-only history), so what was known when stays known.
- :class:`CivilServantEntry`: one line of a civil servant's integrity file (公务员诚信档案: 考录、年度考核、廉政、
  失信), for authorised HR use only.
- :class:`GovernmentContract`: a PPP or government procurement contract of a government body or public institution
  and whether it pays (履约 / 拖欠).
- :class:`GovernmentFlag`: the credit office's queue of government bodies found on the 失信被执行人 list (raised by
  the list's sync through ``core.hooks.batch_listeners``, never by ``lists`` importing this package).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime

REGISTRATION_STATUSES = ("active", "suspended", "revoked", "expired", "cancelled")
REGISTRATION_STATUS_LABELS = {
    "active": "有效",
    "suspended": "暂停执业",
    "revoked": "吊销",
    "expired": "已过期",
    "cancelled": "注销",
}
CIVIL_SERVANT_KINDS = ("recruitment", "annual_review", "integrity", "dishonesty", "reward")
CIVIL_SERVANT_KIND_LABELS = {
    "recruitment": "考录信息",
    "annual_review": "年度考核",
    "integrity": "廉政记录",
    "dishonesty": "失信记录",
    "reward": "奖励记录",
}
CONTRACT_KINDS = ("ppp", "procurement")
CONTRACT_KIND_LABELS = {"ppp": "政府和社会资本合作（PPP）", "procurement": "政府采购"}
CONTRACT_STATUSES = ("performing", "paid", "overdue")
CONTRACT_STATUS_LABELS = {"performing": "履约中", "paid": "已按约支付", "overdue": "拖欠"}
FLAG_STATUSES = ("open", "handled")
FLAG_STATUS_LABELS = {"open": "待处理", "handled": "已处理"}


class ProfessionRegistration(Base):
    """A person's current qualification in one profession (the latest revision)."""

    __tablename__ = "profession_registrations"
    __table_args__ = (
        UniqueConstraint("profession", "certificate_no"),
        CheckConstraint(f"status IN {in_list(REGISTRATION_STATUSES)}", name="status"),
        Index("ix_profession_registrations_subject", "subject_id"),
        Index("ix_profession_registrations_employer", "employer_subject_id"),
    )

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    profession: Mapped[str] = mapped_column(String(40), nullable=False)
    certificate_no: Mapped[str] = mapped_column(String(60), nullable=False)
    qualification_level: Mapped[str | None] = mapped_column(String(60))
    employer_subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    employer_code: Mapped[str | None] = mapped_column(String(18))
    employer_name: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    source: Mapped[str | None] = mapped_column(String(200))  # provenance: file name / push, row
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class ProfessionRegistrationVersion(Base):
    """Append-only history: the content of each revision of a registration, who sent it and from where."""

    __tablename__ = "profession_registration_versions"
    __table_args__ = (UniqueConstraint("registration_id", "revision"),)

    id: Mapped[int] = pk_column()
    registration_id: Mapped[int] = mapped_column(BigId, ForeignKey("profession_registrations.id"), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[dict] = mapped_column(Json, nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    source: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = actor_column()
    at: Mapped[dt.datetime] = now_column()


class CivilServantEntry(Base):
    """One line of a civil servant's integrity file (公务员诚信档案)."""

    __tablename__ = "civil_servant_entries"
    __table_args__ = (
        CheckConstraint(f"kind IN {in_list(CIVIL_SERVANT_KINDS)}", name="kind"),
        Index("ix_civil_servant_entries_subject", "subject_id"),
    )

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    body_subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))  # the employing body
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    year: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(200), nullable=False)  # 优秀 / 称职 / 录用 / 警告处分 …
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()


class GovernmentContract(Base):
    """A PPP or procurement contract of a public body and its payment performance (履约 / 拖欠)."""

    __tablename__ = "government_contracts"
    __table_args__ = (
        UniqueConstraint("body_subject_id", "contract_no"),
        CheckConstraint(f"kind IN {in_list(CONTRACT_KINDS)}", name="kind"),
        CheckConstraint(f"status IN {in_list(CONTRACT_STATUSES)}", name="status"),
    )

    id: Mapped[int] = pk_column()
    body_subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    contract_no: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    counterparty_subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    amount_wan: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    overdue_amount_wan: Mapped[Decimal | None] = mapped_column(Numeric(16, 4))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class GovernmentFlag(Base):
    """The credit office's queue: a government body or public institution found on a list of dishonesty."""

    __tablename__ = "government_flags"
    __table_args__ = (
        UniqueConstraint("list_entry_id"),
        CheckConstraint(f"status IN {in_list(FLAG_STATUSES)}", name="status"),
        Index("ix_government_flags_status", "status"),
    )

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    list_entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("list_entries.id"), nullable=False)
    list_code: Mapped[str] = mapped_column(String(60), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open")
    raised_at: Mapped[dt.datetime] = now_column()
    handled_by: Mapped[str | None] = mapped_column(String(200))
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
