"""The department console (部门工作台): server-rendered Chinese pages under ``/console``.

Departments log in, upload files and read the batch report, correct and resend rejected rows, work their queues
(objections, repairs, complaints, list entries waiting for a match review), manage their list entries, read the
measures catalogue and the dashboards; the admin also manages users and tokens and exports the assessment.

Every page is a thin route over the domains' service functions (the same ones the API and the CLI call), so
rights, validation and audit are exactly those of the API: a department user sees only his department's data
because the services say so, not because a template hides it.

How the session works: the login form calls ``auth.service.login`` and keeps the short-lived login token in an
HttpOnly cookie (``web.security.set_session_cookie``); ``auth.deps`` accepts that cookie for ``/console`` paths
only. Forms carry CSRF tokens (``web.security.CSRFMiddleware``). A browser that is not logged in (or whose
session expired) is sent to the login page; API clients get the usual JSON 401.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from xinyong.analytics import assessment, dashboards
from xinyong.analytics.dashboards import Period
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import ROLE_LABELS, Principal, Role
from xinyong.auth.schemas import TokenDays
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Revision
from xinyong.core.db import utcnow
from xinyong.core.errors import (
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    XinyongError,
)
from xinyong.core.settings import get_settings
from xinyong.web import security

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)

#: Who may use the console at all (the admin always may): business systems and banks use the API.
CONSOLE_ROLES = frozenset({Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER})
viewer = allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)   # read pages
operator = allow(Role.DEPT_OPERATOR)                   # pages that change the department's data
admin = allow()                                         # the platform admin only

#: Rejected rows shown for correction on one page (the rest: download the error report, fix, upload).
EDITABLE_ROWS = 100
PAGE = 50


# Rendering ----------------------------------------------------------------------------------------------------


def _templates() -> Any:
    from xinyong.web.templates import TEMPLATES

    return TEMPLATES


NAV = [
    ("home", "/console", "概览", CONSOLE_ROLES),
    ("upload", "/console/upload", "上传数据", frozenset({Role.ADMIN, Role.DEPT_OPERATOR})),
    ("batches", "/console/batches", "报送批次", CONSOLE_ROLES),
    ("cases", "/console/cases", "案件办理", CONSOLE_ROLES),
    ("lists", "/console/lists", "名单管理", CONSOLE_ROLES),
    ("review", "/console/lists/review", "比对复核", CONSOLE_ROLES),
    ("measures", "/console/measures", "措施清单", CONSOLE_ROLES),
    ("dashboards", "/console/dashboards", "统计分析", CONSOLE_ROLES),
    ("assessment", "/console/assessment", "督查考核", CONSOLE_ROLES),
    ("tokens", "/console/tokens", "接口令牌", frozenset({Role.ADMIN, Role.DEPT_OPERATOR})),
    ("users", "/console/users", "用户管理", frozenset({Role.ADMIN})),
]


def render(request: Request, template: str, principal: Principal, *, active: str = "", status_code: int = 200,
           **context: Any) -> HTMLResponse:
    nav = [(key, url, label) for key, url, label, roles in NAV if principal.role in roles]

    def page_link(number: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"] + [("page", str(number))]
        return f"{request.url.path}?{urlencode(query)}"

    ctx = {"request": request, "me": principal, "role_label": ROLE_LABELS.get(principal.role, "")
           if principal.role else "", "city": get_settings().city_name, "nav": nav, "active": active,
           "today": clock.today(), "page_link": page_link, **context}
    return _templates().TemplateResponse(request, template, ctx, status_code=status_code)


def failed(request: Request, session: Session, principal: Principal, exc: XinyongError, *, back: str) -> HTMLResponse:
    """A refused form: nothing of it is kept (the transaction is rolled back) and the reason is shown."""
    session.rollback()
    return render(request, "console/result.html", principal, ok=False, message=exc.message, code=exc.code,
                  details=exc.details, back=back, status_code=exc.status_code)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _department_filter(session: Session, principal: Principal, department: str | None) -> int | None:
    """The department a page shows: a department user's own; for the admin the one asked for (or all)."""
    if not principal.is_admin:
        return principal.department_id
    if not department:
        return None
    from xinyong.auth import service as auth_service

    return auth_service.get_department(session, ref=department).id


