"""The department assessment (督查考核): the dashboard figures combined into one score and a ranking.

The indicators, their weights and how each is scored live in ``analytics/data/assessment.yaml`` (or the file
``XINYONG_ASSESSMENT_FILE`` names), so the credit office changes the method without a release; the file is
validated when loaded and its content hash is printed on every report, so a ranking can always be traced to the
method that produced it. The figures come from :mod:`xinyong.analytics.dashboards` (the same numbers as the
charts) and :mod:`xinyong.analytics.volumes` (应报尽报: expected against submitted). :func:`to_xlsx` writes the
monthly report the credit office circulates.

Work is rewarded, absence is not (issue #15): a figure without data ("—": nothing submitted, nothing to measure)
earns no points, and every indicator's weight counts in every department's total, so a department that submitted
nothing scores 0 on completeness and timeliness and can never rank above one that works. Each row carries the
parts behind every score (expected, submitted, on time, late, rejected rows …) and a sentence saying how they
made the points.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy.orm import Session

from xinyong.analytics import dashboards, volumes
from xinyong.analytics.dashboards import Period
from xinyong.core import clock
from xinyong.core.errors import ConfigurationError, ValidationFailed
from xinyong.exchange import figures as exchange_figures
from xinyong.ingest.reports import escape_cell
from xinyong.professions import government

DEFAULT_FILE = Path(__file__).parent / "data" / "assessment.yaml"

#: The figures an indicator may score: ``<source>.<field>`` of a dashboards function's per-department rows.
SOURCES: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "timeliness": dashboards.timeliness,
    "quality": dashboards.data_quality,
    "checks": dashboards.check_feedback,
    "cases": dashboards.case_handling,
    "notices": dashboards.list_notices,
    "volume": volumes.volume,
    "exchange": exchange_figures.by_department,
    "government": government.by_department,
}
FIGURES = {
    "volume.completeness",
    "timeliness.rate",
    "quality.rejection_rate",
    "quality.completeness",
    "checks.rate",
    "cases.on_time_rate",
    "cases.overdue_rate",
    "notices.rate",
    "exchange.report_rate",
    "exchange.acceptance_rate",
    "government.rate",
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
    no_data: Literal["zero"] = "zero"

    @field_validator("no_data", mode="before")
    @classmethod
    def _no_free_points(cls, value: Any) -> Any:
        if value in ("full", "exclude"):
            raise ValueError(
                f"no_data: {value} 已取消：无数据（—）一律不得分（未报送的部门不得满分，也不得免于计分），"
                "请删除该项或写 zero"
            )
        return value

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

    def points(self, value: float | None) -> float:
        """Points for a figure; no data ("—") earns nothing."""
        if value is None:
            return 0.0
        fraction = (value - self.zero_at) / (self.full_at - self.zero_at)
        return round(self.weight * min(1.0, max(0.0, fraction)), 4)

    @property
    def rule(self) -> str:
        """The scoring rule in words, for the report."""
        higher = self.full_at > self.zero_at
        missing = "无数据（—）不得分"
        return (
            f"{'越高越好' if higher else '越低越好'}：{self.full_at:.0%}{'及以上' if higher else '及以下'}得满分，"
            f"{self.zero_at:.0%}{'及以下' if higher else '及以上'}不得分，之间按比例；{missing}"
        )


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


# Periods: a month, a quarter or a year --------------------------------------------------------------------------


def parse_period(text: str | None, *, today: dt.date | None = None) -> Period:
    """``YYYY-MM`` (month), ``YYYY-Qn`` (quarter) or ``YYYY`` (the annual roll-up); default: the last complete
    month, what the monthly report covers."""
    if not text:
        first = (today or clock.today()).replace(day=1)
        last = first - dt.timedelta(days=1)
        return Period.month(last.year, last.month)
    bad = ValidationFailed(
        f"考核期间“{text[:20]}”格式有误，应为 YYYY-MM（月度）、YYYY-Qn（季度）或 YYYY（年度），"
        "如 2024-03、2024-Q1、2024",
        code="bad_assessment_period",
    )
    t = text.strip().upper()
    if re.fullmatch(r"\d{4}", t):
        year = int(t)
        if not 1 <= year < dt.MAXYEAR:
            raise bad
        return Period(dt.date(year, 1, 1), dt.date(year, 12, 31))
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", t):
        year, q = int(m[1]), int(m[2])
        if not 1 <= year < dt.MAXYEAR:
            raise bad
        first_month, last_month = Period.month(year, 3 * q - 2), Period.month(year, 3 * q)
        return Period(first_month.date_from, last_month.date_to)
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", t):
        try:
            return Period.month(int(m[1]), int(m[2]))
        except ValidationFailed:
            raise bad from None
    raise bad


def period_label(period: Period) -> dict[str, str]:
    """The period's granularity (month, quarter, year or range) and its label (2024年3月, 2024年第1季度, 2024年度)."""
    f, t = period.date_from, period.date_to
    whole = f.day == 1 and (t + dt.timedelta(days=1)).day == 1
    months = len(period.months())
    if whole and months == 1:
        return {"granularity": "month", "label": f"{f.year}年{f.month}月"}
    if whole and months == 3 and f.month % 3 == 1:
        return {"granularity": "quarter", "label": f"{f.year}年第{(f.month + 2) // 3}季度"}
    if whole and months == 12 and f.month == 1:
        return {"granularity": "year", "label": f"{f.year}年度"}
    return {"granularity": "range", "label": f"{f} 至 {t}"}


