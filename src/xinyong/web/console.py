"""The department console (部门工作台): server-rendered Chinese pages under ``/console``.

Departments log in, upload files and read the batch report, correct and resend rejected rows, work their queues
(objections, repairs, complaints, list entries waiting for a match review), manage their list entries, read the
measures catalogue and the dashboards; the admin also manages users and tokens and exports the assessment.

This module holds the console's frame — the role policies, rendering and refusal helpers, the login, the
overview page and :func:`install` — and each section has its module and router beside it, mounted by
:func:`install` in this order: ``console_collection`` (upload, batches, corrections), ``console_cases``,
``console_lists``, ``console_file`` (the government credit file), ``console_check`` (the credit check form), ``console_measures``, ``console_dashboards`` (dashboards, assessment) and ``console_users``
(users, tokens); ``console_analysis`` (evaluation, supervision, the analyses) is mounted by ``web.app``.

Every page is a thin route over the domains' service functions (the same ones the API and the CLI call), so
rights, validation and audit are exactly those of the API: a department user sees only his department's data
because the services say so, not because a template hides it.

How the session works: the login form calls ``auth.service.login`` and keeps the short-lived login token in an
HttpOnly cookie (``web.security.set_session_cookie``); ``auth.deps`` accepts that cookie for ``/console`` paths
only. Forms carry CSRF tokens (``web.security.CSRFMiddleware``). A browser that is not logged in (or whose
session expired) is sent to the login page; API clients get the usual JSON 401.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from xinyong.auth import service as auth_service
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import ROLE_LABELS, Principal, Role
from xinyong.cases.models import Case
from xinyong.core import clock, uploads
from xinyong.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed, XinyongError
from xinyong.core.settings import get_settings
from xinyong.ingest import service as ingest_service
from xinyong.lists import sync
from xinyong.web import security
from xinyong.web.errors import error_body
from xinyong.web.templates import TEMPLATES

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)

#: Who may use the console at all (the admin always may): business systems and banks use the API.
CONSOLE_ROLES = frozenset({Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER})
viewer = allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)  # read pages
operator = allow(Role.DEPT_OPERATOR)  # pages that change the department's data
admin = allow()  # the platform admin only

PAGE = 50
#: A list page counts its rows up to here; beyond, the pager says "超过 10,000 条" (counting a huge table exactly on
#: every page view costs a scan of it).
COUNT_CAP = 10_000


def pager(total: int, *, page_size: int = PAGE, cap: int | None = None) -> dict[str, Any]:
    """The pager's totals (``console/_pager.html``: 共 N 条，第 x/y 页): ``total``, ``pages`` and, when ``total``
    came from a count that stopped at ``cap`` (it is above ``cap``), ``total_text`` saying so."""
    over = cap is not None and total > cap
    shown = min(total, cap) if cap is not None else total
    return {
        "total": shown,
        "pages": max(1, -(-shown // page_size)),
        "total_text": f"超过 {cap:,} 条" if over else f"共 {shown:,} 条",
    }


# Rendering ----------------------------------------------------------------------------------------------------


NAV = [
    ("home", "/console", "概览", CONSOLE_ROLES),
    ("upload", "/console/upload", "上传数据", frozenset({Role.ADMIN, Role.DEPT_OPERATOR})),
    ("batches", "/console/batches", "报送批次", CONSOLE_ROLES),
    ("cases", "/console/cases", "案件办理", CONSOLE_ROLES),
    ("lists", "/console/lists", "名单管理", CONSOLE_ROLES),
    ("review", "/console/lists/review", "比对复核", CONSOLE_ROLES),
    ("file", "/console/file", "信用档案", CONSOLE_ROLES),
    ("professions", "/console/professions", "职业档案", CONSOLE_ROLES),
    ("check", "/console/check", "信用核查", CONSOLE_ROLES),
    ("measures", "/console/measures", "措施清单", CONSOLE_ROLES),
    ("catalog_audit", "/console/catalog-audit", "待核实依据", frozenset({Role.ADMIN})),
    ("dashboards", "/console/dashboards", "统计分析", CONSOLE_ROLES),
    ("assessment", "/console/assessment", "督查考核", CONSOLE_ROLES),
    ("integrity", "/console/integrity", "政务诚信", CONSOLE_ROLES),
    ("tokens", "/console/tokens", "接口令牌", frozenset({Role.ADMIN, Role.DEPT_OPERATOR})),
    ("users", "/console/users", "用户管理", frozenset({Role.ADMIN})),
    ("jobs", "/console/jobs", "任务队列", frozenset({Role.ADMIN})),
]


def render(
    request: Request, template: str, principal: Principal, *, active: str = "", status_code: int = 200, **context: Any
) -> HTMLResponse:
    nav = [(key, url, label) for key, url, label, roles in NAV if principal.role in roles]
    if principal.is_admin and get_settings().demo:
        nav.append(("outbox", "/console/outbox", "演示发件箱"))

    def page_link(number: int) -> str:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"] + [("page", str(number))]
        return f"{request.url.path}?{urlencode(query)}"

    ctx = {
        "request": request,
        "me": principal,
        "role_label": ROLE_LABELS.get(principal.role, "") if principal.role else "",
        "city": get_settings().city_name,
        "nav": nav,
        "active": active,
        "today": clock.today(),
        "page_link": page_link,
        **context,
    }
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)


def failed(request: Request, session: Session, principal: Principal, exc: XinyongError, *, back: str) -> HTMLResponse:
    """A refused form: nothing of it is kept (the transaction is rolled back) and the reason is shown."""
    session.rollback()
    return refusal(request, principal, exc, back=back)


def refusal(request: Request, principal: Principal, exc: XinyongError, *, back: str, **context: Any) -> HTMLResponse:
    """The page that shows why an action was refused, with the way back (``context``: e.g. the ``active`` section)."""
    return render(
        request,
        "console/result.html",
        principal,
        ok=False,
        message=exc.message,
        code=exc.code,
        details=exc.details,
        back=back,
        status_code=exc.status_code,
        **context,
    )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def changed_or_failed(
    request: Request, session: Session, principal: Principal, change: Callable[[], object], *, back: str
) -> Response:
    """Make a form's change and go back to ``back`` (303), or show why it was refused (``failed``)."""
    try:
        change()
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)