def _all_departments(session: Session, principal: Principal) -> list[Any]:
    from xinyong.auth import service as auth_service

    return auth_service.list_departments(session) if principal.is_admin else []


# Login --------------------------------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Only a console path of this site (never ``//evil.example`` or a scheme)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value \
            and "://" not in value and len(value) < 500 and not value.startswith("/console/login"):
        return value
    return "/console"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, principal: Principal = Depends(public)) -> Response:
    if principal.kind == "user" and principal.role in CONSOLE_ROLES:
        return see_other(_safe_next(next))
    return render(request, "console/login.html", principal, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=500),
                 next: str = Form("/console", max_length=500), principal: Principal = Depends(public),
                 session: Session = SessionDep) -> Response:
    """Check the password (throttled per IP and per username, locked after repeated failures) and start a
    session. Failed attempts are committed: the account lock depends on them."""
    from xinyong.auth import service as auth_service

    security.throttle_login(request, username)
    try:
        token, raw = auth_service.login(session, username=username, password=password)
    except Unauthenticated as exc:
        session.commit()
        return render(request, "console/login.html", principal, next=_safe_next(next), error=exc.message,
                      username=username[:64], status_code=401)
    if token.role not in CONSOLE_ROLES:
        holder = Principal(kind="user", name=username, role=token.role, user_id=token.user_id, token_id=token.id)
        auth_service.revoke_token(session, actor=holder, token_id=token.id, reason="该角色不使用部门工作台")
        session.commit()
        return render(request, "console/login.html", principal, next=_safe_next(next),
                      error="该账户不能登录部门工作台（金融机构和业务系统请使用开放接口）", username=username[:64],
                      status_code=403)
    response = see_other(_safe_next(next))
    security.set_session_cookie(response, request, raw)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """End the session: its login token is revoked at once (a copied cookie is worthless afterwards)."""
    from xinyong.auth import service as auth_service

    if principal.kind == "user" and principal.token_id is not None:
        auth_service.revoke_token(session, actor=principal, token_id=principal.token_id, reason="退出登录")
    response = see_other("/console/login")
    security.clear_session_cookie(response, request)
    return response


# Overview -----------------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    from xinyong.cases.models import Case
    from xinyong.ingest import service as ingest_service
    from xinyong.lists import sync

    today = clock.today()
    cases = select(func.count()).select_from(Case).where(Case.closed_at.is_(None))
    if not principal.is_admin:
        cases = cases.where(Case.department_id == principal.department_id)
    open_cases = session.scalar(cases) or 0
    overdue = session.scalar(cases.where(Case.due_on < today)) or 0
    dept_code = None if principal.is_admin else sync.department_code(session, principal)
    review = sync.review_queue(session, limit=1, department_code=dept_code)["total"] \
        if principal.is_admin or dept_code else 0
    batches = ingest_service.list_batches(session, actor=principal, limit=5)
    department = None
    if principal.department_id is not None:
        from xinyong.auth import service as auth_service

        department = auth_service.get_department(session, ref=principal.department_id)
    return render(request, "console/home.html", principal, active="home", open_cases=open_cases, overdue=overdue,
                  review=review, batches=[ingest_service.batch_summary(b) for b in batches], department=department)


# Collection: upload, batches, corrections ----------------------------------------------------------------------


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    return render(request, "console/upload.html", principal, active="upload",
                  departments=_all_departments(session, principal))


