"""Food and drug risk warning (食品药品风险预警): each subject's risk level (低 / 中 / 高) with its reasons, and the
regulator's watch list.

Signals (weights, caps, windows and departments in ``analytics/data/risk.yaml`` → ``food_drug``):
- penalties (双公示 records) decided by the food/drug supervising departments, not withdrawn;
- failed spot checks (抽检不合格, imported with ``analytics.trading.import_file(kind="spot_checks")``);
- complaints about the subject handled by those departments: found (partly) true, or still open.
Events within ``recent_days`` count in full, older ones (up to ``lookback_days``) at half weight; each kind adds
at most its cap. The subject's current credit grade under ``grade_model`` (C 失信观察 / D 严重失信) adds its weight
to a subject that already has a food or drug signal (a grade alone does not put a subject on this list).

Computed on demand with three GROUP BY queries, so the list always reflects the data as it is now.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.orm import Session

from xinyong.analytics.models import SpotCheck
from xinyong.analytics.risk_config import risk_config
from xinyong.auth.models import Department
from xinyong.cases.models import Case, CaseKind
from xinyong.core import clock
from xinyong.evaluation.models import EvaluationResult
from xinyong.ingest.reports import escape_cell
from xinyong.records.inputs import RecordKind
from xinyong.records.models import CreditRecord
from xinyong.subjects.models import Subject

LEVEL_LABELS = {"high": "高", "medium": "中", "low": "低"}


def _config() -> dict[str, Any]:
    return risk_config()["food_drug"]


def _department_ids(session: Session, codes: list[str]) -> list[int]:
    return list(session.scalars(select(Department.id).where(Department.code.in_(codes))))


def _signals(session: Session, today: dt.date, cfg: dict[str, Any]) -> dict[int, dict[str, list[int]]]:
    """subject id -> signal -> [recent count, older count]."""
    since = today - dt.timedelta(days=int(cfg["lookback_days"]))
    recent_from = today - dt.timedelta(days=int(cfg["recent_days"]))
    departments = _department_ids(session, list(cfg["penalty_departments"]))
    out: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))

    def add(rows: Any) -> None:
        for sid, signal, recent, n in rows:
            out[sid][signal][0 if recent else 1] += n

    recent = case((CreditRecord.decision_date >= recent_from, 1), else_=0)
    signal = case((CreditRecord.severity == "serious", "penalty_serious"), else_="penalty_general")
    add(
        session.execute(
            select(CreditRecord.subject_id, signal, recent, func.count())
            .where(
                CreditRecord.kind == RecordKind.PENALTY,
                CreditRecord.department_id.in_(departments),
                CreditRecord.withdrawn_at.is_(None),
                CreditRecord.decision_date >= since,
                CreditRecord.decision_date <= today,
            )
            .group_by(CreditRecord.subject_id, signal, recent)
        )
    )
    recent = case((SpotCheck.checked_on >= recent_from, 1), else_=0)
    add(
        session.execute(
            select(SpotCheck.subject_id, literal_column("'spot_check_failure'"), recent, func.count())
            .where(
                SpotCheck.passed.is_(False),
                SpotCheck.subject_id.is_not(None),
                SpotCheck.checked_on >= since,
                SpotCheck.checked_on <= today,
            )
            .group_by(SpotCheck.subject_id, recent)
        )
    )
    recent = case((Case.opened_on >= recent_from, 1), else_=0)
    signal = case((Case.closed_at.is_(None), "complaint_open"), else_="complaint_substantiated")
    add(
        session.execute(
            select(Case.subject_id, signal, recent, func.count())
            .where(
                Case.kind == CaseKind.COMPLAINT,
                Case.subject_id.is_not(None),
                Case.department_id.in_(departments),
                Case.opened_on >= since,
                Case.opened_on <= today,
                (Case.closed_at.is_(None)) | Case.outcome.in_(("substantiated", "partly_substantiated")),
            )
            .group_by(Case.subject_id, signal, recent)
        )
    )
    _grades(session, out, cfg)
    return out


def _grades(session: Session, out: dict[int, dict[str, list[int]]], cfg: dict[str, Any]) -> None:
    """Add ``grade_C`` / ``grade_D`` … signals (counted as recent) for subjects already on the list."""
    graded = [g for g in cfg.get("grade_weights", {})]
    ids = list(out)
    for start in range(0, len(ids), 900):
        for sid, grade in session.execute(
            select(EvaluationResult.subject_id, EvaluationResult.grade).where(
                EvaluationResult.model_code == cfg.get("grade_model"),
                EvaluationResult.grade.in_(graded),
                EvaluationResult.subject_id.in_(ids[start : start + 900]),
            )
        ):
            out[sid][f"grade_{grade}"][0] += 1


REASON_TEXT = {
    "penalty_general": "食品药品监管行政处罚（一般失信）",
    "penalty_serious": "食品药品监管行政处罚（严重失信）",
    "spot_check_failure": "抽检不合格",
    "complaint_substantiated": "投诉举报查证属实",
    "complaint_open": "投诉举报正在处理",
    "grade_C": "公共信用综合评价为C级（失信观察）",
    "grade_D": "公共信用综合评价为D级（严重失信）",
}
CAP_OF = {
    "penalty_general": "penalty",
    "penalty_serious": "penalty",
    "spot_check_failure": "spot_check",
    "complaint_substantiated": "complaint",
    "complaint_open": "complaint",
    "grade_C": "grade",
    "grade_D": "grade",
}


def assess(signals: dict[str, list[int]], cfg: dict[str, Any]) -> tuple[int, str, list[dict[str, Any]]]:
    """A subject's score, level and reasons from its signal counts. Pure."""
    weights, caps = cfg["weights"], cfg["caps"]
    reasons = []
    by_cap: dict[str, float] = defaultdict(float)
    for signal in REASON_TEXT:
        recent, older = signals.get(signal, (0, 0))
        if not (recent or older):
            continue
        weight = cfg["grade_weights"][signal[6:]] if signal.startswith("grade_") else weights[signal]
        points = weight * (recent + 0.5 * older)
        by_cap[CAP_OF[signal]] += points
        if signal.startswith("grade_"):
            reasons.append(
                {
                    "signal": signal,
                    "text": REASON_TEXT[signal],
                    "recent": recent,
                    "older": older,
                    "points": round(points, 1),
                }
            )
            continue
        reasons.append(
            {
                "signal": signal,
                "text": f"{REASON_TEXT[signal]} {recent + older} 起"
                + (f"（近 {cfg['recent_days']} 天 {recent} 起）" if older else ""),
                "recent": recent,
                "older": older,
                "points": round(points, 1),
            }
        )
    total = round(sum(min(points, caps[cap]) for cap, points in by_cap.items()))
    for cap, points in by_cap.items():
        if points > caps[cap]:
            reasons.append(
                {
                    "signal": f"{cap}_cap",
                    "text": f"同类事项计分上限 {caps[cap]} 分",
                    "recent": 0,
                    "older": 0,
                    "points": round(caps[cap] - points, 1),
                }
            )
    level = "high" if total >= cfg["high"] else "medium" if total >= cfg["medium"] else "low"
    return total, level, reasons


