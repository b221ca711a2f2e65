"""Tables of `cases`: objections (异议), credit repair (信用修复) and complaints (举报) with their history,
documents, the notification outbox, one-time verification codes and the subjects' registered contacts.

A :class:`Case` is one application or report moving through the state machine of its kind (``cases.flows``).
``state`` and ``due_on`` (the last working day of the current time limit) are what queues and dashboards read;
``version`` is the optimistic-concurrency counter: every transition is ``UPDATE … WHERE version = :seen``, so of
two reviewers deciding at once exactly one wins and the other gets a conflict. ``open_key`` is set while a case
that allows one open case per target is open (objection, repair) and cleared when it closes: a unique
constraint then refuses a second open application on the same record or list entry, even from two requests at
the same instant.

Every transition is also a :class:`CaseEvent` (append-only history with the reason) and an audit event.
The applicant of a public filing proves who they are with a one-time code (:class:`VerificationChallenge`)
sent to the contact registered for the subject (:class:`SubjectContact`); the filing returns a case access
token whose hash is stored here, with which the applicant follows the case and uploads evidence.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.cases.flows import CaseKind
from xinyong.cases.flows import CaseState as CaseState  # re-exported: the states are the flows'
from xinyong.core.columns import actor_column, count_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, Sealed, UTCDateTime

CASE_KINDS = tuple(CaseKind)


class FiledVia(StrEnum):
    """How a case came in."""

    SUBJECT = "subject"  # the public portal, the subject verified by a one-time code
    DEPARTMENT = "department"  # filed by a department, or at its service window
    PUBLIC = "public"  # a complaint from anyone


class RecipientKind(StrEnum):
    """Who a notification is for."""

    APPLICANT = "applicant"
    DEPARTMENT = "department"
    OFFICE = "office"


TARGET_TYPES = ("record", "list_entry", "subject")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(f"kind IN {in_list(CASE_KINDS)}", name="kind"),
        CheckConstraint(f"target_type IN {in_list(TARGET_TYPES)}", name="target_type"),
        # The 异议处理中 marker and the "one open case per target" test look cases up by target.
        Index("ix_cases_target", "target_type", "target_id", "kind"),
        # Work queues: a department's open cases by due date.
        Index("ix_cases_department_closed_due", "department_id", "closed_at", "due_on"),
        Index("ix_cases_subject_kind", "subject_id", "kind"),
    )

    id: Mapped[int] = pk_column()
    case_no: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(30), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # What the case is about: a credit record, a list entry, or (complaints) a subject.
    target_type: Mapped[str] = mapped_column(String(20), nullable=False)
    target_id: Mapped[int | None] = mapped_column(BigId)
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    # Free text naming the subject when a complaint names one the registry does not know.
    subject_name: Mapped[str | None] = mapped_column(String(200))
    # The handling (source / competent) department; NULL while a complaint waits to be routed.
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    # "subject" (public portal, verified), "department" (filed by / at a department), "public" (complaint).
    filed_via: Mapped[str] = mapped_column(String(20), nullable=False)
    filed_by: Mapped[str] = mapped_column(String(200), nullable=False)
    filing_department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    applicant_name: Mapped[str | None] = mapped_column(Sealed)
    # Where to tell the applicant (channel + address); for a complaint, the reporter's identity: visible only to
    # the handling department and the admin.
    applicant_channel: Mapped[str | None] = mapped_column(String(10))
    applicant_address: Mapped[str | None] = mapped_column(Sealed)
    anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    facts: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Kind-specific input and the platform's condition checks (repair mode, commitment, evidence …).
    data: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    opened_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    # A repair revoked (or refused) for false materials bars the subject from new applications until this day.
    bar_until: Mapped[dt.date | None] = mapped_column(Date)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_late: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class CaseEvent(Base):
    """One step of a case: filing, each transition, documents, escalation. Append-only."""

    __tablename__ = "case_events"

    id: Mapped[int] = pk_column()
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str | None] = mapped_column(String(30))
    actor: Mapped[str] = actor_column()
    reason: Mapped[str | None] = mapped_column(Text)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    at: Mapped[dt.datetime] = now_column()


class CaseDocument(Base):
    """An uploaded file (PDF, PNG, JPEG): content-addressed on disk under the data dir, never served publicly."""

    __tablename__ = "case_documents"

    id: Mapped[int] = pk_column()
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)  # evidence / commitment / decision / other
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    media_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(BigId, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = now_column()


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # attempts exhausted


class Notification(Base):
    """The notification outbox: written with the change, sent afterwards by ``cases.notify.deliver_pending``."""

    __tablename__ = "case_notifications"
    __table_args__ = (
        CheckConstraint(f"status IN {in_list(tuple(NotificationStatus))}", name="status"),
        Index("ix_case_notifications_status", "status", "id"),
    )

    id: Mapped[int] = pk_column()
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # email / sms / log
    recipient_kind: Mapped[str] = mapped_column(String(20), nullable=False)  # RecipientKind
    address: Mapped[str] = mapped_column(Sealed, nullable=False)  # sealed at rest
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # Bodies holding a one-time code are blanked once sent.
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=NotificationStatus.PENDING)
    attempts: Mapped[int] = count_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = now_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SubjectContact(Base):
    """The contact registered for a subject (phone for SMS, or email): where one-time codes go.

    Registered by a department or the admin (e.g. from the registry's 联系电话); one per subject and channel.
    """

    __tablename__ = "case_subject_contacts"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email')", name="channel"),
        UniqueConstraint("subject_id", "channel"),
    )

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address: Mapped[str] = mapped_column(Sealed, nullable=False)  # sealed at rest
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class VerificationChallenge(Base):
    """A one-time code sent to a subject's registered contact: hashed, expiring, attempt-limited, single use."""

    __tablename__ = "case_verifications"
    __table_args__ = (Index("ix_case_verifications_subject_created", "subject_id", "created_at"),)

    id: Mapped[int] = pk_column()
    # The public handle of the challenge (random): the code alone is never enough.
    challenge: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    purpose: Mapped[str] = mapped_column(String(20), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    address_masked: Mapped[str] = mapped_column(String(200), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    attempts: Mapped[int] = count_column()
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = now_column()
