"""The portal's 举报 form (issue #17 point 3): anyone reports a subject's dishonest behaviour, named or anonymous,
over the complaint service the API uses (``cases.complaints.file_complaint``).

Reporter protection is the service's: the reporter's name and contact are stored on the case and shown only to the
handling department and the admin (``cases.service.case_view``), never on a public page or to the subject; an
anonymous report stores none. The form is a POST with the CSRF token (``web.security.CSRFMiddleware``) and the
public forms' rate limit; the confirmation shows the case number and the access token (once), which follow the
case on ``/progress``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, public
from xinyong.auth.roles import ANONYMOUS
from xinyong.auth.service import list_departments
from xinyong.cases import complaints, service
from xinyong.cases.models import FiledVia
from xinyong.core.errors import XinyongError
from xinyong.web.portal import render
from xinyong.web.security import rate_limit

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])

MAX_FACTS = 4000
CHANNELS = {"sms": "手机短信", "email": "电子邮箱"}


def _departments(session: Session) -> list[dict[str, str]]:
    """The departments to choose from, as plain values (they outlive a rolled-back filing)."""
    return [{"code": d.code, "name": d.name} for d in list_departments(session)]


def _form_page(
    request: Request, departments: list[Any], form: dict[str, Any], *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    context = {"form": form, "departments": departments, "channels": CHANNELS, "error": error}
    return render(request, "portal/complaint.html", context, status_code=status_code)


@router.get("/complaint", response_class=HTMLResponse)
def complaint_form(request: Request, subject: str | None = None, session: Session = SessionDep) -> HTMLResponse:
    form = {"subject": (subject or "").strip()[:40], "anonymous": False, "reporter_channel": "sms"}
    return _form_page(request, _departments(session), form)


@router.post("/complaint", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def complaint_submit(
    request: Request,
    subject: str = Form(""),
    subject_name: str = Form(""),
    department: str = Form(""),
    facts: str = Form(""),
    anonymous: str = Form(""),
    reporter_name: str = Form(""),
    reporter_channel: str = Form(""),
    reporter_address: str = Form(""),
    session: Session = SessionDep,
) -> HTMLResponse:
    form: dict[str, Any] = {
        "subject": subject.strip()[:40],
        "subject_name": subject_name.strip()[:200],
        "department": department.strip()[:32],
        "facts": facts[:MAX_FACTS],
        "anonymous": bool(anonymous),
        "reporter_name": reporter_name.strip()[:100],
        "reporter_channel": reporter_channel if reporter_channel in CHANNELS else "sms",
        "reporter_address": reporter_address.strip()[:200],
    }
    departments = _departments(session)
    problems = [
        m
        for ok, m in (
            (facts.strip(), "请填写举报的事实"),
            (len(facts) <= MAX_FACTS, f"举报事实不超过 {MAX_FACTS} 字"),
            (form["subject"] or form["subject_name"], "请填写被举报主体的代码或名称"),
        )
        if not ok
    ]
    if problems:
        return _form_page(request, departments, form, error="；".join(problems), status_code=422)
    try:
        case, token = complaints.file_complaint(
            session,
            actor=ANONYMOUS,
            facts=facts.strip(),
            subject_code=form["subject"] or None,
            subject_name=form["subject_name"] or None,
            department=form["department"] or None,
            anonymous=form["anonymous"],
            reporter_name=None if form["anonymous"] else form["reporter_name"],
            reporter_channel=None if form["anonymous"] else reporter_channel,
            reporter_address=None if form["anonymous"] else form["reporter_address"],
            filed_via=FiledVia.PUBLIC,
        )
    except XinyongError as exc:
        session.rollback()
        return _form_page(request, departments, form, error=exc.message, status_code=exc.status_code)
    view = service.case_view(session, case, applicant=True)
    return render(request, "portal/complaint_filed.html", {"case": view, "token": token}, status_code=201)
