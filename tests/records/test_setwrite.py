"""The set-based record writer (``records.setwrite``, issue #19 part 1) stores exactly what the row writer stores.

The same sequence of batches goes through ``upsert_records`` with ``engine="row"`` on an empty database and with
``engine="bulk"`` on another: the outcomes of every row, the counts, the stored subjects, aliases, records,
versions, legal representatives, feed messages and audit events must be identical (ids and creation times aside;
references are compared by the natural key of what they point at). A hypothesis property test draws the batches;
fixed hostile cases name what must hold whatever hypothesis draws. Through the ingest service too: the batch
summary and the rejected rows of a file with refusals in it are the same with either writer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import _pg_truncate
from tests.factories import make_department, make_uscc
from tests.records.helpers import ADMIN, company_uscc, licence, make_batch, penalty, seed_catalog
from xinyong.catalog.rules import PartyKind
from xinyong.core.db import Database
from xinyong.identifiers import resident_id, uscc
from xinyong.models import Base
from xinyong.records import upsert as records_upsert
from xinyong.records.inputs import RecordInput

RECEIVED = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)

#: Columns that differ between two runs whatever the writer: surrogate keys, creation times, encryption nonces.
_VOLATILE = {
    "id",
    "seq",
    "at",
    "created_at",
    "updated_at",
    "ended_at",
    "resident_id_enc",
    "id_enc",
    "current_version_id",
    "entity_id",
}
_TABLES = (
    "subjects",
    "subject_aliases",
    "credit_records",
    "record_versions",
    "related_persons",
    "exchange_feed",
    "audit_events",
)


@pytest.fixture
def fresh(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], Database]]:
    """Empty databases of the test's backend, one per call (SQLite: a new file; PostgreSQL: the test's database
    emptied again, sequences restarted)."""
    made: list[Database] = []

    def make() -> Database:
        if database.engine.dialect.name == "sqlite":
            path = tmp_path / f"parity-{len(made)}.db"
            shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
            db = Database(f"sqlite:///{path}")
            made.append(db)
            return db
        _pg_truncate(database)
        return database

    yield make
    for db in made:
        db.dispose()


# Batches ---------------------------------------------------------------------------------------------------------

PERSONS = [resident_id.make(region="410882", birth_date=dt.date(1980 + n, 3, 9), sequence=10 + n) for n in range(3)]


def _party(n: int) -> dict[str, Any]:
    """Party ``n`` of a small pool: companies (one only by its legacy org code, one with a registration number as
    an alias, one with a USCC whose check digit is wrong), natural persons with ID numbers."""
    if n < 3:
        return {"party": f"沁阳市宏达机械{n}有限公司", "code": company_uscc(n + 1), "legal_rep": f"张{n}"}
    if n == 3:  # the legacy organisation code of company 0 inside another USCC form: found through it
        return {"party": "沁阳市宏达机械0有限公司", "code": company_uscc(1)}
    if n == 4:
        return {
            "party": "沁阳市新兴商贸有限公司",
            "code": company_uscc(40),
            "party_codes": {"registration_no": "410882000012345"},
            "legal_rep": "李四",
            "legal_rep_id_number": PERSONS[2],
        }
    if n == 5:  # a USCC with a wrong check digit: created flagged
        good = company_uscc(50)
        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        return {"party": "沁阳市错码有限公司", "code": bad}
    if n == 6:  # a subject known under another name
        return {"party": "沁阳市另名机械有限公司", "code": company_uscc(2)}
    person = PERSONS[(n - 7) % len(PERSONS)]
    return {"party": f"王{n}", "kind": PartyKind.NATURAL_PERSON, "id_number": person}


N_PARTIES = 10


@dataclasses.dataclass(frozen=True)
class Row:
    doc: int
    party: int
    fine: int  # which fine: a different fine is a changed record
    valid: bool = True  # 当前状态 (licences): False withdraws
    licence: bool = False
    other_authority: bool = False


def make_row(r: Row, number: int) -> RecordInput:
    p = dict(_party(r.party))
    if r.licence:
        row = licence(party=p["party"], code=p.get("code"), doc=f"沁市监许〔2024〕{r.doc}号", valid=r.valid, row=number)
    else:
        legal = {k: p.pop(k) for k in ("legal_rep", "legal_rep_id_number", "party_codes") if k in p}
        row = penalty(
            doc=f"沁市监罚〔2024〕{r.doc}号",
            fine_wan=f"{r.fine + 1}.5",
            row=number,
            data={"备注": f"证件 {PERSONS[0]} 已核验"} if r.fine == 2 else None,
            **p,
            **legal,
        )
    if r.other_authority:
        row = dataclasses.replace(row, authority_uscc=make_uscc(9002), source_unit_uscc=make_uscc(9002))
    return row


rows_st = st.builds(
    Row,
    doc=st.integers(1, 8),
    party=st.integers(0, N_PARTIES - 1),
    fine=st.integers(0, 2),
    valid=st.booleans(),
    licence=st.booleans(),
    other_authority=st.booleans(),
)
#: A scenario: batches in order, each from department 0 or 1, with or without creating unknown subjects.
batches_st = st.lists(
    st.tuples(st.integers(0, 1), st.booleans(), st.lists(rows_st, min_size=1, max_size=14)), min_size=1, max_size=4
)


# Running and comparing -------------------------------------------------------------------------------------------


def run(db: Database, scenario: list[tuple[int, bool, list[Row]]], engine: str) -> dict[str, Any]:
    """The scenario on an empty database with one writer: every call's result, then every stored row."""
    results = []
    with db.sessionmaker() as session:
        seed_catalog(session)
        depts = [make_department(session, code="scjgj"), make_department(session, code="swj")]
        session.commit()
        for n, (dept, create, rows) in enumerate(scenario, start=1):
            batch = make_batch(session, depts[dept].id, batch_id=n)
            result = records_upsert.upsert_records(
                session,
                actor=ADMIN,
                department_id=depts[dept].id,
                batch_id=batch,
                received_at=RECEIVED + dt.timedelta(days=n),
                rows=[make_row(r, i + 2) for i, r in enumerate(rows)],
                create_subjects=create,
                engine=engine,
            )
            session.commit()
            results.append(result)
        return {"results": [_result(session, r) for r in results], "stored": snapshot(session)}


