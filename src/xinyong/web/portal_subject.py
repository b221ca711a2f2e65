"""Portal pages where a subject acts for itself after one-time-code verification (``cases.verification``, the
same proof as for objections and repair): 信易贷 authorisations (grant to a bank, see, revoke) and 查询记录 (who
read its non-public data).

After the code, the page carries a short-lived signed pass (``verification.issue_pass``) so that the subject can
page through its log, grant and revoke without a new code for a few minutes; the pass is bound to its purpose.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xinyong.auth.deps import SessionDep, public
from xinyong.cases import verification
from xinyong.core import uploads
from xinyong.core.bounds import parse_id
from xinyong.core.errors import ValidationFailed, XinyongError
from xinyong.financing import service
from xinyong.identifiers.masking import mask_name
from xinyong.subjects import access_log
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.web.portal import render
from xinyong.web.security import rate_limit

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)], route_class=uploads.UploadRoute)
LOG_PAGE_SIZE = 20
LOG_MAX_PAGE = 500


def _send_code(request: Request, session: Session, subject: str, *, purpose: str, template: str) -> HTMLResponse:
    """Step 1 → 2 of a page behind a one-time code: send the code to the subject's registered contact."""
    code = subject.strip()[:40]
    try:
        sent = verification.start(session, subject_code=code, purpose=purpose)
    except XinyongError as exc:
        context = {"step": 1, "subject": code, "error": exc.message}
        return render(request, template, context, status_code=exc.status_code)
    return render(request, template, {"step": 2, "subject": code, "sent": sent})


# 查询记录 -------------------------------------------------------------------------------------------------------


@router.get("/access-log", response_class=HTMLResponse)
def access_log_start(request: Request) -> HTMLResponse:
    return render(request, "portal/access_log.html", {"step": 1, "subject": ""})


