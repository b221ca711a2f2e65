"""The check's fast paths give what the general ones give: the identifier shortcut equals ``explain``; checks
written with plain INSERTs (few items) and through ``core.bulk`` (many) read back through the models exactly; the
entries in force and their objection markers come from one query; concurrent checks are all recorded."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from sqlalchemy import func, select, text

from tests.factories import make_department
from tests.measures.helpers import TODAY, entry, org, seed_all
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock
from xinyong.core.db import Database
from xinyong.identifiers import explain, resident_id, uscc
from xinyong.identifiers._text import compact
from xinyong.measures import check as checks
from xinyong.measures import resolve as measures_resolve
from xinyong.measures.check import SubjectQuery, run_check
from xinyong.measures.models import Check, CheckItem


def _codes(rng: random.Random) -> list[str]:
    """Valid USCCs with letters, all-digit valid USCCs (common in practice), numbers valid both as a USCC and as
    a resident ID, valid resident IDs, and broken codes."""
    out = []
    for _ in range(300):
        body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        out.append(uscc.make(authority="9", category="1", region="410882", org_body=body))
        out.append(uscc.make(authority="9", category="1", region="410882", org_body=f"{rng.randrange(10**8):08d}"))
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(25_000))
        out.append(resident_id.make(region="410882", birth_date=born, sequence=rng.randrange(1000)))
    both = [
        c
        for c in (
            resident_id.make(region="911101", birth_date=dt.date(1990, 1, 1) + dt.timedelta(days=d), sequence=s)
            for d in range(60)
            for s in range(60)
        )
        if uscc.is_valid(c)
    ]
    assert both, "no number valid under both rules was found"
    out += both[:20]
    out += [c[:17] + ("0" if c[17] != "0" else "1") for c in out[:60]]  # wrong check characters
    out += [" 91410882-mA0000000x ", "９１４１０８８２ＭＡ００００００００Ｘ", "", "12345"]
    return out


def test_the_identifier_shortcut_says_what_explain_says() -> None:
    shortcuts = 0
    for raw in _codes(random.Random(4)):
        c = compact(raw)
        fast = measures_resolve._explain(raw, c, measures_resolve._personal_shape(c))
        full = explain(raw)
        assert (fast.kind, fast.valid, fast.normalized) == (full.kind, full.valid, full.normalized), raw
        shortcuts += isinstance(fast, measures_resolve._ValidUscc)
    assert shortcuts >= 500  # the shortcut is taken for the valid USCCs, letters or not


@pytest.fixture
def seeded(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    return Principal(kind="token", name="政府采购系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id, token_id=7)


@pytest.mark.parametrize("size", [1, 3, checks._FEW_ITEMS + 5])
def test_the_record_reads_back_through_the_models(session, seeded, size) -> None:
    listed = org(session, "沁阳市失信测试有限公司")
    entry(
        session,
        listed,
        "court_dishonest_debtor",
        listed_on=TODAY - dt.timedelta(days=30),
        term_end=TODAY + dt.timedelta(days=300),
    )
    clean = org(session, "沁阳市清白测试有限公司")
    queries = [SubjectQuery(code=listed), SubjectQuery(code="91410882MA0000000X")]
    queries += [SubjectQuery(code=clean)] * (size - 2)
    queries = queries[:size]
    answer = run_check(session, actor=seeded, subjects=queries, scenario="procurement", reference="CG-1", on=TODAY)
    session.commit()
    check = session.get(Check, answer["check_id"])
    assert check.at.tzinfo is not None and check.at.isoformat() == answer["checked_at"]
    assert check.checked_on == TODAY and check.scenario == "procurement" and check.reference == "CG-1"
    assert (
        check.actor == seeded.actor and check.system == "政府采购系统" and check.department_id == seeded.department_id
    )
    assert check.summary == answer["summary"] and check.subject_count == size
    assert check.with_measures is True
    items = session.scalars(select(CheckItem).where(CheckItem.check_id == check.id).order_by(CheckItem.position)).all()
    assert [i.id for i in items] == [r["item_id"] for r in answer["results"]]
    for item, result in zip(items, answer["results"], strict=True):
        assert item.position == result["position"] and item.outcome == result["outcome"]
        assert item.query == result["query"] and item.reason == result["reason"]
        assert item.entry_ids == [e["id"] for e in result["entries"]]
        assert item.measure_codes == [m["code"] for m in result["measures"]]
        assert item.subject_id == (result["subject"]["id"] if result["subject"] else None)
        assert item.candidates is None
    first = answer["results"][0]
    assert first["entries"][0]["listed_on"] == (TODAY - dt.timedelta(days=30)).isoformat()
    assert first["entries"][0]["term_end"] == (TODAY + dt.timedelta(days=300)).isoformat()
    assert f"列入日期 {(TODAY - dt.timedelta(days=30)).isoformat()}" in first["measures"][0]["reasons"][0]["text"]


@pytest.mark.parametrize("path", ["session", "check_and_record"])
def test_concurrent_checks_are_all_recorded(database: Database, session, seeded, path) -> None:
    """Threads of one process check at once (as the server's workers do); on SQLite each record waits its turn
    for the write lock, none fails, every answer's check exists with its items. Both the caller's session and
    the API's path (reads in autocommit, the record on the same connection)."""
    listed = org(session, "沁阳市并发测试有限公司")
    entry(session, listed, "court_dishonest_debtor", listed_on=TODAY - dt.timedelta(days=3))
    entry(
        session,
        listed,
        "tax_serious_dishonest",
        listed_on=clock.today() - dt.timedelta(days=3),
        term_end=clock.today() + dt.timedelta(days=300),
    )
    session.commit()
    answers: list[dict] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                if path == "check_and_record":
                    answers.append(
                        checks.check_and_record(
                            database, actor=seeded, scenario="general", subjects=[SubjectQuery(code=listed)]
                        )
                    )
                    continue
                with database.session() as s:
                    answers.append(
                        run_check(s, actor=seeded, subjects=[SubjectQuery(code=listed)], scenario="general", on=TODAY)
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    session.rollback()
    ids = {a["check_id"] for a in answers}
    assert len(answers) == 20 and len(ids) == 20
    recorded = session.scalars(select(CheckItem.check_id).where(CheckItem.check_id.in_(ids))).all()
    assert sorted(recorded) == sorted(ids)
    assert all(a["results"][0]["measures"] for a in answers)


# The API's path: check_and_record (PostgreSQL: autocommit, one-statement record, no ping at checkout) -------------


@pytest.mark.parametrize("size", [1, checks._FEW_ITEMS + 5])
def test_check_and_record_commits_the_check_and_its_items(database: Database, session, seeded, size) -> None:
    today = clock.today()
    listed = org(session, "沁阳市失信记录测试有限公司")
    entry(
        session,
        listed,
        "court_dishonest_debtor",
        listed_on=today - dt.timedelta(days=3),
        term_end=today + dt.timedelta(days=300),
    )
    session.commit()
    answer = checks.check_and_record(
        database, actor=seeded, subjects=[SubjectQuery(code=listed)] * size, scenario="procurement", reference="CG-2"
    )
    assert answer["summary"]["matched"] == size and answer["results"][0]["measures"]
    with database.session() as s:
        items = s.scalars(
            select(CheckItem).where(CheckItem.check_id == answer["check_id"]).order_by(CheckItem.position)
        ).all()
        assert s.get(Check, answer["check_id"]).reference == "CG-2"
    assert [i.id for i in items] == [r["item_id"] for r in answer["results"]]
    assert all(i.measure_codes == [m["code"] for m in answer["results"][0]["measures"]] for i in items)


def _postgresql_only(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no pooled server connections to lose")


def test_a_dead_pooled_connection_costs_no_failed_check(database: Database, session, seeded, caplog) -> None:
    """The statement engine does not ping at checkout: when the server has dropped its pooled connections
    (a restart), the check finds out on its first statement, empties the pool and runs once more."""
    _postgresql_only(database)
    listed = org(session, "沁阳市断线重连测试有限公司")
    entry(
        session,
        listed,
        "court_dishonest_debtor",
        listed_on=clock.today() - dt.timedelta(days=3),
        term_end=clock.today() + dt.timedelta(days=300),
    )
    session.commit()
    checks.check_and_record(database, actor=seeded, subjects=[SubjectQuery(code=listed)], scenario="general")
    engine = database.statement_engine
    pooled = []
    with engine.connect() as a, engine.connect() as b:
        pooled = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in (a, b)]
    for pid in pooled:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    session.commit()
    before = session.scalar(select(func.count()).select_from(Check))
    with caplog.at_level("WARNING", logger="xinyong.measures.check"):
        answer = checks.check_and_record(
            database, actor=seeded, subjects=[SubjectQuery(code=listed)], scenario="general"
        )
    assert answer["results"][0]["measures"]
    assert "pool emptied, check retried" in caplog.text
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Check)) == before + 1  # recorded once