def _result(session: Any, result: records_upsert.UpsertResult) -> dict[str, Any]:
    keys = _record_keys(session)
    out = dataclasses.asdict(result)
    out["outcomes"] = [{**o, "record_id": keys.get(o["record_id"])} for o in out["outcomes"]]
    return out


def _record_keys(session: Any) -> dict[int, tuple[str, str, str]]:
    t = Base.metadata.tables["credit_records"]
    return {
        i: (k, a, d) for i, k, a, d in session.execute(select(t.c.id, t.c.kind, t.c.authority_uscc, t.c.doc_no_norm))
    }


def snapshot(session: Any) -> dict[str, list[str]]:
    """Every row of the written tables, surrogate keys replaced by what they point at, sorted."""
    s = Base.metadata.tables["subjects"]
    subject_keys = {
        i: (k, u, h, n)
        for i, k, u, h, n in session.execute(select(s.c.id, s.c.kind, s.c.uscc, s.c.resident_id_hash, s.c.name_norm))
    }
    record_keys = _record_keys(session)
    out = {}
    for name in _TABLES:
        t = Base.metadata.tables[name]
        rows = []
        query = select(t)
        if name == "audit_events":  # the writers' own events (the catalog's seeding is not theirs)
            query = query.where(t.c.action == "records.upsert")
        for row in session.execute(query).mappings():
            item = {}
            for col, value in row.items():
                if col in _VOLATILE:
                    continue
                if col in ("subject_id", "person_subject_id") and value is not None:
                    value = subject_keys[value]
                elif col == "record_id":
                    value = record_keys[value]
                elif col in ("hash", "prev_hash", "chain_hash"):
                    continue  # the audit chain hashes the events' ids and times
                item[col] = value
            rows.append(json.dumps(item, sort_keys=True, default=str, ensure_ascii=False))
        out[name] = sorted(rows)
    return out


