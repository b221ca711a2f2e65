"""Issue #15 (6), the regression on the demo city: departments that submitted nothing rank below those that work.

The demo's nine reporting departments (demo.records.PROFILES) submit weekly; fgw, mzj, sfj, czj, fy and ggzy submit
no licence or penalty at all. Under the old method the silent ones scored 100 ("—" earned full marks) and ranked
first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from tests.factories import ACTOR
from xinyong.analytics import assessment
from xinyong.demo import city
from xinyong.demo.records import PROFILES

TODAY = dt.date(2026, 1, 20)


def _demo(session: Session, workdir) -> None:
    """The demo city as ``demo.city.build`` makes it, with the departments' licences and penalties at full rate (one
    year up to :data:`TODAY` instead of three up to today, so the test does not depend on the day it runs) on a small
    registry, and without the trading data and the evaluation run, which no assessment figure reads."""
    from xinyong.catalog import service as catalog
    from xinyong.demo import cases as demo_cases
    from xinyong.demo import lists as demo_lists
    from xinyong.demo import records as demo_records
    from xinyong.subjects import service as subjects

    size = city.DemoSize.scaled(600)
    catalog.seed_catalog(session, actor=ACTOR)
    city.build_departments(session, actor=ACTOR)
    export = workdir / "registry-export.csv"
    city.write_registry_export(export, size)
    subjects.import_registry(session, actor=ACTOR, path=export)
    people = city.persons(size)
    subjects.bulk_register_persons(session, actor=ACTOR, persons=people, source="demo:重点职业人群")
    demo_records.build(session, actor=ACTOR, workdir=workdir, persons=people, scale=1.0, years=1, today=TODAY)
    demo_lists.build(session, actor=ACTOR, workdir=workdir, persons=people, today=TODAY)
    demo_cases.build(session, actor=ACTOR, today=TODAY)
    session.commit()


def test_inactive_departments_rank_below_active_ones(session: Session, tmp_path):
    _demo(session, tmp_path)
    active = {p.code for p in PROFILES}
    silent = {code for code, _, _ in city.DEPARTMENTS} - active
    assert len(silent) >= 5
    # December (expectations learned from the months before), the quarter, and the year (no history before it).
    for period in ("2025-12", "2025-Q4", "2025"):
        result = assessment.assess(session, period=assessment.parse_period(period), today=TODAY)
        rows = {r["department_code"]: r for r in result["rows"]}
        worst_active = max(rows[c]["rank"] for c in active)
        best_silent = min(rows[c]["rank"] for c in silent)
        assert worst_active < best_silent, (
            period,
            [(r["rank"], r["department_code"], r["total"]) for r in result["rows"]],
        )
        for code in silent:
            parts = rows[code]["indicators"]
            assert parts["completeness"]["points"] == 0 and parts["timeliness"]["points"] == 0
            assert parts["completeness"]["parts"]["submitted"] == 0
            assert "期间未报送" in parts["timeliness"]["explanation"]
        for code in active:
            assert rows[code]["indicators"]["completeness"]["parts"]["submitted"] > 0
            if period == "2025-12":
                assert rows[code]["indicators"]["completeness"]["parts"]["expected"] > 0  # learned from history
                assert {c["basis"] for c in rows[code]["indicators"]["completeness"]["parts"]["classes"]} <= {
                    "history",
                    "none",
                }
