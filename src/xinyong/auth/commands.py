"""`xinyong departments|users|tokens …`: set up who may use the platform (thin: parse, call the service, print).

The command line acts as the platform admin (``clikit.operator()``), named after the OS user in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.table import Column, Table
from sqlalchemy.orm import Session

from xinyong.auth import service, tokens
from xinyong.auth.models import ApiToken, Department, User
from xinyong.auth.roles import ROLE_LABELS, Role
from xinyong.auth.schemas import AuthorityOut, DepartmentOut, TokenOut, UserOut
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, ReasonOption, emit, handle_errors

departments_app = typer.Typer(help="部门管理（新增、列表、可报送的机关）", no_args_is_help=True)
authorities_app = typer.Typer(
    help="部门可报送的机关：部门自身自动计入；下属单位须由平台管理员登记，否则以其为决定机关的数据将被退回",
    no_args_is_help=True,
)
departments_app.add_typer(authorities_app, name="authorities")
users_app = typer.Typer(help="用户管理（新增、列表、重置密码、停用）", no_args_is_help=True)
tokens_app = typer.Typer(help="API 令牌管理（签发、列表、撤销）", no_args_is_help=True)

PASSWORD_ENV = "XINYONG_NEW_PASSWORD"


def register(app: typer.Typer) -> None:
    """Add the top-level groups ``departments``, ``users`` and ``tokens``."""
    app.add_typer(departments_app, name="departments")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


def _minute(iso: str | None, empty: str = "") -> str:
    """An ISO timestamp from the JSON form, shown to the minute."""
    from xinyong.core.clock import local_text

    return local_text(iso, seconds=False) if iso else empty


def _department_dict(d: Department) -> dict[str, Any]:
    return DepartmentOut.model_validate(d).model_dump(mode="json")


def _user_dict(u: User) -> dict[str, Any]:
    return UserOut.model_validate(u).model_dump(mode="json")


def _token_dict(t: ApiToken) -> dict[str, Any]:
    return TokenOut.model_validate(t).model_dump(mode="json")


# Departments --------------------------------------------------------------------------------------------------


@departments_app.command("add")
@handle_errors
def departments_add(
    code: str = typer.Option(..., "--code", help="部门代码：小写字母开头的简短标识，如 scjgj，创建后不可更改"),
    name: str = typer.Option(..., "--name", help="部门全称，如 沁阳市市场监督管理局"),
    uscc: str = typer.Option(..., "--uscc", help="部门的统一社会信用代码（18 位）"),
    short_name: str | None = typer.Option(None, "--short-name", help="简称，如 市场监管局"),
    as_json: bool = JsonOption,
) -> None:
    """新增部门。"""
    with clikit.database().session() as session:
        department = service.create_department(
            session, actor=clikit.operator(), code=code, name=name, uscc=uscc, short_name=short_name
        )
        data = _department_dict(department)
    emit(data, as_json, lambda d: clikit.console.print(f"已新增部门 {d['code']}（{d['name']}），编号 {d['id']}"))


@departments_app.command("list")
@handle_errors
def departments_list(
    include_inactive: bool = typer.Option(False, "--all", help="包含已停用的部门"),
    as_json: bool = JsonOption,
) -> None:
    """列出部门。"""
    with clikit.database().session(write=False) as session:
        rows = [_department_dict(d) for d in service.list_departments(session, include_inactive=include_inactive)]

    def render(items: list[dict[str, Any]]) -> None:
        table = Table("编号", "代码", "名称", "简称", "统一社会信用代码", "状态")
        for d in items:
            table.add_row(
                str(d["id"]), d["code"], d["name"], d["short_name"] or "", d["uscc"], "启用" if d["active"] else "停用"
            )
        clikit.console.print(table)

    emit(rows, as_json, render)


# Authorities a department reports for ------------------------------------------------------------------------


@authorities_app.command("list")
@handle_errors
def authorities_list(
    department: str = typer.Argument(..., help="部门代码或编号"),
    as_json: bool = JsonOption,
) -> None:
    """列出部门可报送的机关：部门自身及已登记的下属单位。"""
    with clikit.database().session() as session:
        dept, rows = service.list_authorities(session, actor=clikit.operator(), ref=department)
        items = [
            AuthorityOut.of(dept).model_dump(mode="json"),
            *(AuthorityOut.of(dept, r).model_dump(mode="json") for r in rows),
        ]

    def render(data: list[dict[str, Any]]) -> None:
        table = Table(
            Column("统一社会信用代码", no_wrap=True), "名称", Column("来源", no_wrap=True), "登记时间", "登记原因"
        )
        for a in data:
            table.add_row(
                a["uscc"], a["name"], "部门自身" if a["own"] else "已登记", _minute(a["added_at"]), a["reason"] or ""
            )
        clikit.console.print(table)

    emit(items, as_json, render)


@authorities_app.command("add")
@handle_errors
def authorities_add(
    department: str = typer.Argument(..., help="部门代码或编号"),
    uscc: str = typer.Option(..., "--uscc", help="该机关（下属单位）的统一社会信用代码"),
    name: str = typer.Option(..., "--name", help="该机关的名称，须与报送数据中填写的一致"),
    reason: str = typer.Option(..., "--reason", help="登记原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """为部门登记可报送的机关（下属单位）。"""
    _authority_change(
        department,
        as_json,
        lambda session, dept: service.add_authority(
            session, actor=clikit.operator(), ref=dept.id, uscc=uscc, name=name, reason=reason
        ),
        "已为部门 {code} 登记机关",
    )


@authorities_app.command("remove")
@handle_errors
def authorities_remove(
    department: str = typer.Argument(..., help="部门代码或编号"),
    uscc: str = typer.Option(..., "--uscc", help="要移除的机关的统一社会信用代码"),
    reason: str = typer.Option(..., "--reason", help="移除原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """移除部门登记的机关：此后该部门报送的以该机关为决定机关的数据将被退回。"""
    _authority_change(
        department,
        as_json,
        lambda session, dept: service.remove_authority(
            session, actor=clikit.operator(), ref=dept.id, uscc=uscc, reason=reason
        ),
        "已移除部门 {code} 登记的机关",
    )


def _authority_change(department: str, as_json: bool, change: Callable[[Session, Department], Any], done: str) -> None:
    """Apply ``change`` (session, department) -> the authority row, then say ``done`` about the authority."""
    with clikit.database().session() as session:
        dept = service.get_department(session, ref=department)
        data = AuthorityOut.of(dept, change(session, dept)).model_dump(mode="json")
        code = dept.code
    emit(
        data,
        as_json,
        lambda d: clikit.console.print(
            f"{done.format(code=code)} {d['uscc']}（{d['name']}）", markup=False, highlight=False
        ),
    )


# Users --------------------------------------------------------------------------------------------------------


def _new_password(password: str | None) -> str:
    """--password, else $XINYONG_NEW_PASSWORD (read by the option), else ask twice without echo."""
    if password:
        return password
    return typer.prompt("新密码", hide_input=True, confirmation_prompt="再次输入新密码")


@users_app.command("add")
@handle_errors
def users_add(
    username: str = typer.Option(..., "--username", help="登录名（小写字母、数字、点、下划线、连字符）"),
    display_name: str = typer.Option(..., "--display-name", help="姓名"),
    role: Role = typer.Option(..., "--role", help="角色：" + "，".join(f"{r.value}={ROLE_LABELS[r]}" for r in Role)),
    department: str | None = typer.Option(None, "--department", help="部门代码（部门角色必填）"),
    organisation: str | None = typer.Option(None, "--organisation", help="金融机构用户的机构名称"),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar=PASSWORD_ENV,
        show_envvar=True,
        help="初始密码（至少 10 个字符，含字母和数字）；不提供时交互输入",
    ),
    as_json: bool = JsonOption,
) -> None:
    """新增用户。"""
    with clikit.database().session() as session:
        department_id = service.get_department(session, ref=department).id if department else None
        user = service.create_user(
            session,
            actor=clikit.operator(),
            username=username,
            display_name=display_name,
            password=_new_password(password),
            role=role,
            department_id=department_id,
            organisation=organisation,
        )
        data = _user_dict(user)
    emit(
        data,
        as_json,
        lambda d: clikit.console.print(f"已新增用户 {d['username']}（{ROLE_LABELS[Role(d['role'])]}），编号 {d['id']}"),
    )


@users_app.command("list")
@handle_errors
def users_list(
    department: str | None = typer.Option(None, "--department", help="只列出该部门的用户"),
    include_inactive: bool = typer.Option(False, "--all", help="包含已停用的用户"),
    as_json: bool = JsonOption,
) -> None:
    """列出用户。"""
    with clikit.database().session(write=False) as session:
        department_id = service.get_department(session, ref=department).id if department else None
        rows = [
            _user_dict(u)
            for u in service.list_users(session, department_id=department_id, include_inactive=include_inactive)
        ]

    def render(items: list[dict[str, Any]]) -> None:
        table = Table("编号", "用户名", "姓名", "角色", "部门/机构", "状态", "最近登录")
        for u in items:
            state = "启用" if u["active"] else "停用"
            if u["locked_until"]:
                state += f"（锁定至 {_minute(u['locked_until'])}）"
            table.add_row(
                str(u["id"]),
                u["username"],
                u["display_name"],
                ROLE_LABELS[Role(u["role"])],
                u["department_code"] or u["organisation"] or "",
                state,
                _minute(u["last_login_at"]),
            )
        clikit.console.print(table)

    emit(rows, as_json, render)


@users_app.command("set-password")
@handle_errors
def users_set_password(
    username: str = typer.Argument(..., help="用户名"),
    password: str | None = typer.Option(
        None, "--password", envvar=PASSWORD_ENV, show_envvar=True, help="新密码；不提供时交互输入"
    ),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """重置用户密码：同时解除锁定并结束其登录会话。"""
    with clikit.database().session() as session:
        user = service.get_user(session, ref=username)
        user = service.set_password(
            session, actor=clikit.operator(), user_id=user.id, password=_new_password(password), reason=reason
        )
        data = _user_dict(user)
    emit(data, as_json, lambda d: clikit.console.print(f"已重置用户 {d['username']} 的密码"))


@users_app.command("deactivate")
@handle_errors
def users_deactivate(
    username: str = typer.Argument(..., help="用户名"),
    reason: str = typer.Option(..., "--reason", help="停用原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """停用用户：立即结束其登录会话。"""
    with clikit.database().session() as session:
        user = service.get_user(session, ref=username)
        data = _user_dict(service.deactivate_user(session, actor=clikit.operator(), user_id=user.id, reason=reason))
    emit(data, as_json, lambda d: clikit.console.print(f"已停用用户 {d['username']}"))


# Tokens -------------------------------------------------------------------------------------------------------


@tokens_app.command("create")
@handle_errors
def tokens_create(
    name: str = typer.Option(..., "--name", help="令牌名称，说明给谁用，如 “行政审批系统”"),
    role: Role = typer.Option(..., "--role", help="角色：" + "，".join(f"{r.value}={ROLE_LABELS[r]}" for r in Role)),
    department: str | None = typer.Option(None, "--department", help="部门代码（部门角色必填）"),
    expires_days: int | None = typer.Option(None, "--expires-days", help="有效天数；不填则长期有效"),
    as_json: bool = JsonOption,
) -> None:
    """签发 API 令牌。完整令牌只显示这一次：请立即交给使用方保存。"""
    with clikit.database().session() as session:
        department_id = service.get_department(session, ref=department).id if department else None
        token, raw = tokens.create_token(
            session,
            actor=clikit.operator(),
            name=name,
            role=role,
            department_id=department_id,
            expires_in_days=expires_days,
        )
        data = {**_token_dict(token), "token": raw}

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(
            f"已签发令牌 {d['id']}（{d['name']}，{ROLE_LABELS[Role(d['role'])]}）。完整令牌只显示这一次："
        )
        clikit.console.print(d["token"], markup=False, highlight=False, soft_wrap=True)

    emit(data, as_json, render)


@tokens_app.command("list")
@handle_errors
def tokens_list(
    department: str | None = typer.Option(None, "--department", help="只列出该部门的令牌"),
    include_inactive: bool = typer.Option(False, "--all", help="包含已撤销和已过期的令牌"),
    include_sessions: bool = typer.Option(False, "--sessions", help="包含用户登录会话"),
    as_json: bool = JsonOption,
) -> None:
    """列出 API 令牌（从不显示完整令牌）。"""
    with clikit.database().session(write=False) as session:
        department_id = service.get_department(session, ref=department).id if department else None
        rows = [
            _token_dict(t)
            for t in tokens.list_tokens(
                session,
                actor=clikit.operator(),
                department_id=department_id,
                include_inactive=include_inactive,
                include_sessions=include_sessions,
            )
        ]

    def render(items: list[dict[str, Any]]) -> None:
        table = Table("编号", "名称", "前缀", "角色", "部门", "到期", "撤销", "最近使用")
        for t in items:
            table.add_row(
                str(t["id"]),
                t["name"],
                t["prefix"],
                ROLE_LABELS[Role(t["role"])],
                t["department_code"] or "",
                _minute(t["expires_at"], "长期"),
                _minute(t["revoked_at"]),
                _minute(t["last_used_at"]),
            )
        clikit.console.print(table)

    emit(rows, as_json, render)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(
    token_id: int = typer.Argument(..., help="令牌编号（见 tokens list）"),
    reason: str = typer.Option(..., "--reason", help="撤销原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """撤销令牌（立即失效）。"""
    with clikit.database().session() as session:
        data = _token_dict(tokens.revoke_token(session, actor=clikit.operator(), token_id=token_id, reason=reason))
    emit(data, as_json, lambda d: clikit.console.print(f"已撤销令牌 {d['id']}（{d['name']}）"))
