"""The check on both databases: measures with reasons and legal bases, expiry to the day, rewards, scenarios,
name look-ups, malformed codes, the record of every check, and the admin's (de)activation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.factories import ACTOR, make_department
from tests.measures.helpers import TODAY, entry, org, person, seed_all
from xinyong.auth.roles import Principal, Role
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import ValidationFailed
from xinyong.measures import service
from xinyong.measures.check import SubjectQuery, run_check
from xinyong.measures.models import Check, CheckItem


@pytest.fixture
def seeded(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    return Principal(kind="token", name="政府采购系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id, token_id=7)


def _run(session, **kwargs) -> dict:
    """run_check, then end the test session's transaction: on SQLite the check is recorded in a transaction of
    its own, which a snapshot taken before it cannot see (nor write after)."""
    answer = run_check(session, **kwargs)
    session.commit()
    return answer


def _codes(result: dict) -> list[str]:
    return [m["code"] for m in result["measures"]]


def test_black_list_entry_gives_measures_with_reasons_and_bases(session, seeded) -> None:
    code = org(session, "沁阳市失信建材有限公司")
    e = entry(session, code, "court_dishonest_debtor")
    answer = _run(session, actor=seeded, subjects=[SubjectQuery(code=code)], scenario="procurement", on=TODAY)
    session.commit()
    [r] = answer["results"]
    assert r["outcome"] == "matched" and r["subject"]["uscc"] == code
    assert [x["id"] for x in r["entries"]] == [e.id]
    assert _codes(r) == ["debtor_procurement_ban"]
    [m] = r["measures"]
    assert m["kind"] == "punish" and m["mandatory"] is True
    assert m["legal_basis"] and any("141号" in b["title"] for b in m["legal_basis"])
    assert m["memorandum"]["doc_no"] == "发改财金〔2016〕141号"
    [reason] = m["reasons"]
    assert reason["entry_id"] == e.id and reason["list_name"] == "失信被执行人名单"
    assert reason["listed_on"] == "2025-01-10" and reason["term_end"] == "2027-01-09"
    assert "人民法院" in reason["text"] and "2027-01-09" in reason["text"]
    assert answer["summary"]["with_punishments"] == 1
    # Recorded: who, which system, which scenario, what was answered.
    check = session.get(Check, answer["check_id"])
    assert (check.actor, check.system, check.scenario, check.department_id) == (
        "token:7:政府采购系统",
        "政府采购系统",
        "procurement",
        seeded.department_id,
    )
    assert check.with_measures and check.subject_count == 1
    [item] = session.scalars(select(CheckItem).where(CheckItem.check_id == check.id)).all()
    assert item.id == r["item_id"] and item.measure_codes == ["debtor_procurement_ban"] and item.entry_ids == [e.id]


def test_expired_entry_gives_no_measures_the_day_after_its_term(session, seeded) -> None:
    code = org(session, "沁阳市到期科技有限公司")
    entry(session, code, "procurement_dishonest", listed_on=dt.date(2023, 6, 1), term_end=TODAY)
    on_last_day = _run(session, actor=seeded, subjects=[SubjectQuery(code=code)], scenario="procurement", on=TODAY)
    assert _codes(on_last_day["results"][0]) == ["procurement_ban"]
    day_after = _run(
        session,
        actor=seeded,
        subjects=[SubjectQuery(code=code)],
        scenario="procurement",
        on=TODAY + dt.timedelta(days=1),
    )
    r = day_after["results"][0]
    assert r["outcome"] == "matched" and r["entries"] == [] and r["measures"] == []
    assert "未发现" in r["conclusion"]
    # A removed (repaired) entry stops counting on its removal day as well.
    other = org(session, "沁阳市修复商贸有限公司")
    entry(session, other, "procurement_dishonest", removed_on=TODAY)
    assert (
        _run(session, actor=seeded, subjects=[SubjectQuery(code=other)], scenario="procurement", on=TODAY)["results"][
            0
        ]["measures"]
        == []
    )


def test_red_list_gives_rewards_and_both_when_both_apply(session, seeded) -> None:
    good = org(session, "沁阳市诚信纳税有限公司")
    entry(session, good, "tax_a_grade", term_end=dt.date(2025, 12, 31))
    r = _run(session, actor=seeded, subjects=[SubjectQuery(code=good)], scenario="approval", on=TODAY)
    r = r["results"][0]
    assert {m["kind"] for m in r["measures"]} == {"reward"}
    assert {"tax_a_green_channel", "tax_a_rongque"} <= set(_codes(r))
    mixed = org(session, "沁阳市功过参半有限公司")
    entry(session, mixed, "tax_a_grade", term_end=dt.date(2025, 12, 31))
    entry(session, mixed, "market_serious_illegal")
    r = _run(session, actor=seeded, subjects=[SubjectQuery(code=mixed)], scenario="approval", on=TODAY)
    r = r["results"][0]
    kinds = [m["kind"] for m in r["measures"]]
    assert "punish" in kinds and "reward" in kinds and kinds.index("punish") < kinds.index("reward")
    assert {"samr_serious_no_commitment", "tax_a_rongque"} <= set(_codes(r))


def test_scenario_filters_measures_and_general_returns_all(session, seeded) -> None:
    code = org(session, "沁阳市场景测试有限公司")
    entry(session, code, "court_dishonest_debtor")

    def measures(scenario: str) -> set[str]:
        return set(
            _codes(
                _run(session, actor=seeded, subjects=[SubjectQuery(code=code)], scenario=scenario, on=TODAY)["results"][
                    0
                ]
            )
        )

    honour = measures("honour")
    assert honour == {"debtor_honour_ban"}
    trading = measures("trading")
    assert trading == {"debtor_bidding_ban", "debtor_land_restrict"}
    everything = measures("general")
    assert honour | trading | {"debtor_procurement_ban", "debtor_high_consumption"} <= everything
    # Hiring measures apply to persons only: a company gets none.
    assert measures("hiring") == set()
    with pytest.raises(ValidationFailed) as info:
        measures("lottery")
    assert info.value.code == "unknown_scenario"


def test_person_is_found_by_id_and_shown_masked(session, seeded) -> None:
    number = person(session, "张三丰")
    entry(session, number, "court_dishonest_debtor")
    answer = _run(
        session, actor=seeded, subjects=[SubjectQuery(code=number, name="张三丰")], scenario="hiring", on=TODAY
    )
    session.commit()
    r = answer["results"][0]
    assert r["outcome"] == "matched" and _codes(r) == ["debtor_hiring_restrict"]
    assert set(r["subject"]) == {"id", "kind", "name", "resident_id"}
    assert r["subject"]["resident_id"] == number[:6] + "********" + number[14:]
    assert r["query"]["code"] == number[:6] + "********" + number[14:]
    stored = session.scalar(select(CheckItem).where(CheckItem.id == r["item_id"]))
    assert number not in str(stored.query) and "张三丰" not in str(stored.query)


def test_malformed_codes_are_invalid_items_not_a_failed_batch(session, seeded) -> None:
    good = org(session, "沁阳市正常经营有限公司")
    bad_check_digit = good[:17] + ("0" if good[17] != "0" else "1")
    unknown = org(session, "沁阳市临时公司")[:8] + "ZZZZZZZZZZ"
    answer = _run(
        session,
        actor=seeded,
        subjects=[
            SubjectQuery(code=good),
            SubjectQuery(code=bad_check_digit),
            SubjectQuery(code="12345"),
            SubjectQuery(code=unknown),
            SubjectQuery(),
            SubjectQuery(name="某公司", region="41088"),
        ],
        scenario="general",
        on=TODAY,
    )
    outcomes = [r["outcome"] for r in answer["results"]]
    assert outcomes == ["matched", "invalid", "invalid", "invalid", "invalid", "invalid"]
    assert "校验码" in answer["results"][1]["reason"]
    assert answer["summary"] == {
        "subjects": 6,
        "matched": 1,
        "candidates": 0,
        "not_found": 0,
        "invalid": 5,
        "with_punishments": 0,
        "with_rewards": 0,
        "measures": 0,
    }
    assert session.scalar(select(func.count()).select_from(CheckItem)) == 6


def test_valid_unknown_code_is_not_found(session, seeded) -> None:
    from xinyong.identifiers import uscc

    code = uscc.make(authority="9", category="1", region="410882", org_body="77777777")
    r = _run(session, actor=seeded, subjects=[SubjectQuery(code=code)], scenario="general", on=TODAY)
    assert r["results"][0]["outcome"] == "not_found"


def test_name_and_region_give_candidates_never_measures(session, seeded) -> None:
    code = org(session, "沁阳市怀府酿造有限公司")
    entry(session, code, "court_dishonest_debtor")
    answer = _run(
        session,
        actor=seeded,
        subjects=[SubjectQuery(name="沁阳市怀府酿造有限公司", region="410882")],
        scenario="procurement",
        on=TODAY,
    )
    r = answer["results"][0]
    assert r["outcome"] == "candidates" and r["measures"] == [] and r["entries"] == []
    assert r["candidates"][0]["uscc"] == code and r["candidates"][0]["score"] > 0.5
    assert "重新核查" in r["reason"]
    nobody = _run(
        session,
        actor=seeded,
        subjects=[SubjectQuery(name="完全不存在的名称有限公司")],
        scenario="procurement",
        on=TODAY,
    )
    assert nobody["results"][0]["outcome"] == "not_found"


def test_batch_limit_and_empty_request_record_nothing(session, seeded) -> None:
    code = org(session, "沁阳市批量测试有限公司")
    with pytest.raises(ValidationFailed) as info:
        _run(session, actor=seeded, subjects=[SubjectQuery(code=code)] * 10_001, scenario="general")
    assert info.value.code == "batch_too_large"
    with pytest.raises(ValidationFailed):
        _run(session, actor=seeded, subjects=[], scenario="general")
    assert session.scalar(select(func.count()).select_from(Check)) == 0
    answer = _run(session, actor=seeded, subjects=[SubjectQuery(code=code)] * 10_000, scenario="general", on=TODAY)
    assert answer["summary"]["matched"] == 10_000
    assert session.scalar(select(func.count()).select_from(CheckItem)) == 10_000


def test_deactivated_measure_leaves_the_answer_and_is_audited(session, seeded) -> None:
    code = org(session, "沁阳市停用测试有限公司")
    entry(session, code, "court_dishonest_debtor")

    def honour() -> list[str]:
        return _codes(
            _run(session, actor=seeded, subjects=[SubjectQuery(code=code)], scenario="honour", on=TODAY)["results"][0]
        )

    assert honour() == ["debtor_honour_ban"]
    with pytest.raises(Exception, match="平台管理员"):
        service.set_measure_active(session, actor=seeded, code="debtor_honour_ban", active=False, reason="x")
    with pytest.raises(ValidationFailed):
        service.set_measure_active(session, actor=ACTOR, code="debtor_honour_ban", active=False, reason=" ")
    service.set_measure_active(session, actor=ACTOR, code="debtor_honour_ban", active=False, reason="上级通知暂停执行")
    session.commit()
    assert honour() == []
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "measures.deactivate"))
    assert event.entity_id == "debtor_honour_ban" and event.reason == "上级通知暂停执行"
    # A reseed keeps the admin's decision.
    report = service.seed_measures(session, actor=ACTOR)
    assert report.created == [] and report.updated == []
    assert service.get_measure(session, "debtor_honour_ban").active is False
    service.set_measure_active(session, actor=ACTOR, code="debtor_honour_ban", active=True, reason="恢复执行")
    session.commit()
    assert honour() == ["debtor_honour_ban"]


def test_seed_is_idempotent_and_ensure_seeded(session) -> None:
    from xinyong.catalog.service import seed_catalog
    from xinyong.lists.types import seed_list_types

    seed_catalog(session, actor=ACTOR)
    seed_list_types(session, actor=ACTOR)
    first = service.ensure_seeded(session, actor=ACTOR)
    assert first is not None and len(first.created) >= 40
    assert service.ensure_seeded(session, actor=ACTOR) is None
    again = service.seed_measures(session, actor=ACTOR)
    assert again.created == [] and again.updated == [] and len(again.unchanged) == len(first.created)
