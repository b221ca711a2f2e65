"""Console section 统计与考核: the dashboards (charts over a period) and the monthly department assessment.

The dashboards page renders ``analytics.dashboards`` for the department (the admin: any or all) over a period;
the assessment page and its XLSX export render ``analytics.assessment`` for a month (admin only). Routes are thin
pages over the service functions the API calls, with the role policies and helpers of ``web.console``, which
mounts this router.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.analytics import assessment, dashboards
from xinyong.analytics.dashboards import Period
from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core import clock, uploads
from xinyong.core.errors import ValidationFailed, XinyongError
from xinyong.core.settings import get_settings
from xinyong.web.console import _all_departments, _department_filter, admin, failed, render, viewer

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


def _period(date_from: dt.date | None, date_to: dt.date | None, *, months: int = 12) -> Period:
    if date_from is None and date_to is None:
        return Period.last_months(months)
    today = clock.today()
    return Period(date_from or (date_to or today).replace(day=1), date_to or today)


#: One colour per department in every chart (console.js): 16 colours told apart on screen and in print (Kelly's
#: and Tableau's distinct sets, dark enough for white text), each department always the same one: its id modulo 16.
DEPARTMENT_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
)


def department_colour(department_id: int) -> str:
    """The department's colour in every chart, the same on every page and every day (its id picks it)."""
    return DEPARTMENT_PALETTE[department_id % len(DEPARTMENT_PALETTE)]


def _department_colours(data: Any) -> dict[str, str]:
    """``{department_id: colour}`` for every department row anywhere in ``data`` (JSON keys are strings)."""
    found: dict[str, str] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("department_id"), int):
                found[str(value["department_id"])] = department_colour(value["department_id"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found


def _chart_json(data: Any) -> str:
    """Chart data for a ``<script type="application/json">`` block: ``<`` escaped so no text can close it."""
    return (
        json.dumps(data, ensure_ascii=False, default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards_page(
    request: Request,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    department: str | None = Query(None, max_length=32),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    try:
        period = _period(date_from, date_to)
        dept_id = _department_filter(session, principal, department)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/dashboards")
    data = dashboards.overview(session, period=period, department_id=dept_id)
    return render(
        request,
        "console/dashboards.html",
        principal,
        active="dashboards",
        data=data,
        chart_json=_chart_json({**data, "colours": _department_colours(data)}),
        period=period,
        department=department or "",
        departments=_all_departments(session, principal),
    )


def _month_period(month: str | None) -> Period:
    """``YYYY-MM`` (default: the last complete month, what the monthly report covers)."""
    if month:
        try:
            year, mon = (int(x) for x in month.split("-", 1))
        except ValueError:
            raise ValidationFailed("月份格式应为 YYYY-MM", code="bad_month") from None
        return Period.month(year, mon)
    first = clock.today().replace(day=1)
    last = first - dt.timedelta(days=1)
    return Period.month(last.year, last.month)


@router.get("/assessment", response_class=HTMLResponse)
def assessment_page(
    request: Request,
    month: str | None = Query(None, max_length=7),
    period: str | None = Query(None, max_length=10),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The ranking (admin) or the department's own score card and rank (department users); ``period``: a month,
    quarter or year (analytics.assessment.parse_period), ``month`` as before."""
    try:
        p = assessment.parse_period(period) if period else _month_period(month)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/assessment")
    result = assessment.assess(session, period=p)
    own = assessment.department_row(result, principal.department_id)
    rows = result["rows"] if principal.is_admin else ([own] if own else [])
    ranked = sum(1 for r in result["rows"] if r["rank"] is not None)
    return render(
        request,
        "console/assessment.html",
        principal,
        active="assessment",
        result=result,
        rows=rows,
        ranked=ranked,
        month=f"{p.date_from:%Y-%m}",
        period=period or "",
        chart_json=_chart_json(
            [
                {"name": r["department_name"], "total": r["total"], "colour": department_colour(r["department_id"])}
                for r in rows
            ]
        ),
    )


@router.get("/assessment.xlsx")
def assessment_xlsx(
    month: str | None = Query(None, max_length=7),
    period: str | None = Query(None, max_length=10),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    """The monthly (or quarterly, annual) report for the credit office (XLSX: ranking, method, explanations)."""
    p = assessment.parse_period(period) if period else _month_period(month)
    result = assessment.assess(session, period=p)
    content = assessment.to_xlsx(result, city=get_settings().city_name)
    filename = f"督查考核-{period or f'{p.date_from:%Y-%m}'}.xlsx"
    return uploads.attachment(content, filename, uploads.XLSX)
