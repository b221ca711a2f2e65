"""Objections (异议): "this record / list entry is wrong".

Filed by the subject on the public portal (proven by a one-time code sent to its registered contact, see
``cases.verification``) or by a department. The case goes to the department that produced the data; while it is
open the target shows :data:`~xinyong.cases.service.OBJECTION_MARKER` (异议处理中) wherever it is displayed or
returned by a check (``service.open_objection_targets``). Outcomes: upheld (the data is corrected or withdrawn
through the ``records`` / ``lists`` services in the same transaction), partly upheld (a correction is optional),
rejected with reasons. Time limits: ``XINYONG_CASES_OBJECTION_ACCEPT_WORKDAYS`` / ``…_DECIDE_WORKDAYS``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.cases import flows, service
from xinyong.cases.config import get_cases_settings
from xinyong.cases.flows import Action, Outcome
from xinyong.cases.models import Case, CaseKind, FiledVia
from xinyong.cases.targets import Target, resolve
from xinyong.core import clock
from xinyong.core.errors import Forbidden, ValidationFailed
from xinyong.lists import service as lists
from xinyong.lists.models import RemovalReason
from xinyong.records import service as records


class Correction(StrEnum):
    """What an upheld objection does to its target."""

    WITHDRAW = "withdraw"
    CORRECT = "correct"
    NONE = "none"


CORRECTIONS = tuple(Correction)
LIST_FIELDS = ("reason", "facts", "legal_basis")


def file_objection(
    session: Session,
    *,
    actor: Principal,
    target_type: str,
    target_id: int,
    facts: str,
    subject_id: int | None = None,
    applicant_name: str | None = None,
    applicant_channel: str | None = None,
    applicant_address: str | None = None,
    filed_via: str = FiledVia.DEPARTMENT,
    today: dt.date | None = None,
) -> tuple[Case, str]:
    """Object to a record or list entry. ``subject_id`` is the verified subject of a public filing: the target
    must be theirs (``Forbidden(not_subject_target)`` otherwise)."""
    today = today or clock.today()
    target = resolve(session, target_type, target_id, today=today)
    if subject_id is not None and target.subject_id != subject_id:
        raise Forbidden("该信息不属于申请的信用主体，不能提出异议", code="not_subject_target")
    refuse_external(target)
    data = {"info_class": target.info_class, "target": target.describe}
    return service.open_on_target(
        session,
        actor=actor,
        kind=CaseKind.OBJECTION,
        target=target,
        filed_via=filed_via,
        facts=facts,
        data=data,
        applicant=(applicant_name, applicant_channel, applicant_address),
        today=today,
    )


def refuse_external(target: Target) -> None:
    """An external list (the court's, …) is corrected by the authority that decided it, not on this platform."""
    if target.type == "list_entry" and target.describe.get("external"):
        authority = target.describe.get("authority") or "认定机关"
        raise ValidationFailed(f"该名单由{authority}认定，请向认定机关提出异议或纠正申请", code="external_list")


def precheck(session: Session, target: Target) -> None:
    """What :func:`file_objection` would refuse before anyone proves who they are: a target on an external list,
    or one with an objection already being handled (``case_already_open``). The portal asks this before it sends
    a one-time code, so a citizen is never sent a code for a filing that must fail."""
    refuse_external(target)
    service.refuse_open(session, CaseKind.OBJECTION, target.type, target.id)


def deadline_days(session: Session, case: Case, key: str) -> tuple[int, str]:
    s = get_cases_settings()
    return (s.objection_accept_workdays if key == "accept" else s.objection_decide_workdays), "workday"


def before(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    if t.name != Action.DECIDE:
        return
    correction = ctx.params.get("correction") or Correction.NONE
    if correction not in CORRECTIONS:
        raise ValidationFailed(f"更正方式只能是 {' / '.join(CORRECTIONS)}", code="bad_correction")
    if ctx.outcome == Outcome.UPHELD and correction == Correction.NONE:
        raise ValidationFailed(
            "异议成立时须更正或撤回该信息（correction = correct / withdraw）", code="correction_required"
        )
    if ctx.outcome == Outcome.REJECTED and correction != Correction.NONE:
        raise ValidationFailed("异议不成立时不更正信息", code="correction_not_allowed")
    changes = ctx.params.get("changes") or {}
    if correction == Correction.CORRECT:
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("请给出更正的字段和值（changes）", code="changes_required")
        if case.target_type == "list_entry" and set(changes) - set(LIST_FIELDS):
            raise ValidationFailed(f"名单条目可更正的字段：{'、'.join(LIST_FIELDS)}", code="field_not_correctable")
    ctx.params["correction"] = correction


def after(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    if t.name != Action.DECIDE or ctx.params.get("correction") in (None, Correction.NONE):
        return
    note = f"异议 {case.case_no} 核查{flows.OUTCOME_LABELS.get(ctx.outcome or '', '')}：{ctx.reason}"
    target_id = int(case.target_id or 0)
    effect: dict[str, Any]
    if case.target_type == "record":
        if ctx.params["correction"] == Correction.WITHDRAW:
            records.withdraw(session, actor=ctx.actor, record_id=target_id, reason=note)
            effect = {"type": "record_withdrawn"}
        else:
            records.correct_record(
                session, actor=ctx.actor, record_id=target_id, changes=ctx.params["changes"], reason=note
            )
            effect = {"type": "record_corrected", "fields": sorted(ctx.params["changes"])}
    else:
        if ctx.params["correction"] == Correction.WITHDRAW:
            lists.remove_entry(
                session,
                actor=ctx.actor,
                entry_id=target_id,
                reason=RemovalReason.REVOKED,
                note=note,
                on=ctx.today,
                today=ctx.today,
            )
            effect = {"type": "entry_removed"}
        else:
            changes = {k: str(v) for k, v in ctx.params["changes"].items()}  # LIST_FIELDS only (checked before)
            lists.correct_entry(
                session,
                actor=ctx.actor,
                entry_id=target_id,
                note=note,
                reason=changes.get("reason"),
                facts=changes.get("facts"),
                legal_basis=changes.get("legal_basis"),
            )
            effect = {"type": "entry_corrected", "fields": sorted(ctx.params["changes"])}
    case.data = {**(case.data or {}), "effect": effect}
    session.flush()