# The parts behind each score ------------------------------------------------------------------------------------

#: The numbers of a source row shown beside a score (the explanation).
PARTS = {
    "volume": ("expected", "submitted", "counted", "classes"),
    "timeliness": ("records", "on_time", "late", "mean_workdays_late"),
    "quality": ("batches", "rows", "rejected", "rows_missing_required"),
    "checks": ("checks", "with_measures", "with_feedback"),
    "cases": ("closed", "closed_on_time", "closed_late", "open_overdue"),
    "notices": ("listed", "noticed"),
    "exchange": exchange_figures.PARTS,
    "government": ("kept", "broken", "paid", "overdue", "on_debtor_list"),
}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _because(figure: str, p: dict[str, Any]) -> str:
    """What the figure was made of, in Chinese."""
    if figure == "volume.completeness":

        def one(c: dict[str, Any]) -> str:
            if c["expected"] is None:
                return f"{c['name']}未设应报量（{c['basis_text']}），已报 {c['submitted']}"
            return (
                f"{c['name']}应报 {c['expected']}（{c['basis_text']}，每月 {c['monthly']:g} × {c['months']} 个月），"
                f"已报 {c['submitted']}"
            )

        classes = "；".join(one(c) for c in p.get("classes", []) if c["expected"] is not None or c["submitted"])
        head = f"应报 {p.get('expected', 0)} 条，已报 {p.get('submitted', 0)} 条，计入 {p.get('counted', 0)} 条"
        if not p.get("submitted"):
            head += "，期间未报送"
        elif not p.get("expected"):
            head += "，未设应报量、已报即视为报全"
        return head + (f"（{classes}）" if classes else "（未设应报量）")
    if figure == "timeliness.rate":
        n = p.get("records", 0)
        if not n:
            return "期间未报送行政许可、行政处罚"
        return f"报送 {n} 条，7 个工作日内 {p['on_time']} 条，迟报 {p['late']} 条"
    if figure in ("quality.rejection_rate", "quality.completeness"):
        if not p.get("rows"):
            return "期间未报送数据行"
        return (
            f"报送数据行 {p['rows']} 行（{p['batches']} 批），退回 {p['rejected']} 行，"
            f"其中缺必填项 {p['rows_missing_required']} 行"
        )
    if figure == "checks.rate":
        if not p.get("with_measures"):
            return f"核查 {p.get('checks', 0)} 次，无含奖惩措施的核查结果可反馈"
        return f"含奖惩措施的核查 {p['with_measures']} 次，已反馈 {p['with_feedback']} 次"
    if figure in ("cases.on_time_rate", "cases.overdue_rate"):
        if not p.get("closed") and not p.get("open_overdue"):
            return "期间无办结或逾期案件"
        return (
            f"办结 {p['closed']} 件（按时 {p['closed_on_time']}，超期 {p['closed_late']}），"
            f"逾期未办结 {p['open_overdue']} 件"
        )
    if figure == "notices.rate":
        if not p.get("listed"):
            return "期间未列入须事先告知的名单"
        return f"列入须告知的名单 {p['listed']} 条，列入前已告知 {p['noticed']} 条"
    if figure in ("exchange.report_rate", "exchange.acceptance_rate"):
        if not p.get("due"):
            return "期间无应上报省平台的数据"
        if not p.get("sent"):
            return f"应上报省平台 {p['due']} 条，尚未上报"
        return (
            f"应上报省平台 {p['due']} 条，已上报 {p['sent']} 条（省平台接收 {p['accepted']} 条，"
            f"拒收 {p['rejected']} 条），待上报 {p['pending']} 条"
        )
    if figure == "government.rate":
        if p.get("on_debtor_list"):
            return "本机关期末被列入失信被执行人名单"
        decided = sum(p.get(k) or 0 for k in ("kept", "broken", "paid", "overdue"))
        if not decided:
            return "期间本机关无认定履行状态的承诺、无到期的 PPP 或政府采购合同"
        return f"承诺践诺 {p['kept']} 项、违诺 {p['broken']} 项，合同按约支付 {p['paid']} 份、拖欠 {p['overdue']} 份"
    return ""


