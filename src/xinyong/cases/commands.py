"""`xinyong cases …`: file, follow and decide objections, repairs and complaints; queues, escalation, statistics,
notifications. The CLI acts as the platform admin (the credit office), e.g. at a service window.

Mounted by ``cli.py`` as ``app.add_typer(cases_cmds.app, name="cases")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.cases import complaints, flows, notify, objections, repair, service, verification
from xinyong.cases.config import get_cases_settings
from xinyong.cases.models import FiledVia
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, LimitOption, date_or_today, emit, handle_errors, parse_date
from xinyong.core.errors import ValidationFailed
from xinyong.subjects.service import get_subject

app = typer.Typer(help="异议、信用修复、举报：立案、办理、时限与统计", no_args_is_help=True)

_TARGET = typer.Option(..., "--target", help="对象：record:<记录ID> 或 list_entry:<名单条目ID>")
_REASON = typer.Option(None, "--reason", help="理由（多数操作必填）")


def _target(value: str) -> tuple[str, int]:
    kind, _, ident = value.partition(":")
    if kind not in ("record", "list_entry") or not ident.isdigit():
        raise ValidationFailed("--target 应为 record:<ID> 或 list_entry:<ID>", code="bad_target")
    return kind, int(ident)


def _print_case(c: dict[str, Any]) -> None:
    clikit.console.print(f"[bold]{c['case_no']}[/bold] {c['kind_label']} · {c['state_label']}（版本 {c['version']}）")
    if c.get("due_on"):
        flag = " [red]已逾期[/red]" if c["overdue"] else ""
        clikit.console.print(f"办理时限：{c['due_on']}{flag}")
    if c.get("outcome_label") or c.get("outcome_reason"):
        clikit.console.print(f"结果：{c.get('outcome_label') or ''} {c.get('outcome_reason') or ''}")
    if c.get("actions"):
        clikit.console.print(f"可执行操作：{'、'.join(c['actions'])}")


def _filed(case: Any, token: str, as_json: bool) -> None:
    with clikit.database().session() as session:
        view = service.case_view(session, service.get_case(session, case.id), actor=clikit.operator())

    def render(d: dict[str, Any]) -> None:
        _print_case(d["case"])
        clikit.console.print(f"查询凭证（仅显示一次）：{d['access_token']}")

    emit({"case": view, "access_token": token}, as_json, render)


def _file_at_window(filing: Any, target: str, facts: str, applicant: str | None, as_json: bool, **terms: Any) -> None:
    """File an objection or a repair (``filing``) at a department's service window, and show the case."""
    kind, ident = _target(target)
    with clikit.database().session() as session:
        case, token = filing(
            session,
            actor=clikit.operator(),
            target_type=kind,
            target_id=ident,
            facts=facts,
            applicant_name=applicant,
            filed_via=FiledVia.DEPARTMENT,
            **terms,
        )
    _filed(case, token, as_json)


@app.command("objection")
@handle_errors
def file_objection(
    target: str = _TARGET,
    facts: str = typer.Option(..., "--facts", help="异议的事实与理由"),
    applicant: str | None = typer.Option(None, "--applicant", help="申请人姓名"),
    as_json: bool = JsonOption,
) -> None:
    """在服务窗口登记异议（申请人已当场核验身份）。"""
    _file_at_window(objections.file_objection, target, facts, applicant, as_json)


@app.command("repair")
@handle_errors
def file_repair(
    target: str = _TARGET,
    facts: str = typer.Option(..., "--facts", help="纠正失信行为、履行义务的情况"),
    applicant: str | None = typer.Option(None, "--applicant", help="申请人姓名"),
    obligations_fulfilled: bool = typer.Option(False, "--obligations-fulfilled", help="已履行法定义务"),
    commitment_signed: bool = typer.Option(False, "--commitment-signed", help="已签署信用承诺书"),
    as_json: bool = JsonOption,
) -> None:
    """在服务窗口登记信用修复申请（平台核对最短公示期、新增严重失信记录、承诺等条件）。"""
    terms = {"obligations_fulfilled": obligations_fulfilled, "commitment_signed": commitment_signed}
    _file_at_window(repair.file_repair, target, facts, applicant, as_json, **terms)


