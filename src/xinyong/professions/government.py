"""Government integrity (政务诚信, issue #18 part 3): public bodies as credit subjects and what is known of them.

- **Who is a public body.** A legal person whose registry type is 机关 (``government``) or 事业单位
  (``public_institution``), or — when the registry did not say — whose USCC was issued by 机构编制 (first
  character ``1``) in category 1 (机关) or 2 (事业单位) (``identifiers.uscc.CATEGORIES``).
- **Commitments made and kept** (政府守信承诺践诺) are ordinary ``commitments`` of the body; read here, never copied.
- **On the 失信被执行人 list.** When a sync (or a manual entry) puts a public body on a list of :data:`FLAG_LISTS`,
  the credit office is told at once: a :class:`GovernmentFlag` in its queue and an audit event, in the
  transaction of the sync. ``lists`` does not know this package: the wiring registers :func:`on_list_batch` in
  ``core.hooks.batch_listeners`` and :func:`on_audit_event` in ``core.hooks.audit_listeners``.
- **PPP and procurement payment** (拖欠 / 履约): :class:`GovernmentContract`, one row per contract, upserted.
- **Civil servants' integrity files** (公务员诚信档案): :class:`CivilServantEntry`, written by the departments that
  supervise ``civil_servant`` (组织、人社) and read only through the profession file (``professions.file``).
- **Dashboard and assessment.** :func:`dashboard` for the console page 政务诚信, :func:`by_department` for the
  department assessment's figure ``government.rate`` (``analytics.assessment``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.auth.service import authorities_of
from xinyong.commitments.models import Commitment, FulfilmentStatus
from xinyong.core import audit, clock
from xinyong.core.db import IN_CHUNK, lock_keys, utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import uscc as uscc_rules
from xinyong.ingest.values import parse_date
from xinyong.lists.models import ListEntry, ListType
from xinyong.lists.rules import in_force_clause
from xinyong.professions import catalog
from xinyong.professions.models import (
    CIVIL_SERVANT_KINDS,
    CONTRACT_KIND_LABELS,
    CONTRACT_KINDS,
    CONTRACT_STATUS_LABELS,
    CONTRACT_STATUSES,
    FLAG_STATUS_LABELS,
    CivilServantEntry,
    GovernmentContract,
    GovernmentFlag,
)
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

#: The lists on which a public body is flagged to the credit office at once.
FLAG_LISTS = ("court_dishonest_debtor",)
PUBLIC_BODY_TYPES = ("government", "public_institution")
PUBLIC_BODY_PREFIXES = ("11", "12")


def is_public_body(subject: Subject) -> bool:
    if subject.kind != SubjectKind.LEGAL_PERSON.value:
        return False
    if subject.org_type:
        return subject.org_type in PUBLIC_BODY_TYPES
    code = subject.uscc or ""
    return uscc_rules.subject_type_of(code) in PUBLIC_BODY_TYPES if len(code) == 18 else False


def public_body_clause() -> Any:
    """SQL predicate equal to :func:`is_public_body` over ``Subject``."""
    return and_(
        Subject.kind == SubjectKind.LEGAL_PERSON.value,
        or_(
            Subject.org_type.in_(PUBLIC_BODY_TYPES),
            and_(Subject.org_type.is_(None), or_(*[Subject.uscc.like(p + "%") for p in PUBLIC_BODY_PREFIXES])),
        ),
    )


# The credit office's flags -----------------------------------------------------------------------------------------


def flag_entries(session: Session, entry_ids: list[int]) -> list[GovernmentFlag]:
    """Flag the public bodies among these list entries (on :data:`FLAG_LISTS`, active, linked to a subject) that are
    not flagged yet; one audit event each. Called in the transaction that wrote the entries."""
    if not entry_ids:
        return []
    flags: list[GovernmentFlag] = []
    ids = sorted(set(entry_ids))
    for i in range(0, len(ids), IN_CHUNK):
        rows = session.execute(
            select(ListEntry.id, ListEntry.subject_id, ListEntry.reason, ListType.code, ListType.name, Subject.name)
            .join(ListType, ListType.id == ListEntry.list_type_id)
            .join(Subject, Subject.id == ListEntry.subject_id)
            .outerjoin(GovernmentFlag, GovernmentFlag.list_entry_id == ListEntry.id)
            .where(
                ListEntry.id.in_(ids[i : i + IN_CHUNK]),
                ListType.code.in_(FLAG_LISTS),
                ListEntry.status != "removed",
                public_body_clause(),
                GovernmentFlag.id.is_(None),
            )
        ).all()
        for entry_id, subject_id, reason, list_code, list_name, name in rows:
            flag = GovernmentFlag(
                subject_id=subject_id,
                list_entry_id=entry_id,
                list_code=list_code,
                reason=f"{name}被列入{list_name}：{(reason or '')[:500]}",
                status="open",
                raised_at=utcnow(),
            )
            session.add(flag)
            session.flush()
            audit.record(
                session,
                actor="system:government_integrity",
                action="professions.government_flagged",
                entity_type="government_flag",
                entity_id=flag.id,
                reason="政府机构、事业单位被列入失信被执行人名单，提请信用办处理",
                after={"subject_id": subject_id, "list_entry_id": entry_id, "list_code": list_code},
            )
            flags.append(flag)
    return flags


def on_list_batch(session: Session, *, entity_type: str, department_id: int, changes: list[dict[str, Any]]) -> None:
    """``core.hooks.batch_listeners``: a list sync (or a batch-audited list import) changed these entries."""
    if entity_type != "list_entry":
        return
    flag_entries(session, [int(c["id"]) for c in changes if c.get("id") is not None])


def on_audit_event(session: Session, event: Any) -> None:
    """``core.hooks.audit_listeners``: a list entry written one at a time (``lists.entry.<action>``) or linked to a
    subject by a reviewer's judgement (``lists.match_judge``)."""
    if event.entity_type == "list_entry" and str(event.action).startswith("lists.") and event.entity_id:
        try:
            flag_entries(session, [int(event.entity_id)])
        except ValueError:
            return


