"""A city's first large load trains its first dictionary as it goes (records.packing.train_first, issue #19): the
rest of the load is packed with it, in the batch's own transaction."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.ingest.test_batches import ADMIN, rows, write_csv
from xinyong.core.audit import AuditEvent
from xinyong.ingest import service
from xinyong.records import packing, versions
from xinyong.records.models import RecordVersion, VersionDictionary


def _dictionaries_of_versions(session) -> list[int]:
    return [versions.dictionary_of(p) for p in session.scalars(select(RecordVersion.packed).order_by(RecordVersion.id))]


def test_a_large_first_load_trains_the_first_dictionary_and_packs_the_rest_with_it(
    session, dept, tmp_path, monkeypatch
):
    monkeypatch.setattr(packing, "TRAIN_POOL", 60)
    monkeypatch.setattr(packing, "MIN_GAIN", 0.0)  # the test's rows are alike: any dictionary of them is better
    monkeypatch.setattr(service, "CHUNK", 50)
    path = write_csv(tmp_path / "first.csv", rows(200), encoding="gb18030")
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    session.commit()
    assert s["created"] == 200
    (dictionary,) = session.scalars(select(VersionDictionary)).all()
    assert dictionary.trained_from["batch_id"] == s["batch"]
    # trained after the second chunk (100 versions ≥ 60): those two packed with the built-in one, the rest with it
    assert _dictionaries_of_versions(session) == [packing.BUILTIN.checksum] * 100 + [dictionary.checksum] * 100
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "records.dictionary_trained")).one()
    assert event.actor == f"system:ingest:batch-{s['batch']}:{ADMIN.actor}" and event.entity_id == str(dictionary.id)
    assert len(session.scalars(select(RecordVersion)).all()) == 200  # every version reads back

    # the next load, however large, leaves the dictionary to the weekly job
    more = rows(400)
    for i, r in enumerate(more):
        r["行政处罚决定书文号"] = f"沁市监罚〔2026〕{1000 + i}号"
    service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "more.csv", more))
    session.commit()
    assert session.scalar(select(func.count()).select_from(VersionDictionary)) == 1
    assert set(_dictionaries_of_versions(session)[200:]) == {dictionary.checksum}


def test_the_dictionary_goes_with_a_load_that_is_not_committed(session, dept, tmp_path, monkeypatch):
    monkeypatch.setattr(packing, "TRAIN_POOL", 60)
    monkeypatch.setattr(packing, "MIN_GAIN", 0.0)
    monkeypatch.setattr(service, "CHUNK", 50)
    path = write_csv(tmp_path / "first.csv", rows(150))
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    assert s["created"] == 150 and session.scalar(select(func.count()).select_from(VersionDictionary)) == 1
    session.rollback()  # the load never lands (a crash before the commit)
    assert session.scalar(select(func.count()).select_from(VersionDictionary)) == 0
    assert session.scalar(select(func.count()).select_from(RecordVersion)) == 0
    # then it lands, and trains again: packer() never kept the dictionary that was rolled back
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)
    session.commit()
    (dictionary,) = session.scalars(select(VersionDictionary)).all()
    assert set(_dictionaries_of_versions(session)[100:]) == {dictionary.checksum}


def test_a_load_of_natural_persons_trains_nothing(session, dept, tmp_path, monkeypatch):
    """A dictionary is kept for ever: it is trained from legal persons' versions only."""
    from tests.ingest.helpers import PERSON_ID

    monkeypatch.setattr(packing, "TRAIN_POOL", 60)
    monkeypatch.setattr(packing, "MIN_GAIN", 0.0)
    monkeypatch.setattr(service, "CHUNK", 50)
    people = rows(150)
    for r in people:
        r.update(
            {
                "行政相对人类别": "自然人",
                "行政相对人名称": "张三",
                "行政相对人代码_1(统一社会信用代码)": "",
                "证件类型": "身份证",
                "证件号码": PERSON_ID,
            }
        )
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "p.csv", people))
    session.commit()
    assert s["created"] == 150, s["errors"][:3]
    assert session.scalar(select(func.count()).select_from(VersionDictionary)) == 0
