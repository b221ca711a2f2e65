"""Credit commitments (信用承诺): store versioned commitments, track fulfilment (践诺), answer who may see what.

Writing: :func:`upsert_commitments` takes validated rows (:class:`~xinyong.commitments.validate.CommitmentInput`),
resolves or creates their subjects and creates commitments, appends versions or recognises identical
resubmissions, with one audit event per call. :func:`record_fulfilment` records a determination of the 履行状态;
部分履行 / 全部未履行 is a breach (违诺): the commitment counts as dishonesty information from then on, and the
department may name a list whose entry the lists service then creates under its own rules (notice, permissions).

Reading: :func:`list_commitments`, :func:`get_commitment`, :func:`commitment_history`,
:func:`subject_commitments_view`, :func:`public_commitments`, and for the evaluation :func:`broken_commitments`.

Who sees what: 可向社会公开 commitments are public while the catalog class ``commitment`` says so (its public
attribute, the natural-person attribute, the validity window); 特定范围内公开 ones only to government roles;
不可公开 ones only to the accepting department (and the platform admin). Persons' names and IDs are masked on
public output; the clear ID number is never stored here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.rules import PartyKind, publicity_status
from xinyong.catalog.service import publicity_rule
from xinyong.commitments.models import (
    Commitment,
    CommitmentFulfilment,
    CommitmentVersion,
    FulfilmentStatus,
    PublicType,
)
from xinyong.commitments.validate import (
    BREACH_STATUSES,
    PUBLIC_TYPE_LABELS,
    STATUS_LABELS,
    STATUS_SPELLINGS,
    TYPE_LABELS,
    CommitmentInput,
)
from xinyong.core import audit, clock, hooks
from xinyong.core.batches import Tally
from xinyong.core.db import lock_keys, utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import resident_id, uscc
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.lists import service as lists_service
from xinyong.lists import types as lists_types
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import create_subjects, new_subject_values, resolve_codes, reveal_resident_id

CATALOG_CLASS = "commitment"
ENTITY = "commitment"
#: Roles that may see 特定范围内公开 commitments of other departments (政务共享).
GOVERNMENT_ROLES = frozenset({Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM})
_EMBEDDED_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx])(?![0-9A-Za-z])")
#: Fields of the content whose change is a new version (everything the sender sent).
_TRACKED = (
    "promisor_name",
    "promisor_kind",
    "promisor_code",
    "commitment_type",
    "type_text",
    "reason",
    "content",
    "liability",
    "made_on",
    "valid_until",
    "fulfilment_status",
    "unfulfilled_content",
    "liability_pursued",
    "determined_on",
    "determined_by",
    "determined_by_code",
    "accepting_unit",
    "accepting_unit_code",
    "public_type",
    "remarks",
    "extra",
)


# The credit-repair hook ----------------------------------------------------------------------------------------

#: ``handler(session, *, actor, commitment)``: called in the same transaction when a 信用修复型 commitment becomes
#: broken. The data standard says the penalty it was given for is then republished for the maximum period; the
#: repair cases (``cases``) do it: the start-up wiring (``xinyong.wiring``) registers their handler. Errors raised
#: by a handler abort the change.
RepairBreachHandler = Callable[..., None]
_repair_breach_handlers: list[RepairBreachHandler] = hooks.repair_breach_handlers


def on_repair_commitment_broken(handler: RepairBreachHandler) -> RepairBreachHandler:
    """Register a handler for broken 信用修复型 commitments (usable as a decorator; registering twice is a no-op)."""
    if handler not in _repair_breach_handlers:
        _repair_breach_handlers.append(handler)
    return handler


def _repair_broken(session: Session, actor: Principal, commitment: Commitment) -> None:
    for handler in list(_repair_breach_handlers):
        handler(session, actor=actor, commitment=commitment)


# Results -----------------------------------------------------------------------------------------------------


class RowResult(StrEnum):
    """What became of one submitted row."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass
class RowOutcome:
    row: int
    outcome: RowResult
    commitment_id: int | None = None
    code: str | None = None
    version_no: int | None = None
    broken: bool = False
    error: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class UpsertResult(Tally):
    broken: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)


# Helpers -----------------------------------------------------------------------------------------------------


def _hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _breach_on(status: str, determined_on: dt.date | None, received_at: dt.datetime) -> dt.date | None:
    if status not in BREACH_STATUSES:
        return None
    return determined_on or clock.local_date(received_at)


