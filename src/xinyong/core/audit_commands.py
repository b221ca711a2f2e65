"""`xinyong audit …`: verify the hash chain, read an entity's history."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from xinyong.core import clikit
from xinyong.core.audit import events_for, verify_chain
from xinyong.core.clikit import JsonOption, emit, handle_errors

app = typer.Typer(help="审计日志（只追加、哈希链）", no_args_is_help=True)


@app.command("verify")
@handle_errors
def verify(as_json: bool = JsonOption) -> None:
    """校验整条审计哈希链；发现被修改或删除的事件时退出码为 1。"""
    with clikit.database().session() as session:
        report = verify_chain(session)

    def render(d: dict) -> None:
        if d["ok"]:
            clikit.console.print(f"[green]审计链完整[/green]：共 {d['events']} 条事件")
        else:
            clikit.console.print(f"[red]审计链被破坏[/red]：{d['problem']}（已校验 {d['events']} 条）")

    emit(report.to_dict(), as_json, render)
    if not report.ok:
        raise typer.Exit(1)


@app.command("log")
@handle_errors
def log(
    entity_type: Optional[str] = typer.Option(None, "--type", help="实体类型，如 subject、department"),
    entity_id: Optional[str] = typer.Option(None, "--id", help="实体编号"),
    actor: Optional[str] = typer.Option(None, "--actor"),
    limit: int = typer.Option(50, min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """列出审计事件（最新在前）。"""
    with clikit.database().session() as session:
        rows = [
            {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "entity_type": e.entity_type, "entity_id": e.entity_id, "reason": e.reason,
             "before": e.before, "after": e.after}
            for e in events_for(session, entity_type=entity_type, entity_id=entity_id, actor=actor, limit=limit)
        ]

    def render(items: list) -> None:
        table = Table("序号", "时间", "操作人", "操作", "对象", "原因")
        for r in items:
            table.add_row(str(r["seq"]), r["at"][:19], r["actor"], r["action"],
                          f"{r['entity_type']}:{r['entity_id'] or ''}", r["reason"] or "")
        clikit.console.print(table)

    emit(rows, as_json, render)