def list_flags(session: Session, *, actor: Principal, status: str | None = "open", limit: int = 100) -> list[dict]:
    _admin(actor)
    where = [GovernmentFlag.status == status] if status else []
    rows = session.execute(
        select(GovernmentFlag, Subject)
        .join(Subject, Subject.id == GovernmentFlag.subject_id)
        .where(*where)
        .order_by(GovernmentFlag.raised_at.desc(), GovernmentFlag.id.desc())
        .limit(max(1, min(limit, 500)))
    ).all()
    return [flag_view(f, s) for f, s in rows]


def flag_view(f: GovernmentFlag, s: Subject) -> dict[str, Any]:
    return {
        "id": f.id,
        "subject": {"id": s.id, "name": s.name, "uscc": s.uscc, "org_type": s.org_type},
        "list_entry_id": f.list_entry_id,
        "list_code": f.list_code,
        "reason": f.reason,
        "status": f.status,
        "status_label": FLAG_STATUS_LABELS.get(f.status, f.status),
        "raised_at": f.raised_at,
        "handled_by": f.handled_by,
        "handled_at": f.handled_at,
        "note": f.note,
    }


def handle_flag(session: Session, *, actor: Principal, flag_id: int, note: str) -> dict[str, Any]:
    """The credit office records what it did (督促履行、约谈 …); once. Concurrent handlers: the row is locked."""
    _admin(actor)
    note = " ".join((note or "").split())
    if not note:
        raise ValidationFailed("请说明处理情况", code="note_required")
    flag = session.scalar(select(GovernmentFlag).where(GovernmentFlag.id == flag_id).with_for_update())
    if flag is None:
        raise NotFound("未找到该提示", code="flag_not_found")
    if flag.status != "open":
        raise Conflict("该提示已处理", code="flag_already_handled")
    flag.status, flag.handled_by, flag.handled_at, flag.note = "handled", actor.actor, utcnow(), note[:2000]
    audit.record(
        session,
        actor=actor.actor,
        action="professions.government_flag_handled",
        entity_type="government_flag",
        entity_id=flag.id,
        reason=note[:500],
        before={"status": "open"},
        after={"status": "handled"},
    )
    subject = session.get(Subject, flag.subject_id)
    assert subject is not None
    return flag_view(flag, subject)


