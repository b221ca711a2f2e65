"""Who looked at me (查询记录): every read of non-public data about a subject, logged where the subject can see it.

A department reading a natural person's records, a check that names a person, a bank reading an authorised
profile (信易贷) — each is one row of ``subject_access_log``: who (the principal's audit actor and role), for which
department or institution, the purpose, the time, and what (the endpoint and the information classes read).
Refused attempts are logged too (``outcome='denied'`` with the error code).

The table is append-only (triggers refuse UPDATE and DELETE, as for ``audit_events``) and each row is written in
the same transaction as an audit event of the hash-chained log whose ``after`` holds the row's content; the row
keeps that event's id. :func:`verify` compares every row with its event, so a row changed or removed by someone
who went around the triggers shows, and the event itself is protected by the chain (``xinyong audit verify``).

This module sits in ``subjects`` so that every layer that reads personal data (records, measures, evaluation,
commitments, financing, the portal) can call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import DDL, ForeignKey, Index, String, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyong.auth.models import Department
from xinyong.auth.roles import ROLE_LABELS, Principal, Role
from xinyong.core import audit, clock
from xinyong.core.db import Base, BigId, Json, UTCDateTime, run_with_retries, writer_of
from xinyong.core.errors import ValidationFailed, XinyongError

ALLOWED = "allowed"
DENIED = "denied"
OUTCOME_LABELS = {ALLOWED: "已查询", DENIED: "被拒绝"}
#: The default audit action of an access; callers with an established action name pass their own.
ACTION = "subjects.access"
#: Every audit action an access is logged under (a refusal: the same with ``_denied``); :func:`verify` looks for
#: events of these actions without their row. ``subjects.person_viewed`` predates this log.
ACTIONS = frozenset(
    {
        ACTION,
        "subjects.person_viewed",
        "records.person_read",
        "measures.check_named_person",
        "financing.profile_read",
        "reports.government_file",
        "professions.file",
    }
)
MAX_PAGE_SIZE = 100
#: Listings go this deep (offset); older entries are reached by narrowing the dates.
MAX_OFFSET = 100_000


class SubjectAccess(Base):
    """One read of non-public data about a subject (or a refused attempt), tied to its audit event."""

    __tablename__ = "subject_access_log"
    __table_args__ = (Index("ix_subject_access_log_subject_at", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)  # the principal's audit actor
    role: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"))
    institution: Mapped[str | None] = mapped_column(String(200))  # a bank's name (信易贷)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    scope: Mapped[list[str]] = mapped_column(Json, nullable=False)  # information classes read
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(60))
    audit_event_id: Mapped[int] = mapped_column(BigId, ForeignKey("audit_events.id"), nullable=False, unique=True)


APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER subject_access_log_no_update BEFORE UPDATE ON subject_access_log "
        "BEGIN SELECT RAISE(ABORT, 'subject_access_log is append-only'); END",
        "CREATE TRIGGER subject_access_log_no_delete BEFORE DELETE ON subject_access_log "
        "BEGIN SELECT RAISE(ABORT, 'subject_access_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION subject_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'subject_access_log is append-only'; END $$",
        "CREATE TRIGGER subject_access_log_no_change BEFORE UPDATE OR DELETE ON subject_access_log "
        "FOR EACH ROW EXECUTE FUNCTION subject_access_log_append_only()",
    ],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _stmt in _statements:
        event.listen(SubjectAccess.__table__, "after_create", DDL(_stmt).execute_if(dialect=_dialect))


def _content(row: SubjectAccess) -> dict[str, Any]:
    """What the audit event keeps of the row (and :func:`verify` compares)."""
    return {
        "subject_id": row.subject_id,
        "actor": row.actor,
        "role": row.role,
        "department_id": row.department_id,
        "institution": row.institution,
        "purpose": row.purpose,
        "endpoint": row.endpoint,
        "scope": list(row.scope),
        "outcome": row.outcome,
        "error_code": row.error_code,
    }


def record(
    session: Session,
    *,
    actor: Principal,
    subject_id: int,
    purpose: str | None,
    endpoint: str,
    scope: Sequence[str] = (),
    institution: str | None = None,
    outcome: str = ALLOWED,
    error_code: str | None = None,
    action: str | None = None,
    extra: dict[str, Any] | None = None,
) -> SubjectAccess:
    """Log one access in the caller's transaction: an audit event (``action``, default ``subjects.access``; for a
    refusal ``<action>_denied``) and the row that points to it. ``extra`` goes into the event only."""
    if outcome not in OUTCOME_LABELS:
        raise ValueError(f"unknown outcome {outcome!r}")
    row = SubjectAccess(
        subject_id=subject_id,
        actor=actor.actor[:200],
        role=actor.role.value if actor.role else None,
        department_id=actor.department_id,
        institution=(institution or None) and institution[:200],
        purpose=(purpose or "").strip()[:200] or "未说明",
        endpoint=endpoint[:200],
        scope=sorted(set(scope)),
        outcome=outcome,
        error_code=error_code and error_code[:60],
    )
    name = action or ACTION
    if name not in ACTIONS:
        raise ValueError(f"access action {name!r} is not in access_log.ACTIONS")
    if outcome == DENIED:
        name += "_denied"
    ev = audit.record(
        session,
        actor=actor.actor,
        action=name,
        entity_type="subject",
        entity_id=subject_id,
        reason=row.purpose,
        after={**_content(row), **(extra or {})},
    )
    row.at = ev.at
    row.audit_event_id = ev.id
    session.add(row)
    session.flush()
    return row


def entries(
    session: Session,
    *,
    subject_id: int,
    limit: int = 20,
    offset: int = 0,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> tuple[int, list[SubjectAccess]]:
    """``(total, page)`` of a subject's log, newest first; ``limit`` and ``offset`` bounded."""
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    offset = max(0, min(int(offset), MAX_OFFSET))
    where = [SubjectAccess.subject_id == subject_id]
    if date_from is not None:  # civil dates of the platform's time zone
        where.append(SubjectAccess.at >= dt.datetime.combine(date_from, dt.time(), tzinfo=clock.zone()))
    if date_to is not None:
        where.append(
            SubjectAccess.at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=clock.zone())
        )
    total = session.scalar(select(func.count()).select_from(SubjectAccess).where(*where)) or 0
    rows = list(
        session.scalars(
            select(SubjectAccess)
            .where(*where)
            .order_by(SubjectAccess.at.desc(), SubjectAccess.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    return total, rows


def _department_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}

    return dict(session.execute(select(Department.id, Department.name).where(Department.id.in_(ids))).all())


def views(session: Session, rows: Sequence[SubjectAccess], *, for_subject: bool = False) -> list[dict[str, Any]]:
    """Rows as the API and the portal show them. ``for_subject``: the subject's own page, which names the
    department or institution and the role, not the individual user or token behind it."""
    names = _department_names(session, {r.department_id for r in rows if r.department_id})
    out = []
    for r in rows:
        who = (
            r.institution
            or names.get(r.department_id or 0)
            or ("信用平台管理员" if r.role == Role.ADMIN.value else "—")
        )
        view = {
            "id": r.id,
            "at": r.at,
            "who": who,
            "role": r.role,
            "role_label": ROLE_LABELS[Role(r.role)]
            if r.role is not None and r.role in Role._value2member_map_
            else r.role,
            "department_id": r.department_id,
            "institution": r.institution,
            "purpose": r.purpose,
            "endpoint": r.endpoint,
            "scope": list(r.scope),
            "outcome": r.outcome,
            "outcome_label": OUTCOME_LABELS.get(r.outcome, r.outcome),
            "error_code": r.error_code,
        }
        if not for_subject:
            view["actor"] = r.actor
            view["audit_event_id"] = r.audit_event_id
        out.append(view)
    return out


def verify(session: Session, *, batch: int = 5000) -> dict[str, Any]:
    """Each row against its audit event: same subject, time and content. The events are checked by the chain
    (``core.audit.verify_chain``); a row whose event is missing or differs, or an access event without its row,
    is reported."""
    problems: list[dict[str, Any]] = []
    checked = 0
    last = 0
    while True:
        pairs = session.execute(
            select(SubjectAccess, audit.AuditEvent)
            .outerjoin(audit.AuditEvent, audit.AuditEvent.id == SubjectAccess.audit_event_id)
            .where(SubjectAccess.id > last)
            .order_by(SubjectAccess.id)
            .limit(batch)
        ).all()
        if not pairs:
            break
        for row, ev in pairs:
            checked += 1
            last = row.id
            if ev is None:
                problems.append({"row": row.id, "problem": "audit_event_missing"})
            elif (
                ev.entity_type != "subject"
                or ev.entity_id != str(row.subject_id)
                or ev.at != row.at
                or any((ev.after or {}).get(k) != v for k, v in _content(row).items())
            ):
                problems.append({"row": row.id, "problem": "row_differs_from_audit_event", "event": ev.id})
    first = session.scalar(select(func.min(SubjectAccess.audit_event_id)))
    actions = sorted(ACTIONS | {a + "_denied" for a in ACTIONS})
    orphans = (
        []
        if first is None
        else session.scalars(
            select(audit.AuditEvent.id)
            .where(
                audit.AuditEvent.id >= first,
                audit.AuditEvent.entity_type == "subject",
                audit.AuditEvent.action.in_(actions),
                audit.AuditEvent.id.not_in(select(SubjectAccess.audit_event_id)),
            )
            .limit(1000)
        ).all()
    )
    for ev_id in orphans:
        problems.append({"event": ev_id, "problem": "row_missing"})
    return {"ok": not problems, "rows": checked, "problems": problems[:1000]}


def parse_purpose(purpose: str | None, text: str | None, purposes: Mapping[str, str], *, file: str) -> tuple[str, str]:
    """The 查询事由 of a read of a subject's file (``file``: 政府信用档案, 职业信用档案 …) → ``(code, label)``, the
    label with the text of ``other``; :class:`ValidationFailed` when missing, not one of ``purposes``, or ``other``
    without its text."""
    code = (purpose or "").strip().lower()
    detail = " ".join((text or "").split())[:150]
    if not code:
        raise ValidationFailed(
            f"查询{file}必须说明查询事由（purpose）", code="purpose_required", details={"allowed": sorted(purposes)}
        )
    if code not in purposes:
        raise ValidationFailed(
            f"未知的查询事由 {code[:40]!r}", code="purpose_unknown", details={"allowed": dict(purposes)}
        )
    if code == "other" and not detail:
        raise ValidationFailed("查询事由为“其他”时须说明具体事由（purpose_text）", code="purpose_text_required")
    return code, purposes[code] + (f"：{detail}" if detail else "")


class ReadRefused(XinyongError):
    """A refused read about a known subject, to be logged in its access log (:func:`log_refusal`, in the same
    transaction) before it is answered. Each file (the government file, a profession file) subclasses it with the
    ``endpoint`` and audit ``action`` its reads are logged under."""

    endpoint: ClassVar[str] = ""
    action: ClassVar[str | None] = None

    def __init__(self, error: XinyongError, *, subject_id: int, purpose: str) -> None:
        super().__init__(error.message, code=error.code, details=error.details, status_code=error.status_code)
        self.subject_id = subject_id
        self.purpose = purpose


def log_refusal(session: Session, *, actor: Principal, exc: ReadRefused) -> None:
    """Log a refused read (:class:`ReadRefused`): who asked, for what purpose, and why it was refused."""
    record(
        session,
        actor=actor,
        subject_id=exc.subject_id,
        purpose=exc.purpose,
        endpoint=exc.endpoint,
        outcome=DENIED,
        error_code=exc.code,
        action=exc.action,
    )


def record_check(
    session: Session, *, actor: Principal, subject_ids: Sequence[int], scenario: str, check_id: int, separate: bool
) -> None:
    """Log a credit check that named natural persons (one row each), in the transaction the check was recorded in
    — or beside it, as ``measures.check`` records: ``separate`` (SQLite, a check whose reads ran without the write
    lock) in a short write transaction of its own; a check on PostgreSQL's autocommit connection
    (``check_and_record``) in a transaction of its own on a new connection; otherwise in the caller's."""

    def write(target: Session) -> None:
        for subject_id in sorted(set(subject_ids)):
            record(
                target,
                actor=actor,
                subject_id=subject_id,
                purpose=f"信用核查（场景 {scenario}）",
                endpoint="POST /api/v1/checks",
                scope=("check",),
                action="measures.check_named_person",
                extra={"check_id": check_id},
            )

    bind = session.get_bind()
    if separate:
        engine = writer_of(session.info.get("record_apart") or (bind.engine if isinstance(bind, Connection) else bind))

        def apart(_attempt: int) -> None:
            with Session(bind=engine) as own, own.begin():
                write(own)

        run_with_retries(apart, what="access log of a check")
        return
    if isinstance(bind, Connection) and getattr(bind.connection.driver_connection, "autocommit", False):

        def own_transaction(_attempt: int) -> None:
            with bind.engine.connect().execution_options(isolation_level="READ COMMITTED") as conn, conn.begin():
                write(Session(bind=conn))

        run_with_retries(own_transaction, what="access log of a check")
        return
    write(session)
