"""Two writers at once, on both databases (issue #13): uploads naming the same companies new to the registry, the
same file sent twice, commitments of the same new promisors — and the batch validated before it takes a lock.

Each test holds one write transaction open in the test's thread while a second one starts in another thread, then
commits the first. Before the fix, the second failed: on PostgreSQL with a unique violation (``uq_subjects_uscc``,
the record's key), on SQLite with "database is locked" (its snapshot had gone stale). Now the second waits for the
first (SQLite: its ``BEGIN IMMEDIATE``; PostgreSQL: the conflicting row or the key's lock), then finds what the
first created.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.factories import make_department, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME
from tests.ingest.test_batches import rows as penalty_rows
from tests.ingest.test_batches import write_csv
from tests.records.helpers import company_uscc, penalty
from xinyong.auth.roles import system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.core import db as core_db
from xinyong.core.db import Database, utcnow
from xinyong.identifiers import uscc
from xinyong.ingest import service as ingest
from xinyong.ingest.models import IngestBatch
from xinyong.records import upsert as records_upsert
from xinyong.records.models import CreditRecord
from xinyong.subjects.models import Subject, SubjectName

ADMIN = system_principal("tests")


@pytest.fixture
def dept(database: Database):  # type: ignore[no-untyped-def]
    with database.session() as s:
        seed_catalog(s, actor=ADMIN)
    with database.sessionmaker() as s:
        department = make_department(s, code="scjgj")
        register_authority(s, department, uscc=AUTHORITY, name=AUTHORITY_NAME)  # the 处罚机关 of the test rows
        return department


def _second_while_first_open(
    database: Database, first: Callable[[Any], Any], second: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """Run ``first`` in an open write transaction, start ``second`` in another thread (its own write transaction),
    give it time to reach its conflict, commit the first; return both results (the second's exception, if any,
    is raised)."""
    outcome: dict[str, Any] = {}

    def run_second() -> None:
        try:
            with database.session() as s:
                outcome["value"] = second(s)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    with ExitStack() as stack:
        s1 = stack.enter_context(database.session())
        result = first(s1)
        thread = threading.Thread(target=run_second)
        thread.start()
        thread.join(1.0)  # the second is now waiting for the first (or, before the fix, already past it)
    thread.join(30)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return result, outcome["value"]


def test_two_uploads_creating_the_same_new_companies(database: Database, dept) -> None:  # type: ignore[no-untyped-def]
    a, b, c = company_uscc(501), company_uscc(502), company_uscc(503)

    def upload(codes: list[str], prefix: str) -> Callable[[Any], Any]:
        def run(s: Any) -> Any:
            return records_upsert.upsert_records(
                s,
                actor=ADMIN,
                department_id=dept.id,
                batch_id=None,
                received_at=utcnow(),
                rows=[
                    penalty(
                        code=code, party=f"沁阳市{code[-4:]}有限公司", doc=f"沁市监罚〔2026〕{prefix}{i}号", row=i + 2
                    )
                    for i, code in enumerate(codes)
                ],
            )

        return run

    first, second = _second_while_first_open(database, upload([a, b, c], "甲"), upload([c, b, a], "乙"))
    assert (first.created, first.subjects_created) == (3, 3)
    assert (second.created, second.subjects_created) == (3, 0)  # found the first's subjects, created none
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Subject).where(Subject.uscc.in_([a, b, c]))) == 3
        assert s.scalar(select(func.count()).select_from(SubjectName)) == 3  # one name history each
        assert s.scalar(select(func.count()).select_from(CreditRecord)) == 6


def test_the_same_file_twice_at_once_is_applied_once(database: Database, dept, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "处罚.csv", penalty_rows(5))

    def upload(s: Any) -> dict[str, Any]:
        return ingest.ingest_file(s, actor=ADMIN, department_id=dept.id, path=path)

    first, second = _second_while_first_open(database, upload, upload)
    assert first["status"] == "accepted" and first["created"] == 5
    assert second["duplicate_of"] == first["batch"]
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(IngestBatch)) == 1
        assert s.scalar(select(func.count()).select_from(CreditRecord)) == 5


def test_two_departments_commitments_naming_the_same_new_promisors(database: Database, dept) -> None:  # type: ignore[no-untyped-def]
    from tests.commitments.helpers import accepted_by
    from tests.commitments.helpers import company_uscc as promisor_uscc
    from tests.commitments.helpers import row as commitment_row
    from xinyong.auth.roles import Principal, Role
    from xinyong.commitments import importer

    with database.sessionmaker() as s:
        other = make_department(s, code="swj")
    units = {dept.id: accepted_by(dept), other.id: accepted_by(other)}  # each department accepts its own
    today = dt.date(2024, 6, 1)

    def send(department_id: int, serials: list[int], first_code: int) -> Callable[[Any], Any]:
        actor = Principal(kind="token", name="承诺报送", role=Role.DEPT_OPERATOR, department_id=department_id)

        def run(s: Any) -> Any:
            return importer.import_rows(
                s,
                actor=actor,
                department_id=department_id,
                today=today,
                rows=[
                    commitment_row(n, **{"承诺编码": f"410882202403010{first_code + i:05d}", **units[department_id]})
                    for i, n in enumerate(serials)
                ],
            )

        return run

    first, second = _second_while_first_open(database, send(dept.id, [1, 2], 0), send(other.id, [2, 1], 100))
    assert (first["created"], first["subjects_created"]) == (2, 2)
    assert (second["created"], second["subjects_created"]) == (2, 0)
    with database.sessionmaker() as s:
        codes = [promisor_uscc(1), promisor_uscc(2)]
        assert s.scalar(select(func.count()).select_from(Subject).where(Subject.uscc.in_(codes))) == 2


def test_a_file_is_read_and_validated_before_its_transaction_begins(
    database: Database,
    dept,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Validation is pure Python: it runs before the write transaction takes SQLite's write lock, so a large
    upload does not keep the other writers waiting while it parses."""
    path = write_csv(tmp_path / "处罚.csv", penalty_rows(30, bad={4: {"处罚决定日期": "2019-02-30"}}))
    events: list[str] = []
    validate = ingest.validate_row

    def recording(*args: Any, **kwargs: Any) -> Any:
        events.append("validate")
        return validate(*args, **kwargs)

    monkeypatch.setattr(ingest, "validate_row", recording)

    def began(conn: Any) -> None:
        events.append("begin")

    event.listen(database.engine, "begin", began)
    try:
        with database.session() as s:
            summary = ingest.ingest_file(s, actor=ADMIN, department_id=dept.id, path=path)
    finally:
        event.remove(database.engine, "begin", began)
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (30, 29, 1)
    # The department's authorities are read first on a short reader (no write lock); the write transaction (the
    # last begin) starts only once every row is validated — and so, on SQLite, do the short transactions that
    # find or create the rows' subjects ahead of it (records.upsert.stage_records).
    first = events.index("validate")
    assert events.count("validate") == 30 and events[:first].count("begin") <= 1
    assert "begin" not in events[first : first + 30]
    last_begin = len(events) - 1 - events[::-1].index("begin")
    assert events[:last_begin].count("validate") == 30


