"""`xinyong audit …`: verify the hash chain, read an entity's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from xinyong.core import clikit
from xinyong.core.audit import anchor, events_for, verify_anchors, verify_chain
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed

app = typer.Typer(help="审计日志（只追加、哈希链）", no_args_is_help=True)


def _read_anchors(path: Path) -> list[dict]:
    if not path.is_file():
        raise ValidationFailed(f"锚点文件不存在：{path}", code="file_not_found")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValidationFailed(f"锚点文件第 {number} 行不是 JSON", code="anchor_file_invalid") from None
    return out


@app.command("verify")
@handle_errors
def verify(anchors: Optional[Path] = typer.Option(None, "--anchors", help="另行保存的锚点文件（每行一个，audit anchor 生成）"),
           as_json: bool = JsonOption) -> None:
    """校验整条审计哈希链（及锚点）；发现被修改、删除或截断时退出码为 1。"""
    with clikit.database().session(write=False) as session:
        result = verify_chain(session).to_dict()
        if anchors is not None:
            checked = verify_anchors(session, _read_anchors(anchors)).to_dict()
            result["anchors"] = checked
            result["ok"] = result["ok"] and checked["ok"]

    def render(d: dict) -> None:
        if d["problem"]:
            clikit.console.print(f"[red]审计链被破坏[/red]：{d['problem']}（已校验 {d['events']} 条）")
        else:
            clikit.console.print(f"[green]审计链完整[/green]：共 {d['events']} 条事件")
        if "anchors" in d:
            for p in d["anchors"]["problems"]:
                clikit.console.print(f"[red]锚点 {p['anchor']}[/red]：{p['problem']}")
            if d["anchors"]["ok"]:
                clikit.console.print(f"[green]锚点全部吻合[/green]：{d['anchors']['anchors']} 个")

    emit(result, as_json, render)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("anchor")
@handle_errors
def make_anchor(out: Optional[Path] = typer.Option(None, "--out", help="追加到此文件（应在数据库之外保存，如另一台机器或只写存储）"),
                as_json: bool = JsonOption) -> None:
    """签发当前链头的锚点（序号、哈希、时间、签名）；每日保存到数据库之外，audit verify --anchors 可据此发现截断。"""
    with clikit.database().session() as session:
        a = anchor(session)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(a, ensure_ascii=False) + "\n")

    def render(d: dict) -> None:
        clikit.console.print(f"锚点：第 {d['seq']} 条事件，哈希 {d['hash'][:16]}…，{d['at'][:19]}"
                             + (f"，已追加到 {out}" if out else ""))

    emit(a, as_json, render)


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
    with clikit.database().session(write=False) as session:
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
