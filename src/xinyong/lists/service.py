"""Department list management, the write side of list entries: give notice, list, extend, remove, correct.

Every transition of an entry is a function here: it checks who may act (the platform admin, or an operator of a
department named in the type's ``managing_departments``), validates, bumps ``revision`` (callers may pass
``expected_revision``; a stale one is a :class:`Conflict`), appends a :class:`ListEntryEvent` and an audit event,
and tells ``watches`` when the entry starts or stops counting because of it — all in the caller's transaction.

Whether an entry counts on a day is never stored (``lists.rules.in_force``): an entry stops counting the day after
its ``term_end`` without a job. The daily :func:`announce_expirations` only *tells* subscribers, once per entry.

External lists (``ListType.external``: the court's 失信被执行人, the market regulator's 经营异常名录) are kept by
another authority and change only through their sync (``lists.sync``): no one creates, notifies, lists or
extends their entries by hand; the platform admin alone may remove or correct one (a documented mistake).

The authority rule (``auth.authorities``): an entry's 认定机关 is the department that records it, or another
authority the department reports for (a subordinate unit the admin registered for it), named by name and/or USCC;
any other authority is refused (``authority_not_registered``, ``authority_name_mismatch``) — also when the admin
records the entry on a department's behalf. Only the admin recording an entry for no department (a list without a
managing department) names the list's authority freely. External syncs are exempt (``lists.sync``).

Personal data: a natural person's ID is stored on the entry only masked (the subject keeps the encrypted number);
history, audit and webhook payloads carry masked names and never a clear ID.

The list types themselves (seeding, lookup, views) are ``lists.types``; reading entries (the department's list,
one entry and its history, the public lists, the views pages and APIs show) is ``lists.queries``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.rules import PARTY_KIND_LABELS, add_months
from xinyong.core import audit, clock, hooks, workdays
from xinyong.core.db import utcnow
from xinyong.core.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import explain
from xinyong.identifiers import uscc as uscc_rules
from xinyong.identifiers.masking import mask_name
from xinyong.ingest.values import normalize_doc_no
from xinyong.lists.models import (
    REMOVAL_REASONS,
    EntrySource,
    EntryStatus,
    ListEntry,
    ListEntryEvent,
    ListType,
    RemovalReason,
    Stage,
)
from xinyong.lists.rules import REMOVAL_REASON_LABELS, in_force, term_end_for
from xinyong.lists.types import get_list_type
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

ENTITY = "list_entry"
#: Reasons a person may give when removing an entry (``not_listed`` is the withdrawal of a notice,
#: ``sync_removed`` belongs to the sync of an external list).
MANUAL_REMOVAL_REASONS = tuple(
    r for r in REMOVAL_REASONS if r not in (RemovalReason.NOT_LISTED, RemovalReason.SYNC_REMOVED)
)


# List types ------------------------------------------------------------------------------------------------------


def _type_for_write(session: Session, code: str) -> ListType:
    """As :func:`get_list_type`, but an unknown code in a request body is invalid input (422), not a missing page."""
    try:
        lt = get_list_type(session, code)
    except NotFound as exc:
        raise ValidationFailed(exc.message, code=exc.code, details=exc.details) from None
    if not lt.active:
        raise ValidationFailed(f"名单类型 {lt.code} 已停用", code="list_type_inactive")
    return lt


# Who may act -----------------------------------------------------------------------------------------------------


def _operator_department(session: Session, actor: Principal, lt: ListType) -> Department:
    """The acting operator's department, which must manage ``lt`` (admin is handled by the callers)."""
    if actor.role is not Role.DEPT_OPERATOR or actor.department_id is None:
        raise Forbidden("只有平台管理员或名单主管部门的操作员可以管理名单条目", code="list_not_managed")
    dept = session.get(Department, actor.department_id)
    if dept is None or dept.code not in lt.managing_departments:
        raise Forbidden(
            f"本部门不是「{lt.name}」的主管部门，无权管理其条目",
            code="list_not_managed",
            details={"list_code": lt.code, "managing_departments": list(lt.managing_departments)},
        )
    return dept


