"""Tables of the subject registry (信用主体库).

A subject is one legal person, individual business or natural person. Organisations are unique by USCC;
persons by the keyed hash of their resident ID (the number itself is stored only encrypted, and a masked form
for display). Legacy codes (registration number, organisation code, tax number …) are aliases, so records
that only carry an old code still find their subject. Every name a subject has had is kept.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xinyong.catalog.rules import PARTY_KIND_LABELS, PartyKind
from xinyong.core.columns import actor_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime, utcnow

#: 行政相对人类别: one definition for the catalog's rules and the registry.
SubjectKind = PartyKind
KIND_LABELS = PARTY_KIND_LABELS

#: Organisation types (from the USCC category code or the registry's own column).
ORG_TYPE_LABELS = {
    "enterprise": "企业",
    "social_organisation": "社会组织",
    "public_institution": "事业单位",
    "government": "机关",
    "farmers_cooperative": "农民专业合作社",
    "individual_business": "个体工商户",
    "other": "其他组织",
}


class AliasScheme(StrEnum):
    REGISTRATION_NO = "registration_no"  # 工商注册号
    ORG_CODE = "org_code"  # 组织机构代码
    TAX_NO = "tax_no"  # 税务登记号
    INSTITUTION_CERT = "institution_cert"  # 事业单位证书号
    SOCIAL_ORG_CERT = "social_org_cert"  # 社会组织登记证号
    USCC = "uscc"  # a former or erroneous USCC that now points to this subject


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (
        CheckConstraint("kind IN ('legal_person', 'individual_business', 'natural_person')", name="kind"),
        CheckConstraint("kind <> 'natural_person' OR resident_id_hash IS NOT NULL", name="person_has_id"),
        CheckConstraint("kind = 'natural_person' OR resident_id_hash IS NULL", name="org_has_no_resident_id"),
        Index("ix_subjects_kind_region", "kind", "region_code"),
    )

    id: Mapped[int] = pk_column()
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    org_type: Mapped[str | None] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_norm: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    # True when the USCC failed its check digit and was kept on an operator's word (pilot-region codes).
    uscc_flagged: Mapped[bool] = mapped_column(default=False, nullable=False)
    resident_id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    resident_id_enc: Mapped[str | None] = mapped_column(Text)
    resident_id_masked: Mapped[str | None] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(String(6))
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(30))  # 存续 / 在业 / 吊销 / 注销 …
    address: Mapped[str | None] = mapped_column(String(300))
    registration_authority: Mapped[str | None] = mapped_column(String(100))
    profession: Mapped[str | None] = mapped_column(String(40))  # natural persons in key professions
    extra: Mapped[dict | None] = mapped_column(Json)
    source: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    aliases: Mapped[list[SubjectAlias]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="SubjectAlias.id"
    )
    names: Mapped[list[SubjectName]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="SubjectName.id"
    )


class SubjectAlias(Base):
    """A legacy or secondary code of a subject."""

    __tablename__ = "subject_aliases"
    # Look-ups by value alone (a code of unknown scheme) need their own index; (scheme, value) is unique.
    __table_args__ = (UniqueConstraint("scheme", "value"), Index("ix_subject_aliases_value", "value"))

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    scheme: Mapped[str] = mapped_column(String(30), nullable=False)
    value: Mapped[str] = mapped_column(String(60), nullable=False)
    source: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = now_column()

    subject: Mapped[Subject] = relationship(back_populates="aliases")


class SubjectName(Base):
    """Name history: one row per name the subject has carried (the current one has ``valid_to`` NULL)."""

    __tablename__ = "subject_names"

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    name_norm: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    valid_from: Mapped[dt.datetime] = now_column()
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(100))

    subject: Mapped[Subject] = relationship(back_populates="names")


class RegistryImport(Base):
    """One import of the market regulator's registry export, with its data-quality report."""

    __tablename__ = "registry_imports"

    id: Mapped[int] = pk_column()
    filename: Mapped[str] = mapped_column(String(300), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    actor: Mapped[str] = actor_column()
    started_at: Mapped[dt.datetime] = now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    created: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    updated: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    unchanged: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    rejected: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    report: Mapped[dict | None] = mapped_column(Json)
