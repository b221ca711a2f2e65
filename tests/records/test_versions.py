"""Record versions stored once, compactly (records.versions, issue #19): what is stored, and that every reader
gets the full form back."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests.factories import make_department
from tests.records.helpers import ADMIN, PERSON_ID, contract, licence, penalty, seed_catalog
from xinyong.catalog.rules import PartyKind
from xinyong.records import queries, service, versions, views
from xinyong.records import upsert as records_upsert
from xinyong.records.models import RecordVersion

RECEIVED = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)

#: A first version as the upsert built it before issue #19 (taken from the 100k benchmark's database).
FULL_CONTENT = {
    "kind": "penalty",
    "party_name": "福州食品102有限公司",
    "party_kind": "legal_person",
    "party_uscc": "91350100MA0001026G",
    "party_codes": {},
    "party_id_type": None,
    "party_id_masked": None,
    "legal_rep": "朱华洋",
    "legal_rep_id_masked": None,
    "doc_no": "榕监51罚〔2021〕0号",
    "doc_no_norm": "榕监51罚〔2021〕0号",
    "decision_date": "2021-08-01",
    "authority": "福州市第51监管局",
    "authority_uscc": "113501977490365902",
    "source_unit": "福州市第51监管局",
    "source_unit_uscc": "113501977490365902",
    "licence_valid_from": None,
    "licence_valid_to": None,
    "licence_category": None,
    "current_status_valid": True,
    "penalty_types": ["警告"],
    "fine_wan": None,
    "confiscated_wan": None,
    "penalty_valid_to": "2022-08-01",
    "publicity_end": None,
    "severity": "general",
}
FULL_DATA = {
    "party_name": "福州食品102有限公司",
    "party_kind": "legal_person",
    "party_uscc": "91350100MA0001026G",
    "legal_rep": "朱华洋",
    "doc_no": "榕监51罚〔2021〕0号",
    "violation_type": "违反《中华人民共和国食品安全法》第三十四条",
    "facts": "经查，当事人经营超过保质期的食品，货值金额较小。",
    "penalty_types": ["警告"],
    "penalty_content": "警告。",
    "decision_date": "2021-08-01",
    "penalty_valid_to": "2022-08-01",
    "authority": "福州市第51监管局",
    "authority_uscc": "113501977490365902",
    "source_unit": "福州市第51监管局",
    "source_unit_uscc": "113501977490365902",
}


def size(doc: object) -> int:
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())


def test_a_first_version_is_stored_compactly_and_read_back_whole():
    changed = sorted(FULL_CONTENT)
    content, data, stored_changed = versions.compact(1, FULL_CONTENT, FULL_DATA, changed)
    assert None not in content.values() and "party_codes" not in content and "kind" in content
    assert data == {
        "violation_type": FULL_DATA["violation_type"],
        "facts": FULL_DATA["facts"],
        "penalty_content": "警告。",
        "=": data["="],
    }
    assert stored_changed == []
    assert size(content) + size(data) + size(stored_changed) < 0.45 * (
        size(FULL_CONTENT) + size(FULL_DATA) + size(changed)
    )
    whole = versions.full(1, content, data, stored_changed)
    assert whole == (FULL_CONTENT, FULL_DATA, changed)
    assert list(whole.content) == list(FULL_CONTENT)  # the fields in the upsert's order
    # Full columns read as themselves, and compacting the full form of a compact version changes nothing.
    assert versions.full(1, FULL_CONTENT, FULL_DATA, changed) == (FULL_CONTENT, FULL_DATA, changed)
    assert versions.compact(1, *versions.full(1, content, data, stored_changed)) == (content, data, [])
    # The values handed out are the reader's own: changing them changes neither the stored form nor the content.
    whole.data["penalty_types"].append("罚款")
    assert whole.content["penalty_types"] == ["警告"] and versions.full(1, content, data, []).data["penalty_types"] == [
        "警告"
    ]


@pytest.mark.parametrize(
    ("content", "data", "number", "changed"),
    [
        # A content written without some fields (not by this code): their absence survives.
        (
            {"kind": "penalty", "party_name": "甲", "severity": None, "fine_wan": None},
            {"party_name": "甲"},
            1,
            ["fine_wan", "kind", "party_name", "severity"],
        ),
        # Same value, another type: kept in data (1 is not True, "1.0" is not 1.0, [1] is not [True]).
        (
            {**FULL_CONTENT, "current_status_valid": True, "fine_wan": "1.0", "penalty_types": ["1"]},
            {"current_status_valid": 1, "fine_wan": 1.0, "penalty_types": [1], "party_name": None},
            1,
            sorted(FULL_CONTENT),
        ),
        # Other classes: domain is shared, an empty text and an explicit null kept as such where not defaults.
        (
            {**FULL_CONTENT, "kind": "contract", "domain": "守合同重信用", "doc_no": None, "legal_rep": ""},
            {"domain": "守合同重信用", "doc_no": None, "legal_rep": "", "领域": "x"},
            2,
            ["data", "domain"],
        ),
        # A later version that changed nothing it lists, and a first version listing only some fields.
        (FULL_CONTENT, FULL_DATA, 3, []),
        (FULL_CONTENT, {}, 1, ["fine_wan"]),
    ],
)
def test_round_trip_is_exact(content, data, number, changed):
    stored = versions.compact(number, content, data, changed)
    whole = versions.full(number, *stored)
    assert whole == (content, data, changed)
    assert versions.compact(number, *whole) == stored
    defaults = dict(versions.CONTENT_FIELDS)
    assert not [k for k, v in stored[0].items() if k in defaults and v == defaults[k] and type(v) is type(defaults[k])]


def test_reserved_keys_are_refused():
    with pytest.raises(ValueError, match="="):
        versions.compact_data(FULL_CONTENT, {"=": 3})
    with pytest.raises(ValueError, match="-"):
        versions.compact_content({**FULL_CONTENT, "-": 1})
    with pytest.raises(ValueError, match="cannot be empty"):
        versions.compact(1, FULL_CONTENT, FULL_DATA, [])


@pytest.fixture
def dept(session):
    seed_catalog(session)
    return make_department(session, code="scjgj")


def upsert(session, dept, rows):
    return records_upsert.upsert_records(
        session, actor=ADMIN, department_id=dept.id, batch_id=None, received_at=RECEIVED, rows=rows
    )


def stored_rows(session) -> dict[int, tuple[int, dict, dict, list]]:
    """The stored (compact) documents of every version, unpacked: the writers store every version packed."""
    out = {}
    for vid, number, content, data, packed, changed in session.execute(
        select(
            RecordVersion.id,
            RecordVersion.version_no,
            RecordVersion.content,
            RecordVersion.data,
            RecordVersion.packed,
            RecordVersion.changed_fields,
        )
    ):
        assert packed is not None and content is None and data is None
        out[vid] = (number, *versions.documents(content, data, packed), changed)
    return out


def test_the_upsert_stores_the_compact_form_and_readers_get_the_full_one(session, dept):
    person = penalty(
        doc="罚人", party="张三", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID, data={"证件号码": PERSON_ID}
    )
    rows = [penalty(doc="罚1", data={"party_name": "沁阳市宏达机械有限公司"}), licence(doc="许1"), person]
    first = upsert(session, dept, rows)
    assert first.created == 3
    session.commit()
    # The stored columns: no null in content, a first version's changed fields [], data without what content has.
    for _, content, data, changed in stored_rows(session).values():
        assert changed == [] and None not in content.values()
        assert all(k not in content or data[k] != content[k] for k in data if k != "=")
    penalty_record = first.outcomes[0].record_id
    [v1] = queries.record_history(session, penalty_record)
    assert v1.changed_fields == sorted(v1.content) and len(v1.content) == len(versions.CONTENT_FIELDS)
    assert v1.content["party_id_masked"] is None and v1.content["party_codes"] == {}
    assert v1.data == {"违法事实": "销售不合格产品", "party_name": "沁阳市宏达机械有限公司"}
    # The same rows again: unchanged (the hash is still that of the full content); a changed fine: version 2.
    again = upsert(
        session, dept, [penalty(doc="罚1", data={"party_name": "沁阳市宏达机械有限公司"}), licence(doc="许1")]
    )
    assert again.unchanged == 2
    changed = upsert(session, dept, [penalty(doc="罚1", fine_wan="2", data={"party_name": "沁阳市宏达机械有限公司"})])
    assert changed.updated == 1
    session.commit()
    session.expire_all()
    history = queries.record_history(session, penalty_record)
    assert [v.changed_fields for v in history] == [sorted(history[0].content), ["fine_wan"]]
    assert history[1].content == {**history[0].content, "fine_wan": "2"}
    # A correction after an objection: a new version written compactly, from the full current one.
    service.correct_record(
        session, actor=ADMIN, record_id=penalty_record, changes={"party_name": "沁阳市宏达机械公司"}, reason="核实更正"
    )
    session.commit()
    session.expire_all()
    v3 = queries.record_history(session, penalty_record)[2]
    assert v3.changed_fields == ["party_name"] and v3.content["party_name"] == "沁阳市宏达机械公司"
    assert v3.content == {**history[1].content, "party_name": "沁阳市宏达机械公司"}
    assert v3.data == {"违法事实": "销售不合格产品", "party_name": "沁阳市宏达机械有限公司"}
    number, content, data, _ = stored_rows(session)[v3.id]
    assert number == 3 and "party_name" in data and None not in content.values()
    # The views of a subject's records and of a history read the full form too.
    session.expire_all()
    subject = v3_subject(session, penalty_record)
    [viewed] = [v for v in views.subject_records_view(session, subject, RECEIVED.date()) if v["id"] == penalty_record]
    assert [h["changed_fields"] for h in viewed["history"]][1:] == [["fine_wan"], ["party_name"]]
    assert viewed["history"][0]["content"] == history[0].content
    assert viewed["history"][2]["data"] == v3.data


def v3_subject(session, record_id):
    from xinyong.records.models import CreditRecord
    from xinyong.subjects.models import Subject

    return session.get(Subject, session.get(CreditRecord, record_id).subject_id)


def test_other_classes_share_their_domain_and_show_their_fields(session, dept):
    row = contract(row=2)
    made = upsert(session, dept, [row])
    assert made.created == 1, made.outcomes
    session.commit()
    [(_, content, data, changed)] = stored_rows(session).values()
    assert content["domain"] == "守合同重信用" and "domain" not in data and changed == []
    [v] = queries.record_history(session, made.outcomes[0].record_id)
    assert v.data == row.data and v.content["domain"] == "守合同重信用"
    record_views = views.attach_class_fields(session, [{"id": made.outcomes[0].record_id, "kind": "contract"}])
    assert record_views[0]["class_name"]
