"""Console section 任务队列 (admin): the job runner's jobs — queued, running, failed, done — and a failed one put
back on the queue. Over ``jobs.runner`` (procrastinate on PostgreSQL); on SQLite, which has no queue, the page
says so (the background work runs in process there, from the CLI and cron)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from xinyong.auth.roles import Principal
from xinyong.core.db import Database
from xinyong.core.errors import XinyongError
from xinyong.jobs import runner
from xinyong.jobs.tasks import SCHEDULE
from xinyong.web.console import admin, refusal, render, see_other

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = 100


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, status: str | None = None, principal: Principal = Depends(admin)) -> Response:
    db: Database = request.app.state.db
    reason = runner.unavailable(db)
    jobs: list[dict[str, object]] = []
    counts: dict[str, int] = {}
    error = None
    if reason is None:
        try:
            counts = runner.counts(db)
            jobs = runner.list_jobs(db, status=status or None, limit=PAGE)
        except XinyongError as exc:
            error = exc.message
    return render(
        request,
        "console/jobs.html",
        principal,
        active="jobs",
        unavailable=reason,
        error=error,
        jobs=jobs,
        counts=counts,
        labels=runner.STATUS_LABELS,
        status=status or "",
        filters=runner.STATUS_NAMES,
        schedule=SCHEDULE,
    )


@router.post("/jobs/{job_id}/retry", response_class=HTMLResponse)
def jobs_retry(
    request: Request, job_id: int = Path(..., ge=1, le=2**63 - 1), principal: Principal = Depends(admin)
) -> Response:
    db: Database = request.app.state.db
    try:
        runner.retry(db, job_id)
    except XinyongError as exc:
        return refusal(request, principal, exc, back="/console/jobs")
    return see_other("/console/jobs?status=queued")
