"""`xinyong financing …`: 信易贷 institutions, authorisations and figures for operators (thin: parse, call, print).

The command line acts as the platform admin (``clikit.operator()``); writes run as one unit of work
(``Database.run``: retried after a transient conflict). Exit status 0 on success, 2 on bad input or refusal.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.core.errors import NotFound
from xinyong.financing import service
from xinyong.subjects.service import find_subject

app = typer.Typer(help="信易贷：金融机构、信用主体授权与查询统计", no_args_is_help=True)
institutions_app = typer.Typer(help="信易贷金融机构（登记、列表、绑定账号）", no_args_is_help=True)
authorisations_app = typer.Typer(help="信用主体对金融机构的查询授权（列表、撤销）", no_args_is_help=True)
app.add_typer(institutions_app, name="institutions")
app.add_typer(authorisations_app, name="authorisations")


def _institution(inst: Any) -> dict[str, Any]:
    return {"id": inst.id, "code": inst.code, "name": inst.name, "uscc": inst.uscc, "active": inst.active}


@institutions_app.command("add")
@handle_errors
def institutions_add(
    code: str = typer.Option(..., "--code", help="机构代码（小写字母、数字、下划线），如 qyrcb"),
    name: str = typer.Option(..., "--name", help="机构名称"),
    uscc: str = typer.Option(..., "--uscc", help="机构的统一社会信用代码"),
    as_json: bool = JsonOption,
) -> None:
    """登记一家金融机构。"""
    data = clikit.database().run(
        lambda s: _institution(service.create_institution(s, actor=clikit.operator(), code=code, name=name, uscc=uscc))
    )
    emit(data, as_json, lambda d: clikit.console.print(f"已登记金融机构 {d['code']}（{d['name']}）"))


@institutions_app.command("list")
@handle_errors
def institutions_list(as_json: bool = JsonOption) -> None:
    """列出金融机构。"""
    with clikit.database().session(write=False) as session:
        rows = [_institution(i) for i in service.list_institutions(session)]

    def render(items: list[dict[str, Any]]) -> None:
        table = Table("编号", "代码", "名称", "统一社会信用代码", "状态")
        for r in items:
            table.add_row(str(r["id"]), r["code"], r["name"], r["uscc"], "启用" if r["active"] else "停用")
        clikit.console.print(table)

    emit(rows, as_json, render)


@institutions_app.command("bind")
@handle_errors
def institutions_bind(
    institution: str = typer.Argument(..., help="机构代码或编号"),
    user: str | None = typer.Option(None, "--user", help="金融机构角色的用户名"),
    token_id: int | None = typer.Option(None, "--token-id", help="金融机构角色的 API 令牌编号"),
    as_json: bool = JsonOption,
) -> None:
    """让一个金融机构用户或 API 令牌代表该机构查询。"""
    data = clikit.database().run(
        lambda s: {
            "id": (
                row := service.bind_principal(
                    s, actor=clikit.operator(), institution=institution, user=user, token_id=token_id
                )
            ).id,
            "institution_id": row.institution_id,
            "kind": row.kind,
            "principal_id": row.principal_id,
        }
    )
    emit(data, as_json, lambda d: clikit.console.print(f"已绑定 {d['kind']} {d['principal_id']} 到机构 {institution}"))


def _print_authorisations(items: list[dict[str, Any]]) -> None:
    table = Table("编号", "信用主体", "机构", "类别", "方式", "到期", "状态")
    for a in items:
        table.add_row(
            str(a["id"]),
            f"{a['subject_name']}（{a['subject_code']}）",
            a["institution_name"],
            ",".join(a["scope"]),
            a["method_label"],
            local_text(a["expires_at"]),
            a["status_label"],
        )
    clikit.console.print(table)


@authorisations_app.command("list")
@handle_errors
def authorisations_list(
    status: str = typer.Option("all", "--status", help="active / expired / revoked / all"),
    institution: str | None = typer.Option(None, "--institution", help="机构代码或编号"),
    subject: str | None = typer.Option(None, "--subject", help="信用主体代码"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0, max=100_000),
    as_json: bool = JsonOption,
) -> None:
    """列出授权（身份证号、自然人姓名脱敏）。"""
    with clikit.database().session(write=False) as session:
        inst_id = service.get_institution(session, institution).id if institution else None
        subject_id = None
        if subject:
            found = find_subject(session, subject)
            if found is None:
                raise NotFound("未找到该信用主体", code="subject_not_found")
            subject_id = found.id
        rows = [
            service.authorisation_view(session, a)
            for a in service.list_authorisations(
                session, subject_id=subject_id, institution_id=inst_id, status=status, limit=limit, offset=offset
            )
        ]
    emit(rows, as_json, _print_authorisations)


@authorisations_app.command("revoke")
@handle_errors
def authorisations_revoke(
    authorisation_id: int = typer.Argument(..., help="授权编号"),
    reason: str = typer.Option(..., "--reason", help="撤销原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """撤销一项授权（如授权书经核实无效）。"""
    data = clikit.database().run(
        lambda s: service.authorisation_view(
            s, service.revoke(s, actor=clikit.operator(), authorisation_id=authorisation_id, reason=reason)
        )
    )
    emit(data, as_json, lambda d: clikit.console.print(f"已撤销授权 {d['id']}（{d['institution_name']}）"))


@app.command("figures")
@handle_errors
def figures(as_json: bool = JsonOption) -> None:
    """信易贷统计：各金融机构的授权数、查询次数、放款笔数与金额。"""
    with clikit.database().session(write=False) as session:
        data = service.figures(session)

    def render(d: dict[str, Any]) -> None:
        table = Table("机构", "授权", "有效授权", "查询", "被拒绝", "放款笔数", "未授信", "放款金额（元）")
        for r in [*d["institutions"], {"name": "合计", **d["total"]}]:
            table.add_row(
                r["name"],
                str(r["authorisations"]),
                str(r["active_authorisations"]),
                str(r["queries"]),
                str(r["refused_queries"]),
                str(r["loans_granted"]),
                str(r["loans_declined"]),
                r["amount_granted_yuan"],
            )
        clikit.console.print(table)

    emit(data, as_json, render)