@pytest.mark.parametrize("reject_all", [False, True])
def test_files_longer_than_the_validated_ahead_part(
    database: Database,
    dept,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    reject_all: bool,
) -> None:
    """Beyond ``AHEAD_ROWS`` the rest of a file is validated as it is written; a ``reject_all`` file too long to
    hold is checked whole first. Same outcomes either way: in-file duplicates across the boundary, counts."""
    monkeypatch.setattr(ingest, "AHEAD_ROWS", 7)
    monkeypatch.setattr(ingest, "CHUNK", 3)
    data = penalty_rows(20)
    data[15] = dict(data[2])  # a duplicate of a row validated ahead
    clean = write_csv(tmp_path / "clean.csv", penalty_rows(20))
    with database.session() as s:
        dup = ingest.ingest_file(
            s, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "dup.csv", data), reject_all=reject_all
        )
    assert (dup["rows"], dup["rejected"]) == (20, 1)
    assert dup["errors"][0]["code"] == "duplicate_in_file" and dup["errors"][0]["row"] == 17
    assert dup["status"] == ("rejected" if reject_all else "partial")
    assert dup["created"] == (0 if reject_all else 19)
    with database.session() as s:
        again = ingest.ingest_file(s, actor=ADMIN, department_id=dept.id, path=clean, reject_all=reject_all)
    assert (again["status"], again["rows"], again["accepted"]) == ("accepted", 20, 20)
    assert again["created"] == (20 if reject_all else 1)
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(CreditRecord)) == 20


