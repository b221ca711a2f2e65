"""The set-based province-size builder (``xinyong demo --size N --fast``, ``demo.bulk``): PostgreSQL only."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.factories import make_department
from tests.records.helpers import ADMIN, seed_catalog
from xinyong.demo.bulk import build_bulk
from xinyong.identifiers import uscc
from xinyong.identifiers.names import normalize_org_name
from xinyong.lists.types import seed_list_types
from xinyong.subjects.search import search_subjects


def _indexes(conn, table: str) -> set[str]:
    return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}).scalars())


def test_bulk_build_writes_consistent_searchable_rows(database):
    if database.dialect != "postgresql":
        pytest.skip("the set-based builder is PostgreSQL's")
    from xinyong.subjects.search import ensure_search_index

    ensure_search_index(database.engine)
    with database.sessionmaker() as s:
        seed_catalog(s)
        for code in ("scjgj", "swj", "wjw"):
            make_department(s, code=code)
        seed_list_types(s, actor=ADMIN)
        s.commit()
    with database.engine.connect() as conn:
        before = {t: _indexes(conn, t) for t in ("subjects", "credit_records", "record_versions")}
        report = build_bulk(conn, subjects=500, records=1200)
    assert report["subjects"] == 500 and report["records"] == 1200
    with database.engine.connect() as conn:
        # The secondary indexes dropped for the load are all back.
        assert {t: _indexes(conn, t) for t in before} == before
        rows = conn.execute(text("SELECT name, name_norm, uscc, kind FROM subjects WHERE source = 'bulk'")).all()
        assert len(rows) == 500
        assert all(uscc.validate(r.uscc).valid for r in rows), "every code carries valid check characters"
        assert len({r.uscc for r in rows}) == 500
        assert all(r.name_norm == normalize_org_name(r.name) for r in rows)
        counts = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT r.subject_id), min(r.decision_date), max(r.decision_date), "
                "sum(CASE WHEN r.late THEN 1 ELSE 0 END), count(DISTINCT r.department_id) "
                "FROM credit_records r JOIN subjects s ON s.id = r.subject_id AND s.source = 'bulk'"
            )
        ).one()
        assert counts[0] == 1200 and counts[1] > 300
        assert (counts[3] - counts[2]).days > 3000  # decisions spread over years
        assert 0 < counts[4] < 1200 and counts[5] == 3
        # Each record has its first version, and points at it.
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM credit_records r LEFT JOIN record_versions v "
                "ON v.id = r.current_version_id AND v.record_id = r.id AND v.version_no = 1 WHERE v.id IS NULL"
            )
        ).scalar_one()
        assert orphans == 0
        # The foreign keys skipped during the load hold.
        for child, column, parent in (
            ("credit_records", "subject_id", "subjects"),
            ("credit_records", "department_id", "departments"),
            ("list_entries", "subject_id", "subjects"),
            ("list_entries", "list_type_id", "list_types"),
            ("commitments", "subject_id", "subjects"),
        ):
            missing = conn.execute(
                text(
                    f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{column} "
                    f"WHERE c.{column} IS NOT NULL AND p.id IS NULL"
                )
            ).scalar_one()
            assert missing == 0, (child, column)
        assert conn.execute(text("SELECT count(*) FROM list_entries")).scalar_one() == 10
        assert conn.execute(text("SELECT count(*) FROM commitments")).scalar_one() == 25
        next_id = conn.execute(text("SELECT nextval('credit_records_id_seq')")).scalar_one()
        assert next_id > conn.execute(text("SELECT max(id) FROM credit_records")).scalar_one() - 1
    with database.session(write=False) as s:
        name, code = rows[0].name, rows[0].uscc
        found = search_subjects(s, q=name)
        assert name in [hit.name for hit in found.items]
        assert [hit.name for hit in search_subjects(s, q=code).items] == [name]


def test_fast_build_refuses_sqlite_before_building_anything(tmp_path):
    from typer.testing import CliRunner

    from xinyong import cli

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli.app, ["--db", url, "demo", "--build-only", "--fast", "--size", "100", "--json"])
    assert result.exit_code != 0
    assert "fast_postgresql_only" in result.output or "PostgreSQL" in result.output
    if (tmp_path / "demo.db").exists():  # refused before the migrations and the demo city
        import sqlite3

        with sqlite3.connect(tmp_path / "demo.db") as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'subjects'").fetchone() == (0,)
    result = CliRunner().invoke(cli.app, ["--db", url, "demo", "--build-only", "--fast", "--json"])
    assert result.exit_code != 0 and "fast_needs_size" in result.output
