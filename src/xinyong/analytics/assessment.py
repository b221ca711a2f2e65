"""The department assessment (督查考核): the dashboard figures combined into one score and a ranking.

The indicators, their weights and how each is scored live in ``analytics/data/assessment.yaml`` (or the file
``XINYONG_ASSESSMENT_FILE`` names), so the credit office changes the method without a release; the file is
validated when loaded and its content hash is printed on every report, so a ranking can always be traced to the
method that produced it. The figures come from :mod:`xinyong.analytics.dashboards` (the same numbers as the
charts). :func:`to_xlsx` writes the monthly report the credit office circulates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy.orm import Session

from xinyong.analytics import dashboards
from xinyong.analytics.dashboards import Period
from xinyong.core.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).parent / "data" / "assessment.yaml"

#: The figures an indicator may score: ``<source>.<field>`` of a dashboards function's per-department rows.
SOURCES: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "timeliness": dashboards.timeliness,
    "quality": dashboards.data_quality,
    "checks": dashboards.check_feedback,
    "cases": dashboards.case_handling,
    "notices": dashboards.list_notices,
}
FIGURES = {
    "timeliness.rate", "quality.rejection_rate", "quality.completeness", "checks.rate", "cases.on_time_rate",
    "cases.overdue_rate", "notices.rate",
}


class Indicator(BaseModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name: str = Field(min_length=1, max_length=60)
    description: str = ""
    figure: str
    weight: float = Field(gt=0, le=1000)
    scoring: Literal["linear"] = "linear"
    full_at: float
    zero_at: float
    no_data: Literal["full", "zero", "exclude"] = "exclude"

    @field_validator("figure")
    @classmethod
    def _known_figure(cls, value: str) -> str:
        if value not in FIGURES:
            raise ValueError(f"未知的指标数据 {value}，可选：{'、'.join(sorted(FIGURES))}")
        return value

    @model_validator(mode="after")
    def _range(self) -> Indicator:
        if self.full_at == self.zero_at:
            raise ValueError(f"指标 {self.code} 的 full_at 与 zero_at 不能相同")
        return self

    def points(self, value: float | None) -> float | None:
        """Points for a figure (``None``: no data, and the indicator is excluded for this department)."""
        if value is None:
            return {"full": self.weight, "zero": 0.0, "exclude": None}[self.no_data]
        fraction = (value - self.zero_at) / (self.full_at - self.zero_at)
        return round(self.weight * min(1.0, max(0.0, fraction)), 4)

    @property
    def rule(self) -> str:
        """The scoring rule in words, for the report."""
        higher = self.full_at > self.zero_at
        missing = {"full": "无数据得满分", "zero": "无数据不得分", "exclude": "无数据不参与计分"}[self.no_data]
        return (f"{'越高越好' if higher else '越低越好'}：{self.full_at:.0%}{'及以上' if higher else '及以下'}得满分，"
                f"{self.zero_at:.0%}{'及以下' if higher else '及以上'}不得分，之间按比例；{missing}")


class Method(BaseModel):
    version: int = 1
    title: str = "部门公共信用信息工作督查考核"
    indicators: list[Indicator] = Field(min_length=1)
    sha256: str = ""

    @model_validator(mode="after")
    def _unique(self) -> Method:
        codes = [i.code for i in self.indicators]
        if len(codes) != len(set(codes)):
            raise ValueError("指标代码重复")
        return self


def method_path() -> Path:
    return Path(os.environ.get("XINYONG_ASSESSMENT_FILE") or DEFAULT_FILE)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> Method:
    raw = Path(path).read_bytes()
    try:
        data = yaml.safe_load(raw) or {}
        return Method.model_validate({**data, "sha256": hashlib.sha256(raw).hexdigest()})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"考核指标文件 {path} 无效：{exc}", code="assessment_config_invalid") from exc


def load_method(path: Path | str | None = None) -> Method:
    """The assessment method (re-read when the file changes)."""
    p = Path(path) if path else method_path()
    if not p.is_file():
        raise ConfigurationError(f"考核指标文件不存在：{p}", code="assessment_config_missing")
    return _load(str(p), p.stat().st_mtime_ns)


def _figure(row: dict[str, Any], figure: str) -> float | None:
    value = row.get(figure.split(".", 1)[1])
    return None if value is None else float(value)


def assess(session: Session, *, period: Period, method: Method | None = None,
           today: dt.date | None = None) -> dict[str, Any]:
    """Score every active department over the period and rank them (highest total first; ties share a rank).

    Returns ``{"period", "method": {title, sha256, indicators}, "rows": [{department…, rank, total,
    indicators: {code: {value, points, weight}}}]}``.
    """
    method = method or load_method()
    needed = {i.figure.split(".", 1)[0] for i in method.indicators}
    figures: dict[str, dict[int, dict[str, Any]]] = {}
    for source in sorted(needed):
        fn = SOURCES[source]
        kwargs: dict[str, Any] = {"period": period}
        if source == "cases":
            kwargs["today"] = today
        figures[source] = {r["department_id"]: r for r in fn(session, **kwargs)}
    rows = []
    for d in dashboards.departments(session):
        scored: dict[str, Any] = {}
        points_sum = weight_sum = 0.0
        for ind in method.indicators:
            source = ind.figure.split(".", 1)[0]
            value = _figure(figures[source].get(d.id, {}), ind.figure)
            points = ind.points(value)
            scored[ind.code] = {"value": value, "points": points, "weight": ind.weight}
            if points is not None:
                points_sum += points
                weight_sum += ind.weight
        total = round(100 * points_sum / weight_sum, 2) if weight_sum else None
        rows.append({"department_id": d.id, "department_code": d.code, "department_name": d.name,
                     "total": total, "indicators": scored})
    rows.sort(key=lambda r: (r["total"] is None, -(r["total"] or 0), r["department_code"]))
    rank, previous = 0, object()
    for position, r in enumerate(rows, start=1):
        if r["total"] is None:
            r["rank"] = None
            continue
        if r["total"] != previous:
            rank, previous = position, r["total"]
        r["rank"] = rank
    return {
        "period": period.to_dict(),
        "method": {"title": method.title, "version": method.version, "sha256": method.sha256,
                   "indicators": [{"code": i.code, "name": i.name, "description": i.description,
                                   "figure": i.figure, "weight": i.weight, "rule": i.rule}
                                  for i in method.indicators]},
        "rows": rows,
    }


def department_row(result: dict[str, Any], department_id: int | None) -> dict[str, Any] | None:
    """One department's row of a ranking (what a department user is shown)."""
    return next((r for r in result["rows"] if r["department_id"] == department_id), None)


