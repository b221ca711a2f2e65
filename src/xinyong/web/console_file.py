"""Console page 政府信用档案 (政务共享): a department's operators and viewers, and the admin, read a subject's
government credit file — the page over ``reports.government_file.read_file``, the function behind
``GET /api/v1/subjects/{code}/file`` and ``xinyong reports file``.

The form is a post (CSRF-checked), so a resident ID number never appears in a URL. Rights, purposes and the log
are the API's: the same function decides, every answer about a known subject is a row of its access log, and a
refusal (purpose missing or unknown, ``other`` without a text, a person for a role that may not see persons) is
logged with ``government_file.log_refusal`` and shown as the console shows refusals — the page returns it instead
of raising, so the request's transaction, which holds the log row, commits (as ``reports.file_api`` does).
Business systems and banks use the API: the console refuses them as it refuses them everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core.errors import XinyongError
from xinyong.reports import government_file
from xinyong.subjects.access_log import ReadRefused, log_refusal
from xinyong.web.console import failed, refusal, render, viewer

router = APIRouter(prefix="/console", include_in_schema=False)

BACK = "/console/file"


class FileRequest(TypedDict):
    code: str
    purpose: str | None
    purpose_text: str | None


class FileForm(BaseModel):
    """A file request from the console (the government file, a profession file): code, purpose, its text."""

    code: str = Field("", max_length=40)
    purpose: str = Field("", max_length=40)
    purpose_text: str = Field("", max_length=200)

    def request(self) -> FileRequest:
        """The ``read_file`` arguments."""
        return {"code": self.code.strip(), "purpose": self.purpose or None, "purpose_text": self.purpose_text or None}


def refused(
    request: Request, session: Session, principal: Principal, exc: ReadRefused, *, active: str, back: str
) -> HTMLResponse:
    """Log a refused read in the subject's access log, then show the refusal (the page returns it instead of raising,
    so the request's transaction, which holds the log row, commits)."""
    log_refusal(session, actor=principal, exc=exc)
    return refusal(request, principal, exc, back=back, active=active)


def _form(request: Request, principal: Principal, *, status_code: int = 200, **context: object) -> HTMLResponse:
    return render(
        request,
        "console/file.html",
        principal,
        active="file",
        purposes=government_file.PURPOSES,
        status_code=status_code,
        **context,
    )


@router.get("/file", response_class=HTMLResponse)
def file_form(request: Request, principal: Principal = Depends(viewer)) -> HTMLResponse:
    """The form: subject code, purpose (查询事由) and, for ``other``, its text."""
    return _form(request, principal, file=None, chosen="", purpose_text="")


@router.post("/file", response_class=HTMLResponse)
def file_read(
    request: Request,
    form: Annotated[FileForm, Form()],
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The subject's file below the form, or the refusal (logged in the subject's access log, as the API logs it)."""
    return file_page(
        request, session, principal, form, read=government_file.read_file, show=_form, active="file", back=BACK
    )


def file_page(
    request: Request,
    session: Session,
    principal: Principal,
    form: FileForm,
    *,
    read: Callable[..., dict[str, Any]],
    show: Callable[..., HTMLResponse],
    active: str,
    back: str,
) -> Response:
    """A console file page's answer (the government file, a profession file): ``read`` the file for the form's
    subject and purpose and ``show`` it below the form; a refusal about a known subject is logged and shown
    (:func:`refused`), an unknown subject is a plain refusal (nothing to log)."""
    try:
        data = read(session, actor=principal, **form.request())
    except ReadRefused as exc:
        return refused(request, session, principal, exc, active=active, back=back)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    departments = {d.id: d.name for d in auth_service.list_departments(session, include_inactive=True)}
    return show(
        request,
        principal,
        file=data,
        departments=departments,
        chosen=data["purpose"],
        purpose_text=" ".join(form.purpose_text.split())[:150],
    )