def test_a_connection_lost_while_recording_is_not_retried(database: Database, session, seeded, monkeypatch) -> None:
    """Once the record was sent, the check may have been written: it is not run again (a second record), the
    caller gets the error."""
    _postgresql_only(database)
    listed = org(session, "沁阳市写入断线测试有限公司")
    session.commit()
    calls = []
    original = checks._insert

    def dying_insert(driver, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        with driver.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return original(driver, *args, **kwargs)

    monkeypatch.setattr(checks, "_insert", dying_insert)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error for a lost connection
        checks.check_and_record(database, actor=seeded, subjects=[SubjectQuery(code=listed)], scenario="general")
    assert calls == [1]


def test_a_catalogue_change_made_elsewhere_is_seen_by_the_next_check(database: Database, session, seeded) -> None:
    """The catalogue's fingerprint comes with the entries in force: a measure switched off by another process
    (here: straight in the database, nothing in this process told) leaves the very next answer."""
    from sqlalchemy import update

    from xinyong.core.db import utcnow
    from xinyong.measures.models import Measure

    listed = org(session, "沁阳市目录变更测试有限公司")
    entry(
        session,
        listed,
        "court_dishonest_debtor",
        listed_on=clock.today() - dt.timedelta(days=3),
        term_end=clock.today() + dt.timedelta(days=300),
    )
    session.commit()

    def codes() -> list[str]:
        answer = checks.check_and_record(
            database, actor=seeded, subjects=[SubjectQuery(code=listed)], scenario="procurement"
        )
        return [m["code"] for m in answer["results"][0]["measures"]]

    assert "debtor_procurement_ban" in codes()
    session.execute(
        update(Measure).where(Measure.code == "debtor_procurement_ban").values(active=False, updated_at=utcnow())
    )
    session.commit()
    assert "debtor_procurement_ban" not in codes()