@dataclass(frozen=True)
class FormChange:
    """What the route of a console form that makes one change needs: the request it answers, who is acting (already
    checked against the route's role policy) and the request's session. Routes take it as :data:`OperatorChange` or
    :data:`AdminChange` instead of the three parameters."""

    request: Request
    principal: Principal
    session: Session

    def make(self, change: Callable[[], object], *, back: str) -> Response:
        """:func:`changed_or_failed` for this request."""
        return changed_or_failed(self.request, self.session, self.principal, change, back=back)


def _form_change(policy: Callable[..., Principal]) -> Any:
    def form_change(
        request: Request, principal: Principal = Depends(policy), session: Session = SessionDep
    ) -> FormChange:
        return FormChange(request, principal, session)

    return Depends(form_change)


#: A form of a department operator (or the admin) that changes the department's data.
OperatorChange = Annotated[FormChange, _form_change(operator)]
#: A form of the platform admin.
AdminChange = Annotated[FormChange, _form_change(admin)]


def add_admin_nav(items: list[tuple[str, str, str]], *, before: str = "tokens") -> None:
    """Add ``(key, url, label)`` entries to the admin's console navigation, before the entry ``before`` (接口令牌 by
    default; at the end when it is absent). Called by a section's ``install`` (its pages mounted after the frame's):
    the navigation is a template global that each section wraps."""
    inner = cast(Callable[..., list[Any]] | None, TEMPLATES.env.globals.get("console_nav"))

    def console_nav(request: Request, me: Principal | None, nav: list[tuple[str, str, str]]) -> list[Any]:
        shown = inner(request, me, nav) if inner is not None else nav
        if me is not None and me.role is Role.ADMIN and shown:
            at = next((i for i, (key, _, _) in enumerate(shown) if key == before), len(shown))
            shown = [*shown[:at], *items, *shown[at:]]
        return shown

    TEMPLATES.env.globals["console_nav"] = console_nav


def _department_filter(session: Session, principal: Principal, department: str | None) -> int | None:
    """The department a page shows: a department user's own; for the admin the one asked for (or all)."""
    if not principal.is_admin:
        return principal.department_id
    if not department:
        return None

    return auth_service.get_department(session, ref=department).id


def _all_departments(session: Session, principal: Principal) -> list[Any]:
    return auth_service.list_departments(session) if principal.is_admin else []


