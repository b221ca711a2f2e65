"""Issued credit reports (公共信用信息报告): the register that makes every PDF verifiable.

Stored per report: its number and short code, the subject (id, kind, and the name/code as printed — a person's
masked), who asked for it, when it was issued and the data's as-of time, the SHA-256 of the exact PDF bytes, and
a summary (row counts per section, data sources). The PDF itself is never stored: verification needs only its
hash, and not keeping it means no copy of a person's report (or of a company's old record) lingers on the
platform; a lost PDF is replaced by issuing a new report.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class RequesterKind(StrEnum):
    """Who had a report issued (``issued_reports.requester_kind``)."""

    PUBLIC = "public"  # anyone, legal persons only
    SELF = "self"  # a person proven by a one-time code
    STAFF = "staff"  # an official printing it at a service window, with a reason


class VerificationStatus(StrEnum):
    """The answer of a report check (``service.verify_report``)."""

    REGISTERED = "registered"  # the number/code exists
    VALID = "valid"  # the file is exactly the issued PDF
    MISMATCH = "mismatch"  # the file names, or was checked against, a registered report, but its bytes differ
    NOT_FOUND = "not_found"  # no such number/code
    UNKNOWN_FILE = "unknown_file"  # the file matches no report and names none


class IssuedReport(Base):
    __tablename__ = "issued_reports"
    __table_args__ = (Index("ix_issued_reports_subject_issued", "subject_id", "issued_at"),)

    id: Mapped[int] = pk_column()
    # XY + issue date + 10 random characters: printed on every page, unguessable.
    number: Mapped[str] = mapped_column(String(24), nullable=False, unique=True)
    # 10 random characters (no 0/O/1/I): what the QR code and the verification page use.
    short_code: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    subject_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    subject_name: Mapped[str] = mapped_column(String(200), nullable=False)  # masked for natural persons
    subject_code: Mapped[str | None] = mapped_column(String(20))  # USCC, or a person's masked ID
    requester_kind: Mapped[str] = mapped_column(String(10), nullable=False)  # a RequesterKind
    requester: Mapped[str] = mapped_column(String(200), nullable=False)
    issued_at: Mapped[dt.datetime] = now_column()
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    pages: Mapped[int] = mapped_column(Integer, nullable=False)
    sections: Mapped[dict] = mapped_column(Json, nullable=False, default=dict)
    sources: Mapped[list] = mapped_column(Json, nullable=False, default=list)
