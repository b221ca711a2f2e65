"""The queue: ``jobs.tasks`` on procrastinate (PostgreSQL), with retries and back-off, workers and a scheduler.

Why procrastinate (docs/architecture.md, "Background jobs"): the platform's production database is PostgreSQL
already, so the queue needs no further service — jobs are rows (``FOR UPDATE SKIP LOCKED``, ``LISTEN/NOTIFY``), a
job deferred in a transaction is there exactly when the transaction commits, and backups and monitoring are the
database's. It is maintained, typed, on psycopg 3 (a dependency already), has retry strategies with exponential
back-off, periodic (cron) tasks deferred once across any number of schedulers, and stalled-worker recovery.

Its tables live in their own PostgreSQL schema, :data:`SCHEMA` (``procrastinate``), outside Alembic's: its own
schema tool creates them (``ensure_schema``, run by ``xinyong db upgrade`` on PostgreSQL and at every ``xinyong
worker`` / ``xinyong scheduler`` start; idempotent). Its connections put that schema first on the search path.

Settings (environment ``XINYONG_JOBS_…``): ``MAX_ATTEMPTS`` [5] tries per job, ``RETRY_WAIT`` [3] the base of the
exponential back-off in seconds (3, 9, 27, 81 s …), ``CONCURRENCY`` [1] jobs at once per worker (the tasks are
synchronous: run more worker processes rather than raising it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text

from xinyong.core.db import Database, get_database, libpq_url
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.jobs.tasks import SCHEDULE, SCHEDULED_PARAMS, TASKS

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)

#: The PostgreSQL schema of the queue's tables and functions.
SCHEMA = "procrastinate"
#: Task names on the queue: ``xinyong.`` + the name in ``jobs.tasks.TASKS``.
PREFIX = "xinyong."
#: The queue the scheduler listens on and nothing is sent to: a scheduler process only defers periodic jobs.
SCHEDULER_QUEUE = "xinyong-scheduler"
#: What the console and ``xinyong jobs list`` call procrastinate's statuses.
STATUS_LABELS = {
    "todo": "排队中",
    "doing": "运行中",
    "failed": "失败",
    "succeeded": "已完成",
    "cancelled": "已取消",
    "aborting": "正在中止",
    "aborted": "已中止",
}
#: The names ``--status`` accepts (ours, and procrastinate's own).
STATUS_NAMES = {"queued": "todo", "running": "doing", "failed": "failed", "done": "succeeded"}


class JobsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_JOBS_", env_file=".env", extra="ignore")

    max_attempts: int = Field(5, ge=1, le=100)
    retry_wait: int = Field(3, ge=1, le=600)
    concurrency: int = Field(1, ge=1, le=64)


@lru_cache
def get_jobs_settings() -> JobsSettings:
    return JobsSettings()


def unavailable(db: Database) -> str | None:
    """Why this database has no queue (None: it has one)."""
    if db.dialect != "postgresql":
        return (
            "任务队列需要 PostgreSQL（嵌入式 SQLite 模式下后台任务在进程内运行：xinyong watches deliver 等命令与 cron）"
        )
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        return "未安装任务队列组件：pip install 'xinyong[worker]'"
    return None


def _require(db: Database) -> None:
    reason = unavailable(db)
    if reason is not None:
        raise ValidationFailed(reason, code="jobs_unavailable")


def conninfo(url: str) -> str:
    """libpq connection string of a SQLAlchemy PostgreSQL URL, with :data:`SCHEMA` first on the search path."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(libpq_url(url), options=f"-c search_path={SCHEMA},public")


def retry_strategy() -> Any:
    from procrastinate import RetryStrategy

    s = get_jobs_settings()
    if s.max_attempts <= 1:
        return False  # no retry (procrastinate's max_attempts=0 would mean "no limit")
    # procrastinate's max_attempts counts the retries after the first run: ours counts every run.
    return RetryStrategy(max_attempts=s.max_attempts - 1, exponential_wait=s.retry_wait)


def make_app(
    db: Database,
    *,
    schedule: dict[str, str] | None = None,
    tasks: dict[str, Callable[..., dict[str, Any]]] | None = None,
) -> procrastinate.App:
    """A procrastinate app on ``db`` with every task of ``tasks`` (default ``jobs.tasks.TASKS``) registered, and the
    periodic ones of ``schedule`` (``{name: cron}``; None: none — a worker; ``SCHEDULE`` for the scheduler)."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(db.url)))
    for name, fn in (tasks or TASKS).items():

        def run(_fn: Callable[..., dict[str, Any]] = fn, _name: str = name, **params: Any) -> None:
            params.pop("timestamp", None)  # given to periodic jobs
            for key, value in SCHEDULED_PARAMS.get(_name, {}).items():
                params.setdefault(key, value)
            report = _fn(db, **params)
            log.info("job %s done: %s", _name, report)

        task = app.task(name=PREFIX + name, queue="xinyong", retry=retry_strategy(), pass_context=False)(run)
        if schedule and name in schedule:
            app.periodic(cron=schedule[name], periodic_id=name)(task)  # type: ignore[arg-type]  # **params takes timestamp
    # Every worker knows the recovery task; only a scheduler defers it.
    _recovery(app, schedule.get(RECOVER_STALLED, "* * * * *") if schedule is not None else None)
    return app


#: The scheduler's own periodic task: jobs left ``doing`` by a worker that died (no heartbeat for
#: :data:`STALLED_AFTER` seconds, or none registered) go back on the queue.
RECOVER_STALLED = "jobs.recover_stalled"
STALLED_AFTER = 60.0


def _recovery(app: procrastinate.App, cron: str | None) -> None:

    async def recover_stalled(context: procrastinate.JobContext, timestamp: int = 0) -> None:
        assert context.app is not None
        manager = context.app.job_manager
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER):
            log.warning("job queue: job %s (%s) of a dead worker put back on the queue", job.id, job.task_name)
            await manager.retry_job(job)

    task = app.task(name=PREFIX + RECOVER_STALLED, queue="xinyong", pass_context=True)(recover_stalled)
    if cron is not None:
        app.periodic(cron=cron, periodic_id=RECOVER_STALLED)(task)


def ensure_schema(db: Database) -> bool:
    """Create the queue's schema when it is missing (True when it was created). Idempotent; PostgreSQL only."""
    _require(db)
    from procrastinate.schema import SchemaManager

    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('xinyong.jobs.schema'))"))
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{SCHEMA}.procrastinate_jobs"}).scalar() is not None:
            return False
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        conn.execute(text(f'SET LOCAL search_path TO "{SCHEMA}", public'))
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(SchemaManager.get_schema())  # no parameters: the script's statements in one go
    log.info("job queue: schema %s created", SCHEMA)
    return True