def _acting_department(session: Session, actor: Principal, lt: ListType, department: str | None) -> Department | None:
    """The department an entry is recorded for: the operator's own; for the admin the one named, else the first
    managing department that exists (the admin enters on its behalf)."""
    if actor.is_admin:
        if department:
            return auth_service.get_department(session, ref=department)
        if lt.managing_departments:
            found = {
                d.code: d
                for d in session.scalars(select(Department).where(Department.code.in_(list(lt.managing_departments))))
            }
            for code in lt.managing_departments:
                if code in found:
                    return found[code]
        return None
    dept = _operator_department(session, actor, lt)
    if department and department.strip().lower() not in (dept.code, str(dept.id)):
        raise Forbidden("只能以本部门名义管理名单条目", code="department_mismatch")
    return dept


def _check_manual(lt: ListType, action: str) -> None:
    if lt.external:
        raise Forbidden(
            f"「{lt.name}」由{lt.authority}认定，只能通过名单同步更新，不能手工{action}",
            code="external_list",
            details={"list_code": lt.code},
        )


def _check_entry_access(session: Session, actor: Principal, lt: ListType, entry: ListEntry) -> None:
    """Admin, or an operator of a managing department that recorded the entry (or an entry of no department)."""
    if actor.is_admin:
        return
    if lt.external:
        raise Forbidden(
            f"「{lt.name}」的条目只能通过名单同步或由平台管理员更正",
            code="external_list",
            details={"list_code": lt.code},
        )
    dept = _operator_department(session, actor, lt)
    if entry.department_id is not None and entry.department_id != dept.id:
        raise Forbidden("该名单条目由其他部门认定，本部门无权修改", code="list_not_managed")


# Helpers ---------------------------------------------------------------------------------------------------------


def _masked_code(code: str) -> str:
    check = explain(code)
    if check.kind == "resident_id":
        return str(check.to_dict(mask=True)["input"])
    return (code or "")[:40]


def resolve_subject(session: Session, code: str) -> Subject:
    """The registered subject a code names; a malformed code and an unknown one are different errors (422)."""
    subject = find_subject(session, code)
    if subject is not None:
        return subject
    check = explain(code)
    shown = _masked_code(code)
    if not check.valid:
        raise ValidationFailed(
            f"主体代码 {shown} 格式错误：" + "；".join(e.message for e in check.errors),
            code="bad_subject_code",
            details={"code": shown, "errors": [e.code for e in check.errors]},
        )
    raise ValidationFailed(
        f"主体库中没有代码为 {shown} 的信用主体（名单条目不会自动创建主体，请先登记主体）",
        code="unknown_subject",
        details={"code": shown},
    )


def _default_basis(lt: ListType) -> str:
    first = lt.legal_basis[0] if lt.legal_basis else {}
    title = str(first.get("title") or "").strip()
    if not title:
        raise ConfigurationError(f"名单类型 {lt.code} 没有法律依据", code="list_type_without_basis")
    return title + (str(first["article"]) if first.get("article") else "")


def _text(value: str | None, *, name: str, code: str, required: bool = True, limit: int = 20000) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(f"{name}不能为空", code=code)
    if len(text) > limit:
        raise ValidationFailed(f"{name}过长（上限 {limit} 字）", code=code)
    return text


def _authority(
    session: Session, lt: ListType, dept: Department | None, name: str | None, uscc: str | None
) -> tuple[str, str | None]:
    """The entry's 认定机关 (name, USCC): the recording department itself unless another authority is named, which
    must then be one the department reports for (the module's docstring); the registered name is stored."""
    name = _text(name, name="认定机关", code="authority_too_long", required=False, limit=200) or None
    code = None
    if uscc is not None and uscc.strip():
        check = uscc_rules.validate(uscc)
        if not check.valid:
            raise ValidationFailed(
                "认定机关统一社会信用代码无效：" + "；".join(e.message for e in check.errors),
                code="authority_uscc_invalid",
                details={"field": "uscc"},
            )
        code = check.normalized
    if dept is None:
        return name or lt.authority, code
    if name is None and code is None:
        return dept.name, None
    authorities = auth_service.authorities_of(session, department_id=dept.id)
    problem = authorities.check(name=name, uscc=code, label="认定机关")
    if problem is not None:
        raise ValidationFailed(problem.message, code=problem.code, details={"field": problem.field})
    found = authorities.find(name=name, uscc=code)
    assert found is not None  # checked above
    return found.name, found.uscc


