"""Console pages of issue #18: 职业档案 (a person's profession file, for the departments a profession names and the
admin) and 政务诚信 (the dashboard of public bodies and, for the credit office, its queue of bodies found on the
失信被执行人 list).

The profession file is read by a post (CSRF-checked: a resident ID never in a URL) through
``professions.file.read_file``, the function behind ``GET /api/v1/professions/file/{code}``; a refusal about a
known person is logged in the person's access log and shown, the page returning it so that the request's
transaction, which holds the log row, commits (as ``web.console_file`` does for the government file).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core import clock
from xinyong.core.errors import XinyongError
from xinyong.professions import catalog, government
from xinyong.professions import file as profession_file
from xinyong.web.console import admin, failed, render, see_other, viewer
from xinyong.web.console_file import FileForm, file_page

router = APIRouter(prefix="/console", include_in_schema=False)

BACK = "/console/professions"


def _form(request: Request, principal: Principal, *, status_code: int = 200, **context: object) -> HTMLResponse:
    return render(
        request,
        "console/professions.html",
        principal,
        active="professions",
        purposes=catalog.purposes(),
        professions=list(catalog.professions().values()),
        status_code=status_code,
        **context,
    )


@router.get("/professions", response_class=HTMLResponse)
def professions_form(request: Request, principal: Principal = Depends(viewer)) -> HTMLResponse:
    """The form: resident ID, purpose and, for ``other``, its text; the catalogue of the 14 groups below."""
    return _form(request, principal, file=None, chosen="", purpose_text="")


@router.post("/professions", response_class=HTMLResponse)
def professions_read(
    request: Request,
    form: Annotated[FileForm, Form()],
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The person's profession file below the form, or the refusal (logged, as the API logs it)."""
    return file_page(
        request, session, principal, form, read=profession_file.read_file, show=_form, active="professions", back=BACK
    )


@router.get("/integrity", response_class=HTMLResponse)
def integrity(request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep) -> HTMLResponse:
    """政务诚信: public bodies' commitments, debtor-list entries, contracts; the credit office's queue (admin)."""
    board = government.dashboard(session, today=clock.today())
    flags = government.list_flags(session, actor=principal, status=None) if principal.is_admin else []
    return render(request, "console/integrity.html", principal, active="integrity", board=board, flags=flags)


@router.post("/integrity/flags/{flag_id}", response_class=HTMLResponse)
def integrity_handle(
    request: Request,
    flag_id: int = Path(..., ge=1, le=2**62),
    note: str = Form("", max_length=2000),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    """The credit office records what it did about a flagged body."""
    try:
        government.handle_flag(session, actor=principal, flag_id=flag_id, note=note)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/integrity")
    return see_other("/console/integrity")
