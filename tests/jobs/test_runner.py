"""The job runner on the real PostgreSQL (issue #19 part 3): a job put on the queue is run by a worker, a failing
job is retried with back-off and, once failed for good, retried by hand; a scheduled daily job fires; the console
lists the jobs and retries a failed one. SQLite (the embedded mode) has no queue: work runs in process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from tests.factories import make_user
from tests.web.test_console import HTML, TOKEN_RE, login
from xinyong import cli
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.core.db import Database
from xinyong.jobs import runner
from xinyong.jobs.tasks import TASKS
from xinyong.records.models import PublicityRun


@pytest.fixture
def pg(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    if database.dialect != "postgresql":
        pytest.skip("the job queue is PostgreSQL's (SQLite: tests of the embedded mode below)")
    monkeypatch.setenv("XINYONG_JOBS_RETRY_WAIT", "1")
    monkeypatch.setenv("XINYONG_JOBS_MAX_ATTEMPTS", "2")
    runner.get_jobs_settings.cache_clear()
    runner.ensure_schema(database)
    _empty_queue(database)
    yield database
    _empty_queue(database)
    runner.get_jobs_settings.cache_clear()


def _empty_queue(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE procrastinate.procrastinate_jobs, procrastinate.procrastinate_periodic_defers, "
                "procrastinate.procrastinate_workers CASCADE"
            )
        )


def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a thread of its own. The worker runs an event loop (``asyncio.run``), which refuses to start
    in a thread where one is running already — and this xdist worker's main thread has one when it ran the browser
    tests first (their session-scoped Playwright browser keeps its loop until the session ends)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def _work_until(
    app: Any,
    done: Callable[[], bool],
    timeout: float = 20.0,
    app_db: Any = None,
    queues: tuple[str, ...] = ("xinyong",),
) -> None:
    """Run a worker of ``app`` in this thread until ``done()`` (asked between polls) or the timeout."""

    async def main() -> None:
        async with app.open_async():
            worker = app._worker(
                queues=list(queues),
                wait=True,
                install_signal_handlers=False,
                fetch_job_polling_interval=0.2,
                abort_job_polling_interval=0.5,
                update_heartbeat_interval=1.0,
            )
            task = asyncio.create_task(worker.run())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            try:
                while not await asyncio.to_thread(done):
                    if task.done():
                        task.result()
                        raise AssertionError("the worker stopped by itself")
                    if loop.time() > deadline:
                        raise TimeoutError(f"the jobs were not done in time: {runner.list_jobs(app_db, limit=5)}")
                    await asyncio.sleep(0.2)
            finally:
                worker.stop()
                await asyncio.wait_for(task, 15)

    _off_loop(asyncio.run, main())


def _seed(db: Database) -> None:
    """The catalogue the daily publicity job reads its rules from."""
    with db.session() as s:
        seed_catalog(s, actor=system_principal("tests"))


def _statuses(db: Database, task: str) -> list[str]:
    return [j["status"] for j in runner.list_jobs(db, limit=50) if j["task"] == task]


def test_an_enqueued_job_is_run_by_a_worker(pg: Database) -> None:
    _seed(pg)
    queued = runner.enqueue(pg, "records.transitions", date="2026-03-02")
    assert queued["job_id"] and _statuses(pg, "records.transitions") == ["todo"]
    # `xinyong jobs list --json` sees it queued
    result = CliRunner().invoke(cli.app, ["--db", pg.url, "jobs", "list", "--status", "queued", "--json"])
    assert result.exit_code == 0, result.output
    assert '"records.transitions"' in result.output
    # `xinyong worker --burst` runs what is due and exits
    result = _off_loop(CliRunner().invoke, cli.app, ["--db", pg.url, "worker", "--burst", "--json"])
    assert result.exit_code == 0, result.output
    assert _statuses(pg, "records.transitions") == ["succeeded"]
    with pg.session() as s:
        assert [str(d) for d in s.scalars(select(PublicityRun.run_date))] == ["2026-03-02"]


def test_a_failing_job_is_retried_with_back_off_then_retried_by_hand(pg: Database) -> None:
    calls: list[int] = []
    fail_times = 3  # attempts allowed: 2 (XINYONG_JOBS_MAX_ATTEMPTS) — fails twice, is retried by hand, succeeds

    def flaky(db: Database, **params: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) < fail_times:
            raise RuntimeError(f"the remote platform is down (call {len(calls)})")
        return {"ok": True, "n": params["n"]}

    app = runner.make_app(pg, tasks={"test.flaky": flaky})
    with app.open():
        job_id = app.tasks[runner.PREFIX + "test.flaky"].defer(n=7)
    app.close()

    def failed_for_good() -> bool:
        return _statuses(pg, "test.flaky") == ["failed"]

    _work_until(app, failed_for_good, app_db=pg)
    assert len(calls) == 2  # the first attempt and one retry after the back-off
    [job] = runner.list_jobs(pg, status="failed")
    assert job["id"] == job_id and job["attempts"] == 2 and job["args"] == {"n": 7}

    # The admin's retry (`xinyong jobs retry ID`): queued again, run, done.
    result = CliRunner().invoke(cli.app, ["--db", pg.url, "jobs", "retry", str(job_id), "--json"])
    assert result.exit_code == 0, result.output
    assert _statuses(pg, "test.flaky") == ["todo"]
    _work_until(app, lambda: _statuses(pg, "test.flaky") == ["succeeded"])
    assert len(calls) == 3
    # Retrying a job that did not fail is refused (exit 2, JSON error).
    again = CliRunner().invoke(cli.app, ["--db", pg.url, "jobs", "retry", str(job_id), "--json"])
    assert again.exit_code == 2 and "job_not_failed" in again.output


def test_a_scheduled_daily_job_fires(pg: Database) -> None:
    """The scheduler defers the periodic jobs (here every second instead of 16:05 UTC) and a worker runs them."""
    _seed(pg)
    app = runner.make_app(pg, schedule={"records.transitions": "* * * * * *"})
    _work_until(app, lambda: "succeeded" in _statuses(pg, "records.transitions"), timeout=15)
    with pg.session() as s:
        assert s.scalar(select(PublicityRun.run_date)) is not None


def test_a_job_of_a_dead_worker_goes_back_on_the_queue(pg: Database) -> None:
    """A worker killed mid-job leaves it ``doing``; the scheduler's recovery task puts it back and a worker runs it."""
    _seed(pg)
    job = runner.enqueue(pg, "records.transitions", date="2026-03-04")
    with pg.engine.begin() as conn:  # as a worker that died leaves it (no live worker holds it)
        conn.execute(text("SET LOCAL search_path TO procrastinate, public"))
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL WHERE id = :i"), {"i": job["job_id"]}
        )
    # The scheduler (it runs no job) defers the recovery task; a plain worker runs it, then the job.
    scheduler = runner.make_app(pg, schedule={runner.RECOVER_STALLED: "* * * * * *"})
    _work_until(scheduler, lambda: bool(_statuses(pg, runner.RECOVER_STALLED)), queues=(runner.SCHEDULER_QUEUE,))
    worker = runner.make_app(pg)
    _work_until(worker, lambda: _statuses(pg, "records.transitions") == ["succeeded"], timeout=15, app_db=pg)