def _term(lt: ListType, listed_on: dt.date, term_end: dt.date | None) -> dt.date | None:
    """The entry's last counting day: given (checked) or the type's default; never beyond the type's maximum."""
    limit = term_end_for(listed_on, lt.max_term_months)
    if term_end is None:
        term_end = term_end_for(listed_on, lt.term_months)
    elif term_end < listed_on:
        raise ValidationFailed(f"有效期至 {term_end} 早于列入日期 {listed_on}", code="term_before_listing")
    if limit is not None and (term_end is None or term_end > limit):
        raise ValidationFailed(
            f"「{lt.name}」的期限最长 {lt.max_term_months} 个月：有效期至不能晚于 {limit}",
            code="term_too_long",
            details={"max_term_months": lt.max_term_months, "latest_term_end": limit.isoformat()},
        )
    return term_end


def _not_future(day: dt.date, today: dt.date, *, name: str, code: str) -> None:
    if day > today:
        raise ValidationFailed(f"{name} {day} 晚于今天 {today}", code=code)


def _snapshot(entry: ListEntry) -> dict[str, Any]:
    """The audited state of an entry: a person's name masked, the ID already stored masked."""
    person = entry.party_kind == SubjectKind.NATURAL_PERSON.value
    return {
        "entry_key": entry.entry_key,
        "subject_id": entry.subject_id,
        "party_name": mask_name(entry.party_name) if person else entry.party_name,
        "party_code": entry.party_code,
        "party_kind": entry.party_kind,
        "reason": entry.reason,
        "facts": entry.facts,
        "legal_basis": entry.legal_basis,
        "decision_no": entry.decision_no,
        "department_id": entry.department_id,
        "status": entry.status,
        "notice_given_on": entry.notice_given_on,
        "notice_until": entry.notice_until,
        "listed_on": entry.listed_on,
        "term_end": entry.term_end,
        "removed_on": entry.removed_on,
        "removal_reason": entry.removal_reason,
        "revision": entry.revision,
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return ({k: _iso(before.get(k)) for k in keys}, {k: _iso(after[k]) for k in keys})


def _log(
    session: Session,
    *,
    actor: Principal,
    entry: ListEntry,
    lt: ListType,
    action: str,
    reason: str | None,
    before: dict[str, Any] | None,
    audited: bool = True,
) -> None:
    """History event and (unless the caller audits a whole batch) the audit event of one change."""
    after = _snapshot(entry)
    if before is None:
        b, a = None, {k: _iso(v) for k, v in after.items()}
    else:
        b, a = _diff(before, after)
    session.add(ListEntryEvent(entry_id=entry.id, action=action, actor=actor.actor, reason=reason, before=b, after=a))
    if audited:
        audit.record(
            session,
            actor=actor.actor,
            action=f"lists.entry.{action}",
            entity_type=ENTITY,
            entity_id=entry.id,
            reason=reason,
            before=b,
            after={"list_code": lt.code, **(a or {})},
        )
    elif hooks.batch_listeners:  # a batch audited as a whole (lists.importer): the exchange feed, row by row
        hooks.batch_written(
            session,
            entity_type=ENTITY,
            department_id=entry.department_id or 0,
            changes=[{"id": entry.id, "op": action}],
        )


def _watch_payload(entry: ListEntry, lt: ListType) -> dict[str, Any]:
    return {
        "list_type": lt.code,
        "list_name": lt.name,
        "kind": lt.kind,
        "entry_id": entry.id,
        "listed_on": _iso(entry.listed_on),
        "term_end": _iso(entry.term_end),
        "removal_reason": entry.removal_reason,
    }


def _emit(session: Session, entry: ListEntry, lt: ListType, event: str, **extra: Any) -> None:
    if entry.subject_id is None:
        return
    hooks.subject_events().emit_subject_event(
        session, subject_id=entry.subject_id, event=event, payload={**_watch_payload(entry, lt), **extra}
    )


def _announce(session: Session, entry: ListEntry, lt: ListType, was_counting: bool, today: dt.date) -> None:
    """Tell watchers when a person's action made the entry start or stop counting today."""
    now_counting = in_force(entry, today)
    if now_counting and not was_counting:
        entry.expiry_announced_on = None
        _emit(session, entry, lt, "list.entered")
    elif was_counting and not now_counting:
        _emit(session, entry, lt, "list.left")


def _locked_entry(session: Session, entry_id: int) -> tuple[ListEntry, ListType]:
    entry = session.scalar(
        select(ListEntry).where(ListEntry.id == entry_id).with_for_update().execution_options(populate_existing=True)
    )
    if entry is None:
        raise NotFound(f"名单条目 {entry_id} 不存在", code="entry_not_found")
    lt = session.get(ListType, entry.list_type_id)
    assert lt is not None  # foreign key
    return entry, lt


def _entry_to_change(
    session: Session, actor: Principal, entry_id: int, expected_revision: int | None, *, manual: str | None = None
) -> tuple[ListEntry, ListType]:
    """The entry, locked, once the actor may change it at the revision they saw; ``manual``: the change, refused on
    an external list (its entries change only through their sync)."""
    entry, lt = _locked_entry(session, entry_id)
    if manual is not None:
        _check_manual(lt, manual)
    _check_entry_access(session, actor, lt, entry)
    _check_revision(entry, expected_revision)
    return entry, lt


def _check_revision(entry: ListEntry, expected: int | None) -> None:
    if expected is not None and expected != entry.revision:
        raise Conflict(
            f"名单条目 {entry.id} 已被修改（当前版本 {entry.revision}，期望 {expected}），请刷新后重试",
            code="revision_mismatch",
            details={"current": entry.revision, "expected": expected},
        )


def _bump(entry: ListEntry) -> None:
    entry.revision += 1
    entry.updated_at = utcnow()


# New entries -----------------------------------------------------------------------------------------------------


@dataclass
class EntryDraft:
    """A validated new entry, not yet written (the importer validates a whole file before writing any row)."""

    lt: ListType
    subject: Subject
    department: Department | None
    entry_key: str
    values: dict[str, Any]


def draft_entry(
    session: Session,
    *,
    actor: Principal,
    list_code: str,
    subject_code: str,
    reason: str,
    decision_no: str,
    facts: str = "",
    legal_basis: str | None = None,
    stage: str = Stage.LISTED,
    notice_given_on: dt.date | None = None,
    listed_on: dt.date | None = None,
    term_end: dt.date | None = None,
    department: str | None = None,
    party_name: str | None = None,
    today: dt.date | None = None,
    source: str = EntrySource.DEPARTMENT,
    authority: str | None = None,
    authority_uscc: str | None = None,
) -> EntryDraft:
    """Validate a new entry (``stage`` ``notice``: a notice before listing; ``listed``: listed directly).

    ``authority`` / ``authority_uscc``: the 认定机关 when it is not the recording department itself (a subordinate
    unit registered for it); held to the authority rule."""
    today = today or clock.today()
    lt = _type_for_write(session, list_code)
    _check_manual(lt, "新增条目")
    dept = _acting_department(session, actor, lt, department)
    authority_name, authority_code = _authority(session, lt, dept, authority, authority_uscc)
    subject = resolve_subject(session, subject_code)
    if subject.kind not in lt.party_kinds:
        raise ValidationFailed(
            f"「{lt.name}」不适用于{PARTY_KIND_LABELS.get(subject.kind, subject.kind)}",
            code="party_kind_not_allowed",
            details={"party_kind": subject.kind, "allowed": list(lt.party_kinds)},
        )
    reason = _text(reason, name="列入事由", code="reason_required", limit=2000)
    decision = _text(decision_no, name="决定文书号", code="decision_no_required", limit=200)
    key = normalize_doc_no(decision)
    if not key:
        raise ValidationFailed("决定文书号不能为空", code="decision_no_required")
    basis = _text(
        legal_basis, name="认定依据", code="legal_basis_required", required=False, limit=2000
    ) or _default_basis(lt)
    values: dict[str, Any] = {
        "reason": reason,
        "facts": _text(facts, name="失信事实", code="facts_too_long", required=False),
        "legal_basis": basis,
        "decision_no": decision,
        "source": source,
    }
    if stage == Stage.NOTICE:
        if not lt.requires_notice:
            raise ValidationFailed(f"「{lt.name}」列入前不需要告知，请直接列入", code="notice_not_required")
        if listed_on is not None or term_end is not None:
            raise ValidationFailed("告知阶段不能填写列入日期或有效期", code="notice_with_listing")
        given = notice_given_on or today
        _not_future(given, today, name="告知日期", code="notice_in_future")
        values.update(
            status=EntryStatus.NOTIFIED,
            notice_given_on=given,
            notice_until=workdays.add_workdays(given, lt.notice_workdays or 0),
        )
    elif stage == Stage.LISTED:
        listed = listed_on or today
        _not_future(listed, today, name="列入日期", code="listed_on_in_future")
        if lt.requires_notice:
            if notice_given_on is None:
                raise ValidationFailed(
                    f"「{lt.name}」列入前须告知当事人（陈述申辩期 {lt.notice_workdays} 个工作日）：请先告知，"
                    "或填写已在平台外告知的日期",
                    code="notice_required",
                    details={"notice_workdays": lt.notice_workdays},
                )
            earliest = workdays.add_workdays(notice_given_on, lt.notice_workdays or 0)
            if listed < earliest:
                raise ValidationFailed(
                    f"告知日期 {notice_given_on} 起的陈述申辩期（{lt.notice_workdays} 个工作日）未满，"
                    f"最早可于 {earliest} 列入",
                    code="notice_period_running",
                    details={"notice_given_on": notice_given_on.isoformat(), "earliest_listing": earliest.isoformat()},
                )
            values.update(notice_given_on=notice_given_on, notice_until=earliest)
        elif notice_given_on is not None:
            if notice_given_on > listed:
                raise ValidationFailed("告知日期不能晚于列入日期", code="notice_after_listing")
            values["notice_given_on"] = notice_given_on
        values.update(status=EntryStatus.ACTIVE, listed_on=listed, term_end=_term(lt, listed, term_end))
    else:
        raise ValidationFailed(f"未知的阶段 {stage!r}（notice / listed）", code="bad_stage")
    person = subject.kind == SubjectKind.NATURAL_PERSON.value
    values.update(
        subject_id=subject.id,
        party_name=(party_name or "").strip() or subject.name,
        party_code=subject.resident_id_masked if person else (subject.uscc or _masked_code(subject_code)),
        party_kind=subject.kind,
        region_code=subject.region_code,
        authority=authority_name,
        department_id=dept.id if dept else None,
        match_status="code",
    )
    if authority_code is not None:
        values["data"] = {"authority_uscc": authority_code}
    return EntryDraft(lt, subject, dept, key, values)


def find_by_key(session: Session, lt: ListType, decision_no: str) -> ListEntry | None:
    return session.scalar(
        select(ListEntry).where(ListEntry.list_type_id == lt.id, ListEntry.entry_key == normalize_doc_no(decision_no))
    )


def _key_conflict(existing: ListEntry, draft: EntryDraft) -> Conflict:
    if existing.subject_id == draft.subject.id and existing.status in (EntryStatus.NOTIFIED, EntryStatus.ACTIVE):
        return Conflict(
            f"该主体在「{draft.lt.name}」中已有决定文书号为 {existing.decision_no} 的条目（{existing.id}）",
            code="entry_exists",
            details={"entry_id": existing.id},
        )
    return Conflict(
        f"决定文书号 {existing.decision_no} 在「{draft.lt.name}」中已被使用（条目 {existing.id}）",
        code="decision_no_taken",
        details={"entry_id": existing.id},
    )


def write_entry(
    session: Session,
    *,
    actor: Principal,
    draft: EntryDraft,
    reason: str | None = None,
    audited: bool = True,
    today: dt.date | None = None,
) -> ListEntry:
    """Insert a validated draft, with its history event, audit event (unless ``audited`` is false: the caller
    audits the batch) and ``list.entered`` when it counts today."""
    today = today or clock.today()
    existing = session.scalar(
        select(ListEntry).where(ListEntry.list_type_id == draft.lt.id, ListEntry.entry_key == draft.entry_key)
    )
    if existing is not None:
        raise _key_conflict(existing, draft)
    entry = ListEntry(list_type_id=draft.lt.id, entry_key=draft.entry_key, revision=1, **{"data": {}, **draft.values})
    if entry.status == EntryStatus.ACTIVE and entry.term_end is not None and entry.term_end < today:
        entry.expiry_announced_on = today  # recorded after its term: it never counted, nothing to announce
    session.add(entry)
    session.flush()
    action = "notice" if entry.status == EntryStatus.NOTIFIED else "create"
    _log(
        session,
        actor=actor,
        entry=entry,
        lt=draft.lt,
        action=action,
        before=None,
        audited=audited,
        reason=reason or ("告知拟列入" if action == "notice" else "列入名单"),
    )
    _announce(session, entry, draft.lt, False, today)
    return entry


class EntryFields(TypedDict, total=False):
    """What a department gives for a new entry (:func:`create_entry`, :func:`give_notice`; see :func:`draft_entry`)."""

    list_code: Required[str]
    subject_code: Required[str]
    reason: Required[str]
    decision_no: Required[str]
    facts: str
    legal_basis: str | None
    notice_given_on: dt.date | None
    department: str | None
    authority: str | None
    authority_uscc: str | None


def create_entry(
    session: Session,
    *,
    actor: Principal,
    listed_on: dt.date | None = None,
    term_end: dt.date | None = None,
    **fields: Unpack[EntryFields],
) -> ListEntry:
    """List a subject directly. Types requiring notice need ``notice_given_on`` (a notice given outside the
    platform) at least the type's notice period before ``listed_on`` (default today)."""
    draft = draft_entry(session, actor=actor, stage=Stage.LISTED, listed_on=listed_on, term_end=term_end, **fields)
    return write_entry(session, actor=actor, draft=draft)


def give_notice(session: Session, *, actor: Principal, **fields: Unpack[EntryFields]) -> ListEntry:
    """Record that the subject was told of the intended listing (告知): status ``notified``, listing possible
    from ``notice_until`` (``notice_workdays`` working days after the notice)."""
    draft = draft_entry(session, actor=actor, stage=Stage.NOTICE, **fields)
    return write_entry(session, actor=actor, draft=draft)


# Transitions -----------------------------------------------------------------------------------------------------


def list_entry(
    session: Session,
    *,
    actor: Principal,
    entry_id: int,
    listed_on: dt.date | None = None,
    term_end: dt.date | None = None,
    note: str | None = None,
    expected_revision: int | None = None,
    today: dt.date | None = None,
) -> ListEntry:
    """List a notified entry, not before its ``notice_until``."""
    today = today or clock.today()
    entry, lt = _entry_to_change(session, actor, entry_id, expected_revision, manual="列入")
    if entry.status != EntryStatus.NOTIFIED:
        raise Conflict(
            f"名单条目 {entry.id} 不处于「已告知」状态，不能列入",
            code="entry_not_notified",
            details={"status": entry.status},
        )
    listed = listed_on or today
    _not_future(listed, today, name="列入日期", code="listed_on_in_future")
    if entry.notice_until is not None and listed < entry.notice_until:
        raise ValidationFailed(
            f"陈述申辩期未满：告知日期 {entry.notice_given_on}，最早可于 {entry.notice_until} 列入",
            code="notice_period_running",
            details={"notice_until": entry.notice_until.isoformat()},
        )
    before = _snapshot(entry)
    was = in_force(entry, today)
    entry.status, entry.listed_on, entry.term_end = EntryStatus.ACTIVE, listed, _term(lt, listed, term_end)
    if entry.term_end is not None and entry.term_end < today:
        entry.expiry_announced_on = today
    _bump(entry)
    session.flush()
    _log(session, actor=actor, entry=entry, lt=lt, action="list", reason=note or "告知期满，列入名单", before=before)
    _announce(session, entry, lt, was, today)
    return entry


def extend_entry(
    session: Session,
    *,
    actor: Principal,
    entry_id: int,
    term_end: dt.date,
    reason: str,
    expected_revision: int | None = None,
    today: dt.date | None = None,
) -> ListEntry:
    """Move the term end later, within ``max_term_months`` from the listing date."""
    today = today or clock.today()
    entry, lt = _entry_to_change(session, actor, entry_id, expected_revision, manual="延长期限")
    reason = _text(reason, name="延长理由", code="reason_required", limit=2000)
    if entry.status != EntryStatus.ACTIVE or entry.listed_on is None:
        raise Conflict(
            f"名单条目 {entry.id} 未处于列入状态，不能延长", code="entry_not_active", details={"status": entry.status}
        )
    if entry.removed_on is not None:
        raise Conflict(f"名单条目 {entry.id} 已移出，不能延长", code="entry_removed")
    if entry.term_end is None:
        raise ValidationFailed("该条目没有固定期限，无需延长", code="no_fixed_term")
    if term_end <= entry.term_end:
        raise ValidationFailed(f"新的有效期至 {term_end} 须晚于当前的 {entry.term_end}", code="extension_not_later")
    before = _snapshot(entry)
    was = in_force(entry, today)
    entry.term_end = _term(lt, entry.listed_on, term_end)
    if entry.term_end is not None and entry.term_end >= today:
        entry.expiry_announced_on = None
    _bump(entry)
    session.flush()
    _log(session, actor=actor, entry=entry, lt=lt, action="extend", reason=reason, before=before)
    _announce(session, entry, lt, was, today)
    return entry


def remove_entry(
    session: Session,
    *,
    actor: Principal,
    entry_id: int,
    reason: str,
    note: str,
    on: dt.date | None = None,
    expected_revision: int | None = None,
    today: dt.date | None = None,
) -> ListEntry:
    """Remove a listed entry: it stops counting from ``on`` (default today). ``reason`` from
    :data:`MANUAL_REMOVAL_REASONS`; a repair before the type's minimum period (``removal_rules``) is refused."""
    today = today or clock.today()
    if reason not in MANUAL_REMOVAL_REASONS:
        raise ValidationFailed(
            f"未知的移出原因 {reason!r}", code="bad_removal_reason", details={"allowed": list(MANUAL_REMOVAL_REASONS)}
        )
    entry, lt = _entry_to_change(session, actor, entry_id, expected_revision)
    note = _text(note, name="移出说明", code="note_required", limit=2000)
    if entry.status == EntryStatus.NOTIFIED:
        raise Conflict("该条目仅处于告知阶段，请使用「不予列入」撤回告知", code="entry_not_active")
    if entry.status == EntryStatus.REMOVED or entry.removed_on is not None:
        raise Conflict(f"名单条目 {entry.id} 已于 {entry.removed_on} 移出", code="entry_removed")
    assert entry.listed_on is not None
    day = on or today
    _not_future(day, today, name="移出日期", code="removal_in_future")
    if day < entry.listed_on:
        raise ValidationFailed(f"移出日期 {day} 早于列入日期 {entry.listed_on}", code="removal_before_listing")
    for rule in lt.removal_rules:
        if rule.get("reason") == reason and rule.get("min_months"):
            earliest = add_months(entry.listed_on, int(rule["min_months"]))
            if day < earliest:
                raise ValidationFailed(
                    f"按「{lt.name}」的规定，列入满 {rule['min_months']} 个月后方可因"
                    f"{REMOVAL_REASON_LABELS[reason]}移出（最早 {earliest}）",
                    code="removal_too_early",
                    details={"earliest": earliest.isoformat()},
                )
    before = _snapshot(entry)
    was = in_force(entry, today)
    entry.status, entry.removed_on, entry.removal_reason, entry.removal_note = EntryStatus.REMOVED, day, reason, note
    _bump(entry)
    session.flush()
    _log(
        session,
        actor=actor,
        entry=entry,
        lt=lt,
        action="remove",
        reason=f"{REMOVAL_REASON_LABELS[reason]}：{note}",
        before=before,
    )
    _announce(session, entry, lt, was, today)
    return entry


def restore_entry(
    session: Session, *, actor: Principal, entry_id: int, note: str, today: dt.date | None = None
) -> ListEntry:
    """Undo a removal by credit repair that was revoked (false materials, a broken repair commitment): the entry
    counts again from today until its original term end. Only the ``repaired`` removals can be undone this way;
    any other removal is final (a new listing needs a new decision)."""
    today = today or clock.today()
    entry, lt = _locked_entry(session, entry_id)
    _check_entry_access(session, actor, lt, entry)
    note = _text(note, name="恢复说明", code="note_required", limit=2000)
    if entry.status != EntryStatus.REMOVED or entry.removal_reason != RemovalReason.REPAIRED:
        raise Conflict("只有因信用修复移出的条目可以在撤销修复后恢复", code="entry_not_repaired")
    before = _snapshot(entry)
    was = in_force(entry, today)
    entry.status, entry.removed_on, entry.removal_reason, entry.removal_note = EntryStatus.ACTIVE, None, None, None
    _bump(entry)
    session.flush()
    _log(session, actor=actor, entry=entry, lt=lt, action="restore", reason=f"撤销信用修复：{note}", before=before)
    _announce(session, entry, lt, was, today)
    return entry


def withdraw_notice(
    session: Session,
    *,
    actor: Principal,
    entry_id: int,
    note: str,
    expected_revision: int | None = None,
    today: dt.date | None = None,
) -> ListEntry:
    """Decide not to list after a notice (陈述申辩成立 …): removed with reason ``not_listed``."""
    today = today or clock.today()
    entry, lt = _entry_to_change(session, actor, entry_id, expected_revision)
    note = _text(note, name="不予列入的理由", code="note_required", limit=2000)
    if entry.status != EntryStatus.NOTIFIED:
        raise Conflict(
            f"名单条目 {entry.id} 不处于「已告知」状态", code="entry_not_notified", details={"status": entry.status}
        )
    before = _snapshot(entry)
    entry.status, entry.removed_on = EntryStatus.REMOVED, today
    entry.removal_reason, entry.removal_note = RemovalReason.NOT_LISTED, note
    _bump(entry)
    session.flush()
    _log(session, actor=actor, entry=entry, lt=lt, action="withdraw_notice", reason=note, before=before)
    return entry


def correct_entry(
    session: Session,
    *,
    actor: Principal,
    entry_id: int,
    note: str,
    reason: str | None = None,
    facts: str | None = None,
    legal_basis: str | None = None,
    expected_revision: int | None = None,
) -> ListEntry:
    """Fix the wording of an entry (事由, 事实, 依据); dates and status change only through the transitions."""
    entry, lt = _entry_to_change(session, actor, entry_id, expected_revision)
    note = _text(note, name="更正原因", code="note_required", limit=2000)
    changes: dict[str, str] = {}
    if reason is not None:
        changes["reason"] = _text(reason, name="列入事由", code="reason_required", limit=2000)
    if facts is not None:
        changes["facts"] = _text(facts, name="失信事实", code="facts_too_long", required=False)
    if legal_basis is not None:
        changes["legal_basis"] = _text(legal_basis, name="认定依据", code="legal_basis_required", limit=2000)
    changes = {k: v for k, v in changes.items() if getattr(entry, k) != v}
    if not changes:
        raise ValidationFailed("没有需要更正的内容", code="no_changes")
    before = _snapshot(entry)
    for k, v in changes.items():
        setattr(entry, k, v)
    _bump(entry)
    session.flush()
    _log(session, actor=actor, entry=entry, lt=lt, action="correct", reason=note, before=before)
    return entry


# The daily job ---------------------------------------------------------------------------------------------------


@dataclass
class ExpiryReport:
    today: dt.date
    announced: int
    entry_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "announced": self.announced, "entry_ids": self.entry_ids[:1000]}