def _subject_for(row: CommitmentInput, cache: dict[str, Subject]) -> Subject:
    """The promisor's subject (:func:`_resolve_subjects` found or created it for the row's chunk)."""
    return cache[row.promisor_uscc or row.promisor_id_number or ""]


def _resolve_subjects(
    session: Session, rows: list[CommitmentInput], cache: dict[str, Subject], source: str, result: UpsertResult
) -> None:
    """Find the promisors of ``rows`` by code in bulk (``subjects.service.resolve_codes``) and create those
    the registry lacks — all of a chunk's at once, in key order, each unless another upload created it meanwhile
    (``subjects.service.create_subjects``: two uploads naming the same new promisor neither fail nor deadlock)."""
    wanted: dict[str, CommitmentInput] = {}
    for row in rows:
        code = row.promisor_uscc or row.promisor_id_number or ""
        if code not in cache:
            wanted.setdefault(code, row)
    missing: dict[str, CommitmentInput] = {}
    for code, found in resolve_codes(session, wanted).items():
        if found is None:
            missing[code] = wanted[code]
        else:
            cache[code] = found
    if not missing:
        return
    vault, now = get_vault(), utcnow()
    params: list[dict[str, Any]] = []
    for code, row in missing.items():
        name = row.promisor_name.strip()
        if row.promisor_kind is PartyKind.NATURAL_PERSON:
            values = new_subject_values(
                kind=SubjectKind.NATURAL_PERSON.value,
                name=name,
                name_norm=normalize_person_name(name),
                source=source,
                now=now,
                resident_id_hash=vault.lookup_hash(code),
                resident_id_enc=vault.encrypt(code),
                resident_id_masked=mask_resident_id(code),
                region_code=code[:6],
            )
        else:
            values = new_subject_values(
                kind=row.promisor_kind.value,
                name=name,
                name_norm=normalize_org_name(name),
                source=source,
                now=now,
                uscc=code,
                org_type=uscc.subject_type_of(code),
                region_code=code[2:8],
            )
        params.append(values)
    own = create_subjects(session, params, source=source, now=now)
    result.subjects_created += sum(1 for row_id, sid in own.items() if row_id == sid)
    by_id = {subject.id: subject for subject in session.scalars(select(Subject).where(Subject.id.in_(own.values())))}
    for code, values in zip(missing, params, strict=True):
        cache[code] = by_id[own[values["id"]]]


def _warning_dicts(row: CommitmentInput) -> list[dict[str, Any]]:
    return [w.to_dict() for w in row.warnings]


def _fulfilment_event(
    c: Commitment,
    *,
    previous: str,
    actor: str,
    source: str,
    batch_id: int | None = None,
    note: str | None = None,
    list_code: str | None = None,
) -> CommitmentFulfilment:
    return CommitmentFulfilment(
        commitment_id=c.id,
        status=c.fulfilment_status,
        previous_status=previous,
        breach=c.broken_on is not None,
        determined_on=c.determined_on,
        determined_by=c.determined_by,
        determined_by_code=c.determined_by_code,
        unfulfilled_content=c.unfulfilled_content,
        liability_pursued=c.liability_pursued,
        source=source,
        batch_id=batch_id,
        note=note,
        list_code=list_code,
        actor=actor,
        at=utcnow(),
    )


def _set_fulfilment(
    c: Commitment,
    *,
    status: str,
    determined_on: dt.date | None,
    determined_by: str | None,
    determined_by_code: str | None,
    unfulfilled_content: str | None,
    liability_pursued: str | None,
    received_at: dt.datetime,
) -> bool:
    """Apply a determination; True when the commitment became broken by it."""
    was_broken = c.broken_on is not None
    c.fulfilment_status = status
    c.determined_on = determined_on
    c.determined_by = determined_by
    c.determined_by_code = determined_by_code
    c.unfulfilled_content = None if status == FulfilmentStatus.FULFILLED else unfulfilled_content
    c.liability_pursued = None if status == FulfilmentStatus.FULFILLED else liability_pursued
    c.broken_on = _breach_on(status, determined_on, received_at)
    return c.broken_on is not None and not was_broken


# Writing -----------------------------------------------------------------------------------------------------