def test_two_first_loads_at_once(  # type: ignore[no-untyped-def]
    database: Database, dept, tmp_path: Path, monkeypatch
) -> None:
    """Two departments' first large loads at once, each long enough to train the city's first dictionary
    (records.packing.train_first). Bulk transactions take turns (SQLite: the write lock; PostgreSQL: the bulk
    writers' advisory lock, core.db.mark_bulk), so the second finds the first's dictionary and trains none. Both
    land, and every version reads back."""
    from xinyong.records import packing
    from xinyong.records.models import RecordVersion, VersionDictionary

    monkeypatch.setattr(packing, "TRAIN_POOL", 60)
    monkeypatch.setattr(packing, "MIN_GAIN", 0.0)
    monkeypatch.setattr(ingest, "CHUNK", 50)
    other_authority = uscc.make(authority="1", category="1", region="410882", org_body="00310009")
    with database.sessionmaker() as s:
        other = make_department(s, code="swj")
        register_authority(s, other, uscc=other_authority, name="沁阳市商务局")
    mine = write_csv(tmp_path / "a.csv", penalty_rows(150))
    theirs_rows = penalty_rows(150)
    for r in theirs_rows:  # another authority, another company: nothing in common with the first load
        r.update(
            {
                "处罚机关": "沁阳市商务局",
                "处罚机关统一社会信用代码": other_authority,
                "行政相对人名称": "沁阳市另一商贸有限公司",
                "行政相对人代码_1(统一社会信用代码)": company_uscc(909),
            }
        )
    theirs = write_csv(tmp_path / "b.csv", theirs_rows)
    first, second = _second_while_first_open(
        database,
        lambda s: ingest.ingest_file(s, actor=ADMIN, department_id=dept.id, path=mine),
        lambda s: ingest.ingest_file(s, actor=ADMIN, department_id=other.id, path=theirs),
    )
    assert first["created"] == second["created"] == 150
    with database.sessionmaker() as s:
        trained = s.scalars(select(VersionDictionary)).all()
        assert [d.trained_from["batch_id"] for d in trained] == [first["batch"]]
        loaded = s.scalars(select(RecordVersion)).all()
        assert len(loaded) == 300 and all(v.content["doc_no_norm"] and v.data for v in loaded)


def test_a_batch_being_written_holds_neither_the_audit_chain_nor_the_feed(  # type: ignore[no-untyped-def]
    database: Database, dept, tmp_path: Path, monkeypatch
) -> None:
    """While a batch writes its chunks, another transaction appends audit events and feed messages (a logged read
    of personal data, a console change) without waiting: the batch takes both heads only at its end
    (core.batches.Deferred), where its feed messages and its audit events come out as before. PostgreSQL only:
    SQLite has one writer."""
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer: everything waits for the batch")
    from xinyong.core import audit
    from xinyong.exchange import feed
    from xinyong.exchange.models import FeedMessage

    monkeypatch.setattr(ingest, "CHUNK", 50)
    real = records_upsert.upsert_records
    paused, resume = threading.Event(), threading.Event()

    def after_the_first_chunk(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not paused.is_set():
            paused.set()
            assert resume.wait(30)
        return result

    monkeypatch.setattr(records_upsert, "upsert_records", after_the_first_chunk)
    path = write_csv(tmp_path / "a.csv", penalty_rows(120))
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            with database.session() as s:
                outcome["summary"] = ingest.ingest_file(s, actor=ADMIN, department_id=dept.id, path=path)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=load)
    thread.start()
    try:
        assert paused.wait(30), outcome
        with database.session() as s:  # would wait for the batch's commit if the batch held the heads
            s.connection().exec_driver_sql("SET LOCAL lock_timeout = '3s'")
            audit.record(s, actor=ADMIN.actor, action="subjects.access", entity_type="subject", entity_id=1)
            feed.enqueue(s, [{"kind": "test", "op": "created", "entity_id": 1}])
    finally:
        resume.set()
        thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"]["created"] == 120
    with database.sessionmaker() as s:
        events = [e.action for e in s.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq))]
        assert events[-3:] == ["subjects.access", "records.upsert", "ingest.batch"]  # appended during the batch
        assert events.count("records.upsert") == 1  # one for the batch, its counts those of all its chunks
        upsert_event = s.scalars(select(audit.AuditEvent).where(audit.AuditEvent.action == "records.upsert")).one()
        assert upsert_event.after["created"] == 120
        assert audit.verify_chain(s).ok
        messages = s.scalar(select(func.count()).select_from(FeedMessage).where(FeedMessage.kind != "test"))
        assert messages == 120


