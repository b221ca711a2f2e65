"""Packed record versions (records.versions / records.packing, issue #19): the format, both writers, the trained
dictionary, packing the plain versions, and the commands."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zlib

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from tests.factories import make_department
from tests.records.helpers import ADMIN, PERSON_ID, company_uscc, contract, licence, penalty, seed_catalog
from xinyong.catalog.rules import PartyKind
from xinyong.core import audit, clikit
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import ValidationFailed
from xinyong.records import commands, packing, queries, versions, views
from xinyong.records import upsert as records_upsert
from xinyong.records.models import RecordVersion, VersionDictionary

RECEIVED = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)


def test_the_builtin_dictionary_never_changes():
    """Every version packed before a dictionary is trained names it by this checksum: changing it loses them."""
    assert versions.checksum(versions.BUILTIN_DICTIONARY) == 129215431 and len(versions.BUILTIN_DICTIONARY) == 2241


def test_a_packed_version_names_its_dictionary_and_only_that_one_reads_it():
    content = {"kind": "penalty", "party_name": "沁阳市宏达机械有限公司", "fine_wan": "1.5"}
    data = {"违法事实": "销售不合格产品", "=": 3}
    builtin = versions.Packer(0, versions.BUILTIN_DICTIONARY)
    packed = builtin.pack(content, data)
    assert versions.dictionary_of(packed) == builtin.checksum == versions.checksum(versions.BUILTIN_DICTIONARY)
    assert versions.unpack(packed, versions.BUILTIN_DICTIONARY) == (content, data)
    assert versions.documents(None, None, packed) == (content, data)
    assert len(packed) < len(versions.dumps_documents(content, data))
    other = b'"party_name":"' + "其他字典".encode() * 40
    with pytest.raises(zlib.error):  # a wrong dictionary is an error, never other documents
        versions.unpack(packed, other)
    with pytest.raises(zlib.error):
        versions.unpack(packed[:-3], versions.BUILTIN_DICTIONARY)
    with pytest.raises(ValueError, match="not a packed version"):
        versions.dictionary_of(zlib.compress(b"[{}, {}]"))
    unknown = versions.Packer(7, other).pack(content, data)
    with pytest.raises(LookupError, match="not in this database"):
        versions.documents(None, None, unknown)
    assert versions.documents(None, None, unknown, lambda key: other if key == versions.checksum(other) else None) == (
        content,
        data,
    )
    with pytest.raises(ValueError, match="either packed"):
        versions.documents(None, {}, None)
    with pytest.raises(ValueError):
        versions.Packer(1, b"x" * (versions.MAX_DICTIONARY + 1))


@pytest.fixture
def dept(session):
    seed_catalog(session)
    return make_department(session, code="scjgj")


def upsert(session, dept, rows, engine: str = "row"):
    result = records_upsert.upsert_records(
        session, actor=ADMIN, department_id=dept.id, batch_id=None, received_at=RECEIVED, rows=rows, engine=engine
    )
    session.commit()
    return result


def companies(n: int, start: int = 0, **kw) -> list:
    return [
        penalty(
            party=f"沁阳市第{i}机械制造有限公司",
            code=company_uscc(100 + i),
            doc=f"沁市监罚〔2024〕{i}号",
            data={
                "违法事实": f"经查，当事人于2024年{1 + i % 12}月销售不合格产品第{i}批",
                "处罚依据": "《中华人民共和国产品质量法》第四十九条",
            },
            row=2 + i,
            **kw,
        )
        for i in range(start, start + n)
    ]


def stored(session) -> dict[int, tuple]:
    session.rollback()  # a new transaction: what other connections committed (SQLite reads a snapshot)
    v = RecordVersion
    return {
        vid: (content, data, packed)
        for vid, content, data, packed in session.execute(select(v.id, v.content, v.data, v.packed).order_by(v.id))
    }


def full_views(session) -> list[dict]:
    session.rollback()
    ids = sorted(set(session.scalars(select(RecordVersion.record_id))))
    return [views.version_view(v) for rid in ids for v in queries.record_history(session, rid)]


@pytest.mark.parametrize("engine", ["row", "bulk"])
def test_both_writers_pack_with_the_newest_dictionary_and_readers_see_the_documents(session, dept, engine):
    first = upsert(session, dept, companies(60), engine)
    assert first.created == 60
    for content, data, packed in stored(session).values():
        assert content is None and data is None and versions.dictionary_of(packed) == packing.BUILTIN.checksum
    before = full_views(session)
    assert before[0]["data"]["违法事实"].startswith("经查，当事人") and before[0]["content"]["fine_wan"] == "1.5"

    trained = packing.train(session, actor=ADMIN.actor, pool=60, holdout=10)
    session.commit()
    assert trained.stored and trained.dictionary_id is not None, trained
    assert trained.mean_bytes_new < trained.mean_bytes_current
    assert packing.packer(session).checksum == trained.checksum
    # New versions (new records and changed ones) are packed with the trained dictionary.
    changed = [dataclasses.replace(r, fine_wan=r.fine_wan * 2) for r in companies(5)]
    again = upsert(session, dept, changed + companies(5, start=60), engine)
    assert (again.created, again.updated) == (5, 5)
    names = [versions.dictionary_of(p) for _, _, p in stored(session).values()]
    assert names.count(trained.checksum) == 10 and names.count(packing.BUILTIN.checksum) == 60
    after = full_views(session)
    assert after[: len(before)] != before  # five records have a second version now
    fine = [v for v in after if v["version_no"] == 2]
    assert len(fine) == 5 and all(
        v["changed_fields"] == ["fine_wan"] and v["content"]["fine_wan"] == str(changed[0].fine_wan) for v in fine
    )
    # The same rows again: unchanged (the content hash does not depend on how a version is stored).
    assert upsert(session, dept, changed + companies(5, start=60), engine).unchanged == 10


def test_a_process_that_never_saw_a_dictionary_finds_it_in_the_database(session, dept, monkeypatch):
    upsert(session, dept, companies(40))
    trained = packing.train(session, actor=ADMIN.actor, pool=40, holdout=10, force=True)
    session.commit()
    upsert(session, dept, companies(3, start=40))
    expected = full_views(session)
    # Another process: only the built-in dictionary known, none cached.
    monkeypatch.setattr(versions, "_KNOWN", {packing.BUILTIN.checksum: versions.BUILTIN_DICTIONARY})
    monkeypatch.setattr(packing, "_PACKERS", {})
    assert full_views(session) == expected  # the ORM's load event looks it up
    assert trained.checksum in versions._KNOWN
    # A query's columns (records.views' class fields): packing.full looks it up too.
    monkeypatch.setattr(versions, "_KNOWN", {packing.BUILTIN.checksum: versions.BUILTIN_DICTIONARY})
    upsert(session, dept, [contract(row=9)])
    monkeypatch.setattr(versions, "_KNOWN", {packing.BUILTIN.checksum: versions.BUILTIN_DICTIONARY})
    rid = session.scalars(select(RecordVersion.record_id).order_by(RecordVersion.id.desc()).limit(1)).one()
    [view] = views.attach_class_fields(session, [{"id": rid, "kind": "contract"}], public=False)
    assert view["fields"] and trained.checksum in versions._KNOWN


def test_training_reads_legal_persons_only_and_keeps_a_dictionary_only_when_it_is_smaller(session, dept):
    people = [
        penalty(doc=f"罚人{i}", party=f"王小{i}", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID, row=2 + i)
        for i in range(30)
    ]
    upsert(session, dept, people + companies(40, start=100, legal_rep="李大明"))
    with pytest.raises(ValidationFailed, match="至少"):
        packing.train(session, actor=ADMIN.actor, pool=5, holdout=10)
    trained = packing.train(session, actor=ADMIN.actor, pool=1000, holdout=10)
    session.commit()
    assert trained.stored and trained.trained_on + trained.held_out == 40  # the 30 persons' versions not read
    body = session.scalars(select(VersionDictionary.body)).one()
    assert "王小".encode() not in body and PERSON_ID.encode() not in body and "沁阳市第1".encode() in body
    assert "李大明".encode() not in body  # a legal person's representative is a person too
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "records.dictionary_trained")).one()
    assert event.entity_id == str(trained.dictionary_id) and event.actor == ADMIN.actor
    assert audit.verify_chain(session).ok
    # Trained again on the same versions: the same dictionary, stored already (even when forced).
    for force in (False, True):
        again = packing.train(session, actor=ADMIN.actor, pool=1000, holdout=10, force=force)
        assert not again.stored and again.reason == f"同一字典已保存为字典 {trained.dictionary_id}"
    # A few more versions: another dictionary, but not 2 % smaller than the current one — kept only if forced.
    upsert(session, dept, companies(5, start=200, legal_rep="李大明"))
    other = packing.train(session, actor=ADMIN.actor, pool=1000, holdout=10)
    assert not other.stored and other.dictionary_id is None and "未保存" in other.reason
    assert session.scalars(select(VersionDictionary.id)).all() == [trained.dictionary_id]
    forced = packing.train(session, actor=ADMIN.actor, pool=1000, holdout=10, force=True)
    assert forced.stored and forced.checksum != trained.checksum


def test_pack_versions_packs_the_plain_ones_and_repacks_with_the_newest_dictionary(database, session, dept):
    upsert(session, dept, [*companies(40), licence(doc="许1", row=50)])
    expected = full_views(session)
    # Versions as stored before 0025 (or by demo --size): plain.
    for vid, (_, _, packed) in stored(session).items():
        content, data = versions.documents(None, None, packed)
        session.execute(
            update(RecordVersion).where(RecordVersion.id == vid).values(content=content, data=data, packed=None)
        )
    session.commit()
    assert all(p is None for _, _, p in stored(session).values())
    assert full_views(session) == expected  # plain versions are read as they are

    first = packing.pack_versions(database, batch=7)
    assert (first.scanned, first.packed, first.repacked) == (41, 41, 0)
    assert first.bytes_after < first.bytes_before
    assert all(
        c is None and versions.dictionary_of(p) == packing.BUILTIN.checksum for c, _, p in stored(session).values()
    )
    assert full_views(session) == expected
    assert packing.pack_versions(database).scanned == 0  # nothing plain is left

    trained = packing.train(session, actor=ADMIN.actor, pool=100, holdout=6, force=True)
    session.commit()
    assert packing.pack_versions(database).scanned == 0  # without --repack packed versions stay as they are
    limited = packing.pack_versions(database, repack=True, limit=10, batch=4)
    assert (limited.scanned, limited.repacked) == (10, 10)
    rest = packing.pack_versions(database, repack=True)
    assert (rest.scanned, rest.repacked) == (41, 31)  # the first ten are skipped: packed with it already
    assert {versions.dictionary_of(p) for _, _, p in stored(session).values()} == {trained.checksum}
    assert full_views(session) == expected


def test_the_commands(database, session, dept):
    upsert(session, dept, companies(40))
    clikit.state.db_url = database.url
    runner = CliRunner()
    r = runner.invoke(commands.app, ["train-dictionary", "--pool", "60", "--holdout", "10", "--json"])
    assert r.exit_code == 0, r.output
    trained = json.loads(r.output)
    assert trained["stored"] and trained["trained_on"] == 30 and trained["held_out"] == 10
    r = runner.invoke(commands.app, ["train-dictionary", "--pool", "60", "--holdout", "10", "--json"])
    assert r.exit_code == 0 and not json.loads(r.output)["stored"]
    r = runner.invoke(commands.app, ["dictionaries", "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.output)
    assert [d["id"] for d in listed] == [0, trained["dictionary_id"]]
    assert listed[1]["checksum"] == trained["checksum"] and listed[1]["trained_from"]["versions"] == 30
    r = runner.invoke(commands.app, ["pack-versions", "--repack", "--batch", "9", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) | {"bytes_before": 0, "bytes_after": 0} == {
        "dictionary_id": trained["dictionary_id"],
        "scanned": 40,
        "packed": 0,
        "repacked": 40,
        "bytes_before": 0,
        "bytes_after": 0,
    }
    r = runner.invoke(commands.app, ["pack-versions"])
    assert r.exit_code == 0 and "检查 0 个版本" in r.output
    r = runner.invoke(commands.app, ["train-dictionary", "--pool", "39", "--json"])
    assert r.exit_code != 0 and json.loads(r.output)["error"]["code"] == "too_few_versions", r.output


def test_the_weekly_job_trains_once_there_are_enough_versions_and_again_after_a_year(
    database, session, dept, monkeypatch
):
    from xinyong.jobs.tasks import SCHEDULE, TASKS

    assert "records.dictionary" in SCHEDULE
    monkeypatch.setattr(packing, "TRAIN_POOL", 50)
    upsert(session, dept, companies(30))
    first = TASKS["records.dictionary"](database)
    assert not first["trained"] and "不足 50" in first["reason"]
    upsert(session, dept, companies(30, start=30))
    second = TASKS["records.dictionary"](database)
    assert second["trained"] and second["dictionary_id"] is not None, second
    third = TASKS["records.dictionary"](database)
    assert not third["trained"] and "不足 365 天" in third["reason"]
    later = packing.train_if_due(session, actor=ADMIN.actor, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=366))
    assert "trained" in later and later.get("current_dictionary_id") == second["dictionary_id"]
    assert not later["trained"]  # a year on, the same versions: not smaller, nothing stored


def test_two_trainings_at_once_store_one_dictionary(database, session, dept, monkeypatch):
    """Both read the same versions and make the same dictionary: the second finds it stored, and says so.
    PostgreSQL only: on SQLite write transactions take turns, so the second reads the first's dictionary."""
    if database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's writers take turns: two trainings never overlap")
    upsert(session, dept, companies(50))
    real = packing._documents
    other: list[packing.Training] = []
    started: list[bool] = []

    def meanwhile(s, limit):  # noqa: ANN001, ANN202 — another process trains and commits in between
        docs = real(s, limit)
        if not started:
            started.append(True)
            with database.session() as s2:
                other.append(packing.train(s2, actor="job:records.dictionary", pool=limit))
        return docs

    monkeypatch.setattr(packing, "_documents", meanwhile)
    mine = database.run(lambda s: packing.train(s, actor=ADMIN.actor))
    assert other[0].stored and not mine.stored and "同一字典已" in mine.reason
    session.rollback()
    assert session.scalars(select(VersionDictionary.checksum)).all() == [other[0].checksum]


