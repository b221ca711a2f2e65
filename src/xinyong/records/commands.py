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
from xinyong.records import packing, queries, service, views
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


@app.command("train-dictionary")
@handle_errors
def train_dictionary(
    pool: int = typer.Option(packing.TRAIN_POOL, "--pool", min=1, help="读取最近多少个法人版本"),
    holdout: int = typer.Option(packing.TRAIN_HOLDOUT, "--holdout", min=10, help="其中留出多少个用于比较压缩效果"),
    force: bool = typer.Option(False, "--force", help="即使未更小也保存"),
    as_json: bool = JsonOption,
) -> None:
    """用本市最近的法人记录版本训练压缩字典；比当前字典更小才保存，此后新版本用它压缩（字典永不修改或删除）。"""
    actor = clikit.operator().actor
    result = clikit.database().run(
        lambda session: packing.train(session, actor=actor, pool=pool, holdout=holdout, force=force)
    )
    data = result.as_dict()

    def render(d: dict[str, Any]) -> None:
        verdict = f"已保存为字典 {d['dictionary_id']}" if d["stored"] else f"未保存：{d['reason']}"
        clikit.console.print(
            f"训练 {d['trained_on']} 个版本，留出 {d['held_out']} 个比较：每版本平均 "
            f"{d['mean_bytes_current']} → {d['mean_bytes_new']} 字节（当前字典 {d['current_dictionary_id']}）。{verdict}"
        )

    emit(data, as_json, render)


@app.command("pack-versions")
@handle_errors
def pack_versions(
    repack: bool = typer.Option(False, "--repack", help="也用最新字典重新压缩以旧字典压缩的版本"),
    batch: int = typer.Option(2_000, "--batch", min=1, max=50_000, help="每个事务处理的版本数"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="最多处理多少个版本"),
    as_json: bool = JsonOption,
) -> None:
    """压缩以明文存储的记录版本（0025 之前写入的，或 demo --size 生成的）；可中断、可重复运行。"""
    result = packing.pack_versions(clikit.database(), repack=repack, batch=batch, limit=limit)
    data = result.as_dict()

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(
            f"检查 {d['scanned']} 个版本：压缩 {d['packed']} 个，重新压缩 {d['repacked']} 个（字典 {d['dictionary_id']}），"
            f"{d['bytes_before']:,} → {d['bytes_after']:,} 字节"
        )

    emit(data, as_json, render)


@app.command("dictionaries")
@handle_errors
def dictionaries(as_json: bool = JsonOption) -> None:
    """列出记录版本的压缩字典（0 为内置字典）。"""
    with clikit.database().session(write=False) as session:
        data = packing.list_dictionaries(session)

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("ID", "校验和", "字节", "训练版本数", "创建时间", "操作人", title="压缩字典")
        for d in items:
            t.add_row(
                str(d["id"]),
                f"{d['checksum']:#010x}",
                str(d["bytes"]),
                str(d["trained_from"].get("versions", "")),
                local_text(d["created_at"]) if d["created_at"] else "内置",
                d["actor"] or "",
            )
        clikit.console.print(t)

    emit(data, as_json, render)