def explain(ind: Indicator, value: float | None, points: float, parts: dict[str, Any]) -> str:
    """One line: the parts, the figure, the points."""
    figure = f"{ind.name} {_pct(value)}" if value is not None else f"{ind.name} —（无数据，不得分）"
    return f"{_because(ind.figure, parts)}；{figure}，得 {points:g}/{ind.weight:g} 分"


def assess(
    session: Session, *, period: Period, method: Method | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """Score every active department over the period and rank them (highest total first; ties share a rank).

    Returns ``{"period" (with granularity and label), "method": {title, sha256, indicators}, "rows":
    [{department…, rank, total, points, weights, summary, indicators: {code: {value, points, weight, parts,
    explanation}}}]}``. Total = 100 × Σ points ÷ Σ weights of *all* indicators: a figure without data earns 0.
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
    weight_sum = sum(i.weight for i in method.indicators)
    rows: list[dict[str, Any]] = []
    for d in dashboards.departments(session):
        scored: dict[str, Any] = {}
        points_sum = 0.0
        for ind in method.indicators:
            source = ind.figure.split(".", 1)[0]
            row = figures[source].get(d.id, {})
            value = _figure(row, ind.figure)
            points = ind.points(value)
            parts = {k: row.get(k) for k in PARTS[source] if k in row}
            scored[ind.code] = {
                "value": value,
                "points": points,
                "weight": ind.weight,
                "parts": parts,
                "explanation": explain(ind, value, points, parts),
            }
            points_sum += points
        total = round(100 * points_sum / weight_sum, 2)
        rows.append(
            {
                "department_id": d.id,
                "department_code": d.code,
                "department_name": d.name,
                "total": total,
                "points": round(points_sum, 4),
                "weights": weight_sum,
                "summary": f"各项得分合计 {points_sum:g} ÷ 权重合计 {weight_sum:g} × 100 = {total:g} 分",
                "indicators": scored,
            }
        )
    rows.sort(key=lambda r: (-r["total"], r["department_code"]))
    rank, previous = 0, object()
    for position, r in enumerate(rows, start=1):
        if r["total"] != previous:
            rank, previous = position, r["total"]
        r["rank"] = rank
    return {
        "period": {**period.to_dict(), **period_label(period)},
        "method": {
            "title": method.title,
            "version": method.version,
            "sha256": method.sha256,
            "indicators": [
                {
                    "code": i.code,
                    "name": i.name,
                    "description": i.description,
                    "figure": i.figure,
                    "weight": i.weight,
                    "rule": i.rule,
                }
                for i in method.indicators
            ],
        },
        "rows": rows,
    }


def department_row(result: dict[str, Any], department_id: int | None) -> dict[str, Any] | None:
    """One department's row of a ranking (what a department user is shown)."""
    return next((r for r in result["rows"] if r["department_id"] == department_id), None)


def _cell(value: Any) -> Any:
    """A report cell that no spreadsheet evaluates as a formula (department names come from people)."""
    return escape_cell(value)


def to_xlsx(result: dict[str, Any], *, city: str = "") -> bytes:
    """The monthly report: sheet 「考核排名」 (rank, department, total, each indicator's figure and points), sheet
    「考核方法」 (indicators, weights, scoring rules, the method file's SHA-256) and sheet 「得分说明」 (each score's
    parts in a sentence)."""
    # lazy: openpyxl costs 0.3 s, needed only for this export
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
    m.append(["总分", "100 × 各项得分之和 ÷ 全部指标的权重之和；无数据（—）的指标不得分；总分相同者名次并列"])
    m.append(["方法文件 SHA-256", method["sha256"]])
    for col, width in zip("ABCDEF", (14, 24, 60, 22, 8, 60), strict=True):
        m.column_dimensions[col].width = width

    e = wb.create_sheet("得分说明")
    e.append(["排名", "部门", "指标", "得分", "权重", "说明"])
    for cell in e[1]:
        cell.font = Font(bold=True)
    for r in result["rows"]:
        for ind in method["indicators"]:
            s = r["indicators"][ind["code"]]
            e.append(
                [
                    r["rank"],
                    _cell(r["department_name"]),
                    ind["name"],
                    s["points"],
                    ind["weight"],
                    _cell(s.get("explanation", "")),
                ]
            )
    for col, width in zip("ABCDEF", (8, 28, 24, 8, 8, 90), strict=True):
        e.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
