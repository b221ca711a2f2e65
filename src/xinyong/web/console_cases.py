"""Console section 异议、修复与投诉: the department's queue of cases, one case with its history, its actions.

Objections, credit repairs and complaints are listed and worked through the workflows of ``cases`` (accept,
verify, decide …), each action a transition of ``cases.service`` with its rights, deadlines and audit. Routes are
thin pages over the service functions the API calls, with the role policies and helpers of ``web.console``,
which mounts this router.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal, Role
from xinyong.cases import flows, notify
from xinyong.cases import service as cases_service
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Revision
from xinyong.core.errors import NotFound, ValidationFailed, XinyongError
from xinyong.core.settings import get_settings
from xinyong.web.console import PAGE, admin, failed, operator, render, see_other, viewer

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    """演示短信/邮件发件箱: the one-time codes for the demo contacts (demo only: ``XINYONG_DEMO``)."""
    if not get_settings().demo:
        raise NotFound("只有演示环境有演示发件箱", code="not_demo")
    return render(
        request,
        "console/outbox.html",
        principal,
        active="outbox",
        messages=notify.demo_outbox(session, limit=PAGE),
        contacts=notify.demo_contacts(session, limit=PAGE),
    )


@router.get("/cases", response_class=HTMLResponse)
def cases_page(
    request: Request,
    kind: Literal["", "objection", "repair", "complaint"] = "",
    scope: Literal["open", "overdue", "all"] = "open",
    page: int = Query(1, ge=1, le=10_000),
    q: str = Query("", max_length=60),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The work queue: open cases by due date, earliest first (overdue ones marked); ``q`` finds a subject by name
    or code, or a case by its number."""
    search = q.strip()
    total: list[int] = []
    found = cases_service.list_cases(
        session,
        actor=principal,
        kind=kind or None,
        open_only=scope == "open",
        overdue=scope == "overdue",
        search=search or None,
        limit=PAGE + 1,
        offset=(page - 1) * PAGE,
        total=total,
    )
    today = clock.today()
    views = [cases_service.case_view(session, c, actor=principal, today=today) for c in found[:PAGE]]
    return render(
        request,
        "console/cases.html",
        principal,
        active="cases",
        cases=views,
        kind=kind,
        scope=scope,
        page=page,
        more=len(found) > PAGE,
        total=total[0],
        pages=max(1, -(-total[0] // PAGE)),
        q=search,
        kinds={k: f.label for k, f in flows.FLOWS.items()},
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: Id, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    case = cases_service.visible_case(session, case_id, actor=principal)
    view = cases_service.case_view(session, case, actor=principal)
    flow = flows.flow_for(case.kind)
    actions = [t for t in flow.available(case.state) if flows.APPLICANT not in t.who or len(t.who) > 1]
    return render(
        request,
        "console/case.html",
        principal,
        active="cases",
        case=view,
        events=cases_service.events_of(session, case.id),
        actions=actions,
        outcome_labels=flows.OUTCOME_LABELS,
        state_labels={name: st.label for name, st in flow.states.items()},
        action_labels={name: t.label for name, t in flow.transitions.items()},
        can_act=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
    )


@router.post("/cases/{case_id}/action", response_class=HTMLResponse)
def case_action(
    request: Request,
    case_id: Id,
    action: str = Form(..., max_length=40),
    reason: str = Form("", max_length=4000),
    outcome: str = Form("", max_length=40),
    version: Revision | None = Form(None),
    correction: str = Form("", max_length=20),
    changes: str = Form("", max_length=4000),
    false_materials: bool = Form(False),
    department: str = Form("", max_length=32),
    principal: Principal = Depends(operator),
    session: Session = SessionDep,
) -> Response:
    """Take a step of the case's workflow (``cases.service.transition``: rights, deadlines, history, audit)."""
    back = f"/console/cases/{case_id}"
    try:
        params: dict[str, Any] = {}
        if correction:
            params["correction"] = correction
        if changes.strip():
            try:
                params["changes"] = json.loads(changes)
            except ValueError:
                raise ValidationFailed('更正内容须为 JSON 对象，如 {"reason": "…"}', code="changes_invalid") from None
        if false_materials:
            params["false_materials"] = True
        if department:
            params["department"] = department
        cases_service.transition(
            session,
            actor=principal,
            case_id=case_id,
            action=action,
            reason=reason or None,
            outcome=outcome or None,
            expected_version=version,
            params=params,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)
