"""``xinyong exchange …``: the feed for the provincial and national platforms — export, push, status, reconcile,
replay (thin: parse, call, print). See docs/exchange.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, ReasonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed

app = typer.Typer(help="与省级、国家平台交换：导出、推送、状态与对账", no_args_is_help=True)


@app.command("export")
@handle_errors
def export_(
    since: str = typer.Option("1", "--since", help="起始序号（如 1200）或日期（YYYY-MM-DD，当天零时起）"),
    out: Path = typer.Option(..., "--out", help="输出目录（每类每日一个文件，另有 manifest.json）"),
    fmt: str = typer.Option("csv", "--format", help="csv 或 json"),
    as_json: bool = JsonOption,
) -> None:
    """按国家标准字段导出交换数据（双公示、名单、承诺）。"""
    from xinyong.exchange import export

    since_seq, since_at = export.parse_since(since)
    with clikit.database().session(write=False) as session:
        manifest = export.export(session, out_dir=out, since_seq=since_seq, since=since_at, fmt=fmt)  # type: ignore[arg-type]

    def render(m: dict[str, Any]) -> None:
        clikit.console.print(f"已导出 {m['count']} 条（序号 {m['first_seq']}–{m['last_seq']}）到 {out}")
        for f in m["files"]:
            clikit.console.print(f"  {f['file']}：{f['count']} 条  sha256 {f['sha256'][:16]}…")

    emit(manifest, as_json, render)


@app.command("push")
@handle_errors
def push(
    loop: bool = typer.Option(False, "--loop", help="持续推送（按退避间隔重试），直到中断"),
    once: bool = typer.Option(True, "--once", help="推送到积压清空或失败为止（默认）"),
    ignore_backoff: bool = typer.Option(False, "--now", help="不等待退避时间，立即重试"),
    interval: float | None = typer.Option(None, "--interval", min=1, help="--loop：积压为空时的轮询间隔（秒）"),
    as_json: bool = JsonOption,
) -> None:
    """把交换数据分批推送到省级平台（至少一次，按序号幂等；同时只有一个推送进程发送）。"""
    from xinyong.exchange import push as pusher

    db = clikit.database()
    settings = pusher.ExchangeSettings()
    if interval is not None:
        settings.poll_interval = interval
    if loop:
        result = pusher.push_loop(db, settings=settings)
    else:
        result = pusher.push_once(db, settings=settings, ignore_backoff=ignore_backoff)

    def render(r: dict[str, Any]) -> None:
        clikit.console.print(
            f"推送 {r.get('batches', r.get('rounds', 0))} 批，{r['sent']} 条：接收 {r['accepted']}，拒收 {r['rejected']}"
        )
        if r.get("skipped"):
            clikit.console.print("另一推送进程正在发送，本次未推送")
        if r.get("error"):
            clikit.err_console.print(f"[red]推送失败：{r['error']}[/red]")

    emit(result, as_json, render)
    if not result.get("ok", True):
        raise typer.Exit(1)


@app.command("pull")
@handle_errors
def pull(
    file: Path | None = typer.Argument(None, help="省平台下发的文件：双公示（CSV/XLSX/JSON，国家标准字段）或名单"),
    kind: str | None = typer.Option(None, "--kind", help="penalty 或 licence；缺省时按列名判断"),
    list_code: str | None = typer.Option(None, "--list", help="省平台名单代码（按名单同步导入）"),
    mode: str = typer.Option("snapshot", "--mode", help="名单：snapshot（全量）或 delta（增量）"),
    inbox: Path | None = typer.Option(
        None, "--inbox", help="省平台文件到达的目录：导入其中全部文件（缺省：XINYONG_EXCHANGE_INBOX）"
    ),
    loop: bool = typer.Option(False, "--loop", help="按 --interval 定时导入 --inbox 目录，直到中断"),
    interval: float = typer.Option(300.0, "--interval", min=1, help="--loop：两次导入之间的秒数"),
    as_json: bool = JsonOption,
) -> None:
    """导入省平台下发的本市主体数据（外地决定的处罚、许可，省级名单），来源记为「省平台」（失败时退出码 1）。"""
    from xinyong.exchange import province
    from xinyong.exchange.push import ExchangeSettings

    db = clikit.database()
    op = clikit.operator()
    if file is None:
        folder = inbox or (Path(s) if (s := ExchangeSettings().inbox) else None)
        if folder is None:
            raise ValidationFailed("须给出文件，或 --inbox 目录（或配置 XINYONG_EXCHANGE_INBOX）", code="file_required")
        if loop:
            result = province.pull_loop(db, actor=op, inbox=folder, interval=interval)
        else:
            result = province.pull_inbox(db, actor=op, inbox=folder)

        def render_inbox(d: dict[str, Any]) -> None:
            if d.get("skipped"):
                clikit.console.print("另一导入进程正在处理该目录，本次未导入")
            pulled, failed = d["pulled"], d["failed"]
            clikit.console.print(
                f"省平台目录 {folder}：导入 {pulled if isinstance(pulled, int) else len(pulled)} 个文件，"
                f"失败 {failed if isinstance(failed, int) else len(failed)} 个"
            )

        emit(result, as_json, render_inbox)
        if not result.get("ok", True):
            raise typer.Exit(1)
        return
    if loop:
        raise ValidationFailed("--loop 只能与 --inbox 目录一起使用", code="loop_needs_inbox")
    province_id = db.run(lambda s: province.ensure_province(s, actor=op).id)
    if list_code:
        data = db.run(lambda s: province.pull_list(s, actor=op, list_code=list_code, path=file, mode=mode))
    else:
        data = db.run(lambda s: province.pull_records(s, actor=op, province_id=province_id, path=file, kind=kind))

    def render(d: dict[str, Any]) -> None:
        if list_code:
            clikit.console.print(
                f"省平台名单 {list_code}：新增 {d.get('added', 0)}，变更 {d.get('changed', 0)}，"
                f"移出 {d.get('removed', 0)}，拒收 {d.get('rejected', 0)}"
            )
        else:
            clikit.console.print(
                f"省平台数据：批次 {d.get('batch')}，状态 {d.get('status')}，共 {d.get('rows')} 行，"
                f"接收 {d.get('accepted')}，拒收 {d.get('rejected')}"
            )

    emit(data, as_json, render)
    if (not list_code and data.get("status") == "rejected") or (list_code and data.get("rejected")):
        raise typer.Exit(1)


@app.command("rejections")
@handle_errors
def rejections_(
    department: str | None = typer.Option(None, "--department", help="部门代码（缺省：全部；部门账号只看本部门）"),
    status: str = typer.Option("open", "--status", help="open（待整改，默认）、resolved、superseded 或 all"),
    limit: int = typer.Option(200, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """省平台拒收的数据行：各部门待整改清单（省平台的理由；更正后重新上报，接收即为已解决）。"""
    from xinyong.exchange import rejections

    with clikit.database().session(write=False) as session:
        data = rejections.list_rejections(
            session,
            actor=clikit.operator(),
            department=department,
            status=None if status == "all" else status,
            limit=limit,
        )

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(f"省平台拒收（{d['status']}）：共 {d['total']} 行")
        for r in d["rejections"]:
            clikit.console.print(
                f"序号 {r['seq']} {r['department_name'] or '-'} {r['kind']} {r['reference'] or r['entity_id']}："
                f"{r['code']} {r['message']}（{r['status']}）"
            )

    emit(data, as_json, render)


@app.command("status")
@handle_errors
def status_(as_json: bool = JsonOption) -> None:
    """交换状态：已写入、已发送、已确认的序号，积压与失败。"""
    from xinyong.exchange import status

    with clikit.database().session(write=False) as session:
        data = status.status(session)

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(
            f"已写入 {d['last_seq_written']}，已发送 {d['last_seq_sent']}，已确认 {d['last_seq_acknowledged']}，"
            f"积压 {d['backlog']}，连续失败 {d['failures']}，拒收 {d['rejected_rows']} 行"
        )
        if d["last_error"]:
            clikit.console.print(f"最近错误：{d['last_error']}（下次尝试 {d['next_attempt_at']}）")

    emit(data, as_json, render)


@app.command("figures")
@handle_errors
def figures_(
    date_from: str | None = typer.Option(None, "--from", help="开始日期 YYYY-MM-DD（缺省：本月 1 日）"),
    date_to: str | None = typer.Option(None, "--to", help="结束日期 YYYY-MM-DD（缺省：今天）"),
    as_json: bool = JsonOption,
) -> None:
    """各部门上报省平台的上报率（已报 ÷ 应报）与上报合格率（接收 ÷ 已报）。"""
    from xinyong.exchange import figures

    span = figures.Span.of(clikit.parse_date(date_from, "--from"), clikit.parse_date(date_to, "--to"))
    with clikit.database().session(write=False) as session:
        data = figures.report(session, span=span)

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.2%}"

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(f"{d['period']['date_from']} 至 {d['period']['date_to']}")
        for r in [*d["departments"], {"department_name": "合计", **d["totals"]}]:
            clikit.console.print(
                f"{r['department_name']}：应报 {r['due']}，已报 {r['sent']}，接收 {r['accepted']}，拒收 {r['rejected']}，"
                f"上报率 {pct(r['report_rate'])}，上报合格率 {pct(r['acceptance_rate'])}"
            )

    emit(data, as_json, render)


@app.command("reconcile")
@handle_errors
def reconcile(
    date: str = typer.Argument(..., help="对账日期 YYYY-MM-DD"),
    as_json: bool = JsonOption,
) -> None:
    """按类别和部门对账某日的交换数据，列出接收端缺失的行（有缺失时退出码 1）。"""
    from xinyong.exchange import status

    day = clikit.parse_date(date, "DATE")
    assert day is not None
    with clikit.database().session(write=False) as session:
        data = status.reconcile(session, day)

    def render(d: dict[str, Any]) -> None:
        for r in d["by_kind_department"]:
            clikit.console.print(
                f"{r['kind']} 部门 {r['department_id']}：写入 {r['written']}，确认 {r['acknowledged']}，"
                f"拒收 {r['rejected']}，待发 {r['pending']}，接收端缺失 {r['missing']}"
            )
        for m in d["missing"]:
            clikit.console.print(f"[red]接收端缺失：序号 {m['seq']}（{m['kind']} {m['op']} #{m['entity_id']}）[/red]")

    emit(data, as_json, render)
    if not data["ok"]:
        raise typer.Exit(1)


@app.command("replay")
@handle_errors
def replay(
    seq: int = typer.Option(..., "--from", help="从此序号起重新推送"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """从某一序号起重新推送（接收端丢失数据时），记入审计日志。"""
    from xinyong.exchange import service

    with clikit.database().session() as session:
        data = service.replay_from(session, actor=clikit.operator(), seq=seq, reason=reason or "")
    emit(data, as_json, lambda d: clikit.console.print(f"将从序号 {d['from_seq']} 起重新推送，积压 {d['backlog']} 条"))