@router.post("/access-log/code", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def access_log_code(request: Request, subject: str = Form(""), session: Session = SessionDep) -> HTMLResponse:
    return _send_code(request, session, subject, purpose="access_log", template="portal/access_log.html")


def _log_page(request: Request, session: Session, subject_id: int, pass_: str, page: int) -> HTMLResponse:
    subject = session.get(Subject, subject_id)
    total, rows = access_log.entries(
        session, subject_id=subject_id, limit=LOG_PAGE_SIZE, offset=(page - 1) * LOG_PAGE_SIZE
    )
    pages = max(1, min(LOG_MAX_PAGE, (total + LOG_PAGE_SIZE - 1) // LOG_PAGE_SIZE))
    return render(
        request,
        "portal/access_log.html",
        {
            "step": 3,
            "pass": pass_,
            "page": page,
            "pages": pages,
            "total": total,
            "subject_name": _shown_name(subject),
            "items": access_log.views(session, rows, for_subject=True),
        },
    )


def _shown_name(subject: Any) -> str:
    if subject is None:
        return ""
    return mask_name(subject.name) if subject.kind == SubjectKind.NATURAL_PERSON else subject.name


@router.post("/access-log", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def access_log_show(
    request: Request,
    subject: str = Form(""),
    challenge: str = Form(""),
    code: str = Form(""),
    pass_: str = Form("", alias="pass"),
    page: str = Form("1"),
    session: Session = SessionDep,
) -> HTMLResponse:
    """The subject's own access log: after the code, or with the pass the first page gave."""
    try:
        if pass_:
            subject_id = verification.read_pass(pass_[:100], "access_log")
        else:
            subject_id = verification.confirm(session, challenge=challenge[:40], code=code[:12], purpose="access_log")
            pass_ = verification.issue_pass(subject_id, "access_log")
    except XinyongError as exc:
        step = 1 if pass_ else 2
        return render(
            request,
            "portal/access_log.html",
            {"step": step, "subject": subject[:40], "error": exc.message, "sent": {"challenge": challenge[:40]}},
            status_code=exc.status_code,
        )
    number = min(parse_id(page) or 1, LOG_MAX_PAGE)
    return _log_page(request, session, subject_id, pass_, number)


# 信易贷授权 -----------------------------------------------------------------------------------------------------


@router.get("/financing", response_class=HTMLResponse)
def financing_start(request: Request) -> HTMLResponse:
    return render(request, "portal/financing.html", {"step": 1, "subject": ""})


@router.post("/financing/code", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def financing_code(request: Request, subject: str = Form(""), session: Session = SessionDep) -> HTMLResponse:
    return _send_code(request, session, subject, purpose="financing", template="portal/financing.html")


def _manage(
    request: Request,
    session: Session,
    subject_id: int,
    pass_: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    subject = session.get(Subject, subject_id)
    grants = [
        service.authorisation_view(session, a)
        for a in service.list_authorisations(session, subject_id=subject_id, limit=100)
    ]
    return render(
        request,
        "portal/financing.html",
        {
            "step": 3,
            "pass": pass_,
            "subject_name": _shown_name(subject),
            "authorisations": grants,
            "institutions": [i for i in service.list_institutions(session) if i.active],
            "classes": service.authorisable_classes(session, subject.kind) if subject else [],
            "max_days": service.max_days(),
            "message": message,
            "error": error,
        },
        status_code=status_code,
    )


@router.post("/financing/verify", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def financing_verify(
    request: Request,
    subject: str = Form(""),
    challenge: str = Form(""),
    code: str = Form(""),
    session: Session = SessionDep,
) -> HTMLResponse:
    try:
        subject_id = verification.confirm(session, challenge=challenge[:40], code=code[:12], purpose="financing")
    except XinyongError as exc:
        return render(
            request,
            "portal/financing.html",
            {"step": 2, "subject": subject[:40], "error": exc.message, "sent": {"challenge": challenge[:40]}},
            status_code=exc.status_code,
        )
    return _manage(request, session, subject_id, verification.issue_pass(subject_id, "financing"))


def _passed(request: Request, pass_: str) -> int | HTMLResponse:
    try:
        return verification.read_pass(pass_[:100], "financing")
    except XinyongError as exc:
        return render(
            request,
            "portal/financing.html",
            {"step": 1, "subject": "", "error": exc.message},
            status_code=exc.status_code,
        )


@router.post("/financing/grant", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
async def financing_grant(request: Request, session: Session = SessionDep) -> HTMLResponse:
    form = await request.form()
    pass_ = str(form.get("pass") or "")
    scope = [str(v)[:60] for v in form.getlist("scope")][:30]
    institution = str(form.get("institution") or "")[:32]
    days = parse_id(str(form.get("days") or "")) or 0
    return await run_in_threadpool(_grant, request, session, pass_, institution, scope, days)


def _grant(
    request: Request, session: Session, pass_: str, institution: str, scope: list[str], days: int
) -> HTMLResponse:
    subject_id = _passed(request, pass_)
    if isinstance(subject_id, HTMLResponse):
        return subject_id
    try:
        if not 1 <= days <= service.max_days():
            raise ValidationFailed(f"授权期限应为 1–{service.max_days()} 天", code="bad_period")
        a = service.grant_online(session, subject_id=subject_id, institution=institution, scope=scope, days=days)
    except XinyongError as exc:  # refused before anything was written (the service checks first)
        return _manage(request, session, subject_id, pass_, error=exc.message, status_code=exc.status_code)
    return _manage(
        request,
        session,
        subject_id,
        pass_,
        message=f"已授权 {service.get_institution(session, a.institution_id).name} 查询，编号 {a.id}",
    )


@router.post("/financing/revoke", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def financing_revoke(
    request: Request, pass_: str = Form("", alias="pass"), authorisation: str = Form(""), session: Session = SessionDep
) -> HTMLResponse:
    subject_id = _passed(request, pass_)
    if isinstance(subject_id, HTMLResponse):
        return subject_id
    try:
        a = service.revoke(
            session,
            actor=service._subject_actor(subject_id),
            authorisation_id=parse_id(authorisation) or 0,
            subject_id=subject_id,
        )
    except XinyongError as exc:  # refused before anything was written (the service checks first)
        return _manage(request, session, subject_id, pass_, error=exc.message, status_code=exc.status_code)
    return _manage(request, session, subject_id, pass_, message=f"已撤销授权 {a.id}")
