"""records.service against both databases: upsert outcomes, subjects, persons, publicity queries, withdrawal."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from tests.factories import make_department
from tests.records.helpers import (
    ADMIN,
    PERSON_ID,
    company_uscc,
    licence,
    make_batch,
    penalty,
    seed_catalog,
)
from xinyong.auth.roles import Principal, Role
from xinyong.catalog import service as catalog_service
from xinyong.catalog.rules import PartyKind
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import Conflict, Forbidden, NotFound
from xinyong.ingest.models import IngestBatch
from xinyong.records import queries, service, views
from xinyong.records import upsert as records_upsert
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.subjects import service as subjects_service
from xinyong.subjects.models import Subject

D = dt.date
RECEIVED = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing, 3 working days after 03-15


@pytest.fixture
def env(session):
    seed_catalog(session)
    dept = make_department(session, code="scjgj")
    other = make_department(session, code="swj")
    return {"dept": dept, "other": other}


def upsert(session, dept, rows, **kw):
    kw.setdefault("received_at", RECEIVED)
    if "batch_id" not in kw:
        kw["batch_id"] = 7 if session.get(IngestBatch, 7) else make_batch(session, dept.id, batch_id=7)
    elif kw["batch_id"] is not None and session.get(IngestBatch, kw["batch_id"]) is None:
        make_batch(session, dept.id, batch_id=kw["batch_id"])
    return records_upsert.upsert_records(session, actor=ADMIN, department_id=dept.id, rows=rows, **kw)


def audit_count(session, action):
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_create_unchanged_and_new_version(session, env):
    rows = [penalty(doc="罚1", row=2), licence(doc="许1", row=3)]
    first = upsert(session, env["dept"], rows)
    assert (first.created, first.unchanged, first.updated, first.subjects_created) == (2, 0, 0, 1)
    assert [o.outcome for o in first.outcomes] == ["created", "created"]
    again = upsert(session, env["dept"], [penalty(doc="罚1", row=2), licence(doc="许1", row=3)])
    assert (again.created, again.unchanged, again.updated) == (0, 2, 0)
    assert session.scalar(select(func.count()).select_from(RecordVersion)) == 2
    changed = upsert(session, env["dept"], [penalty(doc="罚1", fine_wan="2", row=9)], batch_id=8)
    assert changed.updated == 1 and changed.outcomes[0].version_no == 2
    record = queries.get_record(session, changed.outcomes[0].record_id)
    assert record.version_count == 2 and str(record.fine_yuan) == "20000"
    history = queries.record_history(session, record.id)
    assert [v.version_no for v in history] == [1, 2]
    assert history[1].changed_fields == ["fine_wan"] and history[1].batch_id == 8 and history[1].source_row == 9
    assert record.current_version_id == history[1].id
    assert audit_count(session, "records.upsert") == 3  # one per call, not per row
    session.commit()


def test_timeliness_and_late_flag(session, env):
    result = upsert(
        session, env["dept"], [penalty(doc="及时", decided=D(2024, 3, 15)), penalty(doc="迟报", decided=D(2024, 3, 1))]
    )
    on_time, late = (queries.get_record(session, o.record_id) for o in result.outcomes)
    assert (on_time.workdays_late, on_time.late) == (3, False)
    assert late.workdays_late == 13 and late.late and result.late == 1


def test_status_invalid_withdraws_at_once(session, env):
    result = upsert(session, env["dept"], [licence(doc="许2")])
    assert result.withdrawn == 0
    result = upsert(session, env["dept"], [licence(doc="许2", valid=False)])
    assert result.updated == 1 and result.withdrawn == 1 and result.outcomes[0].withdrawn
    record = queries.get_record(session, result.outcomes[0].record_id)
    assert record.withdrawn_at == RECEIVED and "无效" in record.withdrawn_reason
    assert not queries.public_status(session, record, D(2024, 3, 21)).value


def test_existing_subject_by_alias_and_name_mismatch_flagged_not_renamed(session, env):
    code = company_uscc(42)
    subjects_service.register_organisation(session, actor=ADMIN, name="沁阳市老名字有限公司", code=code)
    result = upsert(session, env["dept"], [penalty(doc="罚名", party="沁阳市新名字有限公司", code=code)])
    assert result.subjects_created == 0 and result.name_mismatches == 1
    assert result.outcomes[0].warnings[0]["code"] == "name_mismatch"
    subject = subjects_service.find_subject(session, code)
    assert subject.name == "沁阳市老名字有限公司"
    [version] = queries.record_history(session, result.outcomes[0].record_id)
    assert any(f["code"] == "name_mismatch" for f in version.flags)
    # A record that only carries the legacy organisation code finds the same subject through its alias.
    row = penalty(doc="罚旧码", party="沁阳市老名字有限公司", code=code)
    row.party_uscc = None
    row.party_codes = {"org_code": code[8:17]}
    from xinyong.subjects.models import SubjectAlias

    session.add(SubjectAlias(subject_id=subject.id, scheme="org_code", value=code[8:17]))
    session.flush()
    found = upsert(session, env["dept"], [row])
    assert found.subjects_created == 0
    assert queries.get_record(session, found.outcomes[0].record_id).subject_id == subject.id


def test_persons_are_hashed_and_never_stored_in_clear(session, env, database):
    row = penalty(
        doc="罚人",
        party="张三",
        kind=PartyKind.NATURAL_PERSON,
        id_number=PERSON_ID,
        data={
            "证件号码": PERSON_ID,
            "违法事实": f"当事人张三（{PERSON_ID}）无证经营",
            "法定代表人证件号码": "410882198001010011",
        },
    )
    result = upsert(
        session,
        env["dept"],
        [row, penalty(doc="罚人2", party="张三", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID)],
    )
    assert result.subjects_created == 1 and result.created == 2
    session.commit()
    person = session.scalar(select(Subject).where(Subject.kind == "natural_person"))
    assert person.resident_id_hash and person.resident_id_masked.startswith("410882")
    assert "*" in person.resident_id_masked
    # Nothing of the platform's tables or the audit log holds the number in clear.
    with database.engine.connect() as conn:
        for table in ("credit_records", "record_versions", "audit_events", "subjects"):
            dump = json.dumps(
                [list(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {table}")], ensure_ascii=False
            )
            assert PERSON_ID not in dump, table
            assert PERSON_ID[6:14] not in dump, table  # the birth date is masked too
    [v1] = queries.record_history(session, result.outcomes[0].record_id)
    assert v1.data["证件号码"] == person.resident_id_masked
    assert "410882********" in v1.data["违法事实"]
    assert v1.content["party_id_masked"] == person.resident_id_masked


def test_create_subjects_false_rejects_unknown_parties(session, env):
    result = upsert(session, env["dept"], [penalty(doc="罚无主体", code=company_uscc(77))], create_subjects=False)
    assert result.rejected == 1 and result.outcomes[0].warnings[0]["code"] == "subject_not_found"
    assert session.scalar(select(func.count()).select_from(CreditRecord)) == 0


def test_other_department_cannot_overwrite_and_operators_only_for_their_own(session, env):
    upsert(session, env["dept"], [penalty(doc="罚共")])
    other = upsert(session, env["other"], [penalty(doc="罚共", fine_wan="9")])
    assert other.rejected == 1 and other.outcomes[0].warnings[0]["code"] == "record_of_other_department"
    operator = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=env["other"].id, user_id=5)
    with pytest.raises(Forbidden):
        records_upsert.upsert_records(
            session,
            actor=operator,
            department_id=env["dept"].id,
            batch_id=None,
            received_at=RECEIVED,
            rows=[penalty(doc="罚越权")],
        )


def test_duplicate_rows_in_one_call_apply_in_order(session, env):
    result = upsert(session, env["dept"], [penalty(doc="罚重", fine_wan="1"), penalty(doc="罚重", fine_wan="2")])
    assert (result.created, result.updated) == (1, 1)
    assert str(queries.get_record(session, result.outcomes[0].record_id).fine_yuan) == "20000"


def test_list_public_only_exact_to_the_day(session, env):
    rows = [
        penalty(doc="一般", decided=D(2024, 3, 15)),
        penalty(doc="严重", decided=D(2024, 3, 15), severity="严重"),
        penalty(doc="警告", types=["警告"], fine_wan=None),
        penalty(doc="小额", fine_wan="0.3"),
        penalty(doc="人", party="李四", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID),
        licence(doc="许可", valid_to=D(2025, 6, 30)),
    ]
    upsert(session, env["dept"], rows)

    def public(today):
        return sorted(r.record.doc_no for r in queries.list_records(session, public_only=True, today=today, limit=100))

    assert public(D(2024, 3, 14)) == []
    assert public(D(2025, 3, 15)) == ["一般", "严重", "许可"]
    assert public(D(2025, 3, 16)) == ["严重", "许可"]
    assert public(D(2025, 7, 1)) == ["严重"]
    assert public(D(2027, 3, 15)) == ["严重"]
    assert public(D(2027, 3, 16)) == []
    expired = queries.list_records(session, status="expired", public_only=False, today=D(2025, 3, 16), limit=100)
    assert [r.record.doc_no for r in expired] == ["一般"]
    # Paging counts only rows that are public.
    page = queries.list_records(session, public_only=True, today=D(2025, 3, 15), limit=2, offset=1)
    assert len(page) == 2
    # The catalog decides: opening natural persons' penalties makes the person's record public the same day.
    catalog_service.update_class(
        session,
        actor=ADMIN,
        code="penalty",
        changes={"natural_person_attribute": "public", "natural_person_basis": [{"title": "测试依据"}]},
        reason="测试：依法公开自然人处罚",
    )
    assert "人" in public(D(2025, 3, 15))


def test_withdraw_is_audited_and_scoped(session, env):
    result = upsert(session, env["dept"], [penalty(doc="罚撤")])
    rid = result.outcomes[0].record_id
    stranger = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=env["other"].id, user_id=5)
    with pytest.raises(NotFound):
        service.withdraw(session, actor=stranger, record_id=rid, reason="越权")
    owner = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=env["dept"].id, user_id=6)
    record = service.withdraw(session, actor=owner, record_id=rid, reason="处罚决定已被复议撤销")
    assert record.withdrawn_reason == "处罚决定已被复议撤销"
    assert audit_count(session, "records.withdraw") == 1
    with pytest.raises(Conflict):
        service.withdraw(session, actor=owner, record_id=rid, reason="再次")
    assert not queries.public_status(session, record, D(2099, 1, 1)).value


def test_subject_records_view(session, env):
    result = upsert(session, env["dept"], [penalty(doc="罚视图"), licence(doc="许视图")])
    subject = session.get(Subject, queries.get_record(session, result.outcomes[0].record_id).subject_id)
    view = views.subject_records_view(session, subject, D(2024, 4, 1))
    assert {v["doc_no"] for v in view} == {"罚视图", "许视图"}
    assert all(v["public"] and len(v["history"]) == 1 for v in view)


def test_legal_representative_id_never_stored_in_clear(session, env, database):
    legacy = "410882850309771"  # a 15-digit (pre-1999) card number
    row = penalty(doc="罚法代", data={"违法事实": f"法定代表人（{legacy}）拒不改正"})
    row.legal_rep, row.legal_rep_id_number = "赵六", legacy
    result = upsert(session, env["dept"], [row])
    session.commit()
    with database.engine.connect() as conn:
        for table in ("credit_records", "record_versions", "audit_events"):
            dump = json.dumps(
                [list(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {table}")], ensure_ascii=False
            )
            assert legacy not in dump, table
    [v] = queries.record_history(session, result.outcomes[0].record_id)
    assert v.content["legal_rep_id_masked"] == "410882******771"
