"""`xinyong commitments …`: import, list, show and record fulfilment (践诺) of credit commitments.

Mounted by ``cli.py`` as ``app.add_typer(commitments_cmds.app, name="commitments")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.auth import service as auth_service
from xinyong.auth.roles import Principal, Role
from xinyong.commitments import importer, service
from xinyong.commitments.models import BatchStatus
from xinyong.core import clikit, clock
from xinyong.core.clikit import JsonOption, LimitOption, OffsetOption, date_or_today, emit, handle_errors, parse_date
from xinyong.core.clock import local_text
from xinyong.subjects.service import get_subject

app = typer.Typer(help="信用承诺（导入、查询、履约认定）", no_args_is_help=True)


def _acting_for(session: Any, code: str) -> tuple[int, Principal]:
    """The CLI operator acting for a department (the audit log names the OS user and the department)."""
    dept = auth_service.get_department(session, ref=code)
    op = clikit.operator()
    return dept.id, Principal(kind="system", name=f"{op.name}@{dept.code}", role=Role.ADMIN, department_id=dept.id)


def _render_batch(s: dict[str, Any]) -> None:
    c = clikit.console
    labels: dict[str, str] = {
        BatchStatus.ACCEPTED: "[green]全部接收[/green]",
        BatchStatus.PARTIAL: "[yellow]部分接收[/yellow]",
        BatchStatus.REJECTED: "[red]整批退回[/red]",
    }
    status = labels.get(s["status"], s["status"])
    c.print(f"批次 {s['batch']}（{s['format']}）：{status}")
    c.print(
        f"共 {s['rows']} 行：接收 {s['accepted']}（新增 {s['created']}，更新 {s['updated']}，未变 {s['unchanged']}），"
        f"退回 {s['rejected']}，违诺 {s['broken']}"
    )
    if s["errors"]:
        t = Table("行", "列", "错误码", "说明", title=f"错误（前 {min(20, len(s['errors']))} 条）")
        for e in s["errors"][:20]:
            t.add_row(str(e["row"]), e["column"] or "", e["code"], e["message"])
        c.print(t)


@app.command("import")
@handle_errors
def import_(
    file: Path = typer.Argument(..., help="信用承诺数据文件（CSV/XLSX/JSON，列名同国家数据标准）"),
    department: str = typer.Option(..., "--department", help="报送（承诺受理）部门代码"),
    reject_all: bool = typer.Option(False, "--reject-all-on-error", help="任一行有错即整批退回"),
    as_json: bool = JsonOption,
) -> None:
    """导入信用承诺文件，输出批次报告；整批退回时退出码为 1。"""
    db = clikit.database()
    with db.session(write=False) as session:
        dept_id, actor = _acting_for(session, department)
    # One unit of work, run again after a transient conflict (core.db.Database.run).
    summary = db.run(
        lambda session: importer.import_file(
            session, actor=actor, department_id=dept_id, path=file, reject_all=reject_all
        )
    )
    emit(summary, as_json, _render_batch)
    if summary["status"] == BatchStatus.REJECTED:
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_(
    subject: str | None = typer.Option(None, "--subject", help="承诺人代码（统一社会信用代码、身份证号等）"),
    department: str | None = typer.Option(None, "--department", help="受理部门代码"),
    commitment_type: str | None = typer.Option(None, "--type", help="承诺类型代码，如 credit_repair"),
    status: str | None = typer.Option(None, "--status", help="pending / fulfilled / partial / unfulfilled"),
    broken: bool | None = typer.Option(None, "--broken/--not-broken", help="只列违诺或未违诺的"),
    limit: int = LimitOption,
    offset: int = OffsetOption,
    as_json: bool = JsonOption,
) -> None:
    """列出信用承诺。"""
    with clikit.database().session(write=False) as session:
        subject_id = get_subject(session, subject).id if subject else None
        department_id = auth_service.get_department(session, ref=department).id if department else None
        rows = service.list_commitments(
            session,
            actor=None,
            subject_id=subject_id,
            department_id=department_id,
            commitment_type=commitment_type,
            status=status,
            broken=broken,
            limit=limit,
            offset=offset,
        )
        data = [service.commitment_view(c, s) for c, s in rows]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("ID", "承诺编码", "承诺人", "类型", "作出日期", "履行状态", "公开类型", "违诺", title="信用承诺")
        for r in items:
            t.add_row(
                str(r["id"]),
                r["code"],
                r["subject"]["name"],
                r["commitment_type_label"],
                str(r["made_on"]),
                r["fulfilment_status_label"],
                r["public_type_label"],
                "是" if r["broken"] else "",
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("show")
@handle_errors
def show(
    ref: str = typer.Argument(..., help="承诺 ID 或承诺编码（20位）"),
    on: str | None = typer.Option(None, "--date", help="按该日判断公示状态（默认今天）"),
    as_json: bool = JsonOption,
) -> None:
    """查看一条信用承诺及其版本和履行记录。"""
    today = date_or_today(on)
    with clikit.database().session(write=False) as session:
        ref = ref.strip()
        c = (
            service.get_by_code(session, ref, actor=None)
            if len(ref) == 20
            else service.get_commitment(session, int(ref) if ref.isdigit() else -1, actor=None)
        )
        view = service.detail_view(session, c, today)

    def render(v: dict[str, Any]) -> None:
        c = clikit.console
        c.print(f"[bold]{v['code']}[/bold]  {v['commitment_type_label']}  {v['made_on']}  revision {v['revision']}")
        c.print(
            f"承诺人：{v['subject']['name']}  履行状态：{v['fulfilment_status_label']}"
            f"{'（违诺）' if v['broken'] else ''}  公开：{v['public_reason']}"
        )
        for h in v["history"]:
            c.print(
                f"  版本 {h['version_no']}：{local_text(h['received_at'])} 批次 {h['batch_id']} 第 {h['source_row']} 行 "
                f"变更 {', '.join(h['changed_fields'][:8])}"
            )
        for e in v["fulfilments"]:
            c.print(f"  履约 {e['at']}：{e['status_label']}（{e['source']}，{e['actor']}）")

    emit(view, as_json, render)


@app.command("fulfil")
@handle_errors
def fulfil(
    commitment_id: int = typer.Argument(..., help="承诺 ID"),
    status: str = typer.Option(
        ..., "--status", help="全部履行 / 部分履行 / 全部未履行（或 fulfilled / partial / unfulfilled）"
    ),
    determined_on: str | None = typer.Option(None, "--determined-on", help="认定日期（默认今天）"),
    determined_by: str | None = typer.Option(None, "--determined-by", help="认定单位"),
    determined_by_code: str | None = typer.Option(None, "--determined-by-code", help="认定单位统一社会信用代码"),
    unfulfilled: str | None = typer.Option(None, "--unfulfilled", help="未履行的承诺内容"),
    liability_pursued: str | None = typer.Option(None, "--liability-pursued", help="违诺责任追究内容"),
    list_code: str | None = typer.Option(None, "--list", help="因违诺申请列入的名单代码"),
    expected_revision: int | None = typer.Option(None, "--expected-revision", help="读取时的 revision"),
    note: str | None = typer.Option(None, "--note", help="说明"),
    as_json: bool = JsonOption,
) -> None:
    """认定承诺履行状态（践诺）。"""
    with clikit.database().session() as session:
        c = service.record_fulfilment(
            session,
            actor=clikit.operator(),
            commitment_id=commitment_id,
            status=status,
            determined_on=parse_date(determined_on, "--determined-on"),
            determined_by=determined_by,
            determined_by_code=determined_by_code,
            unfulfilled_content=unfulfilled,
            liability_pursued=liability_pursued,
            expected_revision=expected_revision,
            note=note,
            list_code=list_code,
        )
        view = service.detail_view(session, c, clock.today())

    def render(v: dict[str, Any]) -> None:
        clikit.console.print(
            f"{v['code']}：{v['fulfilment_status_label']}{'（违诺）' if v['broken'] else ''}，revision {v['revision']}"
        )

    emit(view, as_json, render)


@app.command("public")
@handle_errors
def public(subject: str = typer.Argument(..., help="承诺人统一社会信用代码"), as_json: bool = JsonOption) -> None:
    """一个主体今日向社会公开的信用承诺（与公众看到的一致）。"""
    with clikit.database().session(write=False) as session:
        data = service.subject_commitments_view(session, get_subject(session, subject), clock.today(), public=True)

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("承诺编码", "承诺人", "类型", "作出日期", "履行状态", title="公开的信用承诺")
        for r in items:
            t.add_row(
                r["code"],
                r["promisor_name"],
                r["commitment_type_label"],
                str(r["made_on"]),
                r["fulfilment_status_label"],
            )
        clikit.console.print(t)

    emit(data, as_json, render)