def upsert_commitments(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    batch_id: int | None,
    received_at: dt.datetime,
    rows: list[CommitmentInput],
) -> UpsertResult:
    """Store validated commitments of one department: create, version or recognise each one.

    A commitment is its 承诺编码. New → ``created`` (version 1); the same content as last received →
    ``unchanged`` (nothing written); other content → ``updated`` (a new version with the fields that changed).
    A row stating a 承诺履行状态 different from the current one records a fulfilment event; an empty one never
    undoes a determination made since (by :func:`record_fulfilment`). A code owned by another department, or
    given twice in ``rows``, is refused for that row. One audit event for the whole call.
    """
    if received_at.tzinfo is None:
        raise ValidationFailed("received_at 必须带时区", code="naive_datetime")
    if not actor.can_see_department(department_id):
        raise Forbidden("只能为本部门报送信用承诺", code="department_mismatch")
    if session.get(Department, department_id) is None:
        raise NotFound(f"部门 {department_id} 不存在", code="department_not_found")
    result = UpsertResult()
    source = f"commitments:batch:{batch_id}" if batch_id is not None else f"commitments:{actor.actor}"
    subjects: dict[str, Subject] = {}
    seen: dict[str, int] = {}
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        # Another upload may hold the same codes: queue on them in one order (PostgreSQL), then read.
        lock_keys(session, "commitment", (r.code for r in chunk))
        _resolve_subjects(session, chunk, subjects, source, result)
        existing = {
            c.code: c for c in session.scalars(select(Commitment).where(Commitment.code.in_({r.code for r in chunk})))
        }
        for row in chunk:
            first = seen.get(row.code)
            if first is not None:
                _reject(result, row, "duplicate_in_file", f"承诺编码 {row.code} 与第 {first} 行重复")
                continue
            seen[row.code] = row.row
            current = existing.get(row.code)
            if current is not None and current.department_id != department_id:
                _reject(
                    result,
                    row,
                    "commitment_of_other_department",
                    f"承诺编码 {row.code} 已由其他部门报送，本部门不能修改",
                )
                continue
            _apply_row(session, actor, department_id, batch_id, received_at, row, current, subjects, source, result)
    result.finish(
        session,
        actor=actor.actor,
        action="commitments.upsert",
        entity_type=ENTITY,
        batch_entity_type="commitment_batch",
        department_id=department_id,
        batch_id=batch_id,
        reason=f"报送信用承诺 {len(rows)} 行",
        change=lambda o: {"id": o.commitment_id, "op": o.outcome, "version_no": o.version_no, "broken": o.broken},
    )
    return result


def _reject(result: UpsertResult, row: CommitmentInput, code: str, message: str) -> None:
    result.rejected += 1
    result.outcomes.append(
        RowOutcome(
            row.row,
            RowResult.REJECTED,
            code=row.code,
            error={"row": row.row, "column": "承诺编码", "value": row.code, "code": code, "message": message},
        )
    )


