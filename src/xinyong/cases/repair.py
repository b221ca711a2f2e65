"""Credit repair (信用修复, NDRC Order No. 58): early end of a penalty's publicity, removal from a black list or the
abnormal-operations list.

Filing (:func:`file_repair`) checks what the platform can check itself, from the catalog's ``repair`` block of the
target's class (never a hard-coded number): the class is repairable; the record is public / the entry in force;
the minimum window has passed (``catalog.rules.earliest_early_end``, and a list type's own ``min_months`` for
repair removals); the subject is not barred after false materials; no new serious dishonest record or black-list
entry since; obligations declared fulfilled; the credit commitment (信用承诺书) signed where the class requires
one; no other repair of the same target open. Evidence files are required before the handler can accept.

Transitions (``cases.flows.REPAIR``): accept → approve / refuse, revoke after approval. Approval takes effect at
once everywhere, because every output evaluates publicity from the same stored facts: the record's ``ended_on``
is set through ``records.service.end_publicity_early`` (public pages, API, check, reports and evaluation inputs
all read it), a list entry is removed through ``lists.service.remove_entry`` (reason ``repaired``; it announces
``list.left`` to watchers itself), and ``record.repaired`` is queued for watching systems. Revocation for false
materials restores the publicity (to the end of the maximum window) and bars new applications of the subject for
the class's ``reapply_bar_months``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal, system_principal
from xinyong.cases import flows, notify, service
from xinyong.cases.config import get_cases_settings
from xinyong.cases.documents import DocumentKind
from xinyong.cases.flows import Action
from xinyong.cases.models import Case, CaseDocument, CaseKind, CaseState, FiledVia, RecipientKind
from xinyong.cases.targets import Target, resolve
from xinyong.catalog.rules import add_months, earliest_early_end
from xinyong.catalog.service import publicity_rule
from xinyong.core import clock, hooks
from xinyong.core.errors import Conflict, Forbidden, ValidationFailed
from xinyong.lists import service as lists
from xinyong.lists.models import EntryStatus, ListEntry, ListKind, ListType, RemovalReason
from xinyong.records import publicity
from xinyong.records import queries as records_queries
from xinyong.records import service as records
from xinyong.records.models import CreditRecord

COMMITMENT_TEXT = (
    "本主体承诺：已履行行政处罚决定（或列入名单决定）规定的义务，已纠正失信行为并消除不良影响，所提交材料"
    "真实有效；如有虚假或违背承诺，愿意接受撤销修复、按最长期限重新公示并在规定期限内不得再次申请修复。"
)


def earliest_repair(target: Target) -> dt.date:
    """First day a repair may take effect for this target (catalog minimum, and the list type's own minimum)."""
    days = [target.start]
    try:
        found = earliest_early_end(target.rule, decision_date=target.start, severity=target.severity)
    except ValidationFailed:
        found = None
    if found is not None:
        days.append(found)
    if target.removal_min_months:
        days.append(add_months(target.start, target.removal_min_months))
    return max(days)


def new_serious_since(session: Session, target: Target) -> list[dict[str, Any]]:
    """Serious dishonest records and black-list entries of the subject dated after the target (not withdrawn)."""
    if target.subject_id is None:
        return []
    found: list[dict[str, Any]] = []
    for rid, doc, day in session.execute(
        select(CreditRecord.id, CreditRecord.doc_no, CreditRecord.decision_date).where(
            CreditRecord.subject_id == target.subject_id,
            CreditRecord.severity == "serious",
            CreditRecord.decision_date > target.start,
            CreditRecord.withdrawn_at.is_(None),
            CreditRecord.id != (target.id if target.type == "record" else -1),
        )
    ):
        found.append({"type": "record", "id": rid, "doc_no": doc, "date": day.isoformat()})
    for eid, name, listed in session.execute(
        select(ListEntry.id, ListType.name, ListEntry.listed_on)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .where(
            ListEntry.subject_id == target.subject_id,
            ListType.kind == ListKind.BLACK,
            ListEntry.listed_on > target.start,
            ListEntry.status == EntryStatus.ACTIVE,
            ListEntry.id != (target.id if target.type == "list_entry" else -1),
        )
    ):
        assert listed is not None  # listed_on > the target's start
        found.append({"type": "list_entry", "id": eid, "list": name, "date": listed.isoformat()})
    return found


def check_conditions(session: Session, target: Target, *, subject_id: int | None, today: dt.date) -> dict[str, Any]:
    """The platform's checks for a repair of ``target``; raises the first one that fails (nothing is written)."""
    repair = target.rule.repair
    if not repair.repairable or repair.mode is None:
        raise ValidationFailed(
            f"「{target.rule.name_zh}」不适用信用修复", code="not_repairable", details={"info_class": target.info_class}
        )
    if subject_id is not None and target.subject_id != subject_id:
        raise Forbidden("该信息不属于申请的信用主体", code="not_subject_target")
    if not target.live:
        raise ValidationFailed("该信息当前不在公示期（或名单有效期）内，无需修复", code="nothing_to_repair")
    available = earliest_repair(target)
    if today < available:
        raise ValidationFailed(
            f"最短公示期（或列入期限）未满，{available} 起方可申请信用修复",
            code="repair_too_early",
            details={"available_from": available.isoformat()},
        )
    if target.subject_id is not None:
        barred = service.active_bar(session, subject_id=target.subject_id, today=today)
        if barred is not None:
            raise ValidationFailed(
                f"因提供虚假材料或违背承诺，{barred.bar_until} 前不得申请信用修复（{barred.case_no}）",
                code="repair_barred",
                details={"bar_until": barred.bar_until.isoformat() if barred.bar_until else None},
            )
    newer = new_serious_since(session, target)
    if newer:
        raise ValidationFailed(
            "该主体此后又有严重失信记录或被列入严重失信主体名单，不符合修复条件",
            code="new_serious_record",
            details={"found": newer[:20]},
        )
    return {
        "mode": repair.mode,
        "available_from": available.isoformat(),
        "minimum_elapsed": True,
        "no_new_serious_record": True,
        "requires_commitment": repair.requires_commitment,
    }


def file_repair(
    session: Session,
    *,
    actor: Principal,
    target_type: str,
    target_id: int,
    facts: str,
    obligations_fulfilled: bool,
    commitment_signed: bool,
    subject_id: int | None = None,
    applicant_name: str | None = None,
    applicant_channel: str | None = None,
    applicant_address: str | None = None,
    filed_via: str = FiledVia.DEPARTMENT,
    today: dt.date | None = None,
) -> tuple[Case, str]:
    """Apply for credit repair of a record or list entry. ``subject_id`` is the verified subject of a public
    filing (the target must be theirs); a department files at its service window for the target's subject."""
    today = today or clock.today()
    target = resolve(session, target_type, target_id, today=today)
    checks = check_conditions(session, target, subject_id=subject_id, today=today)
    if not obligations_fulfilled:
        raise ValidationFailed("须声明已履行法定义务、纠正失信行为（并上传证明材料）", code="obligations_not_declared")
    if target.rule.repair.requires_commitment and not commitment_signed:
        raise ValidationFailed("该类信息修复须签署信用承诺书", code="commitment_required")
    data = {
        "mode": checks["mode"],
        "info_class": target.info_class,
        "target": target.describe,
        "checks": checks,
        "obligations_fulfilled": True,
        "commitment": (
            {"signed": True, "signed_on": today.isoformat(), "text": COMMITMENT_TEXT}
            if commitment_signed
            else {"signed": False}
        ),
    }
    return service.open_on_target(
        session,
        actor=actor,
        kind=CaseKind.REPAIR,
        target=target,
        filed_via=filed_via,
        facts=facts,
        data=data,
        applicant=(applicant_name, applicant_channel, applicant_address),
        today=today,
    )


# Hooks of the state machine ----------------------------------------------------------------------------------


def deadline_days(session: Session, case: Case, key: str) -> tuple[int, str]:
    rule = publicity_rule(session, case.data["info_class"])
    found = rule.repair.accept if key == "accept" else rule.repair.decide
    if found is not None:
        return found.days, found.unit
    s = get_cases_settings()
    return (s.repair_accept_workdays if key == "accept" else s.repair_decide_workdays), "workday"


def _bar_months(session: Session, case: Case) -> int:
    months = publicity_rule(session, case.data["info_class"]).repair.reapply_bar_months
    return months if months is not None else get_cases_settings().repair_bar_months


def before(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    if t.name == Action.ACCEPT:
        evidence = session.scalar(
            select(CaseDocument.id)
            .where(CaseDocument.case_id == case.id, CaseDocument.kind == DocumentKind.EVIDENCE)
            .limit(1)
        )
        if evidence is None:
            raise ValidationFailed("申请人尚未提交履行义务、纠正失信行为的证明材料，不能受理", code="evidence_required")
    if t.name == Action.APPROVE:
        target = resolve(session, case.target_type, int(case.target_id or 0), today=ctx.today)
        newer = new_serious_since(session, target)
        if newer:
            raise ValidationFailed(
                "该主体此后又有严重失信记录，不能准予修复（请作出不予修复决定）",
                code="new_serious_record",
                details={"found": newer[:20]},
            )
        if not target.live:
            raise Conflict("该信息已不在公示期（或名单有效期）内", code="nothing_to_repair")
    if t.name == Action.REVOKE and case.data.get("effect") is None:
        raise Conflict("该修复尚未生效，无需撤销", code="repair_not_effective")


def after(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    data = dict(case.data or {})
    if t.name == Action.APPROVE:
        data["effect"] = _take_effect(session, case, ctx)
    elif t.name == Action.REVOKE:
        data["revocation"] = _revoke_effect(session, case, ctx)
        case.bar_until = add_months(ctx.today, _bar_months(session, case))
        ctx.params["bar_until"] = case.bar_until.isoformat()
    elif t.name == Action.REFUSE and ctx.params.get("false_materials"):
        case.bar_until = add_months(ctx.today, _bar_months(session, case))
        data["false_materials"] = True
        ctx.params["bar_until"] = case.bar_until.isoformat()
    case.data = data
    session.flush()


def _take_effect(session: Session, case: Case, ctx: service.TransitionContext) -> dict[str, Any]:
    emit_subject_event = hooks.subject_events().emit_subject_event
    reason = f"信用修复 {case.case_no}：{ctx.reason or '准予修复'}"
    if case.target_type == "record":
        record = records.end_publicity_early(
            session, actor=ctx.actor, record_id=int(case.target_id or 0), on=ctx.today, reason=reason
        )
        receivers = emit_subject_event(
            session,
            subject_id=record.subject_id,
            event="record.repaired",
            payload={
                "record_id": record.id,
                "kind": record.kind,
                "doc_no": record.doc_no,
                "authority": record.authority,
                "decision_date": record.decision_date,
                "ended_on": record.ended_on,
                "case_no": case.case_no,
            },
        )
        return {"type": "publicity_ended", "ended_on": ctx.today.isoformat(), "webhook_receivers": receivers}
    # A list kept in the competent department's own system and synced here (经营异常名录) is changed here by the
    # platform on that department's decision: the removal is recorded as the credit office acting for the handler.
    actor = ctx.actor
    if case.data.get("target", {}).get("external") and not actor.is_admin:
        actor = system_principal(f"cases:{case.case_no}:{ctx.actor.actor}")
    entry = lists.remove_entry(
        session,
        actor=actor,
        entry_id=int(case.target_id or 0),
        reason=RemovalReason.REPAIRED,
        note=reason,
        on=ctx.today,
        today=ctx.today,
    )
    return {"type": "list_removed", "removed_on": entry.removed_on.isoformat() if entry.removed_on else None}


def _revoke_effect(session: Session, case: Case, ctx: service.TransitionContext) -> dict[str, Any]:
    emit_subject_event = hooks.subject_events().emit_subject_event
    reason = f"撤销信用修复 {case.case_no}：{ctx.reason}"
    if case.target_type == "record":
        record = records.restore_publicity(session, actor=ctx.actor, record_id=int(case.target_id or 0), reason=reason)
        end = publicity.window_end(records_queries.rules(session)[record.kind], records_queries.facts(record))
        emit_subject_event(
            session,
            subject_id=record.subject_id,
            event="record.repair_revoked",
            payload={
                "record_id": record.id,
                "kind": record.kind,
                "doc_no": record.doc_no,
                "public_until": end,
                "case_no": case.case_no,
                "reason": ctx.reason,
            },
        )
        return {"type": "publicity_restored", "public_until": end.isoformat() if end else None}
    actor = ctx.actor
    if case.data.get("target", {}).get("external") and not actor.is_admin:
        actor = system_principal(f"cases:{case.case_no}:{ctx.actor.actor}")
    entry = lists.restore_entry(session, actor=actor, entry_id=int(case.target_id or 0), note=reason, today=ctx.today)
    notify.queue(
        session,
        channel="log",
        address=service._department_address(session, case.department_id),
        recipient_kind=RecipientKind.DEPARTMENT,
        title="信用修复已撤销，名单条目已恢复",
        body=f"信用修复 {case.case_no} 因{ctx.reason}被撤销：名单条目 {entry.id} 恢复有效，至 "
        f"{entry.term_end or '移出之日'}。",
        case_id=case.id,
    )
    return {
        "type": "list_entry_restored",
        "entry_id": entry.id,
        "term_end": entry.term_end.isoformat() if entry.term_end else None,
    }


# A broken credit-repair commitment ------------------------------------------------------------------------------


def revoke_on_broken_commitment(session: Session, *, actor: Principal, commitment: Any) -> list[Case]:
    """A subject broke its 信用修复型 commitment: every repair of that subject now in effect is revoked, so the
    penalty is public again to the end of its maximum window (信用承诺 data standard: "按最长公示期向社会公示") and
    a new application is barred. Called by ``commitments`` in the transaction that records the breach; the
    platform acts on the rule (audited as such), whoever recorded the breach."""
    code = commitment.code
    platform = system_principal(f"cases:commitment-breach:{actor.actor}")
    approved = list(
        session.scalars(
            select(Case)
            .where(
                Case.kind == CaseKind.REPAIR, Case.state == CaseState.APPROVED, Case.subject_id == commitment.subject_id
            )
            .order_by(Case.id)
        )
    )
    for case in approved:
        service.transition(
            session,
            actor=platform,
            case_id=case.id,
            action=Action.REVOKE,
            reason=f"违背信用修复承诺（承诺编码 {code}）",
        )
    return approved