@app.command("complaint")
@handle_errors
def file_complaint(
    facts: str = typer.Option(..., "--facts", help="举报的失信行为"),
    subject: str | None = typer.Option(None, "--subject", help="被举报主体的代码"),
    subject_name: str | None = typer.Option(None, "--subject-name", help="被举报主体名称"),
    department: str | None = typer.Option(None, "--department", help="主管部门代码"),
    reporter: str | None = typer.Option(None, "--reporter", help="举报人姓名（留空为匿名）"),
    channel: str | None = typer.Option(None, "--channel", help="举报人联系渠道 sms / email"),
    address: str | None = typer.Option(None, "--address", help="举报人手机号或邮箱"),
    as_json: bool = JsonOption,
) -> None:
    """登记举报（实名或匿名）。"""
    with clikit.database().session() as session:
        case, token = complaints.file_complaint(
            session,
            actor=clikit.operator(),
            facts=facts,
            subject_code=subject,
            subject_name=subject_name,
            department=department,
            anonymous=reporter is None,
            reporter_name=reporter,
            reporter_channel=channel,
            reporter_address=address,
            filed_via=FiledVia.DEPARTMENT,
        )
    _filed(case, token, as_json)


@app.command("act")
@handle_errors
def act(
    case_id: int = typer.Argument(..., help="案件 ID"),
    action: str = typer.Argument(
        ..., help="accept / not_accept / decide / approve / refuse / revoke / route / conclude / withdraw"
    ),
    reason: str | None = _REASON,
    outcome: str | None = typer.Option(None, "--outcome", help="decide / conclude 的结果"),
    version: int | None = typer.Option(None, "--version", help="看到的案件版本（并发保护）"),
    correction: str | None = typer.Option(None, "--correction", help="异议成立时：withdraw / correct / none"),
    changes: str | None = typer.Option(None, "--changes", help='更正内容 JSON，如 {"severity": "general"}'),
    false_materials: bool = typer.Option(False, "--false-materials", help="不予修复的原因是提供虚假材料"),
    department: str | None = typer.Option(None, "--department", help="route：转交的部门代码"),
    as_json: bool = JsonOption,
) -> None:
    """办理案件的一步（状态机校验顺序、理由与并发版本）。"""
    params: dict[str, Any] = {}
    if correction:
        params["correction"] = correction
    if changes:
        try:
            params["changes"] = json.loads(changes)
        except json.JSONDecodeError:
            raise ValidationFailed("--changes 应为 JSON 对象", code="bad_changes") from None
    if false_materials:
        params["false_materials"] = True
    if department:
        params["department"] = department
    actor = clikit.operator()
    with clikit.database().session() as session:
        case = service.transition(
            session,
            actor=actor,
            case_id=case_id,
            action=action,
            reason=reason,
            outcome=outcome,
            expected_version=version,
            params=params,
        )
        view = service.case_view(session, case, actor=actor)
    emit(view, as_json, _print_case)


@app.command("attach")
@handle_errors
def attach(
    case_id: int = typer.Argument(..., help="案件 ID"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="PDF / PNG / JPEG 文件"),
    kind: str = typer.Option("evidence", "--kind", help="evidence / commitment / decision / other"),
    as_json: bool = JsonOption,
) -> None:
    """为案件上传材料（按内容识别类型，超过大小上限拒绝）。"""
    limit = get_cases_settings().max_upload_bytes
    if file.stat().st_size > limit:
        raise ValidationFailed(f"文件过大：上限 {limit} 字节", code="document_too_large")
    actor = clikit.operator()
    with clikit.database().session() as session:
        case = service.visible_case(session, case_id, actor=actor)
        doc = service.add_document(
            session, actor=actor, case=case, kind=kind, filename=file.name, content=file.read_bytes()
        )
        data = {
            "id": doc.id,
            "filename": doc.filename,
            "media_type": doc.media_type,
            "size": doc.size,
            "sha256": doc.sha256,
        }
    emit(
        data,
        as_json,
        lambda d: clikit.console.print(f"已上传 {d['filename']}（{d['size']} 字节，SHA-256 {d['sha256']}）"),
    )


@app.command("show")
@handle_errors
def show(case_id: int = typer.Argument(..., help="案件 ID"), as_json: bool = JsonOption) -> None:
    """一个案件及其办理记录。"""
    actor = clikit.operator()
    with clikit.database().session(write=False) as session:
        data = service.case_view(session, service.visible_case(session, case_id, actor=actor), actor=actor)
        data["events"] = service.events_of(session, case_id)

    def render(d: dict[str, Any]) -> None:
        from xinyong.core.clock import local_text

        flow = flows.flow_for(d["kind"])
        _print_case(d)
        for e in d["events"]:
            action = flow.transitions[e["action"]].label if e["action"] in flow.transitions else e["action"]
            state = flow.states[e["to_state"]].label if e["to_state"] in flow.states else (e["to_state"] or "")
            clikit.console.print(
                f"  {local_text(e['at'], seconds=False)} {action} → {state} {e['reason'] or ''}", markup=False
            )

    emit(data, as_json, render)


