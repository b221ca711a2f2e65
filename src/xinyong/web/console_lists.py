"""Console section 名单管理: the department's list entries, a new entry or notice, an entry's actions, match review.

Entries are read through ``lists.queries`` and changed through ``lists.service`` (notice, list, extend, remove,
withdraw a notice: the same rights, authority rule and audit as the API); the review page judges the synced
entries that wait for a subject match (``lists.sync``). Routes are thin pages over the service functions the API
calls, with the role policies and helpers of ``web.console``, which mounts this router.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Revision
from xinyong.core.errors import NotFound, ValidationFailed, XinyongError
from xinyong.lists import queries as lists_queries
from xinyong.lists import service as lists_service
from xinyong.lists import sync
from xinyong.lists import types as lists_types
from xinyong.lists.models import ListEntry
from xinyong.web.console import PAGE, OperatorChange, failed, operator, pager, render, see_other, viewer

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/lists", response_class=HTMLResponse)
def lists_page(
    request: Request,
    list_code: str = Query("", max_length=60),
    status: Literal["", "notified", "active", "expired", "removed"] = "",
    page: int = Query(1, ge=1, le=10_000),
    q: str = Query("", max_length=60),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The department's list entries (the admin: all), newest first, with their effective status today; ``q``
    finds a party by name or code."""
    today = clock.today()
    search = q.strip()
    total: list[int] = []
    try:
        rows = lists_queries.list_entries(
            session,
            list_code=list_code or None,
            status=status or None,
            on=today,
            department_id=None if principal.is_admin else principal.department_id,
            viewer=principal,
            search=search or None,
            limit=PAGE + 1,
            offset=(page - 1) * PAGE,
            total=total,
        )
    except NotFound:
        rows = []
    count = total[0] if total else 0
    types = lists_types.list_types(session, include_inactive=False)
    return render(
        request,
        "console/lists.html",
        principal,
        active="lists",
        entries=[lists_queries.entry_view(r, today) for r in rows[:PAGE]],
        more=len(rows) > PAGE,
        page=page,
        total=count,
        pages=max(1, -(-count // PAGE)),
        q=search,
        list_code=list_code,
        status=status,
        types=types,
        manual_types=[t for t in types if not t.external],
        can_edit=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
    )


@router.post("/lists", response_class=HTMLResponse)
def lists_create(
    request: Request,
    stage: Literal["notice", "listed"] = Form(...),
    list_code: str = Form(..., max_length=60),
    subject_code: str = Form(..., max_length=60),
    reason: str = Form("", max_length=2000),
    decision_no: str = Form("", max_length=200),
    facts: str = Form("", max_length=20000),
    legal_basis: str = Form("", max_length=2000),
    notice_given_on: dt.date | None = Form(None),
    listed_on: dt.date | None = Form(None),
    term_end: dt.date | None = Form(None),
    principal: Principal = Depends(operator),
    session: Session = SessionDep,
) -> Response:
    """Give notice of an intended listing (告知), or list directly where no notice is required or it was given."""
    # The notice and the listing take the same decision; a listing adds its dates.
    record: Callable[..., ListEntry] = (
        lists_service.give_notice
        if stage == "notice"
        else partial(lists_service.create_entry, listed_on=listed_on, term_end=term_end)
    )
    try:
        entry = record(
            session,
            actor=principal,
            list_code=list_code,
            subject_code=subject_code,
            reason=reason,
            decision_no=decision_no,
            facts=facts,
            legal_basis=legal_basis or None,
            notice_given_on=notice_given_on,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/lists")
    return see_other(f"/console/lists/{entry.id}")


@router.get("/lists/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    list_code: str = Query("", max_length=60),
    page: int = Query(1, ge=1, le=10_000),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Entries of external lists that could not be linked to a subject by code: the reviewer's queue."""
    dept_code = None if principal.is_admin else sync.department_code(session, principal)
    if not principal.is_admin and dept_code is None:
        queue: dict[str, Any] = {"total": 0, "items": []}
    else:
        try:
            queue = sync.review_queue(
                session, list_code=list_code or None, limit=PAGE, offset=(page - 1) * PAGE, department_code=dept_code
            )
        except NotFound:
            queue = {"total": 0, "items": []}
    return render(
        request,
        "console/review.html",
        principal,
        active="review",
        queue=queue,
        page=page,
        list_code=list_code,
        more=queue["total"] > page * PAGE,
        **pager(queue["total"]),
        can_judge=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
    )


@router.post("/lists/review/{entry_id}", response_class=HTMLResponse)
def review_judge(
    entry_id: Id,
    subject_id: Annotated[Id, Form()],
    form: OperatorChange,
    verdict: Literal["same", "not_same"] = Form(...),
    reason: str = Form("", max_length=2000),
) -> Response:
    return form.make(
        lambda: sync.judge(
            form.session, actor=form.principal, entry_id=entry_id, subject_id=subject_id, verdict=verdict, reason=reason
        ),
        back="/console/lists/review",
    )


@router.get("/lists/{entry_id}", response_class=HTMLResponse)
def entry_page(
    request: Request, entry_id: Id, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    today = clock.today()
    row = lists_queries.get_entry(session, entry_id, viewer=principal)
    view = lists_queries.mark_objections(
        session, [lists_queries.entry_view(row, today, history=lists_queries.entry_history(session, entry_id))]
    )[0]
    return render(
        request,
        "console/entry.html",
        principal,
        active="lists",
        entry=view,
        external=row.list_type.external,
        removal_reasons=lists_service.MANUAL_REMOVAL_REASONS,
        removal_labels=lists_service.REMOVAL_REASON_LABELS,
        can_edit=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
    )


@router.post("/lists/{entry_id}/{action}", response_class=HTMLResponse)
def entry_action(
    request: Request,
    entry_id: Id,
    action: Literal["list", "extend", "remove", "withdraw"],
    revision: Revision | None = Form(None),
    note: str = Form("", max_length=2000),
    reason: str = Form("", max_length=2000),
    listed_on: dt.date | None = Form(None),
    term_end: dt.date | None = Form(None),
    on: dt.date | None = Form(None),
    principal: Principal = Depends(operator),
    session: Session = SessionDep,
) -> Response:
    """List a notified entry, extend its term, remove it, or decide not to list after the notice."""
    back = f"/console/lists/{entry_id}"
    try:
        if action == "list":
            lists_service.list_entry(
                session,
                actor=principal,
                entry_id=entry_id,
                listed_on=listed_on,
                term_end=term_end,
                note=note or None,
                expected_revision=revision,
            )
        elif action == "extend":
            if term_end is None:
                raise ValidationFailed("请填写新的有效期截止日期", code="term_end_required")
            lists_service.extend_entry(
                session,
                actor=principal,
                entry_id=entry_id,
                term_end=term_end,
                reason=reason,
                expected_revision=revision,
            )
        elif action == "remove":
            lists_service.remove_entry(
                session, actor=principal, entry_id=entry_id, reason=reason, note=note, on=on, expected_revision=revision
            )
        else:
            lists_service.withdraw_notice(
                session, actor=principal, entry_id=entry_id, note=note, expected_revision=revision
            )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)