def _admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("只有信用办（平台管理员）可以处理政务失信提示", code="admin_only")


# Contracts (PPP, procurement) ----------------------------------------------------------------------------------


def _amount(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"{field}不是有效金额", code="amount_invalid") from None
    if amount < 0 or amount > Decimal("100000000"):
        raise ValidationFailed(f"{field}超出范围", code="amount_invalid")
    return amount


def _body(session: Session, code: str) -> Subject:
    body = find_subject(session, (code or "").strip())
    if body is None:
        raise NotFound("未找到该机关或事业单位", code="subject_not_found")
    if not is_public_body(body):
        raise ValidationFailed("该主体不是机关或事业单位", code="not_a_public_body")
    return body


def _reporting_department(session: Session, actor: Principal, body: Subject, department: str | None) -> Department:
    """A department reports the contracts of bodies it reports for (itself and its registered authorities)."""
    if actor.is_admin:
        dept = (
            session.scalar(select(Department).where(Department.code == department))
            if department
            else session.scalar(select(Department).where(Department.uscc == body.uscc))
        )
        if dept is None:
            raise ValidationFailed("请指定报送部门（department）", code="department_required")
        return dept
    if actor.department_id is None:
        raise Forbidden("只有政府部门可以报送", code="role_not_allowed")
    dept = session.get(Department, actor.department_id)
    assert dept is not None
    if department and department != dept.code:
        raise Forbidden("只能以本部门名义报送", code="other_department")
    if (body.uscc or "") not in authorities_of(session, department_id=dept.id).usccs:
        raise Forbidden("只能报送本部门及其登记的下属单位的合同履约情况", code="authority_not_registered")
    return dept


def record_contract(
    session: Session,
    *,
    actor: Principal,
    body_code: str,
    contract_no: str,
    kind: str,
    title: str,
    status: str,
    counterparty_code: str | None = None,
    counterparty_name: str | None = None,
    amount_wan: Any = None,
    overdue_amount_wan: Any = None,
    due_on: Any = None,
    paid_on: Any = None,
    department: str | None = None,
) -> dict[str, Any]:
    """Create or update one contract's payment performance (idempotent by body and contract number)."""
    body = _body(session, body_code)
    dept = _reporting_department(session, actor, body, department)
    contract_no = " ".join((contract_no or "").split())[:100]
    title = " ".join((title or "").split())[:300]
    if not contract_no or not title:
        raise ValidationFailed("合同编号和合同名称不能为空", code="required")
    if kind not in CONTRACT_KINDS:
        raise ValidationFailed(f"合同类型应为 {'、'.join(CONTRACT_KINDS)}", code="kind_invalid")
    if status not in CONTRACT_STATUSES:
        raise ValidationFailed(f"履约状态应为 {'、'.join(CONTRACT_STATUSES)}", code="status_invalid")
    try:
        due, paid = parse_date(due_on), parse_date(paid_on)
    except ValueError:
        raise ValidationFailed("日期无效", code="date_invalid") from None
    counterparty = find_subject(session, counterparty_code.strip()) if counterparty_code else None
    values = {
        "kind": kind,
        "title": title,
        "counterparty_subject_id": counterparty.id if counterparty else None,
        "counterparty_name": (counterparty.name if counterparty else None) or (counterparty_name or None),
        "amount_wan": _amount(amount_wan, "合同金额"),
        "overdue_amount_wan": _amount(overdue_amount_wan, "拖欠金额"),
        "due_on": due,
        "paid_on": paid,
        "status": status,
    }
    lock_keys(session, "government_contract", [f"{body.id}:{contract_no}"])
    row = session.scalar(
        select(GovernmentContract).where(
            GovernmentContract.body_subject_id == body.id, GovernmentContract.contract_no == contract_no
        )
    )
    now = utcnow()
    if row is None:
        row = GovernmentContract(body_subject_id=body.id, contract_no=contract_no, revision=1, created_at=now)
        session.add(row)
        op = "created"
    elif all(getattr(row, k) == v for k, v in values.items()):
        return {"op": "unchanged", **contract_view(row, body)}
    else:
        row.revision += 1
        op = "updated"
    for k, v in values.items():
        setattr(row, k, v)
    row.department_id, row.actor, row.updated_at = dept.id, actor.actor, now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action=f"professions.government_contract_{op}",
        entity_type="government_contract",
        entity_id=row.id,
        after={"body_subject_id": body.id, "contract_no": contract_no, "status": status, "kind": kind},
    )
    return {"op": op, **contract_view(row, body)}


