"""Benchmark: the dashboard figures and the department assessment on a city-sized database.

    .venv/bin/python bench/dashboards.py [--records 1000000] [--departments 40]

Builds a fresh SQLite file in bench/out from the models with ``--records`` 双公示 records spread over 36 months
and the departments (generated in SQL: one subject, a recursive CTE), one batch per 200 records with some
rejections, one case per 100 records and one check per 50. Then it times ``dashboards.overview`` for the last
12 months, for one department, and ``assessment.assess`` + ``to_xlsx`` for one month, and prints the peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE.parent / "src"))


def build(url: str, records: int, departments: int) -> None:
    from sqlalchemy import text

    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.db import Database
    from xinyong.identifiers import uscc
    from xinyong.models import Base

    db = Database(url)
    Base.metadata.create_all(db.engine)
    actor = system_principal("bench")
    with db.session() as s:
        seed_catalog(s, actor=actor)
        from xinyong.auth import service as auth

        for i in range(departments):
            auth.create_department(
                s,
                actor=actor,
                code=f"d{i:03d}",
                name=f"部门{i:03d}",
                uscc=uscc.make(authority="1", category="1", region="410882", org_body=f"{i:08d}"),
            )
        s.execute(
            text(
                "INSERT INTO subjects (kind, name, name_norm, uscc, uscc_flagged, created_at, updated_at) "
                "VALUES ('legal_person', '基准公司', '基准公司', :u, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"u": uscc.make(authority="9", category="1", region="410882", org_body="MA000001")},
        )
        s.commit()
    t = time.perf_counter()
    with db.engine.begin() as c:
        dept_ids = [r[0] for r in c.execute(text("SELECT id FROM departments ORDER BY id"))]
        lo = dept_ids[0]
        sid = c.execute(text("SELECT id FROM subjects LIMIT 1")).scalar()
        c.execute(
            text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {records})
            INSERT INTO credit_records (kind, authority_uscc, doc_no_norm, doc_no, authority, subject_id, department_id,
              version_count, content_hash, party_kind, party_name, decision_date, severity, penalty_types,
              penalty_types_key, received_at, workdays_late, late, created_at, updated_at)
            SELECT CASE WHEN i % 3 = 0 THEN 'licence' ELSE 'penalty' END, 'A', 'doc' || i, 'doc' || i, '机关', {sid},
              {lo} + (i % {departments}), 1, 'h', 'legal_person', '基准公司',
              date('2024-01-01', '+' || (i % 1095) || ' days'), 'general', '[]', '',
              datetime('2024-01-01', '+' || (i % 1095) || ' days', '+' || (i % 9) || ' days'),
              CASE WHEN i % 9 > 6 THEN 2 ELSE 0 END, i % 9 > 6, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM n""")
        )
        c.execute(
            text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {records // 200})
            INSERT INTO ingest_batches (department_id, kind, channel, sha256, mode, status, actor, received_at, rows,
              accepted, created, updated, unchanged, withdrawn, rejected, late, error_counts)
            SELECT {lo} + (i % {departments}), 'penalty', 'file', 'x', 'keep_good', 'partial', 'bench',
              datetime('2024-01-01', '+' || (i % 1095) || ' days'), 210, 200, 200, 0, 0, 0, 10, 5,
              '{{"required_missing": 4, "invalid_uscc": 6}}' FROM n""")
        )
        c.execute(
            text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {records // 100})
            INSERT INTO cases (case_no, kind, state, version, target_type, department_id, filed_via, filed_by,
              anonymous, facts, data, opened_on, due_on, closed_on, closed_late, created_at, updated_at)
            SELECT 'C' || i, 'objection', 'decided', 1, 'subject', {lo} + (i % {departments}), 'public', 'bench', 0,
              '', '{{}}', date('2024-01-01', '+' || (i % 1095) || ' days'), NULL,
              date('2024-01-01', '+' || (i % 1095 + i % 20) || ' days'), i % 20 > 14, CURRENT_TIMESTAMP,
              CURRENT_TIMESTAMP FROM n""")
        )
        c.execute(
            text(f"""
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {records // 50})
            INSERT INTO checks (at, checked_on, actor, department_id, system, scenario, subject_count, with_measures,
              summary)
            SELECT CURRENT_TIMESTAMP, date('2024-01-01', '+' || (i % 1095) || ' days'), 'bench',
              {lo} + (i % {departments}), 's', 'general', 1, i % 4 = 0, '{{}}' FROM n""")
        )
    print(
        f"built {records:,} records, {records // 200:,} batches, {records // 100:,} cases, {records // 50:,} "
        f"checks over {departments} departments in {time.perf_counter() - t:.1f} s"
    )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--departments", type=int, default=40)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / "dashboards.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    build(url, args.records, args.departments)

    from xinyong.analytics import assessment, dashboards
    from xinyong.analytics.dashboards import Period
    from xinyong.core.db import Database

    db = Database(url)
    with db.session() as s:
        year = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        for label, dept in (
            ("all departments", None),
            ("one department", s.execute(__import__("sqlalchemy").text("SELECT min(id) FROM departments")).scalar()),
        ):
            t = time.perf_counter()
            data = dashboards.overview(s, period=year, department_id=dept)
            print(
                f"overview, 12 months, {label}: {time.perf_counter() - t:.3f} s "
                f"({sum(data['records']['totals']):,} records in the period)"
            )
        t = time.perf_counter()
        result = assessment.assess(s, period=Period.month(2025, 6))
        mid = time.perf_counter()
        content = assessment.to_xlsx(result)
        print(
            f"assessment, one month, {len(result['rows'])} departments: {mid - t:.3f} s; "
            f"XLSX {len(content):,} bytes in {time.perf_counter() - mid:.3f} s"
        )
    db.dispose()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
