"""Migration 0024: the evaluation's contributions stored as JSON text on PostgreSQL (jsonb before), compact, with
every value kept both ways, and a run after the upgrade rewriting nothing. SQLite: nothing changes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text

from tests.core.test_partitions import pg_url  # noqa: F401  (the fixture: a fresh PostgreSQL database)
from tests.evaluation.helpers import TODAY, org, record, seed
from tests.factories import ACTOR
from xinyong.core.db import Database
from xinyong.core.migrate import downgrade, head_revision, upgrade
from xinyong.evaluation import service
from xinyong.evaluation.models import EvaluationResult, GradeHistory

BEFORE = "0023_partitions"  # the revision before 0024
TABLES = ("evaluation_results", "evaluation_history")


def _types(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name IN ('evaluation_results', 'evaluation_history') AND column_name = 'contributions'"
                )
            ).scalars()
        )


def _documents(db: Database) -> tuple[list[tuple], list[tuple]]:
    """Every result's and history row's contributions as read (Python values), in id order."""
    with db.session(write=False) as s:
        results = [
            (r.id, r.run_id, r.contributions) for r in s.scalars(select(EvaluationResult).order_by(EvaluationResult.id))
        ]
        history = [(h.id, h.contributions) for h in s.scalars(select(GradeHistory).order_by(GradeHistory.id))]
    return results, history


def _texts(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [
            doc
            for table in TABLES
            for doc in conn.execute(text(f"SELECT contributions::text FROM {table} WHERE contributions IS NOT NULL"))
            .scalars()
            .all()
        ]


def test_contributions_move_from_jsonb_to_compact_json_text_and_back(pg_url) -> None:
    assert upgrade(pg_url) == head_revision()
    db = Database(pg_url)
    with db.write_sessionmaker() as s:
        depts = seed(s)
        for n in range(6):
            subject = org(s)
            for k in range(n % 3):
                record(s, subject, depts["wjw"], decided=TODAY - dt.timedelta(days=90 * (k + 1)))
        service.run_evaluation(s, actor=ACTOR, as_of=TODAY, model="public_credit_legal_person")
        s.commit()
    written = _documents(db)
    assert len(written[0]) == 6 and len(written[1]) == 6
    assert _types(db) == {"json"}
    assert all(" " not in doc for doc in _texts(db))  # the engine's compact text
    db.dispose()

    downgrade(pg_url, BEFORE)
    db = Database(pg_url)
    assert _types(db) == {"jsonb"}
    assert _documents(db) == written
    assert all(", " in doc for doc in _texts(db))  # jsonb's own text
    db.dispose()

    assert upgrade(pg_url) == head_revision()
    db = Database(pg_url)
    assert _types(db) == {"json"}
    assert _documents(db) == written
    assert all(" " not in doc for doc in _texts(db))
    with db.write_sessionmaker() as s:  # nothing changed: no result is rewritten, no history row added
        [run] = service.run_evaluation(s, actor=ACTOR, as_of=TODAY, model="public_credit_legal_person")
        s.commit()
    assert run["changed"] == 0
    assert _documents(db) == written
    db.dispose()
