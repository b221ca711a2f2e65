"""The portal's personal credit report (issue #17 point 4): a natural person obtains his own 公共信用信息报告 after
proving who he is with a one-time code sent to the contact registered on the platform (``cases.verification``,
the proof the objection, 信易贷 and 查询记录 pages use; purpose ``report``).

The report itself is the reports service's (``reports.service.generate_report`` with the proven subject as
``verified_subject_id``): it refuses a person without that proof, and a proof for one person never issues another
person's report (the ID number sent with the code must be the proven one). The PDF is registered and verifiable
like every report, and it is only sent to the browser that proved the code (``Cache-Control: no-store``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, public
from xinyong.auth.roles import ANONYMOUS
from xinyong.core.errors import XinyongError
from xinyong.reports import service as reports
from xinyong.reports.api import pdf_response
from xinyong.web.portal import render
from xinyong.web.portal_subject import _send_code
from xinyong.web.security import rate_limit

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])
TEMPLATE = "portal/my_report.html"


@router.get("/my-report", response_class=HTMLResponse)
def my_report_start(request: Request) -> HTMLResponse:
    return render(request, TEMPLATE, {"step": 1, "subject": ""})


@router.post("/my-report/code", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def my_report_code(request: Request, subject: str = Form(""), session: Session = SessionDep) -> HTMLResponse:
    return _send_code(request, session, subject, purpose=reports.PURPOSE, template=TEMPLATE)


@router.post("/my-report", dependencies=[Depends(rate_limit("report"))])
def my_report_issue(
    request: Request,
    subject: str = Form(""),
    challenge: str = Form(""),
    code: str = Form(""),
    session: Session = SessionDep,
) -> Response:
    """Confirm the code (used up even when the report is then refused), then issue the proven person's report."""
    subject = subject.strip()[:40]
    try:
        verified = reports.confirm_person(session, challenge=challenge[:40], code=code[:12])
        report, pdf_bytes = reports.generate_report(
            session, subject_code=subject, requester=ANONYMOUS, verified_subject_id=verified
        )
    except XinyongError as exc:
        context = {"step": 1, "subject": subject, "error": exc.message}
        return render(request, TEMPLATE, context, status_code=exc.status_code)
    return pdf_response(report, pdf_bytes)
