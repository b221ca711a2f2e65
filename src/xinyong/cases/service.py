"""The case engine shared by objections, credit repair and complaints: opening a case, moving it through its state
machine, deadlines, views, work queues, escalation and per-department statistics.

The only way a case changes state is :func:`transition`. It (1) finds the transition in the kind's flow
(``cases.flows``) — unknown or out-of-order actions are clear errors; (2) checks who may take it (the handling
department's operator, the applicant, the credit office); (3) requires a reason where the flow says so; (4) lets
the kind's module check its own conditions (``before``) without writing anything; (5) moves the case with
``UPDATE … WHERE version = :seen`` — of two reviewers deciding at once exactly one wins, the other gets
``Conflict(case_changed)`` and its transaction changes nothing; (6) applies the kind's effects (``after``: a
record's publicity ended, a list entry removed …) through the owning domain's services; (7) writes the history
event, the audit event, the next deadline and the notifications, all in the caller's transaction.

Kind-specific modules (``objections``, ``repair``, ``complaints``) file cases through :func:`open_case` and
provide the ``before`` / ``after`` hooks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.cases import documents, flows, notify
from xinyong.cases.config import get_cases_settings
from xinyong.cases.flows import Action
from xinyong.cases.models import Case, CaseDocument, CaseEvent, CaseKind, FiledVia, RecipientKind
from xinyong.cases.targets import Target
from xinyong.cases.verification import mask_address
from xinyong.core import audit, clock, workdays
from xinyong.core import hooks as core_hooks
from xinyong.core.db import utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.subjects.models import Subject

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

ENTITY = "case"
OBJECTION_MARKER = core_hooks.OBJECTION_MARKER
CASE_PREFIX: dict[str, str] = {CaseKind.OBJECTION: "YY", CaseKind.REPAIR: "XF", CaseKind.COMPLAINT: "JB"}


class Hooks(Protocol):
    def deadline_days(self, session: Session, case: Case, key: str) -> tuple[int, str]:
        """``(days, unit)`` of the time limit ``key`` (``accept`` / ``decide``) for this case."""

    def before(self, session: Session, case: Case, t: flows.Transition, ctx: TransitionContext) -> None:
        """Check the kind's conditions for ``t``; must not write."""

    def after(self, session: Session, case: Case, t: flows.Transition, ctx: TransitionContext) -> None:
        """Apply the effects of ``t`` (the case is already in its new state)."""


@dataclass
class TransitionContext:
    actor: Principal
    reason: str
    outcome: str | None
    params: dict[str, Any]
    today: dt.date
    as_applicant: bool


def hooks_for(kind: str) -> Hooks:
    """The kind's module (``objections``, ``repair``, ``complaints``), registered at start-up by
    ``xinyong.wiring`` in ``core.hooks.case_kind_hooks``."""
    flows.flow_for(kind)
    try:
        factory = core_hooks.case_kind_hooks[kind]
    except KeyError:
        raise core_hooks.NotWired(f"cases: no hooks for {kind!r} — call xinyong.wiring.wire() at start-up") from None
    return factory()


# Deadlines ---------------------------------------------------------------------------------------------------


def due_after(start: dt.date, days: int, unit: str) -> dt.date:
    """Last day of a limit of ``days`` working (or calendar) days from ``start`` (start day not counted)."""
    if unit == "workday":
        return workdays.deadline(start, days)
    return start + dt.timedelta(days=days)


def _deadline(session: Session, case: Case, key: str | None, today: dt.date) -> dt.date | None:
    if key is None:
        return None
    days, unit = hooks_for(case.kind).deadline_days(session, case, key)
    return due_after(today, days, unit)


# Access ------------------------------------------------------------------------------------------------------


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def get_case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    case = session.scalars(stmt).one_or_none()
    if case is None:
        raise NotFound(f"案件 {case_id} 不存在", code="case_not_found")
    return case