@router.post("/upload", response_class=HTMLResponse)
def upload_submit(request: Request, file: UploadFile = File(...),
                  kind: Literal["", "penalty", "licence"] = Form(""), reject_all: bool = Form(False),
                  department: str = Form("", max_length=32), principal: Principal = Depends(operator),
                  session: Session = SessionDep) -> Response:
    """Run the file through the collection (``ingest.service.ingest_file``) and show its batch report."""
    from xinyong.ingest import service as ingest_service

    try:
        if principal.is_admin:
            if not department:
                raise ValidationFailed("平台管理员代为报送时须选择部门", code="department_required")
            dept_id = _department_filter(session, principal, department)
        else:
            dept_id = principal.department_id
        assert dept_id is not None
        summary = ingest_service.ingest_file(session, actor=principal, department_id=dept_id,
                                             path=uploads.received(file), kind=kind or None, reject_all=reject_all)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/upload")
    query = f"?duplicate={summary['duplicate_of']}" if summary.get("duplicate_of") else ""
    return see_other(f"/console/batches/{summary['batch']}{query}")


@router.get("/batches", response_class=HTMLResponse)
def batches_page(request: Request, page: int = Query(1, ge=1, le=10_000), department: str | None = Query(None, max_length=32),
                 principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    from xinyong.ingest import service as ingest_service

    dept_id = _department_filter(session, principal, department)
    rows = ingest_service.list_batches(session, actor=principal, department_id=dept_id, limit=PAGE + 1,
                                       offset=(page - 1) * PAGE)
    return render(request, "console/batches.html", principal, active="batches",
                  batches=[ingest_service.batch_summary(b) for b in rows[:PAGE]], page=page,
                  more=len(rows) > PAGE, department=department or "", departments=_all_departments(session, principal))


def rejected_rows(session: Session, *, actor: Principal, batch_id: int, limit: int = EDITABLE_ROWS
                  ) -> tuple[Any, list[dict[str, Any]], int]:
    """The batch, its first ``limit`` rejected rows (cells decrypted, with their issues) and how many there are."""
    from xinyong.identifiers.vault import get_vault
    from xinyong.ingest import service as ingest_service
    from xinyong.ingest.models import RejectedRow

    batch = ingest_service.get_batch(session, actor=actor, batch_id=batch_id)
    total = session.scalar(select(func.count()).select_from(RejectedRow).where(RejectedRow.batch_id == batch.id)) or 0
    vault = get_vault()
    width = len(batch.headers or [])
    rows = []
    for row, enc, issues in session.execute(
            select(RejectedRow.row, RejectedRow.values_enc, RejectedRow.issues)
            .where(RejectedRow.batch_id == batch.id).order_by(RejectedRow.row).limit(limit)):
        values = json.loads(vault.decrypt(enc))
        values = [("" if v is None else str(v)) for v in (list(values) + [None] * width)[:width]]
        bad = {i.get("column") for i in issues}
        rows.append({"row": row, "cells": values, "issues": issues, "bad": bad})
    return batch, rows, total


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, batch_id: Id, duplicate: Id | None = None, principal: Principal = Depends(viewer),
               session: Session = SessionDep) -> Response:
    from xinyong.ingest import service as ingest_service

    batch, rows, total = rejected_rows(session, actor=principal, batch_id=batch_id)
    resent_from = None
    return render(request, "console/batch.html", principal, active="batches",
                  summary=ingest_service.batch_summary(batch), headers=list(batch.headers or []), rejected=rows,
                  rejected_total=total, duplicate=duplicate, resent_from=resent_from,
                  can_resend=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR))


@router.get("/batches/{batch_id}/errors.{fmt}")
def batch_errors(batch_id: Id, fmt: Literal["csv", "xlsx"], principal: Principal = Depends(viewer),
                 session: Session = SessionDep) -> Response:
    """The error report (the department's own columns and the reasons), to fix offline and upload again."""
    from xinyong.ingest import service as ingest_service

    content, filename = ingest_service.error_report(session, actor=principal, batch_id=batch_id, fmt=fmt)
    media = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


