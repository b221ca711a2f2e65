"""Name matching: pure scoring (no database) and candidate look-ups against the registry (both backends)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import ACTOR
from xinyong.identifiers import resident_id, uscc
from xinyong.lists.matching import (
    DEFAULT_THRESHOLD,
    Party,
    SubjectFacts,
    find_candidates,
    name_similarity,
    near_name_ids,
    near_name_ids_many,
    parse_masked_id,
    score_pair,
)
from xinyong.subjects import service as subjects

ORG = SubjectFacts(
    id=1,
    kind="legal_person",
    name="沁阳市宏达机械有限责任公司",
    name_norm="沁阳市宏达机械有限公司",
    uscc=uscc.make(authority="9", category="1", region="410882", org_body="12345678"),
    region_code="410882",
    legal_rep="王建国",
)
PERSON = SubjectFacts(
    id=2,
    kind="natural_person",
    name="张伟",
    name_norm="张伟",
    resident_id_masked="320882********1234",
    region_code="320882",
    birth_ym="199003",
)


# Pure -------------------------------------------------------------------------------------------------------


def test_masked_id_visible_digits() -> None:
    m = parse_masked_id("3208821990****1234")
    assert m is not None
    assert (m.region, m.birth_year, m.birth_month, m.last4) == ("320882", "1990", None, "1234")
    full_width = parse_masked_id("３２０８８２１９９０＊＊＊＊１２３４")
    assert full_width is not None and full_width.last4 == "1234"
    assert parse_masked_id("张三") is None
    assert parse_masked_id("****************") is None


def test_masked_id_agreement_links_person() -> None:
    score, match, evidence = score_pair(Party("张伟", "natural_person", code="3208821990****1234"), PERSON)
    assert match and score >= DEFAULT_THRESHOLD
    assert "一致" in evidence["resident_id"]["text"] and evidence["resident_id"]["weight"] > 0


@pytest.mark.parametrize(
    "code", ["3208821991****1234", "3208821990****9999", "4108821990****1234", "3208821990*******5"]
)
def test_masked_id_disagreement_is_strong_negative(code: str) -> None:
    score, match, evidence = score_pair(Party("张伟", "natural_person", code=code), PERSON)
    assert not match and score < 0.5
    assert evidence["resident_id"]["weight"] < 0 and "不一致" in evidence["resident_id"]["text"]


def test_person_never_linked_on_name_and_region_alone() -> None:
    score, match, evidence = score_pair(Party("张伟", "natural_person", region_code="320882"), PERSON)
    assert not match and score < DEFAULT_THRESHOLD
    assert "person_cap" in evidence


def test_legal_form_variants_and_full_width_match() -> None:
    for written in (
        "沁阳市宏达机械有限公司",
        "沁阳市宏达机械有限责任公司",
        "沁阳市 宏达机械 有限公司",
        "ＡＢＣ沁阳市宏达机械有限公司"[3:],
    ):
        score, match, evidence = score_pair(Party(written, "legal_person", region_code="410882"), ORG)
        assert evidence["name"]["weight"] == 0.8, written
        assert match and score == pytest.approx(0.9)
    full = score_pair(
        Party("ＸＹＺ（沁阳）机械有限公司", "legal_person"),
        SubjectFacts(id=3, kind="legal_person", name="XYZ(沁阳)机械有限公司", name_norm="xyz(沁阳)机械有限公司"),
    )
    assert full[2]["name"]["weight"] == 0.8


def test_region_and_legal_rep_evidence() -> None:
    far = score_pair(Party("沁阳市宏达机械有限公司", "legal_person", region_code="110105"), ORG)
    near = score_pair(Party("沁阳市宏达机械有限公司", "legal_person", region_code="410882", legal_rep="王建国"), ORG)
    assert far[2]["region"]["weight"] < 0 and not far[1]
    assert near[0] == 1.0 and "法定代表人一致" in near[2]["legal_rep"]["text"]


def test_contradicting_code_blocks_match() -> None:
    other = uscc.make(authority="9", category="1", region="410882", org_body="87654321")
    score, match, evidence = score_pair(Party("沁阳市宏达机械有限公司", "legal_person", code=other), ORG)
    assert not match and score < 0.5 and "不一致" in evidence["code"]["text"]


def test_name_similarity() -> None:
    assert name_similarity("沁阳市宏达机械有限公司", "沁阳市宏达机械有限公司") == 1.0
    assert name_similarity("沁阳市宏达机械厂", "沁阳市宏达机械有限公司") >= 0.9
    assert name_similarity("沁阳市宏达机械有限公司", "焦作市远大化工有限公司") < 0.6


# With the registry --------------------------------------------------------------------------------------------


def test_find_candidates(session) -> None:  # type: ignore[no-untyped-def]
    code = uscc.make(authority="9", category="1", region="410882", org_body="11112222")
    org = subjects.register_organisation(
        session, actor=ACTOR, name="沁阳市宏达机械有限责任公司", code=code, legal_rep="王建国"
    )
    near = subjects.register_organisation(
        session,
        actor=ACTOR,
        name="沁阳市宏达机械制造有限公司",
        code=uscc.make(authority="9", category="1", region="410882", org_body="33334444"),
    )
    person_id = resident_id.make(region="320882", birth_date=dt.date(1990, 3, 5), sequence=123)
    person = subjects.register_person(session, actor=ACTOR, name="张伟", id_number=person_id)
    session.flush()

    by_code = find_candidates(session, name="随便写的名称", code_hint=code)
    assert [c.subject_id for c in by_code] == [org.id] and by_code[0].score == 1.0
    # An organisation code without an alias: found by name, confirmed by USCC positions 9-17.
    by_org_code = find_candidates(session, name="沁阳市宏达机械有限公司", code_hint=code[8:17])
    assert by_org_code[0].subject_id == org.id and by_org_code[0].score == 1.0
    assert "第9-17位一致" in by_org_code[0].evidence["code"]["text"]

    found = find_candidates(session, name="沁阳市宏达机械有限公司", region_code="410882", party_kind="legal_person")
    assert found[0].subject_id == org.id and found[0].match
    assert near.id in [c.subject_id for c in found]
    assert all(not c.match for c in found if c.subject_id == near.id)

    # Near name only (not in the registry exactly): offered for review, not linked.
    fuzzy = find_candidates(session, name="沁阳市宏达机械厂", region_code="410882", party_kind="legal_person")
    assert {c.subject_id for c in fuzzy} >= {org.id} and not any(c.match for c in fuzzy)
    assert "相似度" in fuzzy[0].evidence["name"]["text"]

    masked = person_id[:10] + "****" + person_id[14:]
    people = find_candidates(session, name="张伟", party_kind="natural_person", code_hint=masked)
    assert people[0].subject_id == person.id and people[0].match
    wrong_year = person_id[:6] + "1985****" + person_id[14:]
    assert find_candidates(session, name="张伟", party_kind="natural_person", code_hint=wrong_year) == []
    assert (
        find_candidates(session, name="张伟", party_kind="natural_person", code_hint=masked, exclude_ids=[person.id])
        == []
    )
    assert find_candidates(session, name="完全不存在的公司") == []


def test_near_names_in_bulk_find_what_one_at_a_time_finds(session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The list sync's near-name look-ups in bulk (one LATERAL statement per chunk on PostgreSQL) bring the same
    subjects per party as one look-up each: the limits per probe, the organisations-only filter, the region's
    second prefix, ``light``, parties with no probe, and probes split across statements."""
    from xinyong.lists import matching

    names = [f"沁阳市宏达{'机械' if i % 2 else '商贸'}{i:02d}有限公司" for i in range(60)]
    names += [f"博爱县宏达机械{i:02d}厂" for i in range(5)]
    for i, name in enumerate(names):
        subjects.register_organisation(
            session,
            actor=ACTOR,
            name=name,
            code=uscc.make(authority="9", category="1", region="410882", org_body=f"5{i:07d}"),
        )
    subjects.register_person(
        session,
        actor=ACTOR,
        name="宏达机械",
        id_number=resident_id.make(region="410882", birth_date=dt.date(1980, 1, 2), sequence=7),
    )
    session.flush()
    asks = [
        (Party(name="沁阳市宏达机械有限公司", kind="legal_person", region_code="410882"), False),
        (Party(name="沁阳市宏达机械有限公司", kind="legal_person", region_code="410882"), True),
        (Party(name="宏达机械有限公司", kind="legal_person", region_code="410882"), False),  # + 沁阳市 prefix
        (Party(name="宏达机械有限公司", kind=None), False),  # kind unknown: people too
        (Party(name="博爱县宏达", kind="individual_business"), False),
        (Party(name="张伟", kind="natural_person"), False),  # no probe
        (Party(name="宏", kind="legal_person"), False),  # core too short: no probe
        (Party(name="完全不存在的公司", kind="legal_person"), False),
    ]
    one_by_one = [near_name_ids(session, party, light=light) for party, light in asks]
    assert len(one_by_one[0]) == matching.NEAR_NAME_LIMIT and len(one_by_one[1]) == matching.NEAR_NAME_LIMIT // 5
    assert one_by_one[5] == one_by_one[6] == one_by_one[7] == set()
    assert near_name_ids_many(session, asks) == one_by_one
    monkeypatch.setattr(matching, "NEAR_PROBES_PER_STATEMENT", 2)
    assert near_name_ids_many(session, asks) == one_by_one
    assert near_name_ids_many(session, []) == []
