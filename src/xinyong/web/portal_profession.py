"""The portal's own profession file (本人职业信用档案, issue #18): a person in a key profession reads their own file
after proving who they are with the one-time code of the personal report (``cases.verification``, purpose
``report``, as ``web.portal_report``). The file is ``professions.file.read_file`` with the proven subject as
``verified_subject_id``: a proof for one person never opens another person's file (that is a refusal, logged in the
other person's access log), and the person's own read is logged too (查询记录 shows it).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, public
from xinyong.auth.roles import Principal, PrincipalKind
from xinyong.core.errors import XinyongError
from xinyong.professions import file as profession_file
from xinyong.reports import service as reports
from xinyong.web.portal import render
from xinyong.web.portal_subject import _send_code
from xinyong.web.security import rate_limit

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])
TEMPLATE = "portal/my_profession_file.html"


@router.get("/my-profession-file", response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    return render(request, TEMPLATE, {"step": 1, "subject": ""})


@router.post("/my-profession-file/code", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def send_code(request: Request, subject: str = Form(""), session: Session = SessionDep) -> HTMLResponse:
    return _send_code(request, session, subject, purpose=reports.PURPOSE, template=TEMPLATE)


@router.post("/my-profession-file", response_class=HTMLResponse, dependencies=[Depends(rate_limit("report"))])
def show(
    request: Request,
    subject: str = Form(""),
    challenge: str = Form(""),
    code: str = Form(""),
    session: Session = SessionDep,
) -> HTMLResponse:
    """Confirm the code (used up even when the file is then refused), then show the proven person's own file."""
    subject = subject.strip()[:40]
    try:
        verified = reports.confirm_person(session, challenge=challenge[:40], code=code[:12])
    except XinyongError as exc:
        return render(request, TEMPLATE, {"step": 1, "subject": subject, "error": exc.message}, exc.status_code)
    me = Principal(kind=PrincipalKind.SUBJECT, name=str(verified))
    try:
        data = profession_file.read_file(session, actor=me, code=subject, purpose=None, verified_subject_id=verified)
    except profession_file.FileRefused as exc:
        profession_file.log_refusal(session, actor=me, exc=exc)
        return render(request, TEMPLATE, {"step": 1, "subject": subject, "error": exc.message}, exc.status_code)
    except XinyongError as exc:
        return render(request, TEMPLATE, {"step": 1, "subject": subject, "error": exc.message}, exc.status_code)
    response = render(request, TEMPLATE, {"step": 3, "subject": "", "file": data})
    response.headers["cache-control"] = "no-store"
    return response