@router.post("/batches/{batch_id}/resend", response_class=HTMLResponse)
async def batch_resend(request: Request, batch_id: Id, principal: Principal = Depends(operator),
                       session: Session = SessionDep) -> Response:
    """Resend the corrected rejected rows as a new batch (an API push of the same department, same columns).

    Form fields: ``row`` (the row numbers ticked for resending) and ``c_<row>_<column index>`` (the cells)."""
    from xinyong.ingest import service as ingest_service

    form = await request.form()
    back = f"/console/batches/{batch_id}"
    try:
        batch, rows, _total = rejected_rows(session, actor=principal, batch_id=batch_id)
        chosen = {str(v) for v in form.getlist("row")}
        headers = [str(h) if h is not None else "" for h in (batch.headers or [])]
        out = []
        for r in rows:
            if str(r["row"]) not in chosen:
                continue
            record: dict[str, Any] = {}
            for i, header in enumerate(headers):
                if not header:
                    continue
                value = form.get(f"c_{r['row']}_{i}")
                value = (str(value) if value is not None else r["cells"][i]).strip()
                record[header] = value or None
            out.append(record)
        if not out:
            raise ValidationFailed("请勾选要重新报送的行", code="no_rows_selected")
        summary = ingest_service.ingest_rows(session, actor=principal, department_id=batch.department_id,
                                             kind=batch.kind, rows=out)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    query = f"?duplicate={summary['duplicate_of']}" if summary.get("duplicate_of") else ""
    return see_other(f"/console/batches/{summary['batch']}{query}")


# Cases ------------------------------------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, kind: Literal["", "objection", "repair", "complaint"] = "",
               scope: Literal["open", "overdue", "all"] = "open", page: int = Query(1, ge=1, le=10_000),
               principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """The work queue: open cases by due date, earliest first (overdue ones marked)."""
    from xinyong.cases import flows
    from xinyong.cases import service as cases_service

    found = cases_service.list_cases(session, actor=principal, kind=kind or None, open_only=scope == "open",
                                     overdue=scope == "overdue", limit=PAGE + 1, offset=(page - 1) * PAGE)
    today = clock.today()
    views = [cases_service.case_view(session, c, actor=principal, today=today) for c in found[:PAGE]]
    return render(request, "console/cases.html", principal, active="cases", cases=views, kind=kind, scope=scope,
                  page=page, more=len(found) > PAGE, kinds={k: f.label for k, f in flows.FLOWS.items()})


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: Id, principal: Principal = Depends(viewer),
              session: Session = SessionDep) -> Response:
    from xinyong.cases import flows
    from xinyong.cases import service as cases_service

    case = cases_service.visible_case(session, case_id, actor=principal)
    view = cases_service.case_view(session, case, actor=principal)
    flow = flows.flow_for(case.kind)
    actions = [t for t in flow.available(case.state) if flows.APPLICANT not in t.who or len(t.who) > 1]
    return render(request, "console/case.html", principal, active="cases", case=view,
                  events=cases_service.events_of(session, case.id), actions=actions,
                  outcome_labels=flows.OUTCOME_LABELS,
                  can_act=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR))


@router.post("/cases/{case_id}/action", response_class=HTMLResponse)
def case_action(request: Request, case_id: Id, action: str = Form(..., max_length=40),
                reason: str = Form("", max_length=4000), outcome: str = Form("", max_length=40),
                version: Revision | None = Form(None), correction: str = Form("", max_length=20),
                changes: str = Form("", max_length=4000), false_materials: bool = Form(False),
                department: str = Form("", max_length=32), principal: Principal = Depends(operator),
                session: Session = SessionDep) -> Response:
    """Take a step of the case's workflow (``cases.service.transition``: rights, deadlines, history, audit)."""
    from xinyong.cases import service as cases_service

    back = f"/console/cases/{case_id}"
    try:
        params: dict[str, Any] = {}
        if correction:
            params["correction"] = correction
        if changes.strip():
            try:
                params["changes"] = json.loads(changes)
            except ValueError:
                raise ValidationFailed("更正内容须为 JSON 对象，如 {\"reason\": \"…\"}", code="changes_invalid") from None
        if false_materials:
            params["false_materials"] = True
        if department:
            params["department"] = department
        cases_service.transition(session, actor=principal, case_id=case_id, action=action, reason=reason or None,
                                 outcome=outcome or None, expected_version=version, params=params)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)


