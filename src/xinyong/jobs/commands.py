"""``xinyong worker``, ``xinyong scheduler`` and ``xinyong jobs list/retry/enqueue`` (the job queue, PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed

jobs_app = typer.Typer(help="后台任务队列：列出、重试失败的任务、加入任务（PostgreSQL）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """``worker``, ``scheduler`` and the ``jobs`` group (top level)."""
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)
    app.add_typer(jobs_app, name="jobs")


@handle_errors
def worker(
    burst: bool = typer.Option(False, "--burst", help="处理完队列中已到期的任务后退出（默认持续运行）"),
    with_scheduler: bool = typer.Option(
        False, "--with-scheduler", help="同时按计划加入定时任务（小型部署只运行一个进程时）"
    ),
    concurrency: int = typer.Option(
        0, "--concurrency", min=0, max=64, help="同时运行的任务数（默认 XINYONG_JOBS_CONCURRENCY）"
    ),
    as_json: bool = JsonOption,
) -> None:
    """后台任务进程：运行队列中的推送投递、交换推送、每日任务与评价（失败自动重试、退避）。需要 PostgreSQL。"""
    from xinyong.jobs import runner

    db = clikit.database()
    runner._require(db)
    created = runner.ensure_schema(db)
    if not as_json:
        clikit.err_console.print(f"任务进程已启动{'（已创建任务队列表）' if created else ''}，Ctrl+C 或 SIGTERM 停止")
    runner.run_worker(db, schedule=with_scheduler, wait=not burst, concurrency=concurrency or None)
    emit({"stopped": True, "burst": burst}, as_json, lambda _d: clikit.err_console.print("任务进程已停止"))


@handle_errors
def scheduler(as_json: bool = JsonOption) -> None:
    """定时任务进程：按计划把每日任务、推送投递、交换推送与夜间评价加入队列（自身不运行任务；可运行多个，不会重复加入）。"""
    from xinyong.jobs import runner
    from xinyong.jobs.tasks import SCHEDULE

    db = clikit.database()
    runner._require(db)
    runner.ensure_schema(db)
    if not as_json:
        for name, cron in SCHEDULE.items():
            clikit.err_console.print(f"  {name}: {cron} (UTC)")
        clikit.err_console.print("定时任务进程已启动，Ctrl+C 或 SIGTERM 停止")
    runner.run_worker(db, only_schedule=True)
    emit({"stopped": True}, as_json, lambda _d: clikit.err_console.print("定时任务进程已停止"))


@jobs_app.command("list")
@handle_errors
def list_jobs(
    status: str | None = typer.Option(None, "--status", help="queued / running / failed / done"),
    limit: int = clikit.LimitOption,
    as_json: bool = JsonOption,
) -> None:
    """列出最近的任务（新的在前）。"""
    from xinyong.jobs import runner

    db = clikit.database()
    data = {"counts": runner.counts(db), "jobs": runner.list_jobs(db, status=status, limit=limit)}

    def render(d: dict[str, Any]) -> None:
        t = Table("编号", "任务", "状态", "次数", "参数", "计划时间")
        for j in d["jobs"]:
            t.add_row(
                str(j["id"]),
                j["task"],
                j["status_label"],
                str(j["attempts"]),
                json.dumps(j["args"], ensure_ascii=False),
                j["scheduled_at"].isoformat() if j["scheduled_at"] else "",
            )
        clikit.console.print(t)
        clikit.console.print(" ".join(f"{runner.STATUS_LABELS[k]} {v}" for k, v in d["counts"].items() if v))

    emit(data, as_json, render)


@jobs_app.command("retry")
@handle_errors
def retry(job_id: int = typer.Argument(..., help="失败任务的编号"), as_json: bool = JsonOption) -> None:
    """把失败的任务重新加入队列（立即运行）。"""
    from xinyong.jobs import runner

    data = runner.retry(clikit.database(), job_id)
    emit(data, as_json, lambda d: clikit.console.print(f"任务 {d['id']} 已重新加入队列"))


@jobs_app.command("enqueue")
@handle_errors
def enqueue(
    task: str = typer.Argument(
        ...,
        help="任务名：records.transitions、lists.daily、cases.escalate、cases.notify、watches.deliver、exchange.push、evaluation.run、db.partitions、records.dictionary",
    ),
    params: str = typer.Option("{}", "--params", help='任务参数（JSON 对象），如 \'{"changed_since": "last"}\''),
    as_json: bool = JsonOption,
) -> None:
    """把一次任务加入队列（SQLite 嵌入式模式下立即在本进程运行）。"""
    from xinyong.jobs import runner

    try:
        kwargs = json.loads(params)
    except ValueError:
        kwargs = None
    if not isinstance(kwargs, dict):
        raise ValidationFailed("--params 应为 JSON 对象", code="bad_params")
    data = runner.enqueue(clikit.database(), task, **kwargs)
    emit(
        data,
        as_json,
        lambda d: clikit.console.print(
            f"任务 {d['task']} 已加入队列（编号 {d['job_id']}）"
            if d["job_id"]
            else f"任务 {d['task']} 已运行：{d['report']}"
        ),
    )
