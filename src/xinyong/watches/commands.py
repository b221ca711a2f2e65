"""`xinyong watches …`: webhook receivers, watched subjects and the delivery worker (thin: parse, call, print).

The command line acts as the platform admin (``clikit.operator()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.auth import service as auth_service
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, ReasonOption, emit, handle_errors
from xinyong.core.clock import local_text
from xinyong.core.errors import ValidationFailed
from xinyong.watches import delivery, service
from xinyong.watches.models import DeliveryStatus
from xinyong.watches.schemas import DeliveryOut, ReceiverOut

app = typer.Typer(help="订阅推送：接收端、关注主体与推送投递", no_args_is_help=True)
receivers_app = typer.Typer(help="推送接收端（新增、列表、更换密钥、停用）", no_args_is_help=True)
app.add_typer(receivers_app, name="receivers")

STATUS_LABELS = {DeliveryStatus.PENDING: "待发送", DeliveryStatus.DELIVERED: "已确认", DeliveryStatus.DEAD: "已放弃"}


def _receiver_dict(receiver: Any, secret: str | None = None) -> dict[str, Any]:
    data = ReceiverOut.model_validate(receiver).model_dump(mode="json")
    if secret is not None:
        data["secret"] = secret
    return data


def _print_secret(d: dict[str, Any], verb: str) -> None:
    clikit.console.print(f"已{verb}接收端 {d['id']}（{d['name']}） → {d['url']}")
    clikit.console.print(f"签名密钥（只显示这一次，请立即保存到接收端）：[bold]{d['secret']}[/bold]")


@receivers_app.command("add")
@handle_errors
def receivers_add(
    name: str = typer.Option(..., "--name", help="接收端名称，如 工程建设项目审批系统"),
    url: str = typer.Option(..., "--url", help="推送地址（http:// 或 https://）"),
    department: str = typer.Option(..., "--department", help="所属部门的代码或编号"),
    event_types: list[str] | None = typer.Option(None, "--event", help="只接收此类事件（可重复），如 list.entered"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """登记推送接收端，并显示一次签名密钥。"""
    with clikit.database().session() as session:
        dept = auth_service.get_department(session, ref=int(department) if department.isdigit() else department)
        receiver, secret = service.create_receiver(
            session,
            actor=clikit.operator(),
            name=name,
            url=url,
            department_id=dept.id,
            event_types=event_types,
            reason=reason,
        )
        data = _receiver_dict(receiver, secret)
    emit(data, as_json, lambda d: _print_secret(d, "登记"))


@receivers_app.command("list")
@handle_errors
def receivers_list(
    include_inactive: bool = typer.Option(False, "--all", help="包含已停用的接收端"),
    as_json: bool = JsonOption,
) -> None:
    """列出推送接收端。"""
    with clikit.database().session(write=False) as session:
        rows = [
            _receiver_dict(r)
            for r in service.list_receivers(session, actor=clikit.operator(), include_inactive=include_inactive)
        ]

    def render(items: list[dict[str, Any]]) -> None:
        table = Table("编号", "名称", "部门", "推送地址", "事件", "密钥前缀", "状态")
        for r in items:
            table.add_row(
                str(r["id"]),
                r["name"],
                str(r["department_id"]),
                r["url"],
                ",".join(r["event_types"]) or "全部",
                r["secret_prefix"],
                "启用" if r["active"] else "停用",
            )
        clikit.console.print(table)

    emit(rows, as_json, render)


@receivers_app.command("rotate")
@handle_errors
def receivers_rotate(
    receiver_id: int = typer.Argument(..., help="接收端编号"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """更换签名密钥（旧密钥在24小时内继续同时签名）。"""
    with clikit.database().session() as session:
        receiver, secret = service.rotate_secret(
            session, actor=clikit.operator(), receiver_id=receiver_id, reason=reason
        )
        data = _receiver_dict(receiver, secret)
    emit(data, as_json, lambda d: _print_secret(d, "更换密钥："))


@receivers_app.command("deactivate")
@handle_errors
def receivers_deactivate(
    receiver_id: int = typer.Argument(..., help="接收端编号"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """停用接收端（待发送的推送作废）。"""
    with clikit.database().session() as session:
        data = _receiver_dict(
            service.deactivate_receiver(session, actor=clikit.operator(), receiver_id=receiver_id, reason=reason)
        )
    emit(data, as_json, lambda d: clikit.console.print(f"接收端 {d['id']}（{d['name']}）已停用"))


def _codes(codes: list[str] | None, file: Path | None) -> list[str]:
    found = list(codes or [])
    if file is not None:
        try:
            found += [line.strip() for line in file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"无法读取代码文件 {file}：{exc}", code="bad_codes_file") from exc
    return found


def _render_codes(verb: str) -> Any:
    def render(d: dict[str, Any]) -> None:
        summary = "，".join(f"{k} {v}" for k, v in sorted(d["summary"].items()))
        clikit.console.print(f"接收端 {d['receiver_id']} {verb}：{summary}")
        for item in d["items"]:
            if item["status"] in ("not_found", "invalid"):
                clikit.console.print(f"  第{item['index'] + 1}项 {item['code']}：{item['message']}")

    return render


def _problems(result: dict[str, Any]) -> bool:
    return any(item["status"] in ("not_found", "invalid") for item in result["items"])


def _change_subscriptions(
    change: Any,
    verb: str,
    *,
    codes: list[str] | None,
    file: Path | None,
    receiver_id: int,
    reason: str | None,
    as_json: bool,
) -> None:
    """Subscribe or unsubscribe the codes (``service.subscribe`` / ``unsubscribe``); exit 1 if any was not found."""
    with clikit.database().session() as session:
        result = change(
            session, actor=clikit.operator(), receiver_id=receiver_id, codes=_codes(codes, file), reason=reason
        )
    emit(result, as_json, _render_codes(verb))
    if _problems(result):
        raise typer.Exit(1)


_ReceiverOption = typer.Option(..., "--receiver", help="接收端编号")
_CodesFileOption = typer.Option(None, "--file", help="代码文件（每行一个代码）")


@app.command("subscribe")
@handle_errors
def subscribe(
    codes: list[str] | None = typer.Argument(None, help="主体代码：统一社会信用代码、身份证号码或旧代码"),
    receiver_id: int = _ReceiverOption,
    file: Path | None = _CodesFileOption,
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """关注主体：其进入或移出名单时向接收端推送。有代码未找到或无效时退出码为 1。"""
    _change_subscriptions(
        service.subscribe, "关注", codes=codes, file=file, receiver_id=receiver_id, reason=reason, as_json=as_json
    )


@app.command("unsubscribe")
@handle_errors
def unsubscribe(
    codes: list[str] | None = typer.Argument(None, help="主体代码"),
    receiver_id: int = _ReceiverOption,
    file: Path | None = _CodesFileOption,
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """取消关注主体。"""
    _change_subscriptions(
        service.unsubscribe, "取消关注", codes=codes, file=file, receiver_id=receiver_id, reason=reason, as_json=as_json
    )


def _report_line(d: dict[str, Any]) -> str:
    return (
        f"已确认 {d['sent']}，失败待重试 {d['failed']}，已放弃 {d['dead']}"
        + (f"，推迟 {d['deferred']}" if d["deferred"] else "")
        + (f"，租约丢失 {d['lost']}" if d["lost"] else "")
    )


@app.command("deliver")
@handle_errors
def deliver(
    once: bool = typer.Option(True, "--once/--loop", help="发送一轮到期推送后退出（默认），或持续运行"),
    interval: float = typer.Option(5.0, "--interval", min=0.1, help="--loop 时无到期推送后的等待秒数"),
    limit: int = typer.Option(500, "--limit", min=1, help="--once 时本轮最多发送的推送数"),
    as_json: bool = JsonOption,
) -> None:
    """发送到期的推送（签名、重试、退避）。--once 时有推送被放弃则退出码为 1。"""
    db = clikit.database()
    if once:
        report = delivery.deliver_due(db, limit=limit).to_dict()
        emit(report, as_json, lambda d: clikit.console.print(_report_line(d)))
        if report["dead"]:
            raise typer.Exit(1)
        return
    clikit.err_console.print(f"推送投递进程已启动（间隔 {interval} 秒），Ctrl+C 退出")
    try:
        delivery.run_forever(
            db,
            interval=interval,
            on_report=lambda r: emit(r.to_dict(), as_json, lambda d: clikit.console.print(_report_line(d))),
        )
    except KeyboardInterrupt:
        clikit.err_console.print("已停止")


@app.command("deliveries")
@handle_errors
def deliveries(
    status: str | None = typer.Option(None, "--status", help="pending · delivered · dead"),
    receiver_id: int | None = typer.Option(None, "--receiver", help="接收端编号"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """列出推送投递记录（新的在前）。"""
    with clikit.database().session(write=False) as session:
        total, rows = service.list_deliveries(
            session, actor=clikit.operator(), status=status, receiver_id=receiver_id, limit=limit
        )
        data = {"total": total, "items": [DeliveryOut.of(d).model_dump(mode="json") for d in rows]}

    def render(d: dict[str, Any]) -> None:
        table = Table("编号", "接收端", "事件", "主体", "状态", "次数", "下次尝试", "最近错误")
        for x in d["items"]:
            table.add_row(
                str(x["id"]),
                str(x["receiver_id"]),
                x["event_type"],
                str(x["subject_id"]),
                STATUS_LABELS.get(x["status"], x["status"]),
                str(x["attempts"]),
                local_text(x["next_attempt_at"], seconds=False) if x["status"] == DeliveryStatus.PENDING else "",
                (x["last_error"] or "")[:40],
            )
        clikit.console.print(table)
        clikit.console.print(f"共 {d['total']} 条")

    emit(data, as_json, render)


@app.command("redeliver")
@handle_errors
def redeliver(
    delivery_id: int = typer.Argument(..., help="投递编号"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """重新投递已放弃的推送。"""
    with clikit.database().session() as session:
        data = DeliveryOut.of(
            service.redeliver(session, actor=clikit.operator(), delivery_id=delivery_id, reason=reason)
        ).model_dump(mode="json")
    emit(data, as_json, lambda d: clikit.console.print(f"投递 {d['id']} 已重新排队"))
