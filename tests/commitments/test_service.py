"""Import, versions, fulfilment (践诺) and the views of commitments, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from tests.commitments.helpers import (
    PERSON_ID,
    accepted_by,
    code_for,
    company_uscc,
    person_row,
    register_accepting_unit,
    row,
)
from tests.factories import make_department
from tests.records.helpers import seed_catalog
from xinyong.auth.roles import Principal, Role, system_principal
from xinyong.catalog import service as catalog_service
from xinyong.commitments import importer, service
from xinyong.commitments.models import (
    Commitment,
    CommitmentBatch,
    CommitmentFulfilment,
    CommitmentVersion,
)
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.subjects.models import Subject
from xinyong.subjects.service import find_subject

ADMIN = system_principal("tests")
TODAY = dt.date(2024, 6, 1)


@pytest.fixture
def depts(session):
    seed_catalog(session)
    a, b = make_department(session, code="depa"), make_department(session, code="depb")
    register_accepting_unit(session, a)  # depa reports for the unit its rows name; depb only for itself
    return a, b


def operator(dept) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(kind="user", name=f"op-{dept.code}", role=Role.DEPT_OPERATOR, department_id=dept.id, user_id=1)


def write_json(tmp_path: Path, rows: list[dict], name: str = "c.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def test_keep_good_returns_bad_rows_and_is_idempotent(session, depts, tmp_path):
    a, _ = depts
    rows = [row(1), row(2, **{"承诺编码": "99999920240301000002"}), row(3, **{"承诺作出日期": ""}), person_row()]
    path = write_json(tmp_path, rows)
    s = importer.import_file(session, actor=operator(a), department_id=a.id, path=path, today=TODAY)
    session.commit()
    assert (s["status"], s["rows"], s["accepted"], s["created"], s["rejected"]) == ("partial", 4, 2, 2, 2)
    assert s["rejected_rows"] == [2, 3]
    assert {(e["row"], e["column"], e["code"]) for e in s["errors"]} == {
        (2, "承诺编码", "commitment_code_region"),
        (3, "承诺作出日期", "required_missing"),
    }
    assert all(e["message"] for e in s["errors"])
    assert s["subjects_created"] == 2
    person = find_subject(session, PERSON_ID)
    assert person is not None and person.resident_id_masked and PERSON_ID not in json.dumps(s, ensure_ascii=False)
    stored = session.scalar(select(Commitment).where(Commitment.subject_id == person.id))
    assert stored is not None and PERSON_ID not in stored.promisor_code and "*" in stored.promisor_code
    # The same file again: nothing changes.
    again = importer.import_file(session, actor=operator(a), department_id=a.id, path=path, today=TODAY)
    session.commit()
    assert (again["unchanged"], again["created"], again["updated"]) == (2, 0, 0)
    assert session.scalar(select(func.count()).select_from(CommitmentVersion)) == 2
    assert session.scalar(select(func.count()).select_from(Subject)) == 2


def test_reject_all_writes_nothing(session, depts, tmp_path):
    a, b = depts
    path = write_json(tmp_path, [row(1), row(2, **{"公开类型": "看情况"})])
    s = importer.import_file(session, actor=operator(a), department_id=a.id, path=path, reject_all=True, today=TODAY)
    session.commit()
    assert (s["status"], s["accepted"], s["rejected"], s["created"]) == ("rejected", 0, 1, 0)
    assert session.scalar(select(func.count()).select_from(Commitment)) == 0
    assert session.scalar(select(func.count()).select_from(Subject)) == 0
    assert session.scalar(select(func.count()).select_from(CommitmentBatch)) == 1  # the report is kept
    # A store-level refusal (a code of another department) refuses the whole batch too.
    importer.import_rows(session, actor=operator(b), department_id=b.id, rows=[row(5, **accepted_by(b))], today=TODAY)
    s = importer.import_rows(
        session, actor=operator(a), department_id=a.id, rows=[row(4), row(5)], reject_all=True, today=TODAY
    )
    session.commit()
    assert s["status"] == "rejected" and s["errors"][0]["code"] == "commitment_of_other_department"
    assert session.scalars(select(Commitment.code)).all() == [code_for(dt.date(2024, 3, 1), 5)]


def test_changed_content_is_a_new_version_with_history(session, depts, tmp_path):
    a, _ = depts
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[row(1)], today=TODAY)
    c = session.scalar(select(Commitment))
    assert c is not None and (c.version_count, c.revision) == (1, 1)
    s = importer.import_rows(
        session,
        actor=operator(a),
        department_id=a.id,
        rows=[row(1, **{"承诺内容": "改为两个月内补齐", "公开类型": "特定范围内公开"})],
        today=TODAY,
    )
    session.commit()
    assert s["updated"] == 1
    session.refresh(c)
    assert (c.version_count, c.revision, c.public_type, c.content) == (2, 2, "scoped", "改为两个月内补齐")
    versions, _ = service.commitment_history(session, c.id)
    assert [v.version_no for v in versions] == [1, 2]
    assert versions[1].changed_fields == ["content", "public_type"] and versions[1].batch_id == s["batch"]
    assert versions[0].content["content"] != versions[1].content["content"]


def test_file_formats_csv_gbk_and_xlsx(session, depts, tmp_path):
    a, _ = depts
    rows = [row(1), row(2)]
    path = tmp_path / "c.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["沁阳市信用承诺报送表"])
        w.writerow(list(rows[0]))
        for r in rows:
            w.writerow(list(r.values()))
    s = importer.import_file(session, actor=operator(a), department_id=a.id, path=path, today=TODAY)
    assert (s["format"], s["created"], s["rejected"]) == ("csv", 2, 0)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["承诺编码（20位）", *list(rows[0])[1:], "内部编号"])
    r3 = row(3, **{"承诺作出日期": dt.datetime(2024, 3, 1)})
    ws.append([*r3.values(), "N-1"])
    xlsx = tmp_path / "c.xlsx"
    wb.save(xlsx)
    s = importer.import_file(session, actor=operator(a), department_id=a.id, path=xlsx, today=TODAY)
    assert (s["format"], s["created"], s["unknown_columns"]) == ("xlsx", 1, ["内部编号"])
    c = session.scalar(select(Commitment).where(Commitment.code == code_for(dt.date(2024, 3, 1), 3)))
    assert c is not None and c.extra == {"内部编号": "N-1"}
    with pytest.raises(ValidationFailed) as exc:
        importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[{"承诺编码": "1"}], today=TODAY)
    assert exc.value.code == "columns_missing"


def test_fulfilment_breach_counts_and_shows(session, depts):
    a, b = depts
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[row(1), row(2)], today=TODAY)
    c1, c2 = session.scalars(select(Commitment).order_by(Commitment.code)).all()
    with pytest.raises(ValidationFailed) as exc:
        service.record_fulfilment(session, actor=operator(a), commitment_id=c1.id, status="全部未履行", today=TODAY)
    assert exc.value.code == "unfulfilled_content_missing"
    with pytest.raises(NotFound):  # 可向社会公开 ones are visible to b, but only a may determine
        service.record_fulfilment(
            session,
            actor=Principal(kind="user", name="v", role=Role.BANK),
            commitment_id=c1.id,
            status="全部履行",
            today=TODAY,
        )
    with pytest.raises(Forbidden):
        service.record_fulfilment(session, actor=operator(b), commitment_id=c1.id, status="全部履行", today=TODAY)
    with pytest.raises(Conflict):
        service.record_fulfilment(
            session, actor=operator(a), commitment_id=c1.id, status="全部履行", expected_revision=7, today=TODAY
        )
    service.record_fulfilment(
        session,
        actor=operator(a),
        commitment_id=c1.id,
        status="部分履行",
        determined_on=dt.date(2024, 5, 20),
        unfulfilled_content="场所证明未补齐",
        liability_pursued="撤销食品经营许可",
        expected_revision=1,
        today=TODAY,
    )
    service.record_fulfilment(session, actor=operator(a), commitment_id=c2.id, status="fulfilled", today=TODAY)
    session.commit()
    assert (c1.broken_on, c1.revision, c1.fulfilment_status) == (dt.date(2024, 5, 20), 2, "partial")
    assert c2.broken_on is None and c2.fulfilment_status == "fulfilled"
    broken = service.broken_commitments(session, [c1.subject_id, c2.subject_id], dt.date(2024, 1, 1))
    assert list(broken) == [c1.subject_id] and [c.id for c in broken[c1.subject_id]] == [c1.id]
    assert service.broken_commitments(session, [c1.subject_id], dt.date(2024, 5, 21)) == {}
    events = session.scalars(select(CommitmentFulfilment).where(CommitmentFulfilment.commitment_id == c1.id)).all()
    assert [(e.previous_status, e.status, e.breach, e.source) for e in events] == [
        ("pending", "partial", True, "manual")
    ]
    assert (
        session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "commitments.fulfil"))
        == 2
    )
    subject = session.get(Subject, c1.subject_id)
    view = service.subject_commitments_view(session, subject, TODAY, public=True)
    assert [(v["code"], v["broken"], v["fulfilment_status_label"]) for v in view] == [(c1.code, True, "部分履行")]
    # Re-importing the original file (no status) does not undo the determination.
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[row(1)], today=TODAY)
    assert c1.fulfilment_status == "partial" and c1.broken_on is not None


def test_breach_by_import_and_repair_hook(session, depts):
    a, _ = depts
    seen: list[str] = []

    def handler(session, *, actor, commitment):  # type: ignore[no-untyped-def]
        seen.append(commitment.code)

    service.on_repair_commitment_broken(handler)
    try:
        broken_row = row(
            1,
            **{
                "承诺类型": "信用修复型",
                "承诺履行状态": "全部未履行",
                "履行状态认定日期": "2024-05-02",
                "未履行的承诺内容": "未按期缴纳罚款",
                "违诺责任追究内容": "按最长公示期重新公示",
            },
        )
        s = importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[broken_row, row(2)], today=TODAY)
    finally:
        service._repair_breach_handlers.remove(handler)
    assert s["broken"] == 1 and seen == [code_for(dt.date(2024, 3, 1), 1)]
    c = session.scalar(select(Commitment).where(Commitment.code == seen[0]))
    assert c is not None and c.broken_on == dt.date(2024, 5, 2)


def test_breach_can_trigger_a_list_notice_through_list_rules(session, depts):
    from xinyong.lists import types as lists_types
    from xinyong.lists.models import ListEntry

    a, _ = depts
    lists_types.seed_list_types(session, actor=ADMIN)
    market = make_department(session, code="scjgj")
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[row(1)], today=TODAY)
    importer.import_rows(
        session, actor=operator(market), department_id=market.id, rows=[row(2, **accepted_by(market))], today=TODAY
    )
    session.commit()
    c1, c2 = session.scalars(select(Commitment).order_by(Commitment.code)).all()
    breach = {
        "status": "全部未履行",
        "unfulfilled_content": "未补齐场所证明",
        "liability_pursued": "撤销许可",
        "list_code": "food_drug_dishonest",
        "today": TODAY,
    }
    # depa does not manage that list: the lists rules refuse, and nothing of the fulfilment is kept.
    with pytest.raises(Forbidden) as exc, session.begin_nested():
        service.record_fulfilment(session, actor=operator(a), commitment_id=c1.id, **breach)
    assert exc.value.code == "list_not_managed"
    session.refresh(c1)
    assert c1.fulfilment_status == "pending" and c1.broken_on is None
    with pytest.raises(ValidationFailed) as exc:
        service.record_fulfilment(
            session,
            actor=operator(market),
            commitment_id=c2.id,
            status="全部履行",
            list_code="food_drug_dishonest",
            today=TODAY,
        )
    assert exc.value.code == "list_without_breach"
    service.record_fulfilment(session, actor=operator(market), commitment_id=c2.id, **breach)
    session.commit()
    entry = session.get(ListEntry, c2.list_entry_id)
    assert entry is not None and entry.status == "notified" and entry.subject_id == c2.subject_id
    assert entry.decision_no == c2.code and "违背信用承诺" in entry.reason
    event = session.scalar(select(CommitmentFulfilment).where(CommitmentFulfilment.commitment_id == c2.id))
    assert event is not None and (event.list_code, event.list_entry_id) == ("food_drug_dishonest", entry.id)


def test_public_and_government_views(session, depts):
    a, b = depts
    rows = [
        row(1),
        row(2, **{"公开类型": "特定范围内公开"}),
        row(3, **{"公开类型": "不可公开"}),
        row(4, **{"承诺有效期": "2024-04-01"}),
        person_row(),
    ]
    for r in rows[1:4]:
        r["承诺人代码"], r["承诺人名称"] = company_uscc(1), row(1)["承诺人名称"]
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=rows, today=TODAY)
    session.commit()
    company = find_subject(session, company_uscc(1))
    public = service.subject_commitments_view(session, company, TODAY, public=True)
    assert [v["code"][-1] for v in public] == ["1"]  # scoped, private and expired are not public
    gov_b = service.subject_commitments_view(session, company, TODAY, public=False, viewer=operator(b))
    assert sorted(v["code"][-1] for v in gov_b) == ["1", "2", "4"]
    gov_a = service.subject_commitments_view(session, company, TODAY, public=False, viewer=operator(a))
    assert sorted(v["code"][-1] for v in gov_a) == ["1", "2", "3", "4"]
    private_id = next(v["id"] for v in gov_a if v["code"].endswith("3"))
    with pytest.raises(NotFound):
        service.get_commitment(session, private_id, actor=operator(b))
    # A natural person's commitment is public only where the catalog makes persons' commitments public.
    person = find_subject(session, PERSON_ID)
    assert service.subject_commitments_view(session, person, TODAY, public=True) == []
    catalog_service.update_class(
        session,
        actor=ADMIN,
        code="commitment",
        changes={"natural_person_attribute": "public", "natural_person_basis": [{"title": "测试依据"}]},
        reason="测试",
    )
    [shown] = service.subject_commitments_view(session, person, TODAY, public=True)
    assert (
        shown["promisor_name"] == "李*国"
        and shown["promisor_code"].startswith("410882")
        and "*" in shown["promisor_code"]
    )
    assert PERSON_ID not in json.dumps(shown, ensure_ascii=False, default=str)
    assert [v["code"] for v in service.public_commitments(session, today=TODAY, limit=10)] == sorted(
        [shown["code"], code_for(dt.date(2024, 3, 1), 1)], reverse=True
    )


def test_department_isolation_on_import_and_list(session, depts):
    a, b = depts
    with pytest.raises(Forbidden):
        importer.import_rows(session, actor=operator(a), department_id=b.id, rows=[row(1)], today=TODAY)
    importer.import_rows(session, actor=operator(a), department_id=a.id, rows=[row(1)], today=TODAY)
    s = importer.import_rows(
        session, actor=operator(b), department_id=b.id, rows=[row(1, **{"备注": "改"}, **accepted_by(b))], today=TODAY
    )
    assert s["status"] == "rejected" and s["errors"][0]["code"] == "commitment_of_other_department"
    assert service.list_commitments(session, actor=operator(b)) == []
    assert len(service.list_commitments(session, actor=operator(a))) == 1
    with pytest.raises(Forbidden):
        service.list_commitments(session, actor=operator(b), department_id=a.id)


def test_absurd_numbers_are_row_errors(session, depts, tmp_path):
    """JSON numbers where the standard has codes, text and dates (1e309 is read as infinity, NaN, 2^64, 1e308) and a
    day of 20 digits: errors of their rows, the good row is still written, nothing crashes."""
    a, _ = depts
    rows = [
        row(1),
        row(2, 承诺编码="__INF"),
        row(3, 承诺人名称="__BIG"),
        row(4, 承诺作出日期="__NAN"),
        row(5, 承诺有效期="2030-01-99999999999999999999"),
        row(6, 承诺人代码="__HUGE"),
    ]
    text = json.dumps(rows, ensure_ascii=False)
    for mark, number in (("__INF", "1e309"), ("__BIG", "1e308"), ("__NAN", "NaN"), ("__HUGE", "18446744073709551616")):
        text = text.replace(f'"{mark}"', number)
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    s = importer.import_file(session, actor=operator(a), department_id=a.id, path=path, today=TODAY)
    assert (s["accepted"], s["rejected"]) == (1, 5), s["errors"]
    assert {e["row"] for e in s["errors"]} == {2, 3, 4, 5, 6}
    assert all(e["code"] and e["message"] for e in s["errors"])


def test_a_batch_answers_the_common_summary(session, depts, tmp_path):
    from xinyong.core.batches import BatchSummary

    a, _ = depts
    s = importer.import_rows(
        session, actor=operator(a), department_id=a.id, today=TODAY, rows=[row(1), row(3, **{"承诺作出日期": ""})]
    )
    common = s["summary"]
    assert set(common) == set(BatchSummary("x").as_dict())
    assert (
        common["importer"],
        common["batch"],
        common["status"],
        common["rows"],
        common["accepted"],
        common["rejected"],
    ) == ("commitments", s["batch"], "partially_accepted", 2, 1, 1)
    assert common["errors"] == [
        {
            "row": s["rejected_rows"][0],
            "column": "承诺作出日期",
            "code": "required_missing",
            "message": s["errors"][0]["message"],
        }
    ]
    assert common["error_counts"] == {"required_missing": 1}


def test_rows_are_validated_before_the_write_transaction_begins(database, session, depts, monkeypatch):
    """The file is validated on the side (``core.db.reading_apart``, the runner's ``begin``): on SQLite another
    writer is not kept waiting while a department's rows are checked."""
    import time

    from sqlalchemy import update

    from xinyong.auth.models import Department

    a, _ = depts
    session.commit()
    session.close()
    waited: list[float] = []
    check = importer.validate_row

    def validate_and_write_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not waited:
            started = time.monotonic()
            database.run(
                lambda other: other.execute(
                    update(Department).where(Department.id == a.id).values(short_name="校验期间写入")
                )
            )
            waited.append(time.monotonic() - started)
        return check(*args, **kwargs)

    monkeypatch.setattr(importer, "validate_row", validate_and_write_meanwhile)
    with database.session() as s:
        s.scalar(select(Department.id))  # the route's permission check: a write transaction has begun
        out = importer.import_rows(s, actor=operator(a), department_id=a.id, rows=[row(1), row(2)], today=TODAY)
    assert out["created"] == 2 and waited and waited[0] < 2.0
