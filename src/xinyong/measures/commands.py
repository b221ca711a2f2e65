"""`xinyong measures …` (memoranda and measures, feedback rates) and `xinyong check` (the credit check).

``xinyong check`` exit status: 0 when every subject was identified and no punishment applies; 1 when a
punishment applies to some subject or a subject could not be identified (invalid code, not found, only name
candidates) — the caller must look; 2 on bad input (unknown scenario, too many subjects …), nothing recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.auth import service as auth_service
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors, parse_date
from xinyong.core.errors import ValidationFailed
from xinyong.measures import check as checks
from xinyong.measures import feedback, service
from xinyong.measures.spec import SCENARIOS

app = typer.Typer(help="联合奖惩：备忘录与奖惩措施、核查反馈率", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(
    kind: str | None = typer.Option(None, "--kind", help="punish（惩戒）或 reward（激励）"),
    scenario: str | None = typer.Option(None, "--scenario", help="适用场景：" + " ".join(SCENARIOS)),
    list_type: str | None = typer.Option(None, "--list-type", help="触发名单类型代码"),
    include_inactive: bool = typer.Option(True, "--all/--active-only", help="是否包括已停用的措施"),
    as_json: bool = JsonOption,
) -> None:
    """列出联合奖惩措施。"""
    with clikit.database().session(write=False) as session:
        data = service.measure_views(
            session,
            service.list_measures(
                session, kind=kind, scenario=scenario, list_type=list_type, include_inactive=include_inactive
            ),
        )

    def render(rows: list[dict[str, Any]]) -> None:
        t = Table(
            "代码", "类别", "措施", "适用场景", "触发名单", "必须", "状态", title=f"联合奖惩措施（{len(rows)} 项）"
        )
        for m in rows:
            t.add_row(
                m["code"],
                m["kind_label"],
                m["title"],
                " ".join(m["scenarios"]),
                " ".join(m["list_types"]),
                "是" if m["mandatory"] else "参考",
                "启用" if m["active"] else "停用",
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("show")
@handle_errors
def show(code: str = typer.Argument(..., help="措施代码"), as_json: bool = JsonOption) -> None:
    """查看一项措施：内容、法律依据、实施部门、适用场景与触发名单。"""
    with clikit.database().session(write=False) as session:
        data = service.measure_views(session, [service.get_measure(session, code)])[0]

    def render(m: dict[str, Any]) -> None:
        c = clikit.console
        c.print(
            f"[bold]{m['title']}[/bold]（{m['code']}，{m['kind_label']}，{m['category_label']}）"
            f"{'' if m['active'] else '【已停用：' + (m['active_reason'] or '') + '】'}"
        )
        c.print(m["content"])
        memo = m["memorandum"]
        c.print(f"依据文件：{memo['title']} {memo['doc_no'] or ''}")
        for b in m["legal_basis"]:
            c.print(f"  法律依据：{b['title']} {b.get('article') or ''}（{b.get('confidence') or ''}）")
        c.print(f"实施部门：{m['department']}；{'应当实施' if m['mandatory'] else '供参考'}")
        c.print(f"适用场景：{'、'.join(SCENARIOS[s] for s in m['scenarios'])}；触发名单：{'、'.join(m['list_types'])}")

    emit(data, as_json, render)


@app.command("memoranda")
@handle_errors
def memoranda(as_json: bool = JsonOption) -> None:
    """列出措施所依据的备忘录、法律、法规与政策文件。"""
    with clikit.database().session(write=False) as session:
        data = service.memoranda_views(session)

    def render(rows: list[dict[str, Any]]) -> None:
        t = Table("代码", "类型", "标题", "文号", "措施数", "可信度", title="备忘录与依据文件")
        for m in rows:
            t.add_row(
                m["code"], m["kind_label"], m["title"], m["doc_no"] or "", str(m["measure_count"]), m["confidence"]
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("seed")
@handle_errors
def seed(
    path: Path | None = typer.Option(None, "--file", help="措施文件（默认：内置的 measures.yaml）"),
    reason: str | None = typer.Option(None, "--reason", help="审计日志中的原因"),
    as_json: bool = JsonOption,
) -> None:
    """载入联合奖惩措施目录（可重复运行；管理员的停用决定保留）。"""
    with clikit.database().session() as session:
        report = service.seed_measures(session, actor=clikit.operator(), path=path, reason=reason)
    data = report.to_dict()

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(
            f"措施目录 {d['edition']}：新增备忘录 {len(d['memoranda_created'])}，"
            f"更新备忘录 {len(d['memoranda_updated'])}；新增措施 {len(d['created'])}，"
            f"更新 {len(d['updated'])}，未变 {len(d['unchanged'])}，文件外 {len(d['not_in_file'])}"
        )

    emit(data, as_json, render)


def _set_active(code: str, reason: str, active: bool, as_json: bool) -> None:
    with clikit.database().session() as session:
        obj = service.set_measure_active(session, actor=clikit.operator(), code=code, active=active, reason=reason)
        data = service.measure_views(session, [obj])[0]
    emit(
        data,
        as_json,
        lambda m: clikit.console.print(
            f"措施 {m['code']}「{m['title']}」已{'启用' if m['active'] else '停用'}：{m['active_reason']}"
        ),
    )


@app.command("deactivate")
@handle_errors
def deactivate(
    code: str = typer.Argument(..., help="措施代码"),
    reason: str = typer.Option(..., "--reason", help="停用原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """停用一项措施：核查不再返回它。"""
    _set_active(code, reason, False, as_json)


@app.command("activate")
@handle_errors
def activate(
    code: str = typer.Argument(..., help="措施代码"),
    reason: str = typer.Option(..., "--reason", help="启用原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """重新启用一项措施。"""
    _set_active(code, reason, True, as_json)


@app.command("feedback-rates")
@handle_errors
def feedback_rates(
    date_from: str | None = typer.Option(None, "--from", help="核查日期起（YYYY-MM-DD）"),
    date_to: str | None = typer.Option(None, "--to", help="核查日期止（YYYY-MM-DD）"),
    department: str | None = typer.Option(None, "--department", help="部门代码"),
    as_json: bool = JsonOption,
) -> None:
    """各部门的核查反馈率。"""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    with clikit.database().session(write=False) as session:
        dept_id = auth_service.get_department(session, ref=department).id if department else None
        data = feedback.feedback_rates(
            session, actor=clikit.operator(), date_from=start, date_to=end, department_id=dept_id
        )

    def render(rows: list[dict[str, Any]]) -> None:
        t = Table("部门", "核查次数", "含措施", "已反馈", "反馈率", title="核查反馈率")
        for r in rows:
            rate = "" if r["rate"] is None else f"{r['rate']:.1%}"
            t.add_row(
                r["department_name"],
                str(r["checks"]),
                str(r["checks_with_measures"]),
                str(r["checks_with_feedback"]),
                rate,
            )
        clikit.console.print(t)

    emit(data, as_json, render)


def _render_check(answer: dict[str, Any]) -> None:
    c = clikit.console
    c.print(f"核查编号 {answer['check_id']}（场景：{answer['scenario_label']}，{answer['checked_on']}）")
    for r in answer["results"]:
        who = r["subject"]["name"] if r["subject"] else (r["query"].get("code") or r["query"].get("name"))
        c.print(f"\n[bold]{who}[/bold] [{r['outcome']}] {r['conclusion']}")
        for w in r["warnings"]:
            c.print(f"  [yellow]注意[/yellow] {w}")
        for cand in r["candidates"]:
            c.print(
                f"  候选：{cand['name']} {cand.get('uscc') or cand.get('resident_id') or ''} "
                f"得分 {cand['score']:.2f}{'（匹配）' if cand['match'] else ''}"
            )
        for m in r["measures"]:
            basis = "；".join(f"{b['title']}{b.get('article') or ''}" for b in m["legal_basis"])
            c.print(
                f"  [{'red' if m['kind'] == 'punish' else 'green'}]{m['kind_label']}[/] {m['title']}"
                f"（{'应当实施' if m['mandatory'] else '参考'}，{m['department']}）"
            )
            c.print(f"    依据：{basis}")
            for reason in m["reasons"]:
                c.print(f"    理由：{reason['text']}")
            for reason in m.get("record_reasons", ()):
                c.print(f"    理由（信用记录）：{reason['text']}")
            if m.get("record_legal_basis"):
                c.print(
                    "    记录触发依据："
                    + "；".join(f"{b['title']}{b.get('article') or ''}" for b in m["record_legal_basis"])
                )
            for reason in m.get("related_reasons", ()):
                c.print(f"    理由（关联单位）：{reason['text']}")
            if m.get("related_legal_basis"):
                c.print(
                    "    延伸至关联人员的依据："
                    + "；".join(f"{b['title']}{b.get('article') or ''}" for b in m["related_legal_basis"])
                )


def register(root: typer.Typer) -> None:
    """Top-level commands of this domain (``xinyong check``)."""

    @root.command("check")
    @handle_errors
    def check(
        codes: list[str] | None = typer.Argument(None, help="统一社会信用代码、组织机构代码或身份证号码"),
        scenario: str = typer.Option(..., "--scenario", help="核查场景：" + " ".join(SCENARIOS)),
        name: str | None = typer.Option(None, "--name", help="名称（无代码时按名称查找候选主体）"),
        region: str | None = typer.Option(None, "--region", help="6位行政区划代码（按名称查询时）"),
        on: str | None = typer.Option(None, "--date", help="按该日判断名单是否有效（默认今天）"),
        reference: str | None = typer.Option(None, "--reference", help="业务编号（办件编号）"),
        as_json: bool = JsonOption,
    ) -> None:
        """信用核查：主体在某一场景下适用的联合奖惩措施（附理由与法律依据），并留痕。
        退出码：0 无惩戒且全部识别；1 有惩戒措施或有主体未能识别；2 输入错误。"""
        codes = list(codes or [])
        if not codes and not name:
            raise ValidationFailed("请提供至少一个代码，或用 --name 按名称查询", code="no_subjects")
        if name and len(codes) > 1:
            raise ValidationFailed("--name 只能与一个代码同时使用", code="name_with_many_codes")
        if codes:
            subjects = [
                checks.SubjectQuery(code=c, name=name if len(codes) == 1 else None, region=region) for c in codes
            ]
        else:
            subjects = [checks.SubjectQuery(name=name, region=region)]
        with clikit.database().session() as session:
            answer = checks.run_check(
                session,
                actor=clikit.operator(),
                subjects=subjects,
                scenario=scenario,
                reference=reference,
                on=parse_date(on, "--date"),
            )
        emit(answer, as_json, _render_check)
        summary = answer["summary"]
        if summary["with_punishments"] or summary["matched"] < summary["subjects"]:
            raise typer.Exit(1)