# Login --------------------------------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Only a console path of this site (never ``//evil.example`` or a scheme)."""
    if (
        value
        and value.startswith("/console")
        and not value.startswith("//")
        and "\\" not in value
        and "://" not in value
        and len(value) < 500
        and not value.startswith("/console/login")
    ):
        return value
    return "/console"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, principal: Principal = Depends(public)) -> Response:
    if principal.kind == "user" and principal.role in CONSOLE_ROLES:
        return see_other(_safe_next(next))
    return render(request, "console/login.html", principal, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=500),
    next: str = Form("/console", max_length=500),
    principal: Principal = Depends(public),
    session: Session = SessionDep,
) -> Response:
    """Check the password (throttled per IP and per username, locked after repeated failures) and start a
    session. Failed attempts are committed: the account lock depends on them."""
    security.throttle_login(request, username)

    def refused(error: str, status_code: int) -> Response:
        """The login form again, with why (what was refused stays recorded: committed)."""
        session.commit()
        return render(
            request,
            "console/login.html",
            principal,
            next=_safe_next(next),
            error=error,
            username=username[:64],
            status_code=status_code,
        )

    try:
        token, raw = auth_service.login(session, username=username, password=password)
    except Unauthenticated as exc:
        return refused(exc.message, 401)
    if token.role not in CONSOLE_ROLES:
        holder = Principal(kind="user", name=username, role=token.role, user_id=token.user_id, token_id=token.id)
        auth_tokens.revoke_token(session, actor=holder, token_id=token.id, reason="该角色不使用部门工作台")
        return refused("该账户不能登录部门工作台（金融机构和业务系统请使用开放接口）", 403)
    response = see_other(_safe_next(next))
    security.set_session_cookie(response, request, raw)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    """End the session: its login token is revoked at once (a copied cookie is worthless afterwards)."""
    if principal.kind == "user" and principal.token_id is not None:
        auth_tokens.revoke_token(session, actor=principal, token_id=principal.token_id, reason="退出登录")
    response = see_other("/console/login")
    security.clear_session_cookie(response, request)
    return response


# Overview -----------------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep) -> Response:
    today = clock.today()
    cases = select(func.count()).select_from(Case).where(Case.closed_at.is_(None))
    if not principal.is_admin:
        cases = cases.where(Case.department_id == principal.department_id)
    open_cases = session.scalar(cases) or 0
    overdue = session.scalar(cases.where(Case.due_on < today)) or 0
    dept_code = None if principal.is_admin else sync.department_code(session, principal)
    review = (
        sync.review_queue(session, limit=1, department_code=dept_code)["total"]
        if principal.is_admin or dept_code
        else 0
    )
    batches = ingest_service.list_batches(session, actor=principal, limit=5)
    department = None
    if principal.department_id is not None:
        department = auth_service.get_department(session, ref=principal.department_id)
    return render(
        request,
        "console/home.html",
        principal,
        active="home",
        open_cases=open_cases,
        overdue=overdue,
        review=review,
        batches=[ingest_service.batch_summary(b) for b in batches],
        department=department,
    )


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

    return JSONResponse(error_body("unauthenticated", "需要登录或提供 API 令牌"), status_code=401)


def install(app: FastAPI) -> None:
    """Mount the console and make its refusals browser-friendly: a logged-out browser is sent to the login page
    (303, with the page it wanted), a refused or missing page is a Chinese error page. API clients, and every
    path outside the console, keep the JSON errors of ``web.app``."""
    # lazy: import cycle, the sections import this module's helpers
    from xinyong.web import (
        console_cases,
        console_check,
        console_collection,
        console_dashboards,
        console_file,
        console_jobs,
        console_lists,
        console_measures,
        console_professions,
        console_users,
    )

    app.include_router(router)
    for section in (
        console_collection,
        console_cases,
        console_lists,
        console_file,
        console_check,
        console_measures,
        console_dashboards,
        console_professions,
        console_users,
        console_jobs,
    ):
        app.include_router(section.router)
    app.add_middleware(LoginGate)
    TEMPLATES.env.globals.setdefault("csrf_token", security.csrf_token)
    TEMPLATES.env.globals.setdefault("CSRF_FIELD", security.CSRF_FIELD)

    async def console_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, XinyongError)
        if _console_html(request):
            if isinstance(exc, Unauthenticated):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return see_other("/console/login?" + urlencode({"next": _safe_next(target)}))
            return TEMPLATES.TemplateResponse(
                request,
                "error.html",
                {"status": exc.status_code, "message": exc.message, "city": get_settings().city_name},
                status_code=exc.status_code,
            )
        response = app.exception_handlers[XinyongError](request, exc)
        return await response if inspect.isawaitable(response) else response

    for cls in (Unauthenticated, Forbidden, NotFound, ValidationFailed):
        app.add_exception_handler(cls, console_refusal)