def _apply_row(
    session: Session,
    actor: Principal,
    department_id: int,
    batch_id: int | None,
    received_at: dt.datetime,
    row: CommitmentInput,
    current: Commitment | None,
    subjects: dict[str, Subject],
    source: str,
    result: UpsertResult,
) -> None:
    content = row.content_dict()
    digest = _hash(content)
    warnings = _warning_dicts(row)
    if current is not None and current.content_hash == digest:
        result.unchanged += 1
        result.outcomes.append(
            RowOutcome(
                row.row,
                RowResult.UNCHANGED,
                current.id,
                row.code,
                current.version_count,
                current.broken,
                warnings=warnings,
            )
        )
        return
    subject = _subject_for(row, subjects)
    norm = (
        normalize_person_name(row.promisor_name)
        if subject.kind == SubjectKind.NATURAL_PERSON.value
        else normalize_org_name(row.promisor_name)
    )
    if norm != subject.name_norm:
        warnings.append(
            {
                "row": row.row,
                "column": "承诺人名称",
                "value": None,
                "code": "name_mismatch",
                "message": "承诺人名称与信用主体库中的名称不一致（未更名，请核实）",
            }
        )
    values = {
        "subject_id": subject.id,
        "promisor_name": row.promisor_name,
        "promisor_kind": row.promisor_kind.value,
        "promisor_code": row.promisor_code_masked,
        "commitment_type": row.commitment_type,
        "reason": row.reason,
        "content": row.content,
        "liability": row.liability,
        "made_on": row.made_on,
        "valid_until": row.valid_until,
        "accepting_unit": row.accepting_unit,
        "accepting_unit_code": row.accepting_unit_code,
        "public_type": row.public_type,
        "remarks": row.remarks,
        "extra": {**row.extra, **({"承诺类型原文": row.type_text} if row.type_text else {})},
        "content_hash": digest,
        "batch_id": batch_id,
        "source_row": row.row,
        "actor": actor.actor,
        "received_at": received_at,
        "updated_at": utcnow(),
    }
    if current is None:
        c = Commitment(
            code=row.code,
            department_id=department_id,
            version_count=1,
            fulfilment_status=FulfilmentStatus.PENDING,
            created_at=utcnow(),
            **values,
        )
        session.add(c)
        session.flush()
        changed = sorted(content)
        previous_status: str = FulfilmentStatus.PENDING
        result.created += 1
        outcome = RowResult.CREATED
    else:
        c = current
        before = (
            session.scalar(
                select(CommitmentVersion.content).where(
                    CommitmentVersion.commitment_id == c.id, CommitmentVersion.version_no == c.version_count
                )
            )
            or {}
        )
        changed = [k for k in _TRACKED if before.get(k) != content.get(k)]
        for key, value in values.items():
            setattr(c, key, value)
        c.version_count += 1
        previous_status = c.fulfilment_status
        result.updated += 1
        outcome = RowResult.UPDATED
    session.add(
        CommitmentVersion(
            commitment_id=c.id,
            version_no=c.version_count,
            content_hash=digest,
            content=content,
            changed_fields=changed,
            warnings=warnings,
            batch_id=batch_id,
            source_row=row.row,
            department_id=department_id,
            actor=actor.actor,
            received_at=received_at,
        )
    )
    became_broken = False
    if row.fulfilment_status != FulfilmentStatus.PENDING and (
        row.fulfilment_status != c.fulfilment_status or row.determined_on != c.determined_on
    ):
        became_broken = _set_fulfilment(
            c,
            status=row.fulfilment_status,
            determined_on=row.determined_on,
            determined_by=row.determined_by,
            determined_by_code=row.determined_by_code,
            unfulfilled_content=row.unfulfilled_content,
            liability_pursued=row.liability_pursued,
            received_at=received_at,
        )
        session.flush()
        session.add(
            _fulfilment_event(c, previous=previous_status, actor=actor.actor, source="import", batch_id=batch_id)
        )
    session.flush()
    if became_broken:
        result.broken += 1
        if c.commitment_type == "credit_repair":
            _repair_broken(session, actor, c)
    result.outcomes.append(RowOutcome(row.row, outcome, c.id, c.code, c.version_count, c.broken, warnings=warnings))