def test_two_batches_naming_the_same_companies_in_other_orders_take_turns(  # type: ignore[no-untyped-def]
    database: Database, dept, tmp_path: Path, monkeypatch
) -> None:
    """Two departments' files name the same 100 new companies, one in the other's reverse order, 50 rows a chunk,
    sent at once. Bulk transactions take turns on PostgreSQL (core.db.mark_bulk): two batches holding each other's
    companies from different chunks deadlocked, one rolled back whole (bench/parallel_ingest.py, two 100,000-row
    files, before the turns; this test too, without them). Both land, neither retried, and the pg_locks view shows
    the second waiting for the bulk writers' lock while the first writes (two batches at once in this process, as in
    two web workers)."""
    monkeypatch.setattr(ingest, "CHUNK", 50)
    other_authority = uscc.make(authority="1", category="1", region="410882", org_body="00310009")
    with database.sessionmaker() as s:
        other = make_department(s, code="swj")
        register_authority(s, other, uscc=other_authority, name="沁阳市商务局")
    companies = [(company_uscc(700 + i), f"沁阳市第{i}商贸有限公司") for i in range(100)]

    def file(name: str, order: list[tuple[str, str]], authority: tuple[str, str] | None) -> Path:
        rows = penalty_rows(len(order))
        for r, (code, company) in zip(rows, order, strict=True):
            r.update({"行政相对人名称": company, "行政相对人代码_1(统一社会信用代码)": code})
            if authority:
                r.update({"处罚机关": authority[0], "处罚机关统一社会信用代码": authority[1]})
        return write_csv(tmp_path / name, rows)

    mine = file("a.csv", companies, None)
    theirs = file("b.csv", companies[::-1], ("沁阳市商务局", other_authority))
    real = records_upsert.upsert_records
    waiting: list[int] = []

    def look_after_the_first_chunk(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not waiting and database.engine.dialect.name == "postgresql":
            time.sleep(0.5)  # the other batch has begun by now, and waits
            with database.engine.connect() as c:
                waiting.append(
                    c.exec_driver_sql(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                        f"AND classid = {core_db.BULK_LOCK} "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ).scalar_one()
                )
        return result

    monkeypatch.setattr(records_upsert, "upsert_records", look_after_the_first_chunk)
    monkeypatch.setattr(ingest, "_slots", threading.BoundedSemaphore(2))  # two batches in this process, as two workers
    outcomes: dict[int, Any] = {}

    def load(department_id: int, path: Path) -> None:
        try:
            with database.session() as s:
                outcomes[department_id] = ingest.ingest_file(s, actor=ADMIN, department_id=department_id, path=path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcomes[department_id] = exc

    threads = [threading.Thread(target=load, args=a) for a in ((dept.id, mine), (other.id, theirs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(o, dict) and o["created"] == 100 for o in outcomes.values()), outcomes
    with database.sessionmaker() as s:
        assert (
            s.scalar(select(func.count()).select_from(Subject).where(Subject.uscc.in_([c for c, _ in companies])))
            == 100
        )
    if database.engine.dialect.name == "postgresql":
        assert waiting == [1]  # the second batch waited for its turn while the first wrote