# Lists ------------------------------------------------------------------------------------------------------------


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request, list_code: str = Query("", max_length=60),
               status: Literal["", "notified", "active", "expired", "removed"] = "",
               page: int = Query(1, ge=1, le=10_000), principal: Principal = Depends(viewer),
               session: Session = SessionDep) -> Response:
    """The department's list entries (the admin: all), newest first, with their effective status today."""
    from xinyong.lists import service as lists_service

    today = clock.today()
    try:
        rows = lists_service.list_entries(session, list_code=list_code or None, status=status or None, on=today,
                                          department_id=None if principal.is_admin else principal.department_id,
                                          viewer=principal, limit=PAGE + 1, offset=(page - 1) * PAGE)
    except NotFound:
        rows = []
    types = lists_service.list_types(session, include_inactive=False)
    return render(request, "console/lists.html", principal, active="lists",
                  entries=[lists_service.entry_view(r, today) for r in rows[:PAGE]], more=len(rows) > PAGE,
                  page=page, list_code=list_code, status=status, types=types,
                  manual_types=[t for t in types if not t.external],
                  can_edit=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR))


@router.post("/lists", response_class=HTMLResponse)
def lists_create(request: Request, stage: Literal["notice", "listed"] = Form(...),
                 list_code: str = Form(..., max_length=60), subject_code: str = Form(..., max_length=60),
                 reason: str = Form("", max_length=2000), decision_no: str = Form("", max_length=200),
                 facts: str = Form("", max_length=20000), legal_basis: str = Form("", max_length=2000),
                 notice_given_on: dt.date | None = Form(None), listed_on: dt.date | None = Form(None),
                 term_end: dt.date | None = Form(None), principal: Principal = Depends(operator),
                 session: Session = SessionDep) -> Response:
    """Give notice of an intended listing (告知), or list directly where no notice is required or it was given."""
    from xinyong.lists import service as lists_service

    try:
        if stage == "notice":
            entry = lists_service.give_notice(session, actor=principal, list_code=list_code,
                                              subject_code=subject_code, reason=reason, decision_no=decision_no,
                                              facts=facts, legal_basis=legal_basis or None,
                                              notice_given_on=notice_given_on)
        else:
            entry = lists_service.create_entry(session, actor=principal, list_code=list_code,
                                               subject_code=subject_code, reason=reason, decision_no=decision_no,
                                               facts=facts, legal_basis=legal_basis or None,
                                               notice_given_on=notice_given_on, listed_on=listed_on,
                                               term_end=term_end)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/lists")
    return see_other(f"/console/lists/{entry.id}")


@router.get("/lists/review", response_class=HTMLResponse)
def review_page(request: Request, list_code: str = Query("", max_length=60), page: int = Query(1, ge=1, le=10_000),
                principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """Entries of external lists that could not be linked to a subject by code: the reviewer's queue."""
    from xinyong.lists import sync

    dept_code = None if principal.is_admin else sync.department_code(session, principal)
    if not principal.is_admin and dept_code is None:
        queue: dict[str, Any] = {"total": 0, "items": []}
    else:
        try:
            queue = sync.review_queue(session, list_code=list_code or None, limit=PAGE, offset=(page - 1) * PAGE,
                                      department_code=dept_code)
        except NotFound:
            queue = {"total": 0, "items": []}
    return render(request, "console/review.html", principal, active="review", queue=queue, page=page,
                  list_code=list_code, more=queue["total"] > page * PAGE,
                  can_judge=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR))


