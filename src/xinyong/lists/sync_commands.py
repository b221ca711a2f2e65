"""`xinyong lists sync | syncs | review | judge`: external list sync and the review queue (added by ``register``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Column, Table

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.core.errors import ValidationFailed
from xinyong.lists import sync
from xinyong.subjects.service import get_subject

_COUNTS = (
    ("added", "新增"),
    ("changed", "变更"),
    ("removed", "移出"),
    ("unchanged", "未变"),
    ("rejected", "无效行"),
    ("review_queued", "本次待复核"),
    ("review_queue_size", "待复核总数"),
)


def _as_json(flag: bool) -> bool:
    """JSON with ``--json`` or when the output is not a terminal (a pipe or a file)."""
    return flag or not sys.stdout.isatty()


def _render_sync(v: dict[str, Any]) -> None:
    t = Table(
        "项目",
        Column("数量", justify="right"),
        title=f"同步 {v['id']}：{v['list']}（{'全量' if v['mode'] == 'snapshot' else '增量'}）{v['filename']}",
    )
    t.add_row("文件行数", str(v["rows"]))
    for key, label in _COUNTS:
        t.add_row(label, str(v[key]))
    if v.get("relinked"):
        t.add_row("重新关联", str(v["relinked"]))
    clikit.console.print(t)
    problems = (v.get("report") or {}).get("problems") or []
    for p in problems[:20]:
        clikit.console.print(f"  第 {p['row']} 行 {p['column']}：{p['message']}")


def _render_queue(v: dict[str, Any]) -> None:
    t = Table(
        "条目",
        "名单",
        Column("案号/文号", overflow="fold"),
        Column("当事人", overflow="fold"),
        "证件号码",
        Column("候选主体（得分）", overflow="fold"),
        title=f"待复核 {v['total']} 条",
    )
    for item in v["items"]:
        cands = "；".join(
            f"{c['subject_id']} {c['name']} {c.get('code') or ''}（{c['score']:.2f}）" for c in item["candidates"]
        )
        t.add_row(
            str(item["entry_id"]),
            item.get("list_name") or item["list"],
            item.get("decision_no") or "",
            item["party_name"],
            item["party_code"] or "",
            cands,
        )
    clikit.console.print(t)


def sync_cmd(
    file: Path = typer.Argument(..., help="名单文件（CSV / XLSX / JSON）"),
    list_code: str = typer.Option(..., "--list", help="名单类型代码，如 court_dishonest_debtor、samr_abnormal"),
    mode: str = typer.Option("snapshot", "--mode", help="snapshot（全量快照）或 delta（增量）"),
    threshold: float | None = typer.Option(None, "--threshold", help="名称比对自动关联的得分阈值（0–1）"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="跳过无效行（计为无效行），其余照常同步"),
    as_json: bool = JsonOption,
) -> None:
    """同步外部名单：比对新增、变更、移出，关联信用主体，输出各项数量和待复核数。"""
    view = clikit.database().run(
        lambda session: sync.sync_view(
            sync.sync_list(
                session,
                actor=clikit.operator(),
                list_code=list_code,
                path=file,
                mode=mode,
                threshold=threshold,
                skip_invalid=skip_invalid,
            ),
            list_code,
        )
    )
    emit(view, _as_json(as_json), _render_sync)


def syncs_cmd(
    list_code: str | None = typer.Option(None, "--list", help="只看该名单"),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    """同步记录（最新在前）。"""
    with clikit.database().session(write=False) as session:
        total, found = sync.syncs_of(session, list_code=list_code, limit=limit)
        items = [sync.sync_view(r, code, with_report=False) for r, code in found]

    def render(v: dict[str, Any]) -> None:
        t = Table(
            "ID", "名单", "方式", "文件", *[label for _, label in _COUNTS[:6]], "时间", title=f"同步记录 {total} 次"
        )
        for s in v["items"]:
            t.add_row(
                str(s["id"]),
                s["list"],
                s["mode"],
                s["filename"],
                *[str(s[k]) for k, _ in _COUNTS[:6]],
                local_text(s["started_at"]),
            )
        clikit.console.print(t)

    emit({"total": total, "items": items}, _as_json(as_json), render)


def review_cmd(
    list_code: str | None = typer.Option(None, "--list", help="只看该名单"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
    as_json: bool = JsonOption,
) -> None:
    """待复核的名单条目及候选主体（含每个候选的得分依据，JSON 输出中可见）。"""
    with clikit.database().session(write=False) as session:
        view = sync.review_queue(session, list_code=list_code, limit=limit, offset=offset)
    emit(view, _as_json(as_json), _render_queue)


def judge_cmd(
    entry_id: int = typer.Argument(..., help="名单条目 ID"),
    subject_code: str = typer.Argument(..., help="信用主体的统一社会信用代码（或其他代码）"),
    same: bool = typer.Option(False, "--same", help="是同一主体：关联"),
    not_same: bool = typer.Option(False, "--not-same", help="不是同一主体：从候选中排除"),
    reason: str = typer.Option(..., "--reason", help="复核理由"),
    as_json: bool = JsonOption,
) -> None:
    """记录复核结论；以后每次同步对同一当事人沿用该结论。"""
    if same == not_same:
        raise ValidationFailed("请指定 --same 或 --not-same 之一", code="verdict_required")
    with clikit.database().session() as session:
        subject = get_subject(session, subject_code)
        entry = sync.judge(
            session,
            actor=clikit.operator(),
            entry_id=entry_id,
            subject_id=subject.id,
            verdict="same" if same else "not_same",
            reason=reason,
        )
        view = sync.review_view(entry, sync.list_type_by_id(session, entry.list_type_id).code)

    def render(v: dict[str, Any]) -> None:
        clikit.console.print(
            f"条目 {v['entry_id']}（{v['party_name']}）：比对状态 {v['match_status']}，"
            f"关联主体 {v['subject_id'] or '-'}"
        )

    emit(view, _as_json(as_json), render)


def register(app: typer.Typer) -> None:
    """Add the sync and review commands to the ``xinyong lists`` sub-app."""
    app.command("sync")(handle_errors(sync_cmd))
    app.command("syncs")(handle_errors(syncs_cmd))
    app.command("review")(handle_errors(review_cmd))
    app.command("judge")(handle_errors(judge_cmd))