def contract_view(c: GovernmentContract, body: Subject) -> dict[str, Any]:
    return {
        "id": c.id,
        "body": {"id": body.id, "name": body.name, "uscc": body.uscc},
        "contract_no": c.contract_no,
        "kind": c.kind,
        "kind_label": CONTRACT_KIND_LABELS.get(c.kind, c.kind),
        "title": c.title,
        "counterparty": c.counterparty_name,
        "amount_wan": None if c.amount_wan is None else float(c.amount_wan),
        "overdue_amount_wan": None if c.overdue_amount_wan is None else float(c.overdue_amount_wan),
        "due_on": c.due_on,
        "paid_on": c.paid_on,
        "status": c.status,
        "status_label": CONTRACT_STATUS_LABELS.get(c.status, c.status),
        "revision": c.revision,
    }


# Civil servants' integrity files ----------------------------------------------------------------------------------


def add_civil_servant_entry(
    session: Session,
    *,
    actor: Principal,
    person_code: str,
    kind: str,
    result: str,
    recorded_on: dt.date | None = None,
    year: int | None = None,
    detail: str | None = None,
    body_code: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    """One line of a civil servant's integrity file, by the departments that supervise ``civil_servant``."""
    prof = catalog.get("civil_servant")
    dept = _hr_department(session, actor, prof, department)
    person = find_subject(session, (person_code or "").strip())
    if person is None:
        raise NotFound("未找到该人员", code="subject_not_found")
    if person.kind != SubjectKind.NATURAL_PERSON.value:
        raise ValidationFailed("公务员诚信档案只对自然人建立", code="not_a_person")
    if kind not in CIVIL_SERVANT_KINDS:
        raise ValidationFailed(f"档案类别应为 {'、'.join(CIVIL_SERVANT_KINDS)}", code="kind_invalid")
    result = " ".join((result or "").split())[:200]
    if not result:
        raise ValidationFailed("结果不能为空", code="required")
    if year is not None and not 1950 <= year <= 2100:
        raise ValidationFailed("年度无效", code="year_invalid")
    body = _body(session, body_code) if body_code else None
    entry = CivilServantEntry(
        subject_id=person.id,
        body_subject_id=body.id if body else None,
        kind=kind,
        year=year,
        result=result,
        detail=(detail or None) and detail[:5000],
        recorded_on=recorded_on or clock.today(),
        department_id=dept.id,
        actor=actor.actor,
    )
    session.add(entry)
    session.flush()
    # The person's profession is recorded (as the registry's column for key professions) when not yet known.
    if person.profession is None:
        person.profession = "civil_servant"
    audit.record(
        session,
        actor=actor.actor,
        action="professions.civil_servant_entry",
        entity_type="civil_servant_entry",
        entity_id=entry.id,
        after={"subject_id": person.id, "kind": kind, "year": year},  # no name, no ID: the file is not public
    )
    return {"id": entry.id, "subject_id": person.id, "kind": kind, "year": year, "result": result}


def _hr_department(session: Session, actor: Principal, prof: catalog.Profession, department: str | None) -> Department:
    if actor.is_admin:
        code = department or prof.departments[0]
        dept = session.scalar(select(Department).where(Department.code == code))
        if dept is None or dept.code not in prof.departments:
            raise ValidationFailed(f"请指定公务员主管部门（{'、'.join(prof.departments)}）", code="department_required")
        return dept
    dept = session.get(Department, actor.department_id) if actor.department_id else None
    if dept is None or dept.code not in prof.departments:
        raise Forbidden("只有组织人事部门可以登记公务员诚信档案", code="profession_not_supervised")
    return dept


# Dashboard and assessment ---------------------------------------------------------------------------------------


def _body_commitments(session: Session, where: list[Any]) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(Commitment.subject_id, Commitment.fulfilment_status, func.count())
        .join(Subject, Subject.id == Commitment.subject_id)
        .where(public_body_clause(), *where)
        .group_by(Commitment.subject_id, Commitment.fulfilment_status)
    ).all()
    out: dict[int, dict[str, int]] = {}
    for subject_id, status, n in rows:
        out.setdefault(subject_id, {})[status] = n
    return out


