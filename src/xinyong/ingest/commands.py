"""`xinyong ingest FILE …` and `xinyong batches …`: submit 双公示 files, read batch reports."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from xinyong.auth import service as auth
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.catalog.fields import record_kinds
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed
from xinyong.ingest import service
from xinyong.ingest.models import BatchStatus

batches_app = typer.Typer(help="归集批次：报告、退回数据、及时性", no_args_is_help=True)


def _department_principal(session: Session, code: str) -> tuple[int, Principal]:

    dept = auth.get_department(session, ref=code)
    op = clikit.operator()
    # The operator acts for the department; the audit log names the OS user and the department.
    return dept.id, Principal(
        kind=PrincipalKind.SYSTEM, name=f"{op.name}@{dept.code}", role=Role.ADMIN, department_id=dept.id
    )


def _render_summary(s: dict) -> None:
    """The batch report as a person reads it: Chinese labels and civil time (``--json`` keeps the codes)."""
    from xinyong.core.clock import local_text
    from xinyong.ingest.labels import KIND_LABELS, issue_label

    c = clikit.console
    status = {
        "accepted": "[green]全部接收[/green]",
        "partial": "[yellow]部分接收[/yellow]",
        "rejected": "[red]整批退回[/red]",
    }.get(s["status"], s["status"])
    if s.get("duplicate_of"):
        c.print(
            f"重复报送：该文件已于批次 {s['duplicate_of']} 报送并处理（{status}），本次未写入任何数据（新增 0 条）。"
        )
        return
    what = f"{KIND_LABELS.get(s['kind'], s['kind'])}，{s['format']}，{s['standard']}"
    if s.get("dry_run"):
        c.print(f"试运行（{what}）：只校验，未写入数据库，没有批次号。校验结果：{status}")
    else:
        received = local_text(s.get("received_at"))
        c.print(f"批次 {s['batch']}（{what}{'，' + received + ' 接收' if received else ''}）：{status}")
    c.print(
        f"共 {s['rows']} 行：接收 {s['accepted']}（新增 {s['created']}，更新 {s['updated']}，未变 {s['unchanged']}，"
        f"撤回 {s['withdrawn']}），退回 {s['rejected']}，超期报送 {s['late']}"
    )
    if s.get("subjects_created"):
        c.print(f"新建信用主体 {s['subjects_created']} 个")
    if s.get("name_mismatches"):
        # The JSON's name_mismatches: rows accepted under a registered code whose name differs from the registry's.
        c.print(
            f"[yellow]名称与登记不一致 {s['name_mismatches']} 行[/yellow]："
            "已按代码归入信用主体库中的主体并标注，请核实名称"
        )
    if s["errors"]:
        t = Table("行", "列", "问题", "说明", title=f"错误（前 {min(20, len(s['errors']))} 条）")
        for e in s["errors"][:20]:
            t.add_row(str(e["row"]), e["column"] or "", issue_label(e["code"]), e["message"])
        c.print(t)


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    @handle_errors
    def ingest(
        file: Path = typer.Argument(..., help="双公示数据文件（CSV/XLSX/JSON）"),
        kind: str | None = typer.Option(
            None,
            "--kind",
            help="信息类别：penalty（行政处罚）、licence（行政许可）或其他有数据标准的类别"
            "（honour、judicial、tax_arrears …，见 xinyong catalog fields）；缺省时按列名判断",
        ),
        department: str = typer.Option(..., "--department", help="报送部门代码，如 scjgj"),
        reject_all: bool = typer.Option(False, "--reject-all-on-error", help="任一行有错即整批退回"),
        dry_run: bool = typer.Option(False, "--dry-run", help="只校验，不写入"),
        as_json: bool = JsonOption,
    ) -> None:
        """报送一个信用信息数据文件（行政许可、行政处罚或其他信息类别），输出批次报告。"""

        if kind is not None and kind not in record_kinds():
            raise ValidationFailed(f"--kind 只能是 {' / '.join(record_kinds())} 之一", code="bad_kind")
        db = clikit.database()
        show_progress = not as_json and sys.stdout.isatty()
        with db.session(write=False) as session:
            dept_id, actor = _department_principal(session, department)

        def load(session: Session, progress: Callable[[int], None] | None = None) -> dict:
            # One unit of work (core.db.Database.run): the file is read and validated before the write
            # transaction takes its lock, and the whole batch runs again after a transient conflict.
            summary = service.ingest_file(
                session,
                actor=actor,
                department_id=dept_id,
                path=file,
                kind=kind,
                reject_all=reject_all,
                progress=progress,
            )
            if dry_run:
                session.rollback()
            return summary

        if show_progress:
            with Progress(
                SpinnerColumn(),
                TextColumn("已处理 {task.completed} 行"),
                TimeElapsedColumn(),
                console=clikit.console,
                transient=True,
            ) as bar:
                task = bar.add_task("ingest", total=None)
                summary = db.run(lambda s: load(s, lambda n: bar.update(task, completed=n)))
        else:
            summary = db.run(load)
        summary["dry_run"] = dry_run
        if dry_run:  # the batch was rolled back: its number names nothing (`batches show` would not find it)
            summary["batch"] = None
            if isinstance(summary.get("summary"), dict) and "batch" in summary["summary"]:
                summary["summary"]["batch"] = None
        emit(summary, as_json, _render_summary)
        if summary["status"] == BatchStatus.REJECTED:
            raise typer.Exit(1)

    app.add_typer(batches_app, name="batches")


@batches_app.command("list")
@handle_errors
def list_(
    department: str | None = typer.Option(None, "--department"),
    limit: int = typer.Option(20, min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """最近的归集批次。"""

    with clikit.database().session(write=False) as session:
        dept_id = auth.get_department(session, ref=department).id if department else None
        rows = [
            service.batch_summary(b)
            for b in service.list_batches(session, actor=clikit.operator(), department_id=dept_id, limit=limit)
        ]
    for r in rows:
        r.pop("errors", None)

    def render(items: list) -> None:
        from xinyong.core.clock import local_text
        from xinyong.ingest.labels import CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS

        t = Table("批次", "类型", "文件", "状态", "行数", "接收", "退回", "超期", "接收时间")
        t.columns[-1].no_wrap = True
        for r in items:
            t.add_row(
                str(r["batch"]),
                KIND_LABELS.get(r["kind"], r["kind"]),
                r["file"] or CHANNEL_LABELS.get(r["channel"], r["channel"]),
                STATUS_LABELS.get(r["status"], r["status"]),
                str(r["rows"]),
                str(r["accepted"]),
                str(r["rejected"]),
                str(r["late"]),
                local_text(r["received_at"]),
            )
        clikit.console.print(t)

    emit(rows, as_json, render)


@batches_app.command("show")
@handle_errors
def show(batch_id: int, as_json: bool = JsonOption) -> None:
    """一个批次的报告（含错误清单）。"""

    with clikit.database().session(write=False) as session:
        summary = service.batch_summary(service.get_batch(session, actor=clikit.operator(), batch_id=batch_id))
    emit(summary, as_json, _render_summary)


@batches_app.command("errors")
@handle_errors
def errors(
    batch_id: int,
    output: Path = typer.Option(..., "-o", "--output", help="输出文件（.csv 或 .xlsx）"),
    as_json: bool = JsonOption,
) -> None:
    """导出退回数据（部门原格式 + 错误说明），修改后可直接重新报送。"""

    fmt = output.suffix.lower().lstrip(".")
    with clikit.database().session(write=False) as session:
        content, _ = service.error_report(session, actor=clikit.operator(), batch_id=batch_id, fmt=fmt)
    output.write_bytes(content)
    emit(
        {"batch": batch_id, "file": str(output), "bytes": len(content)},
        as_json,
        lambda d: clikit.console.print(f"已写入 {d['file']}"),
    )


@batches_app.command("timeliness")
@handle_errors
def timeliness(as_json: bool = JsonOption) -> None:
    """各部门报送及时性（超过规定工作日的记录数与比例）与退回率。"""

    with clikit.database().session(write=False) as session:
        rows = service.timeliness(session)

    def render(items: list) -> None:
        t = Table("部门", "批次", "接收", "超期", "超期率", "退回", "退回率")
        for r in items:
            t.add_row(
                r["name"],
                str(r["batches"]),
                str(r["accepted"]),
                str(r["late"]),
                f"{r['late_rate']:.1%}" if r["late_rate"] is not None else "-",
                str(r["rejected"]),
                f"{r['rejection_rate']:.1%}" if r["rejection_rate"] is not None else "-",
            )
        clikit.console.print(t)

    emit(rows, as_json, render)