@contextmanager
def _queue_sql(db: Database) -> Iterator[Any]:
    with db.engine.begin() as conn:
        conn.execute(text(f'SET LOCAL search_path TO "{SCHEMA}", public'))
        yield conn


def enqueue(db: Database, name: str, **params: Any) -> dict[str, Any]:
    """Put one run of task ``name`` on the queue (PostgreSQL): ``{"job_id", "task"}``. On SQLite (no queue) the
    task runs here and now, as the embedded mode always has: ``{"job_id": None, "task", "report"}``."""
    if name not in TASKS:
        raise NotFound(f"没有名为 {name} 的后台任务", code="task_not_found")
    if db.dialect != "postgresql":
        return {"job_id": None, "task": name, "report": TASKS[name](db, **params)}
    _require(db)
    app = make_app(db)
    with app.open():
        job_id = app.tasks[PREFIX + name].defer(**params)
    app.close()
    return {"job_id": job_id, "task": name}


def list_jobs(db: Database, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest jobs first (at most ``limit``), of one status when given (queued/running/failed/done, or
    procrastinate's own names)."""
    _require(db)
    ensure_schema(db)
    wanted = STATUS_NAMES.get(status, status) if status else None
    if wanted is not None and wanted not in STATUS_LABELS:
        raise ValidationFailed(f"未知的任务状态：{status}", code="bad_status")
    with _queue_sql(db) as conn:
        rows = conn.execute(
            text(
                "SELECT j.id, j.task_name, j.queue_name, j.status, j.attempts, j.args, j.scheduled_at, "
                "(SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS created_at, "
                "(SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS updated_at "
                "FROM procrastinate_jobs j WHERE (CAST(:status AS TEXT) IS NULL OR j.status::text = :status) "
                "ORDER BY j.id DESC LIMIT :limit"
            ),
            {"status": wanted, "limit": limit},
        ).mappings()
        return [_job(row) for row in rows]


def _job(row: Any) -> dict[str, Any]:
    task = row["task_name"]
    return {
        "id": row["id"],
        "task": task[len(PREFIX) :] if task.startswith(PREFIX) else task,
        "queue": row["queue_name"],
        "status": row["status"],
        "status_label": STATUS_LABELS.get(row["status"], row["status"]),
        "attempts": row["attempts"],
        "args": {k: v for k, v in (row["args"] or {}).items() if k != "timestamp"},
        "scheduled_at": row["scheduled_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def counts(db: Database) -> dict[str, int]:
    """Jobs per status."""
    _require(db)
    ensure_schema(db)
    with _queue_sql(db) as conn:
        found = dict(conn.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")).all())
    return {status: int(found.get(status, 0)) for status in STATUS_LABELS}


def retry(db: Database, job_id: int) -> dict[str, Any]:
    """Put a failed job back on the queue now (its attempts counted on from where they were)."""
    _require(db)
    ensure_schema(db)
    with _queue_sql(db) as conn:
        status = conn.execute(
            text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        ).scalar()
        if status is None:
            raise NotFound(f"没有编号为 {job_id} 的任务", code="job_not_found")
        if status != "failed":
            raise Conflict(
                f"任务 {job_id} 的状态为{STATUS_LABELS.get(status, status)}，只能重试失败的任务", code="job_not_failed"
            )
        conn.execute(
            text("SELECT procrastinate_retry_job_v2(:id, :at, NULL, NULL, NULL)"),
            {"id": job_id, "at": dt.datetime.now(dt.UTC)},
        )
    return {"id": job_id, "status": "todo", "status_label": STATUS_LABELS["todo"]}


def run_worker(
    db: Database,
    *,
    schedule: bool = False,
    only_schedule: bool = False,
    wait: bool = True,
    concurrency: int | None = None,
) -> None:
    """Run a worker in this process until it is stopped (SIGINT/SIGTERM; ``wait=False``: until the queue is empty).
    ``schedule``: also defer the periodic jobs (``jobs.tasks.SCHEDULE``); ``only_schedule``: only that (the
    scheduler process, which runs no jobs)."""
    ensure_schema(db)
    app = make_app(db, schedule=SCHEDULE if (schedule or only_schedule) else None)
    app.run_worker(
        queues=[SCHEDULER_QUEUE] if only_schedule else ["xinyong"],
        concurrency=concurrency or get_jobs_settings().concurrency,
        wait=wait,
        name="xinyong-scheduler" if only_schedule else "xinyong-worker",
    )


def database() -> Database:
    return get_database()
