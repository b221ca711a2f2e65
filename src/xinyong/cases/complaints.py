"""Complaints and reports (举报) about a subject's dishonest behaviour, named or anonymous.

Anyone may report on the public portal; the report goes to the competent department the reporter names, or to
the credit office, which routes it (``route``). The reporter's identity and contact are stored on the case and
shown only to the handling department and the admin (``service.case_view``); an anonymous report stores none and
is followed with the case access token alone. Time limits: ``XINYONG_CASES_COMPLAINT_ACCEPT_WORKDAYS`` /
``…_DECIDE_WORKDAYS``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.cases import flows, service
from xinyong.cases.config import get_cases_settings
from xinyong.cases.flows import Action
from xinyong.cases.models import Case, CaseKind, FiledVia
from xinyong.cases.verification import check_address
from xinyong.core import clock
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.subjects.service import find_subject


def file_complaint(
    session: Session,
    *,
    actor: Principal,
    facts: str,
    subject_code: str | None = None,
    subject_name: str | None = None,
    department: str | int | None = None,
    anonymous: bool = False,
    reporter_name: str | None = None,
    reporter_channel: str | None = None,
    reporter_address: str | None = None,
    filed_via: str = FiledVia.PUBLIC,
    today: dt.date | None = None,
) -> tuple[Case, str]:
    """Report a subject. Named reports need the reporter's name and a contact (sms / email) for the answer."""
    subject = None
    if subject_code:
        subject = find_subject(session, subject_code)
        if subject is None:
            raise NotFound("未找到该代码的信用主体（可只填写名称）", code="subject_not_found")
    name = (subject_name or "").strip()[:200] or None
    if subject is None and not name:
        raise ValidationFailed("请填写被举报主体的代码或名称", code="subject_required")
    if anonymous:
        reporter_name = reporter_channel = reporter_address = None
    else:
        if not (reporter_name or "").strip():
            raise ValidationFailed("实名举报须填写举报人姓名（或选择匿名举报）", code="reporter_name_required")
        if reporter_channel not in ("sms", "email"):
            raise ValidationFailed("实名举报须留下联系方式（sms / email）", code="reporter_contact_required")
        reporter_address = check_address(reporter_channel, reporter_address or "")
    department_id = service.department_id_for(session, department)
    return service.open_case(
        session,
        actor=actor,
        kind=CaseKind.COMPLAINT,
        target_type="subject",
        target_id=subject.id if subject else None,
        subject_id=subject.id if subject else None,
        subject_name=name if subject is None else None,
        department_id=department_id,
        filed_via=filed_via,
        facts=facts,
        data={},
        applicant_name=reporter_name,
        applicant_channel=reporter_channel,
        applicant_address=reporter_address,
        anonymous=anonymous,
        one_open_per_target=False,
        today=today or clock.today(),
    )


def deadline_days(session: Session, case: Case, key: str) -> tuple[int, str]:
    s = get_cases_settings()
    return (s.complaint_accept_workdays if key == "accept" else s.complaint_decide_workdays), "workday"


def before(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    if t.name == Action.ROUTE:
        ref = ctx.params.get("department")
        if not ref:
            raise ValidationFailed("请指定主管部门（department）", code="department_required")
        department_id = service.department_id_for(session, ref)
        if department_id == case.department_id:
            raise ValidationFailed("已由该部门办理", code="same_department")
        ctx.params["_department_id"] = department_id
    if t.name in (Action.ACCEPT, Action.NOT_ACCEPT) and case.department_id is None:
        raise ValidationFailed("举报尚未确定主管部门，请先转交", code="route_first")


def after(session: Session, case: Case, t: flows.Transition, ctx: service.TransitionContext) -> None:
    if t.name == Action.ROUTE:
        case.department_id = ctx.params.pop("_department_id")
        session.flush()