def _on_debtor_list(session: Session, today: dt.date) -> dict[int, int]:
    return dict(
        (sid, n)
        for sid, n in session.execute(
            select(ListEntry.subject_id, func.count())
            .join(ListType, ListType.id == ListEntry.list_type_id)
            .join(Subject, Subject.id == ListEntry.subject_id)
            .where(ListType.code.in_(FLAG_LISTS), in_force_clause(ListEntry, today), public_body_clause())
            .group_by(ListEntry.subject_id)
        ).all()
        if sid is not None
    )


def _contracts(session: Session) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for body_id, status, n, overdue in session.execute(
        select(
            GovernmentContract.body_subject_id,
            GovernmentContract.status,
            func.count(),
            func.coalesce(func.sum(GovernmentContract.overdue_amount_wan), 0),
        ).group_by(GovernmentContract.body_subject_id, GovernmentContract.status)
    ).all():
        d = out.setdefault(body_id, {"total": 0, "overdue": 0, "overdue_wan": 0.0})
        d["total"] += n
        if status == "overdue":
            d["overdue"] += n
            d["overdue_wan"] += float(overdue or 0)
    return out


def _rate(kept: int, broken: int, paid: int, overdue: int, listed: bool) -> float | None:
    """政务诚信率: commitments kept and contracts honoured over those decided; 0 while on the 失信被执行人 list."""
    if listed:
        return 0.0
    decided = kept + broken + paid + overdue
    return None if decided == 0 else round((kept + paid) / decided, 4)