def test_the_console_lists_jobs_and_retries_a_failed_one(pg: Database, client, session) -> None:
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="viewer", role=Role.DEPT_VIEWER)
    session.commit()
    job = runner.enqueue(pg, "lists.daily")
    with pg.engine.begin() as conn:  # as a worker leaves a job that failed for good
        conn.execute(text("SET LOCAL search_path TO procrastinate, public"))  # its triggers name its types unqualified
        conn.execute(
            text("UPDATE procrastinate.procrastinate_jobs SET status = 'failed', attempts = 2 WHERE id = :i"),
            {"i": job["job_id"]},
        )
    assert login(client, "chief").status_code == 303
    page = client.get("/console/jobs?status=failed", headers=HTML)
    assert page.status_code == 200 and "lists.daily" in page.text and "重试" in page.text
    token = TOKEN_RE.search(page.text).group(1)
    done = client.post(
        f"/console/jobs/{job['job_id']}/retry", data={"csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert done.status_code == 303
    assert _statuses(pg, "lists.daily") == ["todo"]
    client.cookies.clear()
    assert login(client, "viewer").status_code == 303
    assert client.get("/console/jobs", headers=HTML).status_code == 403


def test_without_postgresql_work_runs_in_process(database: Database, client, session) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the embedded mode")
    assert runner.unavailable(database) is not None
    _seed(database)
    done = runner.enqueue(database, "records.transitions", date="2026-03-03")
    assert done["job_id"] is None and str(done["report"]["run_date"]) == "2026-03-03"
    result = CliRunner().invoke(cli.app, ["--db", database.url, "worker", "--json"])
    assert result.exit_code == 2 and "jobs_unavailable" in result.output
    make_user(session, username="chief", role=Role.ADMIN)
    session.commit()
    assert login(client, "chief").status_code == 303
    page = client.get("/console/jobs", headers=HTML)
    assert page.status_code == 200 and "PostgreSQL" in page.text
    assert set(TASKS) >= {"records.transitions", "lists.daily", "cases.escalate", "watches.deliver", "exchange.push"}