def test_packing_runs_beside_the_writers(database, session, dept):
    """pack-versions' batches and uploads at once (a thread each): every write lands, every version ends packed,
    the old ones read as before. On SQLite they take turns for the write lock; on PostgreSQL they overlap."""
    import threading

    upsert(session, dept, companies(120))
    for vid, (_, _, packed) in stored(session).items():  # stored before 0025: plain
        content, data = versions.documents(None, None, packed)
        session.execute(
            update(RecordVersion).where(RecordVersion.id == vid).values(content=content, data=data, packed=None)
        )
    session.commit()
    expected = full_views(session)
    dept_id = dept.id
    results: list = []
    errors: list[BaseException] = []

    def packer() -> None:
        try:
            results.append(packing.pack_versions(database, batch=7))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    thread = threading.Thread(target=packer)
    thread.start()
    written = []
    for i in range(6):
        rows = companies(10, start=1000 + 10 * i)
        written.append(
            database.run(
                lambda s, rows=rows: records_upsert.upsert_records(
                    s, actor=ADMIN, department_id=dept_id, batch_id=None, received_at=RECEIVED, rows=rows
                )
            ).created
        )
    thread.join(60)
    assert not thread.is_alive() and not errors, errors
    assert written == [10] * 6 and results[0].packed == 120
    rows = stored(session)
    assert len(rows) == 180 and all(c is None and d is None and p is not None for c, d, p in rows.values())
    assert full_views(session)[: len(expected)] == expected