def risk_levels(
    session: Session,
    *,
    today: dt.date | None = None,
    level: str | None = None,
    subject_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every subject with at least one signal, highest score first (or one subject, ``subject_id``)."""
    cfg = _config()
    today = today or clock.today()
    signals = _signals(session, today, cfg)
    if subject_id is not None:
        signals = {subject_id: signals.get(subject_id, {})}
    names: dict[int, tuple[str | None, str | None, str | None]] = {}
    ids = list(signals)
    for i in range(0, len(ids), 2000):
        rows = session.execute(
            select(Subject.id, Subject.name, Subject.uscc, Subject.kind).where(Subject.id.in_(ids[i : i + 2000]))
        )
        names.update({sid: (name, code, kind) for sid, name, code, kind in rows})
    out: list[dict[str, Any]] = []
    for sid, sig in signals.items():
        score, lvl, reasons = assess(sig, cfg)
        if level and lvl != level:
            continue
        name, code, kind = names.get(sid, (None, None, None))
        out.append(
            {
                "subject_id": sid,
                "name": name,
                "uscc": code,
                "kind": kind,
                "score": score,
                "level": lvl,
                "level_label": LEVEL_LABELS[lvl],
                "reasons": reasons,
            }
        )
    out.sort(key=lambda r: (-r["score"], r["name"] or ""))
    return out[:limit] if limit else out


def watch_list(session: Session, *, today: dt.date | None = None, include_medium: bool = False) -> list[dict[str, Any]]:
    """The regulator's watch list: subjects at 高 risk (and 中 when asked)."""
    keep = {"high", "medium"} if include_medium else {"high"}
    return [r for r in risk_levels(session, today=today) if r["level"] in keep]


def watch_list_xlsx(rows: list[dict[str, Any]], *, today: dt.date) -> bytes:
    """The watch list as an XLSX workbook (one row per subject, reasons in one cell)."""
    # lazy: openpyxl costs 0.3 s, needed only for this export
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "食品药品风险监管名单"
    ws.append([f"食品药品风险监管名单（{today.isoformat()}）"])
    ws["A1"].font = Font(bold=True, size=14)
    header = ["序号", "主体名称", "统一社会信用代码", "风险等级", "风险分", "风险原因"]
    ws.append(header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for i, r in enumerate(rows, 1):
        # Names come from outside (registry, spot-check files): a leading "=" must stay text, not become a formula.
        ws.append(
            [
                i,
                escape_cell(r["name"]) if r["name"] else None,
                r["uscc"],
                r["level_label"],
                r["score"],
                "；".join(f"{x['text']}（{x['points']:+g} 分）" for x in r["reasons"]),
            ]
        )
    for column, width in zip("ABCDEF", (6, 40, 22, 10, 8, 80), strict=True):
        ws.column_dimensions[column].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
