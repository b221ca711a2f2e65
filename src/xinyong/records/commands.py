"""`xinyong records …`: list and show credit records, run the daily publicity-transitions job.

Mounted by ``cli.py`` as ``app.add_typer(records_cmds.app, name="records")``.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from xinyong.auth import service as auth_service
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, LimitOption, OffsetOption, date_or_today, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.records import queries, service, views
from xinyong.records.publicity import STATUS_LABELS
from xinyong.subjects.service import get_subject

app = typer.Typer(help="信用记录（行政许可、行政处罚）", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_(
    subject: str | None = typer.Option(None, "--subject", help="行政相对人代码（统一社会信用代码、身份证号等）"),
    department: str | None = typer.Option(None, "--department", help="报送部门代码"),
    kind: str | None = typer.Option(
        None, "--kind", help="licence（行政许可）、penalty（行政处罚）或其他信息类别（见 xinyong catalog fields）"
    ),
    public_only: bool = typer.Option(False, "--public-only", help="只列出今日公示中的记录"),
    status: str = typer.Option("all", "--status", help="public / withdrawn / expired / not_public / all"),
    on: str | None = typer.Option(None, "--date", help="按该日判断公示状态（默认今天）"),
    limit: int = LimitOption,
    offset: int = OffsetOption,
    as_json: bool = JsonOption,
) -> None:
    """列出信用记录及其当日公示状态。"""
    today = date_or_today(on)
    with clikit.database().session(write=False) as session:
        subject_id = get_subject(session, subject).id if subject else None
        department_id = auth_service.get_department(session, ref=department).id if department else None
        rows = queries.list_records(
            session,
            subject_id=subject_id,
            department_id=department_id,
            kind=kind,
            status=status,
            public_only=public_only,
            today=today,
            limit=limit,
            offset=offset,
        )
        data = [views.record_view(r) for r in rows]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("ID", "类别", "文书号", "决定日期", "行政相对人", "状态", "迟报", title=f"信用记录（{today}）")
        for r in items:
            t.add_row(
                str(r["id"]),
                {"licence": "许可", "penalty": "处罚"}.get(r["kind"], r["kind"]),
                r["doc_no"],
                str(r["decision_date"]),
                r["subject"]["name"],
                STATUS_LABELS.get(r["status"], r["status"]),
                "是" if r["late"] else "",
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("show")
@handle_errors
def show(
    record_id: int = typer.Argument(..., help="记录 ID"),
    on: str | None = typer.Option(None, "--date", help="按该日判断公示状态（默认今天）"),
    as_json: bool = JsonOption,
) -> None:
    """查看一条信用记录及其全部版本。"""
    today = date_or_today(on)
    with clikit.database().session(write=False) as session:
        view = views.record_view(queries.record_row(session, record_id, actor=None, today=today))
        view["history"] = [views.version_view(v) for v in queries.record_history(session, record_id)]

    def render(v: dict[str, Any]) -> None:
        c = clikit.console
        c.print(f"[bold]{v['doc_no']}[/bold]  {v['authority']}  {v['decision_date']}")
        c.print(f"行政相对人：{v['subject']['name']}  状态：{v['status']}（{v['status_reason']}）")
        for h in v["history"]:
            c.print(
                f"  版本 {h['version_no']}：{local_text(h['received_at'])} 批次 {h['batch_id']} 第 {h['source_row']} 行 "
                f"变更 {', '.join(h['changed_fields'][:8])}"
            )

    emit(view, as_json, render)


@app.command("transitions")
@handle_errors
def transitions(
    on: str | None = typer.Option(None, "--date", help="记录该日的公示变化（默认今天）"), as_json: bool = JsonOption
) -> None:
    """每日任务：记录开始公示和结束公示的信用记录（同一日重复运行不重复记录）。"""
    today = date_or_today(on)
    counts = clikit.database().run(
        lambda session: service.record_transitions(session, today=today, actor=clikit.operator())
    )
    data = counts.to_dict()

    def render(d: dict[str, Any]) -> None:
        note = "（当日已运行，未重复记录）" if d["already_ran"] else ""
        clikit.console.print(
            f"{d['run_date']}：开始公示 {d['started']}，结束公示 {d['ended']}，公示中 {d['public']}{note}"
        )

    emit(data, as_json, render)