def dashboard(session: Session, *, today: dt.date | None = None, limit: int = 50) -> dict[str, Any]:
    """The console's 政务诚信 page: public bodies, their commitments, debtor-list entries, contracts, open flags."""
    today = today or clock.today()
    bodies = session.scalar(select(func.count()).select_from(Subject).where(public_body_clause())) or 0
    commitments = _body_commitments(session, [])
    listed = _on_debtor_list(session, today)
    contracts = _contracts(session)
    open_flags = (
        session.scalar(select(func.count()).select_from(GovernmentFlag).where(GovernmentFlag.status == "open")) or 0
    )
    totals = {s: sum(c.get(s, 0) for c in commitments.values()) for s in FulfilmentStatus}
    ids = set(commitments) | set(listed) | set(contracts)
    names = {}
    for i in range(0, len(sorted(ids)), IN_CHUNK):
        chunk = sorted(ids)[i : i + IN_CHUNK]
        names.update({s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(chunk)))})
    rows = []
    for sid in ids:
        c = commitments.get(sid, {})
        k = contracts.get(sid, {"total": 0, "overdue": 0, "overdue_wan": 0.0})
        kept, broken = (
            c.get(FulfilmentStatus.FULFILLED, 0),
            c.get(FulfilmentStatus.UNFULFILLED, 0) + c.get(FulfilmentStatus.PARTIAL, 0),
        )
        s = names.get(sid)
        rows.append(
            {
                "subject_id": sid,
                "name": s.name if s else "",
                "uscc": s.uscc if s else None,
                "commitments": sum(c.values()),
                "kept": kept,
                "broken": broken,
                "contracts": k["total"],
                "overdue_contracts": k["overdue"],
                "overdue_wan": round(k["overdue_wan"], 4),
                "on_debtor_list": bool(listed.get(sid)),
                "rate": _rate(kept, broken, k["total"] - k["overdue"], k["overdue"], bool(listed.get(sid))),
            }
        )
    rows.sort(key=lambda r: (not r["on_debtor_list"], -r["overdue_contracts"], -r["broken"], r["name"]))
    decided = (
        totals[FulfilmentStatus.FULFILLED] + totals[FulfilmentStatus.UNFULFILLED] + totals[FulfilmentStatus.PARTIAL]
    )
    return {
        "as_of": today,
        "public_bodies": bodies,
        "commitments": {
            "total": sum(totals.values()),
            "kept": totals[FulfilmentStatus.FULFILLED],
            "broken": totals[FulfilmentStatus.UNFULFILLED] + totals[FulfilmentStatus.PARTIAL],
            "pending": totals[FulfilmentStatus.PENDING],
            "kept_rate": None if not decided else round(totals[FulfilmentStatus.FULFILLED] / decided, 4),
        },
        "on_debtor_list": len(listed),
        "contracts": {
            "total": sum(k["total"] for k in contracts.values()),
            "overdue": sum(k["overdue"] for k in contracts.values()),
            "overdue_wan": round(sum(k["overdue_wan"] for k in contracts.values()), 4),
        },
        "open_flags": open_flags,
        "bodies": rows[:limit],
    }


def by_department(session: Session, *, period: Any) -> list[dict[str, Any]]:
    """Per department (its own body, by USCC): the 政务诚信率 over the period — commitments determined and contracts
    due in the period, kept or paid against all decided; 0 while the body is on the 失信被执行人 list at the end of
    the period; ``None`` (no data, no points) when nothing was decided."""
    date_from, date_to = period.date_from, period.date_to
    departments = list(session.scalars(select(Department).where(Department.uscc.is_not(None))))
    by_uscc = {d.uscc: d for d in departments}
    bodies = dict(
        session.execute(
            select(Subject.uscc, Subject.id).where(Subject.uscc.in_(list(by_uscc)), public_body_clause())
        ).all()
    )
    commitments = _body_commitments(
        session, [Commitment.determined_on >= date_from, Commitment.determined_on <= date_to]
    )
    listed = _on_debtor_list(session, date_to)
    contract_rows = session.execute(
        select(GovernmentContract.body_subject_id, GovernmentContract.status, func.count())
        .where(GovernmentContract.due_on >= date_from, GovernmentContract.due_on <= date_to)
        .group_by(GovernmentContract.body_subject_id, GovernmentContract.status)
    ).all()
    contracts: dict[int, dict[str, int]] = {}
    for contract_body, status, n in contract_rows:
        contracts.setdefault(contract_body, {})[status] = n
    out = []
    for uscc, dept in by_uscc.items():
        body_id = bodies.get(uscc)
        c = commitments.get(body_id or 0, {})
        k = contracts.get(body_id or 0, {})
        kept = c.get(FulfilmentStatus.FULFILLED, 0)
        broken = c.get(FulfilmentStatus.UNFULFILLED, 0) + c.get(FulfilmentStatus.PARTIAL, 0)
        paid, overdue = k.get("paid", 0), k.get("overdue", 0)
        on_list = bool(listed.get(body_id or 0))
        out.append(
            {
                "department_id": dept.id,
                "rate": _rate(kept, broken, paid, overdue, on_list),
                "kept": kept,
                "broken": broken,
                "paid": paid,
                "overdue": overdue,
                "on_debtor_list": on_list,
            }
        )
    return out
