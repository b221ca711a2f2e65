"""Console section 门户发布 (platform admin): publish a 红黑榜 release.

Thin pages over ``publications.releases`` (the service the CLI calls), so numbering, the public rule for the
entries and the audit are the same. Mounted by :func:`install` after ``web.console_financing.install``, which also
adds the entries to the admin's navigation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock, uploads
from xinyong.core.errors import XinyongError
from xinyong.publications import releases
from xinyong.web.console import admin, failed, render, see_other
from xinyong.web.templates import TEMPLATES

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/releases", response_class=HTMLResponse)
def releases_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    today = clock.today()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return render(
        request,
        "console/releases.html",
        principal,
        active="releases",
        items=[releases.release_view(r) for r in releases.list_releases(session, limit=100)],
        default_period=last_month,
    )


@router.post("/releases", response_class=HTMLResponse)
def releases_publish(
    request: Request,
    period: str = Form(..., max_length=20),
    note: str = Form("", max_length=2000),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    try:
        start, end = releases.period_of(period)
        release = releases.publish_release(session, actor=principal, start=start, end=end, note=note)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/releases")
    return see_other(f"/releases/{releases.number_of(release)}")


NAV_ITEMS = [("releases", "/console/releases", "红黑榜发布")]


def install(app: FastAPI) -> None:
    """Mount the pages and add them to the admin's navigation (before 接口令牌)."""
    app.include_router(router)
    inner = cast(Callable[..., list[Any]] | None, TEMPLATES.env.globals.get("console_nav"))

    def console_nav(request: Request, me: Principal | None, nav: list[tuple[str, str, str]]) -> list[Any]:
        items = inner(request, me, nav) if inner is not None else nav
        if me is not None and me.role is Role.ADMIN and items:
            at = next((i for i, (key, _, _) in enumerate(items) if key == "tokens"), len(items))
            items = [*items[:at], *NAV_ITEMS, *items[at:]]
        return items

    TEMPLATES.env.globals["console_nav"] = console_nav