def record_fulfilment(
    session: Session,
    *,
    actor: Principal,
    commitment_id: int,
    status: str,
    determined_on: dt.date | None = None,
    determined_by: str | None = None,
    determined_by_code: str | None = None,
    unfulfilled_content: str | None = None,
    liability_pursued: str | None = None,
    expected_revision: int | None = None,
    note: str | None = None,
    list_code: str | None = None,
    today: dt.date | None = None,
) -> Commitment:
    """Record a determination of the commitment's fulfilment (践诺) by its accepting department.

    ``status``: ``fulfilled`` / ``partial`` / ``unfulfilled`` (or the Chinese labels). Anything but
    ``fulfilled`` needs the unfulfilled content and the liability pursued, and is a breach: ``broken_on`` is the
    determination date. ``expected_revision`` (the revision the caller saw) turns a concurrent change into a
    conflict instead of a lost update. ``list_code`` asks that the breach be entered on that list through the
    lists service (its notice step and permissions apply). A broken 信用修复型 commitment calls the handlers
    registered with :func:`on_repair_commitment_broken`.
    """
    today = today or clock.today()
    c = get_commitment(session, commitment_id, actor=actor, manage=True)
    if expected_revision is not None and expected_revision != c.revision:
        raise Conflict(
            f"该信用承诺已被修改（当前版本 {c.revision}，提交所依据的版本 {expected_revision}），请刷新后重试",
            code="stale_revision",
            details={"revision": c.revision},
        )
    key = STATUS_SPELLINGS.get((status or "").strip())
    if key is None or key == FulfilmentStatus.PENDING:
        raise ValidationFailed(
            f"承诺履行状态「{status}」无效，应为 全部履行 / 部分履行 / 全部未履行",
            code="enum_invalid",
            details={"field": "承诺履行状态"},
        )
    problems: list[dict[str, str]] = []

    def text(value: str | None, label: str, limit: int) -> str | None:
        value = (value or "").strip() or None
        if value is not None and len(value) > limit:
            problems.append({"field": label, "code": "too_long", "message": f"{label}超过{limit}个字符"})
        return value

    unfulfilled_content = text(unfulfilled_content, "未履行的承诺内容", 4000)
    liability_pursued = text(liability_pursued, "违诺责任追究内容", 4000)
    determined_by = text(determined_by, "履行状态认定单位", 200)
    note = text(note, "说明", 2000)
    if key in BREACH_STATUSES:
        if unfulfilled_content is None:
            problems.append(
                {
                    "field": "未履行的承诺内容",
                    "code": "unfulfilled_content_missing",
                    "message": "承诺履行状态不是「全部履行」时须填写未履行的承诺内容",
                }
            )
        if liability_pursued is None:
            problems.append(
                {
                    "field": "违诺责任追究内容",
                    "code": "liability_pursued_missing",
                    "message": "承诺履行状态不是「全部履行」时须填写违诺责任追究内容",
                }
            )
    determined_on = determined_on or today
    if determined_on > today:
        problems.append(
            {"field": "履行状态认定日期", "code": "date_in_future", "message": "履行状态认定日期不能在未来"}
        )
    if determined_on < c.made_on:
        problems.append(
            {
                "field": "履行状态认定日期",
                "code": "date_order",
                "message": f"履行状态认定日期 {determined_on} 早于承诺作出日期 {c.made_on}",
            }
        )
    if determined_by_code:
        check = uscc.validate(determined_by_code)
        if not check.valid:
            problems.append(
                {
                    "field": "履行状态认定单位代码",
                    "code": check.errors[0].code,
                    "message": "履行状态认定单位代码不是有效的统一社会信用代码",
                }
            )
        determined_by_code = check.normalized
    if list_code is not None and key not in BREACH_STATUSES:
        problems.append(
            {
                "field": "list_code",
                "code": "list_without_breach",
                "message": "只有违诺（部分履行、全部未履行）才能申请列入名单",
            }
        )
    if problems:
        raise ValidationFailed(problems[0]["message"], code=problems[0]["code"], details={"problems": problems})
    if (
        key == c.fulfilment_status
        and determined_on == c.determined_on
        and unfulfilled_content == c.unfulfilled_content
        and liability_pursued == c.liability_pursued
        and list_code is None
    ):
        raise Conflict("该履行状态已记录，无需重复记录", code="fulfilment_unchanged")
    before = commitment_snapshot(c)
    previous = c.fulfilment_status
    became_broken = _set_fulfilment(
        c,
        status=key,
        determined_on=determined_on,
        determined_by=determined_by,
        determined_by_code=determined_by_code,
        unfulfilled_content=unfulfilled_content,
        liability_pursued=liability_pursued,
        received_at=utcnow(),
    )
    c.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("该信用承诺刚被其他操作修改，请刷新后重试", code="stale_revision") from None
    event = _fulfilment_event(c, previous=previous, actor=actor.actor, source="manual", note=note, list_code=list_code)
    session.add(event)
    session.flush()
    if became_broken and c.commitment_type == "credit_repair":
        _repair_broken(session, actor, c)
    if list_code is not None:
        entry_id = _request_list_entry(session, actor=actor, commitment=c, list_code=list_code, note=note)
        event.list_entry_id = entry_id
        c.list_entry_id = entry_id
        session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="commitments.fulfil",
        entity_type=ENTITY,
        entity_id=c.id,
        reason=note or f"认定承诺履行状态：{STATUS_LABELS[key]}",
        before=before,
        after={**commitment_snapshot(c), "list_code": list_code},
    )
    return c


def _request_list_entry(
    session: Session, *, actor: Principal, commitment: Commitment, list_code: str, note: str | None
) -> int:
    """Ask the lists service for an entry on ``list_code`` because of this breach: a notice first where the
    list type requires one (``give_notice``; the listing follows in ``lists`` after the 陈述申辩 period), else a
    direct listing (``create_entry``). The lists rules decide who may (managing departments, the admin) and
    refuse duplicates; any refusal aborts the whole fulfilment change."""
    subject = session.get(Subject, commitment.subject_id)
    assert subject is not None  # foreign key
    if subject.kind == SubjectKind.NATURAL_PERSON.value:
        code = reveal_resident_id(
            session, actor=actor, subject=subject, purpose=f"因违背信用承诺 {commitment.code} 申请列入名单 {list_code}"
        )
    else:
        code = subject.uscc or ""
    reason = f"违背信用承诺（承诺编码 {commitment.code}，{TYPE_LABELS[commitment.commitment_type]}）"
    facts = "；".join(
        part
        for part in (
            f"未履行的承诺内容：{commitment.unfulfilled_content}" if commitment.unfulfilled_content else "",
            f"违诺责任追究：{commitment.liability_pursued}" if commitment.liability_pursued else "",
            note or "",
        )
        if part
    )
    lt = lists_types.get_list_type(session, list_code)
    step = lists_service.give_notice if lt.requires_notice else lists_service.create_entry
    entry = step(
        session,
        actor=actor,
        list_code=list_code,
        subject_code=code,
        reason=reason,
        decision_no=commitment.code,
        facts=facts,
    )
    return entry.id