def can_see(actor: Principal, case: Case) -> bool:
    """The admin sees every case; a department sees the cases it handles and the ones it filed."""
    if actor.is_admin:
        return True
    if actor.department_id is None:
        return False
    return actor.department_id in (case.department_id, case.filing_department_id)


def visible_case(session: Session, case_id: int, *, actor: Principal) -> Case:
    """A case the actor may see; another department's case is "not found" (its existence is not disclosed)."""
    case = get_case(session, case_id)
    if not can_see(actor, case):
        raise NotFound(f"案件 {case_id} 不存在", code="case_not_found")
    return case


def case_by_token(session: Session, *, case_no: str, token: str | None) -> Case:
    """The case an applicant holds the access token of; anything else is "not found"."""
    if not token:
        raise NotFound("案件不存在或查询凭证无效", code="case_not_found")
    case = session.scalar(
        select(Case)
        .where(Case.case_no == case_no, Case.access_token_hash == hash_token(token))
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise NotFound("案件不存在或查询凭证无效", code="case_not_found")
    return case


def _may(actor: Principal, case: Case, who: tuple[str, ...], as_applicant: bool) -> bool:
    if actor.is_admin:
        return True
    if flows.APPLICANT in who and as_applicant:
        return True
    if (
        flows.APPLICANT in who
        and case.filed_via == FiledVia.DEPARTMENT
        and actor.role is Role.DEPT_OPERATOR
        and actor.department_id == case.filing_department_id
    ):
        return True
    return (
        flows.HANDLER in who
        and actor.role is Role.DEPT_OPERATOR
        and case.department_id is not None
        and actor.department_id == case.department_id
    )


# Opening -----------------------------------------------------------------------------------------------------


def open_key(kind: str, target_type: str, target_id: int) -> str:
    return f"{kind}:{target_type}:{target_id}"


def refuse_open(session: Session, kind: str, target_type: str, target_id: int | None) -> None:
    """``Conflict(case_already_open)`` when the target has an open case of this kind (one open per target)."""
    if target_id is None:
        return
    existing = session.scalar(select(Case.case_no).where(Case.open_key == open_key(kind, target_type, target_id)))
    if existing:
        raise Conflict(
            f"该对象已有办理中的{flows.flow_for(kind).label}（{existing}），办结前不能重复申请",
            code="case_already_open",
            details={"case_no": existing},
        )


def open_case(
    session: Session,
    *,
    actor: Principal,
    kind: str,
    target_type: str,
    target_id: int | None,
    subject_id: int | None,
    department_id: int | None,
    filed_via: str,
    facts: str,
    data: dict[str, Any],
    applicant_name: str | None = None,
    applicant_channel: str | None = None,
    applicant_address: str | None = None,
    anonymous: bool = False,
    subject_name: str | None = None,
    one_open_per_target: bool = True,
    today: dt.date | None = None,
) -> tuple[Case, str]:
    """Create a case in its flow's initial state with its first deadline; returns ``(case, access token)``.

    The access token (shown once) lets the applicant follow the case on the public portal. With
    ``one_open_per_target`` a second open case of the same kind on the same target is a
    ``Conflict(case_already_open)`` — checked first, and guaranteed by the unique ``open_key`` under races.
    """
    flow = flows.flow_for(kind)
    today = today or clock.today()
    facts = (facts or "").strip()
    if not facts:
        raise ValidationFailed("请说明事实与理由", code="facts_required")
    if len(facts) > 4000:
        raise ValidationFailed("事实与理由不超过 4000 字", code="facts_too_long")
    key = open_key(kind, target_type, target_id) if one_open_per_target and target_id is not None else None
    if key is not None:
        refuse_open(session, kind, target_type, target_id)
    token = "ck_" + secrets.token_urlsafe(24)
    now = utcnow()
    case = Case(
        case_no=f"tmp-{secrets.token_hex(8)}",
        kind=kind,
        state=flow.initial,
        version=1,
        target_type=target_type,
        target_id=target_id,
        subject_id=subject_id,
        subject_name=subject_name,
        department_id=department_id,
        filed_via=filed_via,
        filed_by=actor.actor,
        filing_department_id=actor.department_id if filed_via == FiledVia.DEPARTMENT else None,
        applicant_name=(applicant_name or "").strip()[:200] or None,
        applicant_channel=applicant_channel,
        applicant_address=applicant_address,
        anonymous=anonymous,
        facts=facts,
        data=data,
        access_token_hash=hash_token(token),
        open_key=key,
        opened_on=today,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        raise Conflict(f"该对象已有办理中的{flow.label}，办结前不能重复申请", code="case_already_open") from None
    case.case_no = f"{CASE_PREFIX[kind]}{today:%Y%m%d}{case.id:06d}"
    case.due_on = _deadline(session, case, flow.initial_deadline, today)
    session.flush()
    _event(session, case, action="file", from_state=None, actor=actor, reason=None, data={"filed_via": filed_via})
    audit.record(
        session,
        actor=actor.actor,
        action=f"cases.{kind}.file",
        entity_type=ENTITY,
        entity_id=case.id,
        reason=f"{flow.label}立案 {case.case_no}",
        after={
            "case_no": case.case_no,
            "state": case.state,
            "target_type": target_type,
            "target_id": target_id,
            "subject_id": subject_id,
            "department_id": department_id,
            "due_on": case.due_on,
            "filed_via": filed_via,
        },
    )
    _notify_filed(session, case, flow)
    return case, token


def open_on_target(
    session: Session,
    *,
    actor: Principal,
    kind: str,
    target: Target,
    filed_via: str,
    facts: str,
    data: dict[str, Any],
    applicant: tuple[str | None, str | None, str | None] = (None, None, None),
    today: dt.date | None = None,
) -> tuple[Case, str]:
    """:func:`open_case` on a record or list entry: the case goes to its subject and to the department that
    produced it (谁认定、谁修复). ``applicant``: (name, channel, address) of the applicant, where known."""
    name, channel, address = applicant
    return open_case(
        session,
        actor=actor,
        kind=kind,
        target_type=target.type,
        target_id=target.id,
        subject_id=target.subject_id,
        department_id=target.department_id,
        filed_via=filed_via,
        facts=facts,
        data=data,
        applicant_name=name,
        applicant_channel=channel,
        applicant_address=address,
        today=today,
    )


def _event(
    session: Session,
    case: Case,
    *,
    action: str,
    from_state: str | None,
    actor: Principal | str,
    reason: str | None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    ev = CaseEvent(
        case_id=case.id,
        action=action,
        from_state=from_state,
        to_state=case.state,
        actor=actor if isinstance(actor, str) else actor.actor,
        reason=reason,
        due_on=case.due_on,
        data=data or {},
        at=utcnow(),
    )
    session.add(ev)
    session.flush()
    return ev


# Notifications -----------------------------------------------------------------------------------------------


def _department_address(session: Session, department_id: int | None) -> str:
    if department_id is None:
        return "office:credit"
    dept = session.get(Department, department_id)
    return f"department:{dept.code}" if dept else f"department:{department_id}"


def _tell_applicant(session: Session, case: Case, title: str, body: str) -> None:
    if case.applicant_channel and case.applicant_address:
        notify.queue(
            session,
            channel=case.applicant_channel,
            address=case.applicant_address,
            recipient_kind=RecipientKind.APPLICANT,
            title=title,
            body=body,
            case_id=case.id,
        )
    elif case.filed_via == FiledVia.DEPARTMENT and case.filing_department_id is not None:
        notify.queue(
            session,
            channel="log",
            address=_department_address(session, case.filing_department_id),
            recipient_kind=RecipientKind.APPLICANT,
            title=title,
            body=body,
            case_id=case.id,
        )


def _tell_handler(session: Session, case: Case, title: str, body: str) -> None:
    notify.queue(
        session,
        channel="log",
        address=_department_address(session, case.department_id),
        recipient_kind=RecipientKind.DEPARTMENT,
        title=title,
        body=body,
        case_id=case.id,
    )


def _notify_filed(session: Session, case: Case, flow: flows.Flow) -> None:
    due = f"，办理时限至 {case.due_on}" if case.due_on else ""
    _tell_applicant(session, case, f"{flow.label}已收到", f"您的{flow.label}已登记，编号 {case.case_no}{due}。")
    _tell_handler(session, case, f"新的{flow.label}待受理", f"{flow.label} {case.case_no} 待受理{due}。")


# Transitions -------------------------------------------------------------------------------------------------


def transition(
    session: Session,
    *,
    actor: Principal,
    case_id: int,
    action: str,
    reason: str | None = None,
    outcome: str | None = None,
    expected_version: int | None = None,
    params: dict[str, Any] | None = None,
    as_applicant: bool = False,
    today: dt.date | None = None,
) -> Case:
    """Take ``action`` on a case (see the module docstring for the steps). ``expected_version`` is the version
    the caller saw: a case changed since is a ``Conflict(case_changed)``. ``as_applicant`` is set by the public
    routes once the case's access token was checked."""
    today = today or clock.today()
    case = get_case(session, case_id)
    if not as_applicant and not can_see(actor, case):
        raise NotFound(f"案件 {case_id} 不存在", code="case_not_found")
    flow = flows.flow_for(case.kind)
    t = flow.transition(action, case.state, outcome)
    if not _may(actor, case, t.who, as_applicant):
        raise Forbidden(f"无权对该案件执行「{t.label}」（仅限{_who_label(t.who)}）", code="not_allowed_for_case")
    reason = (reason or "").strip()
    if t.reason_required and not reason:
        raise ValidationFailed(f"「{t.label}」必须说明理由", code="reason_required")
    if len(reason) > 4000:
        raise ValidationFailed("理由不超过 4000 字", code="reason_too_long")
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"案件已被他人处理（版本 {case.version}，您看到的是 {expected_version}），请刷新后重试",
            code="case_changed",
            details={"version": case.version},
        )
    ctx = TransitionContext(actor, reason, outcome, dict(params or {}), today, as_applicant)
    hooks = hooks_for(case.kind)
    hooks.before(session, case, t, ctx)
    seen, from_state = case.version, case.state
    closing = not flow.is_open(t.target)
    values: dict[str, Any] = {"state": t.target, "version": Case.version + 1, "updated_at": utcnow()}
    try:
        moved = cast(  # an UPDATE: a CursorResult
            "CursorResult[Any]",
            session.execute(
                update(Case)
                .where(Case.id == case.id, Case.version == seen, Case.state == from_state)
                .values(**values)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
    except OperationalError as exc:  # SQLite: another writer committed after this transaction's snapshot
        if "locked" not in str(exc).lower():
            raise
        raise Conflict("案件已被他人同时处理，请刷新后重试", code="case_changed") from None
    if moved != 1:
        raise Conflict("案件已被他人同时处理，请刷新后重试", code="case_changed")
    session.refresh(case)
    before = {"state": from_state, "version": seen, "due_on": case.due_on, "department_id": case.department_id}
    if closing:
        case.closed_at = utcnow()
        case.closed_on = today
        case.closed_late = case.due_on is not None and today > case.due_on
        case.open_key = None
        case.due_on = None
    elif t.deadline:
        case.due_on = _deadline(session, case, t.deadline, today)
        case.escalated_at = None
    if outcome is not None:
        case.outcome = outcome
    if closing or outcome is not None:
        case.outcome_reason = reason or None
    session.flush()
    hooks.after(session, case, t, ctx)
    if t.deadline and case.department_id != before["department_id"]:  # routed: the new department's time limit
        case.due_on = _deadline(session, case, t.deadline, today)
    session.flush()
    _event(
        session,
        case,
        action=action,
        from_state=from_state,
        actor=actor,
        reason=reason or None,
        data={"outcome": outcome, **{k: v for k, v in ctx.params.items() if k in _EVENT_PARAMS}},
    )
    audit.record(
        session,
        actor=actor.actor,
        action=f"cases.{case.kind}.{action}",
        entity_type=ENTITY,
        entity_id=case.id,
        reason=reason or t.label,
        before=before,
        after={
            "state": case.state,
            "version": case.version,
            "due_on": case.due_on,
            "outcome": outcome,
            "department_id": case.department_id,
        },
    )
    label = flow.states[case.state].label
    text = f"{flow.label} {case.case_no}：{t.label}，当前状态「{label}」"
    if outcome:
        text += f"，结果：{flows.OUTCOME_LABELS.get(outcome, outcome)}"
    if reason:
        text += f"。理由：{reason[:500]}"
    if case.due_on:
        text += f"。办理时限至 {case.due_on}"
    if not (as_applicant and action == Action.WITHDRAW):
        _tell_applicant(session, case, f"{flow.label}办理进度", text)
    if action in (Action.ROUTE, Action.WITHDRAW):
        _tell_handler(session, case, f"{flow.label}{t.label}", text)
    return case


_EVENT_PARAMS = ("correction", "false_materials", "department", "bar_until", "changes")


def _who_label(who: tuple[str, ...]) -> str:
    names: dict[str, str] = {flows.HANDLER: "承办部门操作员", flows.APPLICANT: "申请人", flows.OFFICE: "信用办"}
    return "、".join(names[w] for w in who)


# Documents ---------------------------------------------------------------------------------------------------


def add_document(
    session: Session,
    *,
    actor: Principal,
    case: Case,
    kind: str,
    filename: str,
    content: bytes,
    as_applicant: bool = False,
) -> CaseDocument:
    """Attach a file to an open case (applicant or handler). PDF/PNG/JPEG by content, size-limited, hashed."""
    if kind not in documents.DOCUMENT_KINDS:
        raise ValidationFailed(f"材料类别只能是 {' / '.join(documents.DOCUMENT_KINDS)}", code="bad_document_kind")
    if not as_applicant and not can_see(actor, case):
        raise NotFound(f"案件 {case.id} 不存在", code="case_not_found")
    if not flows.flow_for(case.kind).is_open(case.state) and kind != "decision":
        raise Conflict("案件已办结，不能再补充材料", code="case_closed")
    count = session.scalar(select(func.count()).select_from(CaseDocument).where(CaseDocument.case_id == case.id))
    limit = get_cases_settings().max_documents_per_case
    if (count or 0) >= limit:
        raise ValidationFailed(f"每个案件最多上传 {limit} 份材料", code="too_many_documents")
    name = documents.safe_filename(filename)
    _kind, media_type = documents.check_upload(name, content)
    digest = documents.store_bytes(content)
    doc = CaseDocument(
        case_id=case.id,
        kind=kind,
        filename=name,
        media_type=media_type,
        size=len(content),
        sha256=digest,
        uploaded_by=actor.actor if not as_applicant else "applicant",
        created_at=utcnow(),
    )
    session.add(doc)
    session.flush()
    _event(
        session,
        case,
        action="document",
        from_state=case.state,
        actor=actor if not as_applicant else "applicant",
        reason=None,
        data={"document_id": doc.id, "kind": kind, "sha256": digest, "size": len(content)},
    )
    audit.record(
        session,
        actor=actor.actor if not as_applicant else f"applicant:{case.case_no}",
        action="cases.document",
        entity_type=ENTITY,
        entity_id=case.id,
        reason=f"上传材料 {name}",
        after={"document_id": doc.id, "kind": kind, "sha256": digest, "size": len(content), "media_type": media_type},
    )
    return doc


def documents_of(session: Session, case_id: int) -> list[CaseDocument]:
    return list(session.scalars(select(CaseDocument).where(CaseDocument.case_id == case_id).order_by(CaseDocument.id)))


def document_content(
    session: Session, *, actor: Principal, case_id: int, document_id: int
) -> tuple[CaseDocument, bytes]:
    """A document's bytes, for the handling department and the admin only (never public)."""
    case = visible_case(session, case_id, actor=actor)
    doc = session.get(CaseDocument, document_id)
    if doc is None or doc.case_id != case.id:
        raise NotFound(f"材料 {document_id} 不存在", code="document_not_found")
    audit.record(
        session,
        actor=actor.actor,
        action="cases.document_read",
        entity_type=ENTITY,
        entity_id=case.id,
        reason=f"查阅材料 {doc.filename}",
        after={"document_id": doc.id},
    )
    return doc, documents.read_bytes(doc.sha256)


# The 异议处理中 marker ------------------------------------------------------------------------------------------


def open_objection_targets(
    session: Session, *, record_ids: Iterable[int] = (), entry_ids: Iterable[int] = ()
) -> set[tuple[str, int]]:
    """Which of these records / list entries have an open objection: ``{("record", id), ("list_entry", id)}``.

    One indexed query per 1,000 ids; views and the check show :data:`OBJECTION_MARKER` for each hit.
    """
    found: set[tuple[str, int]] = set()
    for target_type, ids in (
        ("record", list(dict.fromkeys(record_ids))),
        ("list_entry", list(dict.fromkeys(entry_ids))),
    ):
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            rows = session.execute(
                select(Case.target_id).where(
                    Case.target_type == target_type,
                    Case.target_id.in_(chunk),
                    Case.kind == CaseKind.OBJECTION,
                    Case.closed_at.is_(None),
                )
            )
            found.update((target_type, rid) for (rid,) in rows if rid is not None)
    return found


# Views -------------------------------------------------------------------------------------------------------


def _department_ref(session: Session, department_id: int | None) -> dict[str, Any] | None:
    if department_id is None:
        return None
    d = session.get(Department, department_id)
    return {"id": d.id, "code": d.code, "name": d.name} if d else {"id": department_id}


def _subject_ref(session: Session, case: Case) -> dict[str, Any] | None:
    if case.subject_id is None:
        return {"name": case.subject_name} if case.subject_name else None
    s = session.get(Subject, case.subject_id)
    if s is None:
        return None
    return {"id": s.id, "kind": s.kind, "name": s.name, "uscc": s.uscc, "resident_id": s.resident_id_masked}


def case_view(
    session: Session,
    case: Case,
    *,
    actor: Principal | None = None,
    applicant: bool = False,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A case as the viewer may see it. The applicant's identity and contact (a complaint's reporter) appear only
    for the handling department and the admin; the applicant sees their own filing."""
    today = today or clock.today()
    flow = flows.flow_for(case.kind)
    handler_view = actor is not None and (
        actor.is_admin or (actor.department_id is not None and actor.department_id == case.department_id)
    )
    show_identity = (
        handler_view or applicant or (case.kind != CaseKind.COMPLAINT and actor is not None and can_see(actor, case))
    )
    view: dict[str, Any] = {
        "id": case.id,
        "case_no": case.case_no,
        "kind": case.kind,
        "kind_label": flow.label,
        "state": case.state,
        "state_label": flow.states[case.state].label,
        "open": flow.is_open(case.state),
        "version": case.version,
        "target_type": case.target_type,
        "target_id": case.target_id,
        "subject": _subject_ref(session, case),
        "department": _department_ref(session, case.department_id),
        "filed_via": case.filed_via,
        "anonymous": case.anonymous,
        "facts": case.facts,
        "opened_on": case.opened_on,
        "due_on": case.due_on,
        "overdue": case.due_on is not None and today > case.due_on,
        "escalated": case.escalated_at is not None,
        "closed_on": case.closed_on,
        "closed_late": case.closed_late,
        "outcome": case.outcome,
        "outcome_label": flows.OUTCOME_LABELS.get(case.outcome or "", case.outcome),
        "outcome_reason": case.outcome_reason,
        "bar_until": case.bar_until,
        "data": {k: v for k, v in (case.data or {}).items() if not k.startswith("_")},
        "actions": [t.name for t in flow.available(case.state)],
        "documents": [
            {
                "id": d.id,
                "kind": d.kind,
                "filename": d.filename,
                "media_type": d.media_type,
                "size": d.size,
                "sha256": d.sha256,
                "created_at": d.created_at,
            }
            for d in documents_of(session, case.id)
        ],
        "applicant": None,
    }
    if show_identity and not (case.anonymous and not handler_view and not applicant):
        view["applicant"] = {
            "name": case.applicant_name,
            "filed_by": case.filed_by if handler_view else None,
            "channel": case.applicant_channel,
            "contact": (
                case.applicant_address
                if handler_view
                else mask_address(case.applicant_channel, case.applicant_address)
                if case.applicant_channel and case.applicant_address
                else None
            ),
        }
    return view


def events_of(session: Session, case_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor": e.actor,
            "reason": e.reason,
            "due_on": e.due_on,
            "data": e.data,
            "at": e.at,
        }
        for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
    ]


def public_events(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The applicant's view of the history: what happened and why, not who inside the administration."""
    return [{k: v for k, v in e.items() if k not in ("actor", "data")} for e in events_of(session, case_id)]


# Queues, escalation, statistics ------------------------------------------------------------------------------


def list_cases(
    session: Session,
    *,
    actor: Principal,
    department_id: int | None = None,
    kind: str | None = None,
    state: str | None = None,
    open_only: bool = False,
    overdue: bool = False,
    escalated: bool = False,
    subject_id: int | None = None,
    today: dt.date | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    total: list[int] | None = None,
) -> list[Case]:
    """A work queue: open cases by due date (earliest first), then closed ones newest first. A department sees
    the cases it handles or filed; the admin sees all (and may pick a department).

    ``search`` (the console's queue): the subject's name contains it, or its code or the case number is it.
    ``total``: a list that receives the number of matching cases (the pager's 共 N 条)."""
    today = today or clock.today()
    stmt = select(Case)
    if not actor.is_admin:
        if actor.department_id is None:
            return []
        stmt = stmt.where(
            or_(Case.department_id == actor.department_id, Case.filing_department_id == actor.department_id)
        )
    if department_id is not None:
        stmt = stmt.where(Case.department_id == department_id)
    if kind:
        flows.flow_for(kind)
        stmt = stmt.where(Case.kind == kind)
    if state:
        stmt = stmt.where(Case.state == state)
    if open_only or overdue or escalated:
        stmt = stmt.where(Case.closed_at.is_(None))
    if overdue:
        stmt = stmt.where(Case.due_on < today)
    if escalated:
        stmt = stmt.where(Case.escalated_at.is_not(None))
    if subject_id is not None:
        stmt = stmt.where(Case.subject_id == subject_id)
    if search:
        named = select(Subject.id).where(
            or_(Subject.name.contains(search, autoescape=True), Subject.uscc == search.upper())
        )
        stmt = stmt.where(
            or_(
                Case.subject_id.in_(named),
                Case.subject_name.contains(search, autoescape=True),
                Case.case_no == search.strip(),
            )
        )
    if total is not None:
        total.append(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    stmt = stmt.order_by(Case.closed_at.is_not(None), Case.due_on.is_(None), Case.due_on, Case.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def escalate_overdue(session: Session, *, actor: Principal, today: dt.date | None = None) -> list[Case]:
    """Mark open cases past their due date as escalated (once per deadline) and tell the credit office and the
    handling department. The daily job (``xinyong cases escalate``); running it twice escalates nothing new."""
    today = today or clock.today()
    cases = list(
        session.scalars(
            select(Case)
            .where(Case.closed_at.is_(None), Case.due_on < today, Case.escalated_at.is_(None))
            .order_by(Case.id)
        )
    )
    now = utcnow()
    for case in cases:
        case.escalated_at = now
        days = workdays.workdays_between(case.due_on, today) if case.due_on else 0
        _event(
            session,
            case,
            action="escalate",
            from_state=case.state,
            actor=actor,
            reason=f"超过办理时限（{case.due_on}）{days} 个工作日",
            data={"overdue_workdays": days},
        )
        flow = flows.flow_for(case.kind)
        text = f"{flow.label} {case.case_no} 已超过办理时限 {case.due_on}（逾期 {days} 个工作日），请督办。"
        notify.queue(
            session,
            channel="log",
            address="office:credit",
            recipient_kind=RecipientKind.OFFICE,
            title="案件逾期督办",
            body=text,
            case_id=case.id,
        )
        _tell_handler(session, case, "案件逾期督办", text)
    if cases:
        session.flush()
        audit.record(
            session,
            actor=actor.actor,
            action="cases.escalate",
            entity_type="case_batch",
            entity_id=None,
            reason=f"{today} 逾期案件督办 {len(cases)} 件",
            after={"case_ids": [c.id for c in cases], "today": today},
        )
    return cases


def department_stats(
    session: Session,
    *,
    actor: Principal,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Per department and kind, for cases opened in the period: filed, open, closed, overdue (open past due,
    and closed late), overdue rate, and processing time in working days (mean and max of closed cases)."""
    today = today or clock.today()
    stmt = select(Case.department_id, Case.kind, Case.opened_on, Case.closed_on, Case.closed_late, Case.due_on)
    if not actor.is_admin:
        stmt = stmt.where(Case.department_id == actor.department_id)
    if date_from:
        stmt = stmt.where(Case.opened_on >= date_from)
    if date_to:
        stmt = stmt.where(Case.opened_on <= date_to)
    groups: dict[tuple[int | None, str], dict[str, Any]] = {}
    for dept, kind, opened, closed, late, due in session.execute(stmt):
        g = groups.setdefault(
            (dept, kind), {"filed": 0, "open": 0, "closed": 0, "overdue_open": 0, "closed_late": 0, "_times": []}
        )
        g["filed"] += 1
        if closed is None:
            g["open"] += 1
            g["overdue_open"] += bool(due is not None and today > due)
        else:
            g["closed"] += 1
            g["closed_late"] += bool(late)
            g["_times"].append(workdays.workdays_between(opened, closed))
    out = []
    for (dept, kind), g in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        times = g.pop("_times")
        overdue = g["overdue_open"] + g["closed_late"]
        out.append(
            {
                "department": _department_ref(session, dept),
                "kind": kind,
                **g,
                "overdue": overdue,
                "overdue_rate": round(overdue / g["filed"], 4) if g["filed"] else 0.0,
                "mean_workdays": round(sum(times) / len(times), 2) if times else None,
                "max_workdays": max(times) if times else None,
            }
        )
    return out


def department_id_for(session: Session, ref: str | int | None) -> int | None:
    if ref in (None, ""):
        return None
    return auth_service.get_department(session, ref=ref).id


def active_bar(session: Session, *, subject_id: int, today: dt.date) -> Case | None:
    """The case whose reapplication bar (false materials) still applies to the subject, if any."""
    return session.scalar(
        select(Case)
        .where(
            Case.subject_id == subject_id,
            Case.kind == CaseKind.REPAIR,
            Case.bar_until.is_not(None),
            Case.bar_until >= today,
        )
        .order_by(Case.bar_until.desc())
        .limit(1)
    )