@router.post("/lists/review/{entry_id}", response_class=HTMLResponse)
def review_judge(request: Request, entry_id: Id, subject_id: Annotated[Id, Form()],
                 verdict: Literal["same", "not_same"] = Form(...), reason: str = Form("", max_length=2000),
                 principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    from xinyong.lists import sync

    try:
        sync.judge(session, actor=principal, entry_id=entry_id, subject_id=subject_id, verdict=verdict,
                   reason=reason)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/lists/review")
    return see_other("/console/lists/review")


@router.get("/lists/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: Id, principal: Principal = Depends(viewer),
               session: Session = SessionDep) -> Response:
    from xinyong.lists import service as lists_service

    today = clock.today()
    row = lists_service.get_entry(session, entry_id, viewer=principal)
    view = lists_service.mark_objections(session, [lists_service.entry_view(
        row, today, history=lists_service.entry_history(session, entry_id))])[0]
    return render(request, "console/entry.html", principal, active="lists", entry=view,
                  external=row.list_type.external, removal_reasons=lists_service.MANUAL_REMOVAL_REASONS,
                  removal_labels=lists_service.REMOVAL_REASON_LABELS,
                  can_edit=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR))


@router.post("/lists/{entry_id}/{action}", response_class=HTMLResponse)
def entry_action(request: Request, entry_id: Id, action: Literal["list", "extend", "remove", "withdraw"],
                 revision: Revision | None = Form(None), note: str = Form("", max_length=2000),
                 reason: str = Form("", max_length=2000), listed_on: dt.date | None = Form(None),
                 term_end: dt.date | None = Form(None), on: dt.date | None = Form(None),
                 principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    """List a notified entry, extend its term, remove it, or decide not to list after the notice."""
    from xinyong.lists import service as lists_service

    back = f"/console/lists/{entry_id}"
    try:
        if action == "list":
            lists_service.list_entry(session, actor=principal, entry_id=entry_id, listed_on=listed_on,
                                     term_end=term_end, note=note or None, expected_revision=revision)
        elif action == "extend":
            if term_end is None:
                raise ValidationFailed("请填写新的有效期截止日期", code="term_end_required")
            lists_service.extend_entry(session, actor=principal, entry_id=entry_id, term_end=term_end,
                                       reason=reason, expected_revision=revision)
        elif action == "remove":
            lists_service.remove_entry(session, actor=principal, entry_id=entry_id, reason=reason, note=note, on=on,
                                       expected_revision=revision)
        else:
            lists_service.withdraw_notice(session, actor=principal, entry_id=entry_id, note=note,
                                          expected_revision=revision)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)


# Measures ---------------------------------------------------------------------------------------------------------


