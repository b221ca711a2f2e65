"""Console section 用户与令牌: the admin's user management and the departments' API tokens.

Users are created and deactivated by the admin, who also registers the authorities (决定机关) each department
reports for besides itself (its own USCC always counts); operators create and revoke their department's API
tokens (the clear token shown once) — all through ``auth.service`` and ``auth.tokens``, with their rights and
audit. Routes are thin pages over the service functions the API calls, with the role policies and helpers of
``web.console``, which mounts this router.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import ROLE_LABELS, Principal, Role
from xinyong.auth.schemas import TokenDays
from xinyong.core import uploads
from xinyong.core.bounds import Id
from xinyong.core.db import utcnow
from xinyong.core.errors import XinyongError
from xinyong.web.console import (
    AdminChange,
    OperatorChange,
    _all_departments,
    admin,
    failed,
    operator,
    render,
    see_other,
)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    return render(
        request,
        "console/users.html",
        principal,
        active="users",
        users=auth_service.list_users(session, include_inactive=True),
        now_utc=utcnow(),
        departments=auth_service.list_departments(session),
        roles=ROLE_LABELS,
    )


@router.post("/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    username: str = Form(..., max_length=64),
    display_name: str = Form(..., max_length=100),
    password: str = Form(..., max_length=200),
    role: Role = Form(...),
    department: str = Form("", max_length=32),
    organisation: str = Form("", max_length=200),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    try:
        dept_id = auth_service.get_department(session, ref=department).id if department else None
        auth_service.create_user(
            session,
            actor=principal,
            username=username,
            display_name=display_name,
            password=password,
            role=role,
            department_id=dept_id,
            organisation=organisation or None,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/users")
    return see_other("/console/users")


@router.post("/users/{user_id}/deactivate", response_class=HTMLResponse)
def users_deactivate(user_id: Id, form: AdminChange, reason: str = Form("", max_length=500)) -> Response:
    return form.make(
        lambda: auth_service.deactivate_user(form.session, actor=form.principal, user_id=user_id, reason=reason),
        back="/console/users",
    )


# Authorities a department reports for (admin) ---------------------------------------------------------------

DepartmentRef = Path(..., max_length=32)


def _authorities_url(code: str) -> str:
    return f"/console/departments/{code}/authorities"


@router.get("/departments/{ref}/authorities", response_class=HTMLResponse)
def authorities_page(
    request: Request, ref: str = DepartmentRef, principal: Principal = Depends(admin), session: Session = SessionDep
) -> Response:
    """The authorities a department reports for: its own USCC (always, implicit) and the registered units."""
    department, rows = auth_service.list_authorities(session, actor=principal, ref=ref)
    return render(
        request,
        "console/authorities.html",
        principal,
        active="users",
        department=department,
        authorities=rows,
    )


@router.post("/departments/{ref}/authorities", response_class=HTMLResponse)
def authorities_add(
    form: AdminChange,
    ref: str = DepartmentRef,
    uscc: str = Form(..., max_length=32),
    name: str = Form(..., max_length=200),
    reason: str = Form("", max_length=500),
) -> Response:
    department = auth_service.get_department(form.session, ref=ref)
    return form.make(
        lambda: auth_service.add_authority(
            form.session, actor=form.principal, ref=department.id, uscc=uscc, name=name, reason=reason
        ),
        back=_authorities_url(department.code),
    )


@router.post("/departments/{ref}/authorities/{uscc}/remove", response_class=HTMLResponse)
def authorities_remove(
    form: AdminChange,
    ref: str = DepartmentRef,
    uscc: str = Path(..., max_length=32),
    reason: str = Form("", max_length=500),
) -> Response:
    department = auth_service.get_department(form.session, ref=ref)
    return form.make(
        lambda: auth_service.remove_authority(
            form.session, actor=form.principal, ref=department.id, uscc=uscc, reason=reason
        ),
        back=_authorities_url(department.code),
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    """API tokens: all for the admin; the department's business-system and viewer tokens for an operator."""
    roles = {r: ROLE_LABELS[r] for r in (Role if principal.is_admin else auth_tokens.OPERATOR_TOKEN_ROLES)}
    return render(
        request,
        "console/tokens.html",
        principal,
        active="tokens",
        tokens=auth_tokens.list_tokens(session, actor=principal),
        roles=roles,
        new_token=None,
        departments=_all_departments(session, principal),
    )


@router.post("/tokens", response_class=HTMLResponse)
def tokens_create(
    request: Request,
    name: str = Form(..., max_length=100),
    role: Role = Form(...),
    department: str = Form("", max_length=32),
    expires_in_days: TokenDays | None = Form(None),
    principal: Principal = Depends(operator),
    session: Session = SessionDep,
) -> Response:
    """Issue a token: the raw value is shown once, on this response, and never again."""
    try:
        dept_id = auth_service.get_department(session, ref=department).id if department else None
        token, raw = auth_tokens.create_token(
            session, actor=principal, name=name, role=role, department_id=dept_id, expires_in_days=expires_in_days
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/tokens")
    roles = {r: ROLE_LABELS[r] for r in (Role if principal.is_admin else auth_tokens.OPERATOR_TOKEN_ROLES)}
    response = render(
        request,
        "console/tokens.html",
        principal,
        active="tokens",
        tokens=auth_tokens.list_tokens(session, actor=principal),
        roles=roles,
        new_token={"name": token.name, "raw": raw},
        departments=_all_departments(session, principal),
        status_code=201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
def tokens_revoke(token_id: Id, form: OperatorChange, reason: str = Form("", max_length=500)) -> Response:
    return form.make(
        lambda: auth_tokens.revoke_token(form.session, actor=form.principal, token_id=token_id, reason=reason),
        back="/console/tokens",
    )