def announce_expirations(session: Session, *, today: dt.date, actor: Principal) -> ExpiryReport:
    """Emit ``list.left`` once for each entry whose term has ended by ``today`` (idempotent: marks
    ``expiry_announced_on``). Counting never waits for this job; only the notification does."""
    e = ListEntry
    stmt = (
        select(e)
        .where(
            e.status != EntryStatus.NOTIFIED,
            e.listed_on.is_not(None),
            e.term_end.is_not(None),
            e.term_end < today,
            e.expiry_announced_on.is_(None),
            or_(e.removed_on.is_(None), e.removed_on > e.term_end),
        )
        .order_by(e.id)
        .with_for_update()
    )
    types = {t.id: t for t in session.scalars(select(ListType))}
    ids: list[int] = []
    for entry in session.scalars(stmt).all():
        lt = types[entry.list_type_id]
        entry.expiry_announced_on = today
        session.add(
            ListEntryEvent(
                entry_id=entry.id,
                action="expired",
                actor=actor.actor,
                reason=f"有效期至 {entry.term_end} 届满",
                before=None,
                after={"term_end": _iso(entry.term_end), "expiry_announced_on": today.isoformat()},
            )
        )
        _emit(session, entry, lt, "list.left", removal_reason=RemovalReason.TERM_ENDED)
        ids.append(entry.id)
    if ids:
        session.flush()
        audit.record(
            session,
            actor=actor.actor,
            action="lists.entry.expiry_announced",
            entity_type=ENTITY,
            reason=f"{today} 到期条目通知",
            after={"today": today.isoformat(), "count": len(ids), "entry_ids": ids[:1000]},
        )
    return ExpiryReport(today, len(ids), ids)