@router.get("/measures", response_class=HTMLResponse)
def measures_page(request: Request, kind: Literal["", "punish", "reward"] = "",
                  principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """The joint rewards and punishments catalogue: each measure with its memorandum, legal basis, department
    and scenarios (read-only here; the catalogue is maintained in ``measures.yaml``)."""
    from xinyong.measures import service as measures_service

    found = measures_service.list_measures(session, kind=kind or None)
    return render(request, "console/measures.html", principal, active="measures", kind=kind,
                  measures=measures_service.measure_views(session, found))


# Dashboards and assessment ------------------------------------------------------------------------------------


def _period(date_from: dt.date | None, date_to: dt.date | None, *, months: int = 12) -> Period:
    if date_from is None and date_to is None:
        return Period.last_months(months)
    today = clock.today()
    return Period(date_from or (date_to or today).replace(day=1), date_to or today)


def _chart_json(data: Any) -> str:
    """Chart data for a ``<script type="application/json">`` block: ``<`` escaped so no text can close it."""
    return json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards_page(request: Request, date_from: dt.date | None = None, date_to: dt.date | None = None,
                    department: str | None = Query(None, max_length=32), principal: Principal = Depends(viewer),
                    session: Session = SessionDep) -> Response:
    try:
        period = _period(date_from, date_to)
        dept_id = _department_filter(session, principal, department)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/dashboards")
    data = dashboards.overview(session, period=period, department_id=dept_id)
    return render(request, "console/dashboards.html", principal, active="dashboards", data=data,
                  chart_json=_chart_json(data), period=period, department=department or "",
                  departments=_all_departments(session, principal))


def _month_period(month: str | None) -> Period:
    """``YYYY-MM`` (default: the last complete month, what the monthly report covers)."""
    if month:
        try:
            year, mon = (int(x) for x in month.split("-", 1))
        except ValueError:
            raise ValidationFailed("月份格式应为 YYYY-MM", code="bad_month") from None
        return Period.month(year, mon)
    first = clock.today().replace(day=1)
    last = first - dt.timedelta(days=1)
    return Period.month(last.year, last.month)


@router.get("/assessment", response_class=HTMLResponse)
def assessment_page(request: Request, month: str | None = Query(None, max_length=7),
                    principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """The ranking (admin) or the department's own score card and rank (department users)."""
    try:
        period = _month_period(month)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/assessment")
    result = assessment.assess(session, period=period)
    own = assessment.department_row(result, principal.department_id)
    rows = result["rows"] if principal.is_admin else ([own] if own else [])
    ranked = sum(1 for r in result["rows"] if r["rank"] is not None)
    return render(request, "console/assessment.html", principal, active="assessment", result=result, rows=rows,
                  ranked=ranked, month=f"{period.date_from:%Y-%m}",
                  chart_json=_chart_json([{"name": r["department_name"], "total": r["total"]} for r in rows]))


@router.get("/assessment.xlsx")
def assessment_xlsx(month: str | None = Query(None, max_length=7), principal: Principal = Depends(admin),
                    session: Session = SessionDep) -> Response:
    """The monthly report for the credit office (XLSX: ranking and method)."""
    period = _month_period(month)
    result = assessment.assess(session, period=period)
    content = assessment.to_xlsx(result, city=get_settings().city_name)
    filename = f"督查考核-{period.date_from:%Y-%m}.xlsx"
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"})


# Users and tokens -------------------------------------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    from xinyong.auth import service as auth_service

    return render(request, "console/users.html", principal, active="users",
                  users=auth_service.list_users(session, include_inactive=True), now_utc=utcnow(),
                  departments=auth_service.list_departments(session), roles=ROLE_LABELS)


@router.post("/users", response_class=HTMLResponse)
def users_create(request: Request, username: str = Form(..., max_length=64), display_name: str = Form(..., max_length=100),
                 password: str = Form(..., max_length=200), role: Role = Form(...),
                 department: str = Form("", max_length=32), organisation: str = Form("", max_length=200),
                 principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    from xinyong.auth import service as auth_service

    try:
        dept_id = auth_service.get_department(session, ref=department).id if department else None
        auth_service.create_user(session, actor=principal, username=username, display_name=display_name,
                                 password=password, role=role, department_id=dept_id,
                                 organisation=organisation or None)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/users")
    return see_other("/console/users")


@router.post("/users/{user_id}/deactivate", response_class=HTMLResponse)
def users_deactivate(request: Request, user_id: Id, reason: str = Form("", max_length=500),
                     principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    from xinyong.auth import service as auth_service

    try:
        auth_service.deactivate_user(session, actor=principal, user_id=user_id, reason=reason)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/users")
    return see_other("/console/users")


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    """API tokens: all for the admin; the department's business-system and viewer tokens for an operator."""
    from xinyong.auth import service as auth_service

    roles = {r: ROLE_LABELS[r] for r in (Role if principal.is_admin else auth_service.OPERATOR_TOKEN_ROLES)}
    return render(request, "console/tokens.html", principal, active="tokens",
                  tokens=auth_service.list_tokens(session, actor=principal), roles=roles, new_token=None,
                  departments=_all_departments(session, principal))


@router.post("/tokens", response_class=HTMLResponse)
def tokens_create(request: Request, name: str = Form(..., max_length=100), role: Role = Form(...),
                  department: str = Form("", max_length=32), expires_in_days: TokenDays | None = Form(None),
                  principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    """Issue a token: the raw value is shown once, on this response, and never again."""
    from xinyong.auth import service as auth_service

    try:
        dept_id = auth_service.get_department(session, ref=department).id if department else None
        token, raw = auth_service.create_token(session, actor=principal, name=name, role=role,
                                               department_id=dept_id, expires_in_days=expires_in_days)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/tokens")
    roles = {r: ROLE_LABELS[r] for r in (Role if principal.is_admin else auth_service.OPERATOR_TOKEN_ROLES)}
    response = render(request, "console/tokens.html", principal, active="tokens",
                      tokens=auth_service.list_tokens(session, actor=principal), roles=roles,
                      new_token={"name": token.name, "raw": raw}, departments=_all_departments(session, principal),
                      status_code=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def tokens_revoke(request: Request, token_id: Id, reason: str = Form("", max_length=500),
                  principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    from xinyong.auth import service as auth_service

    try:
        auth_service.revoke_token(session, actor=principal, token_id=token_id, reason=reason)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/tokens")
    return see_other("/console/tokens")


# Installation -----------------------------------------------------------------------------------------------------


def _console_html(request: Request) -> bool:
    path = request.url.path
    return (path == "/console" or path.startswith("/console/")) and "text/html" in request.headers.get("accept", "")


class LoginGate:
    """Refuses a console form post from a browser holding no session as unauthenticated, before anything else.

    A logged-out user (cookie expired, or never logged in) who submits a console form is sent to the login page
    (or gets the API's JSON 401) instead of a "page expired" CSRF refusal: nothing is at stake without a session,
    so the answer should say what to do. Requests that carry a session cookie or an ``Authorization`` header go
    on to the CSRF check and the route's policy as usual. Added after ``security.install`` so that it runs first.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in security.UNSAFE_METHODS:
            path: str = scope.get("path", "")
            if (path.startswith("/console/") or path == "/console") and path != "/console/login":
                request = Request(scope)
                if not request.headers.get("authorization") and not security.session_token(request):
                    await _login_required(request)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _login_required(request: Request) -> Response:
    headers = request.headers
    if "text/html" in headers.get("accept", "") or "form" in headers.get("content-type", ""):
        return see_other("/console/login")
    from xinyong.web.errors import error_body

    return JSONResponse(error_body("unauthenticated", "需要登录或提供 API 令牌"), status_code=401)


def install(app: FastAPI) -> None:
    """Mount the console and make its refusals browser-friendly: a logged-out browser is sent to the login page
    (303, with the page it wanted), a refused or missing page is a Chinese error page. API clients, and every
    path outside the console, keep the JSON errors of ``web.app``."""
    from xinyong.web.templates import TEMPLATES

    app.include_router(router)
    app.add_middleware(LoginGate)
    TEMPLATES.env.globals.setdefault("csrf_token", security.csrf_token)
    TEMPLATES.env.globals.setdefault("CSRF_FIELD", security.CSRF_FIELD)

    async def console_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, XinyongError)
        if _console_html(request):
            if isinstance(exc, Unauthenticated):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return see_other("/console/login?" + urlencode({"next": _safe_next(target)}))
            return _templates().TemplateResponse(
                request, "error.html", {"status": exc.status_code, "message": exc.message,
                                        "city": get_settings().city_name}, status_code=exc.status_code)
        return await app.exception_handlers[XinyongError](request, exc)

    for cls in (Unauthenticated, Forbidden, NotFound, ValidationFailed):
        app.add_exception_handler(cls, console_refusal)