def assert_same(fresh: Callable[[], Database], scenario: list[tuple[int, bool, list[Row]]]) -> dict[str, Any]:
    by_row = run(fresh(), scenario, "row")
    by_set = run(fresh(), scenario, "bulk")
    assert by_set["results"] == by_row["results"]
    for name in _TABLES:
        assert by_set["stored"][name] == by_row["stored"][name], name
    return by_row


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example builds two databases
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=batches_st)
def test_set_based_writer_stores_what_the_row_writer_stores(fresh, scenario):
    assert_same(fresh, scenario)


# Fixed hostile cases -----------------------------------------------------------------------------------------------


def _ops(result: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(o["outcome"], (o["warnings"] or [{}])[0].get("code")) for o in result["outcomes"]]


def test_new_resubmitted_changed_withdrawn_and_refused(fresh):
    rows = [Row(doc=1, party=0, fine=0), Row(doc=2, party=7, fine=0), Row(doc=3, party=4, fine=0, licence=True)]
    scenario = [
        (0, True, rows),
        (0, True, rows),  # the same rows again: unchanged
        (0, True, [Row(doc=1, party=0, fine=1), Row(doc=3, party=4, fine=0, licence=True, valid=False)]),
        (1, True, [Row(doc=1, party=0, fine=2)]),  # another department's record: refused
        (0, True, [Row(doc=3, party=4, fine=1, licence=True, valid=True)]),  # withdrawn stays withdrawn
    ]
    got = assert_same(fresh, scenario)["results"]
    assert _ops(got[0]) == [("created", None)] * 3
    assert _ops(got[1]) == [("unchanged", None)] * 3
    assert _ops(got[2]) == [("updated", None), ("updated", None)]
    assert got[2]["withdrawn"] == 1
    assert _ops(got[3]) == [("rejected", "record_of_other_department")]
    assert _ops(got[4]) == [("updated", "record_withdrawn")]


def test_same_record_twice_in_a_batch_persons_legacy_codes_and_unknown_subjects(fresh):
    scenario = [
        (0, False, [Row(doc=1, party=0, fine=0)]),  # unknown subject, not created: refused
        (0, True, [Row(doc=1, party=0, fine=0), Row(doc=1, party=0, fine=1), Row(doc=2, party=3, fine=0)]),
        (0, True, [Row(doc=7, party=1, fine=0)]),
        (0, True, [Row(doc=4, party=8, fine=2), Row(doc=5, party=5, fine=0), Row(doc=6, party=6, fine=0)]),
    ]
    got = assert_same(fresh, scenario)["results"]
    assert _ops(got[0]) == [("rejected", "subject_not_found")]
    assert [o["outcome"] for o in got[1]["outcomes"]] == ["created", "updated", "created"]
    got.pop(2)
    assert _ops(got[2])[2] == ("created", "name_mismatch")


def test_a_conflicting_legacy_code_is_refused_alike(fresh):
    other = uscc.make(authority="9", category="1", region="410882", org_body="MB000777")
    first = [Row(doc=1, party=4, fine=0)]  # company 40, registration number 410882000012345 as an alias

    def scenario_rows(db: Database, engine: str) -> tuple[list[tuple[str, str | None]], dict[str, list[str]]]:
        with db.sessionmaker() as session:
            seed_catalog(session)
            dept = make_department(session, code="scjgj")
            session.commit()
            for n, rows in enumerate(
                [
                    [make_row(r, 2) for r in first],
                    [
                        penalty(
                            party="另一家公司",
                            code=other,
                            party_codes={"registration_no": "410882000012345"},
                            doc="沁市监罚〔2024〕9号",
                            row=2,
                        )
                    ],
                ],
                start=1,
            ):
                result = records_upsert.upsert_records(
                    session,
                    actor=ADMIN,
                    department_id=dept.id,
                    batch_id=make_batch(session, dept.id, batch_id=n),
                    received_at=RECEIVED,
                    rows=rows,
                    engine=engine,
                )
                session.commit()
            stored = snapshot(session)
            return [(o.outcome, (o.warnings or [{}])[0].get("code")) for o in result.outcomes], stored

    row = scenario_rows(fresh(), "row")
    bulk = scenario_rows(fresh(), "bulk")
    assert row[0] == [("rejected", "party_code_conflict")]
    assert bulk == row