def _cell(value: Any) -> Any:
    """A report cell that no spreadsheet evaluates as a formula (department names come from people)."""
    from xinyong.ingest.reports import escape_cell

    return escape_cell(value)


def to_xlsx(result: dict[str, Any], *, city: str = "") -> bytes:
    """The monthly report: sheet 「考核排名」 (rank, department, total, each indicator's figure and points) and
    sheet 「考核方法」 (indicators, weights, scoring rules, the method file's SHA-256)."""
    import openpyxl
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    method, period = result["method"], result["period"]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "考核排名"
    ws.append([f"{city}{method['title']}（{period['date_from']} 至 {period['date_to']}）"])
    ws["A1"].font = Font(bold=True, size=14)
    header = ["排名", "部门代码", "部门", "总分"]
    for ind in method["indicators"]:
        header += [f"{ind['name']}（数值）", f"{ind['name']}（得分/{ind['weight']:g}）"]
    ws.append(header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for r in result["rows"]:
        line: list[Any] = [r["rank"], _cell(r["department_code"]), _cell(r["department_name"]), r["total"]]
        for ind in method["indicators"]:
            s = r["indicators"][ind["code"]]
            line += [s["value"], s["points"]]
        ws.append(line)
    for row in ws.iter_rows(min_row=3):
        for i, cell in enumerate(row[4:]):
            if i % 2 == 0 and cell.value is not None:
                cell.number_format = "0.00%"
    for i in range(1, len(header) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 28 if i == 3 else 14
    ws.freeze_panes = "E3"

    m = wb.create_sheet("考核方法")
    m.append(["指标代码", "指标", "说明", "数据", "权重", "计分规则"])
    for cell in m[1]:
        cell.font = Font(bold=True)
    for ind in method["indicators"]:
        m.append([ind["code"], ind["name"], ind["description"], ind["figure"], ind["weight"], ind["rule"]])
    m.append([])
    m.append(["总分", "100 × 各项得分之和 ÷ 参与计分指标的权重之和；总分相同者名次并列"])
    m.append(["方法文件 SHA-256", method["sha256"]])
    for col, width in zip("ABCDEF", (14, 24, 60, 22, 8, 60), strict=True):
        m.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