@app.command("list")
@handle_errors
def list_(
    kind: str | None = typer.Option(None, "--kind", help="objection / repair / complaint"),
    department: str | None = typer.Option(None, "--department", help="承办部门代码"),
    open_only: bool = typer.Option(False, "--open", help="只看办理中"),
    overdue: bool = typer.Option(False, "--overdue", help="只看已逾期"),
    escalated: bool = typer.Option(False, "--escalated", help="只看已督办"),
    subject: str | None = typer.Option(None, "--subject", help="信用主体代码"),
    limit: int = LimitOption,
    as_json: bool = JsonOption,
) -> None:
    """工作队列：办理中的案件按到期日排序。"""
    actor = clikit.operator()
    with clikit.database().session(write=False) as session:
        cases = service.list_cases(
            session,
            actor=actor,
            department_id=service.department_id_for(session, department),
            kind=kind,
            open_only=open_only,
            overdue=overdue,
            escalated=escalated,
            subject_id=get_subject(session, subject).id if subject else None,
            limit=limit,
        )
        data = [service.case_view(session, c, actor=actor) for c in cases]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("ID", "编号", "类别", "状态", "承办部门", "办理时限", "逾期", title="案件")
        for c in items:
            t.add_row(
                str(c["id"]),
                c["case_no"],
                c["kind_label"],
                c["state_label"],
                (c["department"] or {}).get("code", "—"),
                str(c["due_on"] or "—"),
                "是" if c["overdue"] else "",
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("escalate")
@handle_errors
def escalate(
    on: str | None = typer.Option(None, "--date", help="按该日判断逾期（默认今天）"), as_json: bool = JsonOption
) -> None:
    """督办逾期案件（每日任务；重复运行不会重复督办）。"""
    today = date_or_today(on)
    data = clikit.database().run(
        lambda session: {
            "date": today,
            "escalated": [c.case_no for c in service.escalate_overdue(session, actor=clikit.operator(), today=today)],
        }
    )
    emit(data, as_json, lambda d: clikit.console.print(f"{d['date']} 督办逾期案件 {len(d['escalated'])} 件"))


@app.command("stats")
@handle_errors
def stats(
    date_from: str | None = typer.Option(None, "--from", help="立案日期起"),
    date_to: str | None = typer.Option(None, "--to", help="立案日期止"),
    as_json: bool = JsonOption,
) -> None:
    """各部门办理统计：件数、逾期率、平均办理工作日。"""
    with clikit.database().session(write=False) as session:
        data = service.department_stats(
            session,
            actor=clikit.operator(),
            date_from=parse_date(date_from, "--from"),
            date_to=parse_date(date_to, "--to"),
        )

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("部门", "类别", "件数", "办理中", "办结", "逾期", "逾期率", "平均工作日", title="案件办理统计")
        for r in items:
            t.add_row(
                (r["department"] or {}).get("code", "（未分派）"),
                flows.flow_for(r["kind"]).label,
                str(r["filed"]),
                str(r["open"]),
                str(r["closed"]),
                str(r["overdue"]),
                f"{r['overdue_rate']:.0%}",
                str(r["mean_workdays"] or "—"),
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("notify")
@handle_errors
def deliver(limit: int = typer.Option(200, "--limit", min=1, max=100_000), as_json: bool = JsonOption) -> None:
    """发送待发通知（日志、短信、邮件渠道）。"""
    db = clikit.database()
    with db.sessionmaker() as session:
        counts = notify.deliver_pending(session, limit=limit)
    emit(
        counts, as_json, lambda d: clikit.console.print(f"已发送 {d['sent']}，待重试 {d['retry']}，失败 {d['failed']}")
    )


@app.command("contact")
@handle_errors
def contact(
    subject: str = typer.Argument(..., help="信用主体代码"),
    channel: str = typer.Option(..., "--channel", help="sms / email"),
    address: str = typer.Option(..., "--address", help="手机号或邮箱"),
    source: str = typer.Option("窗口登记", "--source", help="来源"),
    as_json: bool = JsonOption,
) -> None:
    """登记信用主体的联系方式（一次性验证码发送至此）。"""
    with clikit.database().session() as session:
        found = get_subject(session, subject)
        c = verification.set_contact(
            session, actor=clikit.operator(), subject_id=found.id, channel=channel, address=address, source=source
        )
        data = {
            "subject_id": found.id,
            "channel": c.channel,
            "address": verification.mask_address(c.channel, c.address),
        }
    emit(data, as_json, lambda d: clikit.console.print(f"已登记 {d['channel']} {d['address']}"))
