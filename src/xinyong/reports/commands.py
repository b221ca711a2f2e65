"""`xinyong reports …`: issue a credit report PDF, verify one, list the register.

Mounted by ``cli.py`` as ``app.add_typer(reports_cmds.app, name="reports")``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.auth.service import get_department
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.core.errors import ValidationFailed
from xinyong.reports import government_file, service
from xinyong.reports.models import VerificationStatus
from xinyong.subjects.service import get_subject

app = typer.Typer(help="公共信用信息报告（出具、核验、登记簿）", no_args_is_help=True)
#: The answers of `verify` that mean the report is genuine (exit code 0).
_GOOD = (VerificationStatus.VALID, VerificationStatus.REGISTERED)


@app.command("generate")
@handle_errors
def generate(
    subject: str = typer.Argument(..., help="统一社会信用代码（自然人：身份证号码，须同时给出 --reason）"),
    out: Path = typer.Option(..., "--out", "-o", help="PDF 输出文件"),
    reason: str | None = typer.Option(
        None, "--reason", help="代自然人出具的理由（如：窗口核验本人身份证后打印），记入审计日志"
    ),
    as_json: bool = JsonOption,
) -> None:
    """出具一份报告并写入 PDF 文件（编号、验证码和文件指纹登记在平台上）。"""
    # The output path first: a report is registered only when its file can be written.
    folder = out.parent if str(out.parent) else Path(".")
    if out.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ValidationFailed(f"无法写入 {out}：目录不存在、不可写或目标是目录，报告未出具", code="write_failed")
    with clikit.database().session() as session:
        report, pdf_bytes = service.generate_report(
            session, subject_code=subject, requester=clikit.operator(), reason=reason
        )
        summary = service.report_summary(report)
        try:  # inside the transaction: a failed write leaves no registered report behind
            out.write_bytes(pdf_bytes)
        except OSError as exc:
            raise ValidationFailed(f"无法写入 {out}：{exc.strerror}，报告未出具", code="write_failed") from None
    summary["file"] = str(out)

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(f"已出具报告 {d['number']}（验证码 {d['short_code']}，{d['pages']} 页）→ {d['file']}")
        clikit.console.print(f"SHA-256 {d['sha256']}")

    emit(summary, as_json, render)


@app.command("verify")
@handle_errors
def verify(
    file: Path | None = typer.Argument(None, help="要核验的报告 PDF 文件"),
    number: str | None = typer.Option(None, "--number", help="报告编号"),
    code: str | None = typer.Option(None, "--code", help="验证码"),
    as_json: bool = JsonOption,
) -> None:
    """核验报告：按编号或验证码查登记信息，给出文件时比对指纹。不一致或查无此报告时退出码为 1。"""
    content = None
    if file is not None:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise ValidationFailed(f"无法读取 {file}：{exc.strerror}", code="read_failed") from None
    with clikit.database().session() as session:
        result = service.verify_report(session, number=number, short_code=code, pdf_bytes=content)

    def render(d: dict[str, Any]) -> None:
        colour = "green" if d["status"] in _GOOD else "red"
        clikit.console.print(f"[{colour}]{d['message']}[/{colour}]")
        if d["report"]:
            r = d["report"]
            clikit.console.print(
                f"报告 {r['number']}：{r['subject_name']}（{r['subject_code'] or '—'}），"
                f"出具于 {local_text(r['issued_at'])}，SHA-256 {r['sha256']}"
            )

    emit(result, as_json, render)
    if result["status"] not in _GOOD:
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_(
    subject: str | None = typer.Option(None, "--subject", help="只列该主体的报告（统一社会信用代码等）"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """列出已出具的报告（登记簿，最新在前）。"""
    with clikit.database().session(write=False) as session:
        subject_id = get_subject(session, subject).id if subject else None
        rows = [
            service.report_summary(r) | {"requester_kind": r.requester_kind}
            for r in service.issued_reports(session, subject_id=subject_id, limit=limit)
        ]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("报告编号", "验证码", "主体", "出具时间", "申请方式", "页数")
        for r in items:
            t.add_row(
                r["number"],
                r["short_code"],
                r["subject_name"],
                local_text(r["issued_at"], seconds=False),
                r["requester_kind"],
                str(r["pages"]),
            )
        clikit.console.print(t)

    emit(rows, as_json, render)


@app.command("file")
@handle_errors
def file_(
    subject: str = typer.Argument(..., help="统一社会信用代码或身份证号码等"),
    department: str = typer.Option(..., "--department", help="查询部门代码（记入主体的查询记录）"),
    purpose: str = typer.Option(
        "",
        "--purpose",
        help="查询事由：approval / procurement / trading / funding / subsidy / honour / hiring / supervision / other",
    ),
    purpose_text: str | None = typer.Option(None, "--purpose-text", help="具体事由（事由为 other 时必填）"),
    as_json: bool = JsonOption,
) -> None:
    """政府信用档案（政务共享）：各部门可共享的记录、名单、承诺、评价与异议标记；查询记入主体的查询记录。"""

    refused: government_file.FileRefused | None = None
    with clikit.database().session() as session:
        dept = get_department(session, ref=department)
        actor = replace(clikit.operator(), department_id=dept.id)
        try:
            data = government_file.read_file(
                session, actor=actor, code=subject, purpose=purpose or None, purpose_text=purpose_text
            )
        except government_file.FileRefused as exc:
            government_file.log_refusal(session, actor=actor, exc=exc)  # committed with the session
            refused = exc
    if refused is not None:
        raise refused

    def render(d: dict[str, Any]) -> None:
        s = d["subject"]
        clikit.console.print(
            f"[bold]{s['name']}[/bold] {s['uscc'] or s['resident_id'] or ''}　"
            f"事由：{d['purpose_label']}　截至 {d['as_of']}"
        )
        t = Table("类别", "文号", "机关", "决定日期", "状态", "异议")
        for r in d["records"]:
            t.add_row(
                r["info_class"],
                r["doc_no"],
                r["authority"],
                str(r["decision_date"]),
                r["share_label"],
                r.get("objection") or "",
            )
        clikit.console.print(t)
        lt = Table("名单", "列入日期", "状态", "移出日期", "异议")
        for e in d["lists"]:
            lt.add_row(
                e["list_name"],
                str(e["listed_on"] or ""),
                e["status_label"],
                str(e["removed_on"] or ""),
                e.get("objection") or "",
            )
        clikit.console.print(lt)
        clikit.console.print(
            f"承诺 {len(d['commitments'])} 项；评价结果 {len(d['grades'])} 项；"
            f"异议处理中 {d['open_objections']} 项；不予共享的类别：{', '.join(d['not_shared']) or '无'}"
        )

    emit(data, as_json, render)