def commitment_snapshot(c: Commitment) -> dict[str, Any]:
    """For audit before/after: no personal numbers (the promisor code is a USCC or masked)."""
    return {
        "code": c.code,
        "subject_id": c.subject_id,
        "fulfilment_status": c.fulfilment_status,
        "determined_on": c.determined_on,
        "broken_on": c.broken_on,
        "public_type": c.public_type,
        "revision": c.revision,
        "version_count": c.version_count,
    }


# Reading -----------------------------------------------------------------------------------------------------


def _may_see(actor: Principal | None, c: Commitment) -> bool:
    if actor is None or actor.is_admin or actor.department_id == c.department_id:
        return True
    return actor.role in GOVERNMENT_ROLES and c.public_type in (PublicType.PUBLIC, PublicType.SCOPED)


def get_commitment(
    session: Session, commitment_id: int, *, actor: Principal | None, manage: bool = False
) -> Commitment:
    """One commitment. With ``actor``: other departments see it only when it is shared (not 不可公开), and only
    the accepting department (or the admin) may change it (``manage``). Hidden ones are "not found"."""
    c = session.get(Commitment, commitment_id)
    if c is None or not _may_see(actor, c):
        raise NotFound(f"信用承诺 {commitment_id} 不存在", code="commitment_not_found")
    if manage and actor is not None and not actor.is_admin and actor.department_id != c.department_id:
        raise Forbidden("只有承诺受理部门可以认定履行状态", code="other_department")
    return c


def get_by_code(session: Session, code: str, *, actor: Principal | None) -> Commitment:
    c = session.scalar(select(Commitment).where(Commitment.code == code.strip()))
    if c is None or not _may_see(actor, c):
        raise NotFound(f"承诺编码 {code[:40]} 不存在", code="commitment_not_found")
    return c


