"""Tables of `financing` (信易贷): institutions, who acts for them, the subjects' authorisations, loan outcomes.

The queries themselves are rows of ``subject_access_log`` (``subjects.access_log``): the subject sees them on the
portal's 查询记录 page, and the figures count them from there.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.db import Base, BigId, Json, UTCDateTime, utcnow


class PrincipalKind(StrEnum):
    """Who acts for an institution: a console user or an API token (``financing_principals.kind``)."""

    USER = "user"
    TOKEN = "token"


class AuthorisationMethod(StrEnum):
    """How an authorisation was given (``financing_authorisations.method``)."""

    ONLINE = "online"  # the subject on the portal, after one-time-code verification
    DOCUMENT = "document"  # a signed authorisation uploaded by the bank


class AuthorisationStatus(StrEnum):
    """An authorisation's state at a moment (computed, not stored): ``service.status_of``."""

    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"
    REVOKED = "revoked"


class LoanOutcome(StrEnum):
    """What the bank did under an authorisation (``financing_feedback.outcome``)."""

    GRANTED = "granted"
    DECLINED = "declined"


class Institution(Base):
    """A bank or credit agency registered for 信易贷 by the platform admin."""

    __tablename__ = "financing_institutions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)  # slug, e.g. "qyrcb"
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    uscc: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def snapshot(self) -> dict[str, object]:
        return {"code": self.code, "name": self.name, "uscc": self.uscc, "active": self.active}


class InstitutionPrincipal(Base):
    """A bank user or API token acting for an institution (a bank principal without one is refused)."""

    __tablename__ = "financing_principals"
    __table_args__ = (
        UniqueConstraint("kind", "principal_id", name="uq_financing_principals_kind_principal"),
        CheckConstraint("kind IN ('user', 'token')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("financing_institutions.id"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    principal_id: Mapped[int] = mapped_column(BigId, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Authorisation(Base):
    """A subject's authorisation of one institution to read some information classes for a purpose, for a time.

    ``method``: ``online`` (the subject on the portal after one-time-code verification) or ``document`` (a signed
    authorisation uploaded by the bank; only its SHA-256 is kept). Revoked by the subject (portal) or the admin;
    never deleted.
    """

    __tablename__ = "financing_authorisations"
    __table_args__ = (
        Index("ix_financing_authorisations_subject_institution", "subject_id", "institution_id"),
        CheckConstraint("method IN ('online', 'document')", name="method"),
        CheckConstraint("expires_at > starts_at", name="period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    institution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("financing_institutions.id"), nullable=False, index=True
    )
    scope: Mapped[list[str]] = mapped_column(Json, nullable=False)  # catalog class codes
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    document_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    document_name: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)  # audit actor
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_reason: Mapped[str | None] = mapped_column(String(500))

    def snapshot(self) -> dict[str, object]:
        return {
            "subject_id": self.subject_id,
            "institution_id": self.institution_id,
            "scope": list(self.scope),
            "purpose": self.purpose,
            "starts_at": self.starts_at,
            "expires_at": self.expires_at,
            "method": self.method,
            "document_sha256": self.document_sha256,
            "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
        }


class LoanFeedback(Base):
    """What the bank did: a loan granted (amount, rate band) or declined, under an authorisation."""

    __tablename__ = "financing_feedback"
    __table_args__ = (CheckConstraint("outcome IN ('granted', 'declined')", name="outcome"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    authorisation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("financing_authorisations.id"), nullable=False, index=True
    )
    institution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("financing_institutions.id"), nullable=False, index=True
    )
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    rate_band: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
