"""`xinyong audit …`: verify the hash chain and its anchors, anchor the head (once or on a schedule), read an
entity's history."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from xinyong.core import clikit
from xinyong.core.audit import (
    anchor,
    append_anchor,
    event_dict,
    events_for,
    last_anchor_in_file,
    read_anchor_file,
    verify_anchors,
    verify_chain,
)
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.core.errors import ValidationFailed
from xinyong.core.settings import get_settings

app = typer.Typer(help="审计日志（只追加、哈希链）", no_args_is_help=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} 秒"
    if seconds < 7200:
        return f"{seconds / 60:.0f} 分钟"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} 小时"
    return f"{seconds / 86400:.1f} 天"


@app.command("verify")
@handle_errors
def verify(
    anchors: Path | None = typer.Option(
        None, "--anchors", help="另行保存的锚点文件（每行一个，audit anchor 生成）；默认 XINYONG_AUDIT_ANCHORS_FILE"
    ),
    max_age: int | None = typer.Option(
        None,
        "--max-age",
        min=0,
        help="最新锚点的最长允许时长（秒），超过则退出码为 1；默认 XINYONG_AUDIT_ANCHOR_MAX_AGE（900），0 不检查",
    ),
    anchors_only: bool = typer.Option(
        False, "--anchors-only", help="只校验锚点与未锚定窗口，不重算整条链（开销小，供监控每隔几分钟运行）"
    ),
    as_json: bool = JsonOption,
) -> None:
    """校验整条审计哈希链（及锚点）；发现被修改、删除或截断，或最新锚点过旧时退出码为 1。"""
    settings = get_settings()
    anchors = anchors if anchors is not None else settings.audit_anchors_file
    limit = settings.audit_anchor_max_age if max_age is None else max_age
    if anchors_only and anchors is None:
        raise ValidationFailed(
            "--anchors-only 需要锚点文件（--anchors 或 XINYONG_AUDIT_ANCHORS_FILE）", code="anchors_required"
        )
    with clikit.database().session(write=False) as session:
        if anchors_only:
            result: dict[str, Any] = {"ok": True, "chain_checked": False}
        else:
            result = verify_chain(session).to_dict()
        if anchors is not None:
            checked = verify_anchors(
                session, read_anchor_file(anchors), max_age=dt.timedelta(seconds=limit) if limit else None
            ).to_dict()
            result["anchors"] = checked
            result["ok"] = result["ok"] and checked["ok"] and not checked["stale"]

    def render(d: dict) -> None:
        if d.get("chain_checked") is False:
            clikit.console.print("未重算审计链（--anchors-only）")
        elif d["problem"]:
            clikit.console.print(f"[red]审计链被破坏[/red]：{d['problem']}（已校验 {d['events']} 条）")
        else:
            clikit.console.print(f"[green]审计链完整[/green]：共 {d['events']} 条事件")
        if "anchors" in d:
            a = d["anchors"]
            for p in a["problems"]:
                clikit.console.print(f"[red]锚点 {p['anchor']}[/red]：{p['problem']}")
            if a["ok"]:
                clikit.console.print(f"[green]锚点全部吻合[/green]：{a['anchors']} 个")
            if a["newest"] is None:
                window = f"没有有效的锚点：全部 {a['events_after_newest']} 条事件都未经锚定"
            else:
                window = (
                    f"最新锚点（第 {a['newest']['seq']} 条，{local_text(a['newest']['at'])}）"
                    f"距今 {_duration(a['newest_age_seconds'])}，其后 {a['events_after_newest']} 条事件尚未锚定"
                    "（被删除时锚点无法发现）"
                )
            if a["stale"]:
                clikit.console.print(
                    f"[red]锚点过旧[/red]：{window}；上限 {_duration(a['max_age_seconds'])}，"
                    "请检查定时锚定任务（audit anchor）是否仍在运行"
                )
            else:
                clikit.console.print(f"未锚定窗口：{window}")

    emit(result, as_json, render)
    if not result["ok"]:
        raise typer.Exit(1)


@app.command("anchor")
@handle_errors
def make_anchor(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="追加到此文件（应在数据库之外保存，如另一台机器或只写存储）；默认 XINYONG_AUDIT_ANCHORS_FILE",
    ),
    loop: bool = typer.Option(
        False, "--loop", help="持续运行，每隔 --every 秒签发一次（无 cron 时用；SIGTERM 或 Ctrl+C 停止）"
    ),
    every: float = typer.Option(300.0, "--every", min=0.1, help="--loop 时的间隔（秒）"),
    count: int = typer.Option(0, "--count", min=0, help="--loop 时签发这么多次后退出（0：直到被停止）"),
    as_json: bool = JsonOption,
) -> None:
    """校验上一个锚点之后的事件并签发当前链头的锚点（序号、哈希、时间、签名），追加到数据库之外的文件。

    每隔几分钟运行一次（cron 或 --loop）：只重算上一个锚点之后的事件。链在那之后被破坏时不签发，退出码为 1。
    --loop --json 时每次输出一行 JSON。
    """
    out = out if out is not None else get_settings().audit_anchors_file
    db = clikit.database()
    previous = last_anchor_in_file(out) if out is not None else None
    stop = threading.Event()

    def render(d: dict) -> None:
        if not d["ok"]:
            clikit.console.print(f"[red]未签发锚点[/red]：自第 {d['verified_from']} 条起校验失败：{d['problem']}")
            return
        clikit.console.print(
            f"锚点：第 {d['seq']} 条事件，哈希 {d['hash'][:16]}…，{local_text(d['at'])}"
            f"（自第 {d['verified_from']} 条起校验了 {d['verified_events']} 条）" + (f"，已追加到 {out}" if out else "")
        )

    def once() -> None:
        nonlocal previous
        with db.session() as session:
            result = anchor(session, previous=previous)
        if result.anchor is not None:
            if out is not None:
                append_anchor(out, result.anchor)
            previous = result.anchor
        d = result.to_dict()
        if loop and as_json:
            sys.stdout.write(json.dumps(d, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            emit(d, as_json, render)
        if not result.ok:
            raise typer.Exit(1)

    if not loop:
        once()
        return

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    clikit.err_console.print(f"审计锚定进程已启动（每 {every:g} 秒），SIGTERM 或 Ctrl+C 停止")
    try:
        done = 0
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                once()
            except DBAPIError as exc:  # the database is away for a moment: say so and try at the next tick
                clikit.err_console.print(f"[red]错误[/red] {clikit.database_error(exc).message}")
            done += 1
            if count and done >= count:
                break
            next_at += every
            now = time.monotonic()
            if next_at < now:  # a slow round: skip the ticks it overran instead of catching up in a burst
                next_at = now + every - (now - next_at) % every
            stop.wait(next_at - now)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    clikit.err_console.print("审计锚定进程已停止")


@app.command("log")
@handle_errors
def log(
    entity_type: str | None = typer.Option(None, "--type", help="实体类型，如 subject、department"),
    entity_id: str | None = typer.Option(None, "--id", help="实体编号"),
    actor: str | None = typer.Option(None, "--actor"),
    limit: int = typer.Option(50, min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """列出审计事件（最新在前）。"""
    with clikit.database().session(write=False) as session:
        rows = [
            event_dict(e)
            for e in events_for(session, entity_type=entity_type, entity_id=entity_id, actor=actor, limit=limit)
        ]

    def render(items: list) -> None:
        table = Table("序号", "时间", "操作人", "操作", "对象", "原因")
        for r in items:
            table.add_row(
                str(r["seq"]),
                local_text(r["at"]),
                r["actor"],
                r["action"],
                f"{r['entity_type']}:{r['entity_id'] or ''}",
                r["reason"] or "",
            )
        clikit.console.print(table)

    emit(rows, as_json, render)
