"""HTTP API of `auth`: login, who am I, departments and the authorities they report for, users and API tokens.

Policies: login is public; every authenticated role may see who it is and list departments; departments are
changed, the authorities they report for registered and users managed by the platform admin only (a department's
operators and viewers may read their own department's authorities); tokens are managed by the admin and, for
their own department's business systems and viewers, by department operators (the finer rules live in
``service``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from xinyong.auth import service
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import ROLE_LABELS, Principal, Role
from xinyong.auth.schemas import (
    AuthorityIn,
    AuthorityOut,
    DeactivateIn,
    DepartmentBrief,
    DepartmentIn,
    DepartmentOut,
    DepartmentPatch,
    LoginIn,
    LoginOut,
    MeOut,
    PasswordIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from xinyong.core.bounds import Id
from xinyong.core.errors import Unauthenticated

router = APIRouter(prefix="/auth", tags=["auth"])

ANY_ROLE = tuple(Role)


def _me(session: Session, principal: Principal) -> MeOut:
    department = (
        service.get_department(session, ref=principal.department_id) if principal.department_id is not None else None
    )
    token = (
        auth_tokens.get_token(session, actor=principal, token_id=principal.token_id)
        if principal.token_id is not None
        else None
    )
    return MeOut(
        kind=principal.kind,
        name=principal.name,
        actor=principal.actor,
        role=principal.role,
        role_label=ROLE_LABELS[principal.role],  # type: ignore[index]
        department=DepartmentBrief.model_validate(department) if department else None,
        user_id=principal.user_id,
        token_id=principal.token_id,
        token_expires_at=token.expires_at if token else None,
    )


def _department_id(session: Session, ref: str | int | None) -> int | None:
    return None if ref is None else service.get_department(session, ref=ref).id


# Login --------------------------------------------------------------------------------------------------------


@router.post("/login", dependencies=[Depends(public)])
def login(body: LoginIn, session: Session = SessionDep) -> LoginOut:
    """用户名和密码登录，返回短期（8 小时）令牌。连续 5 次密码错误将锁定账户 15 分钟。"""
    try:
        token, raw = service.login(session, username=body.username, password=body.password)
    except Unauthenticated:
        session.commit()  # the failed attempt must count although the request fails
        raise
    principal = auth_tokens.principal_for_token(session, raw)
    return LoginOut(token=raw, expires_at=token.expires_at, me=_me(session, principal))  # type: ignore[arg-type]


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: Principal = Depends(allow(*ANY_ROLE)), session: Session = SessionDep) -> None:
    """撤销当前使用的令牌（登录会话或 API 令牌）。"""
    auth_tokens.revoke_token(session, actor=principal, token_id=principal.token_id, reason="退出登录")  # type: ignore[arg-type]


@router.get("/me")
def me(principal: Principal = Depends(allow(*ANY_ROLE)), session: Session = SessionDep) -> MeOut:
    """当前调用者：角色、所属部门、令牌有效期。"""
    return _me(session, principal)


# Departments --------------------------------------------------------------------------------------------------


@router.get("/departments", dependencies=[Depends(allow(*ANY_ROLE))])
def list_departments(include_inactive: bool = False, session: Session = SessionDep) -> list[DepartmentOut]:
    """部门列表（默认只含启用的部门）。"""
    return [
        DepartmentOut.model_validate(d) for d in service.list_departments(session, include_inactive=include_inactive)
    ]


@router.get("/departments/{ref}", dependencies=[Depends(allow(*ANY_ROLE))])
def get_department(ref: str, session: Session = SessionDep) -> DepartmentOut:
    """按部门代码或编号查看部门。"""
    return DepartmentOut.model_validate(service.get_department(session, ref=ref))


@router.post("/departments", status_code=status.HTTP_201_CREATED)
def create_department(
    body: DepartmentIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> DepartmentOut:
    """新增部门（平台管理员）。"""
    return DepartmentOut.model_validate(
        service.create_department(
            session, actor=principal, code=body.code, name=body.name, uscc=body.uscc, short_name=body.short_name
        )
    )


@router.patch("/departments/{ref}")
def update_department(
    ref: str, body: DepartmentPatch, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> DepartmentOut:
    """修改部门名称、简称、统一社会信用代码或启用状态（平台管理员）。"""
    return DepartmentOut.model_validate(
        service.update_department(
            session,
            actor=principal,
            ref=ref,
            name=body.name,
            short_name=body.short_name,
            uscc=body.uscc,
            active=body.active,
            reason=body.reason,
        )
    )


# Authorities a department reports for ------------------------------------------------------------------------


@router.get("/departments/{ref}/authorities")
def list_authorities(
    ref: str, principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)), session: Session = SessionDep
) -> list[AuthorityOut]:
    """部门可报送的机关：部门自身（自动计入）及平台管理员为其登记的下属单位。部门用户只能查看本部门。"""
    department, rows = service.list_authorities(session, actor=principal, ref=ref)
    return [AuthorityOut.of(department), *(AuthorityOut.of(department, r) for r in rows)]


@router.post("/departments/{ref}/authorities", status_code=status.HTTP_201_CREATED)
def add_authority(
    ref: str, body: AuthorityIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> AuthorityOut:
    """为部门登记可报送的机关（下属单位），此后该部门报送的以该机关为决定机关的数据才会被接收（平台管理员）。"""
    department = service.get_department(session, ref=ref)
    row = service.add_authority(
        session, actor=principal, ref=department.id, uscc=body.uscc, name=body.name, reason=body.reason
    )
    return AuthorityOut.of(department, row)


@router.delete("/departments/{ref}/authorities/{uscc}")
def remove_authority(
    ref: str,
    uscc: str,
    reason: str = Query(..., min_length=1, description="移除原因（记入审计日志）"),
    principal: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> AuthorityOut:
    """移除部门登记的机关：此后该部门报送的以该机关为决定机关的数据将被退回（平台管理员）。"""
    department = service.get_department(session, ref=ref)
    row = service.remove_authority(session, actor=principal, ref=department.id, uscc=uscc, reason=reason)
    return AuthorityOut.of(department, row)


# Users --------------------------------------------------------------------------------------------------------


@router.get("/users", dependencies=[Depends(allow(Role.ADMIN))])
def list_users(
    department: str | None = Query(None, description="部门代码或编号"),
    include_inactive: bool = False,
    session: Session = SessionDep,
) -> list[UserOut]:
    """用户列表（平台管理员）。"""
    users = service.list_users(
        session, department_id=_department_id(session, department), include_inactive=include_inactive
    )
    return [UserOut.model_validate(u) for u in users]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> UserOut:
    """新增用户（平台管理员）。"""
    return UserOut.model_validate(
        service.create_user(
            session,
            actor=principal,
            username=body.username,
            display_name=body.display_name,
            password=body.password,
            role=body.role,
            department_id=_department_id(session, body.department),
            organisation=body.organisation,
        )
    )


@router.get("/users/{user_id}", dependencies=[Depends(allow(Role.ADMIN))])
def get_user(user_id: Id, session: Session = SessionDep) -> UserOut:
    """查看用户（平台管理员）。"""
    return UserOut.model_validate(service.get_user(session, ref=user_id))


@router.put("/users/{user_id}/password")
def set_password(
    user_id: Id, body: PasswordIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> UserOut:
    """重置用户密码（平台管理员）：同时解除锁定并结束该用户的所有登录会话。"""
    return UserOut.model_validate(
        service.set_password(session, actor=principal, user_id=user_id, password=body.password, reason=body.reason)
    )


@router.post("/users/{user_id}/deactivate")
def deactivate_user(
    user_id: Id, body: DeactivateIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> UserOut:
    """停用用户（平台管理员）：立即结束其登录会话。"""
    return UserOut.model_validate(
        service.deactivate_user(session, actor=principal, user_id=user_id, reason=body.reason)
    )


# Tokens -------------------------------------------------------------------------------------------------------


@router.get("/tokens")
def list_tokens(
    department: str | None = Query(None, description="部门代码或编号（部门操作员只能看本部门）"),
    include_inactive: bool = Query(False, description="包含已撤销和已过期的令牌"),
    include_sessions: bool = Query(False, description="包含用户登录会话（仅平台管理员）"),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> list[TokenOut]:
    """API 令牌列表：平台管理员看全部，部门操作员看本部门。"""
    tokens = auth_tokens.list_tokens(
        session,
        actor=principal,
        department_id=_department_id(session, department),
        include_inactive=include_inactive,
        include_sessions=include_sessions,
    )
    return [TokenOut.model_validate(t) for t in tokens]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> TokenCreated:
    """签发 API 令牌。完整令牌只在响应中出现这一次。部门操作员只能为本部门的业务系统或查看员签发。"""
    token, raw = auth_tokens.create_token(
        session,
        actor=principal,
        name=body.name,
        role=body.role,
        department_id=_department_id(session, body.department),
        expires_in_days=body.expires_in_days,
    )
    return TokenCreated.model_validate({**TokenOut.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: Id,
    reason: str = Query(..., min_length=1, description="撤销原因（记入审计日志）"),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> TokenOut:
    """撤销令牌（立即失效）。部门操作员只能撤销本部门业务系统或查看员的令牌。"""
    return TokenOut.model_validate(auth_tokens.revoke_token(session, actor=principal, token_id=token_id, reason=reason))