def list_commitments(
    session: Session,
    *,
    actor: Principal | None,
    subject_id: int | None = None,
    department_id: int | None = None,
    commitment_type: str | None = None,
    status: str | None = None,
    broken: bool | None = None,
    public_type: str | None = None,
    made_from: dt.date | None = None,
    made_to: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[Commitment, Subject]]:
    """Commitments by filters, newest first. A department principal sees its own department's only."""
    if commitment_type is not None and commitment_type not in TYPE_LABELS:
        raise ValidationFailed(f"未知的承诺类型 {commitment_type!r}", code="unknown_type")
    if status is not None and status not in STATUS_LABELS:
        raise ValidationFailed(f"未知的履行状态 {status!r}", code="unknown_status")
    if public_type is not None and public_type not in PUBLIC_TYPE_LABELS:
        raise ValidationFailed(f"未知的公开类型 {public_type!r}", code="unknown_public_type")
    stmt = select(Commitment, Subject).join(Subject, Subject.id == Commitment.subject_id)
    if actor is not None and not actor.is_admin:
        if department_id is not None and department_id != actor.department_id:
            raise Forbidden("只能查看本部门受理的信用承诺", code="department_mismatch")
        department_id = actor.department_id
    for column, value in (
        (Commitment.subject_id, subject_id),
        (Commitment.department_id, department_id),
        (Commitment.commitment_type, commitment_type),
        (Commitment.fulfilment_status, status),
        (Commitment.public_type, public_type),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if broken is not None:
        stmt = stmt.where(Commitment.broken_on.is_not(None) if broken else Commitment.broken_on.is_(None))
    if made_from:
        stmt = stmt.where(Commitment.made_on >= made_from)
    if made_to:
        stmt = stmt.where(Commitment.made_on <= made_to)
    stmt = stmt.order_by(Commitment.made_on.desc(), Commitment.id.desc()).limit(limit).offset(offset)
    return [(c, s) for c, s in session.execute(stmt)]


def commitment_history(
    session: Session, commitment_id: int
) -> tuple[list[CommitmentVersion], list[CommitmentFulfilment]]:
    versions = list(
        session.scalars(
            select(CommitmentVersion)
            .where(CommitmentVersion.commitment_id == commitment_id)
            .order_by(CommitmentVersion.version_no)
        )
    )
    events = list(
        session.scalars(
            select(CommitmentFulfilment)
            .where(CommitmentFulfilment.commitment_id == commitment_id)
            .order_by(CommitmentFulfilment.id)
        )
    )
    return versions, events


def broken_commitments(
    session: Session, subject_ids: Iterable[int], since: dt.date | None = None
) -> dict[int, list[Commitment]]:
    """Broken commitments (违诺) of these subjects, determined on or after ``since``: for the evaluation."""
    ids = sorted(set(subject_ids))
    out: dict[int, list[Commitment]] = {}
    for start in range(0, len(ids), 1000):
        stmt = select(Commitment).where(
            Commitment.subject_id.in_(ids[start : start + 1000]), Commitment.broken_on.is_not(None)
        )
        if since is not None:
            stmt = stmt.where(Commitment.broken_on >= since)
        for c in session.scalars(stmt.order_by(Commitment.broken_on, Commitment.id)):
            out.setdefault(c.subject_id, []).append(c)
    return out


def public_status(session: Session, c: Commitment, today: dt.date) -> tuple[bool, str]:
    """Whether the public may see the commitment today, and why (not): 公开类型 first, then the catalog."""
    if c.public_type != PublicType.PUBLIC:
        return False, f"公开类型为「{PUBLIC_TYPE_LABELS[c.public_type]}」，不向社会公开"
    verdict = publicity_status(
        publicity_rule(session, CATALOG_CLASS),
        today=today,
        decision_date=c.made_on,
        party_kind=c.promisor_kind,
        validity_end=c.valid_until,
    )
    return verdict.value, verdict.reason


def public_commitments(
    session: Session, *, today: dt.date, subject_id: int | None = None, limit: int = 20, offset: int = 0
) -> list[dict[str, Any]]:
    """The commitments public today (persons masked), newest first; paging counts only public ones."""
    stmt = (
        select(Commitment, Subject)
        .join(Subject, Subject.id == Commitment.subject_id)
        .where(
            Commitment.public_type == PublicType.PUBLIC,
            Commitment.made_on <= today,
            or_(Commitment.valid_until.is_(None), Commitment.valid_until >= today),
        )
        .order_by(Commitment.made_on.desc(), Commitment.id.desc())
    )
    if subject_id is not None:
        stmt = stmt.where(Commitment.subject_id == subject_id)
    out: list[dict[str, Any]] = []
    skipped = 0
    page, start = 500, 0
    while len(out) < limit:
        batch = session.execute(stmt.limit(page).offset(start)).all()
        for c, s in batch:
            public, reason = public_status(session, c, today)
            if not public:
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(public_commitment_view(c, s, reason=reason))
            if len(out) >= limit:
                break
        if len(batch) < page:
            break
        start += page
    return out


def subject_commitments_view(
    session: Session, subject: Subject, today: dt.date, *, public: bool, viewer: Principal | None = None
) -> list[dict[str, Any]]:
    """A subject's commitments for its page: ``public=True`` → what the public sees today (masked);
    ``public=False`` → the government view (可向社会公开 and 特定范围内公开 of every department, plus 不可公开
    ones of the viewer's own department, or all with no viewer / the admin), each with its fulfilment events."""
    rows = list(
        session.scalars(
            select(Commitment)
            .where(Commitment.subject_id == subject.id)
            .order_by(Commitment.made_on.desc(), Commitment.id.desc())
        )
    )
    if public:
        out = []
        for c in rows:
            ok, reason = public_status(session, c, today)
            if ok:
                out.append(public_commitment_view(c, subject, reason=reason))
        return out
    visible = [c for c in rows if c.public_type != "private" or _may_see(viewer, c)]
    events: dict[int, list[CommitmentFulfilment]] = {}
    if visible:
        for e in session.scalars(
            select(CommitmentFulfilment)
            .where(CommitmentFulfilment.commitment_id.in_([c.id for c in visible]))
            .order_by(CommitmentFulfilment.id)
        ):
            events.setdefault(e.commitment_id, []).append(e)
    out = []
    for c in visible:
        view = commitment_view(c, subject)
        view["public"], view["public_reason"] = public_status(session, c, today)
        view["fulfilments"] = [fulfilment_view(e) for e in events.get(c.id, [])]
        out.append(view)
    return out


# Views -------------------------------------------------------------------------------------------------------


def _mask_text(text: str | None) -> str | None:
    """Resident ID numbers written into free text are masked on every output."""
    if not text or _EMBEDDED_ID.search(text) is None:
        return text
    return _EMBEDDED_ID.sub(
        lambda m: mask_resident_id(m.group(1)) if resident_id.is_valid(m.group(1).upper()) else m.group(1), text
    )


def _content_view(c: Commitment) -> dict[str, Any]:
    """The pledge and its fulfilment, as both views show them (free text scrubbed of ID numbers)."""
    return {
        "commitment_type": c.commitment_type,
        "commitment_type_label": TYPE_LABELS[c.commitment_type],
        "reason": _mask_text(c.reason),
        "content": _mask_text(c.content),
        "liability": _mask_text(c.liability),
        "made_on": c.made_on,
        "valid_until": c.valid_until,
        "fulfilment_status": c.fulfilment_status,
        "fulfilment_status_label": STATUS_LABELS[c.fulfilment_status],
        "unfulfilled_content": _mask_text(c.unfulfilled_content),
        "liability_pursued": _mask_text(c.liability_pursued),
        "determined_on": c.determined_on,
        "determined_by": c.determined_by,
    }


def commitment_view(c: Commitment, s: Subject) -> dict[str, Any]:
    """The government view (the promisor's ID only masked; free text scrubbed of ID numbers)."""
    return {
        "id": c.id,
        "code": c.code,
        "department_id": c.department_id,
        "subject": {"id": s.id, "name": s.name, "kind": s.kind, "uscc": s.uscc, "resident_id": s.resident_id_masked},
        "promisor_name": c.promisor_name,
        "promisor_kind": c.promisor_kind,
        "promisor_code": c.promisor_code,
        **_content_view(c),
        "determined_by_code": c.determined_by_code,
        "accepting_unit": c.accepting_unit,
        "accepting_unit_code": c.accepting_unit_code,
        "public_type": c.public_type,
        "public_type_label": PUBLIC_TYPE_LABELS[c.public_type],
        "remarks": _mask_text(c.remarks),
        "broken": c.broken,
        "broken_on": c.broken_on,
        "list_entry_id": c.list_entry_id,
        "versions": c.version_count,
        "revision": c.revision,
        "batch_id": c.batch_id,
        "source_row": c.source_row,
        "actor": c.actor,
        "received_at": c.received_at,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def public_commitment_view(c: Commitment, s: Subject, *, reason: str = "") -> dict[str, Any]:
    """What the public sees: no provenance, a person's name and ID masked."""
    person = c.promisor_kind == PartyKind.NATURAL_PERSON.value
    return {
        "id": c.id,
        "code": c.code,
        "promisor_name": mask_name(c.promisor_name) if person else c.promisor_name,
        "promisor_kind": c.promisor_kind,
        "promisor_code": (s.resident_id_masked or mask_resident_id(c.promisor_code)) if person else c.promisor_code,
        **_content_view(c),
        "accepting_unit": c.accepting_unit,
        "broken": c.broken,
        "status_reason": reason,
    }


def version_view(v: CommitmentVersion) -> dict[str, Any]:
    return {
        "version_no": v.version_no,
        "content_hash": v.content_hash,
        "content": v.content,
        "changed_fields": v.changed_fields,
        "warnings": v.warnings,
        "batch_id": v.batch_id,
        "source_row": v.source_row,
        "department_id": v.department_id,
        "actor": v.actor,
        "received_at": v.received_at,
    }


def fulfilment_view(e: CommitmentFulfilment) -> dict[str, Any]:
    return {
        "id": e.id,
        "status": e.status,
        "status_label": STATUS_LABELS[e.status],
        "previous_status": e.previous_status,
        "breach": e.breach,
        "determined_on": e.determined_on,
        "determined_by": e.determined_by,
        "determined_by_code": e.determined_by_code,
        "unfulfilled_content": _mask_text(e.unfulfilled_content),
        "liability_pursued": _mask_text(e.liability_pursued),
        "source": e.source,
        "batch_id": e.batch_id,
        "note": e.note,
        "list_code": e.list_code,
        "list_entry_id": e.list_entry_id,
        "actor": e.actor,
        "at": e.at,
    }


def detail_view(session: Session, c: Commitment, today: dt.date) -> dict[str, Any]:
    """One commitment with its versions, fulfilment events and public status of ``today``."""
    subject = session.get(Subject, c.subject_id)
    assert subject is not None  # foreign key
    versions, events = commitment_history(session, c.id)
    view = commitment_view(c, subject)
    view["public"], view["public_reason"] = public_status(session, c, today)
    view["history"] = [version_view(v) for v in versions]
    view["fulfilments"] = [fulfilment_view(e) for e in events]
    return view
