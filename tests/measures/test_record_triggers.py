"""Measures triggered by credit records (issue #15 point 2) on both databases: a penalty with a large fine two
years ago bars a supplier (政府采购法第二十二条, 实施条例第十九条) and the answer names the decision; four years ago,
a withdrawn or corrected-away record, a repaired one, a small fine do not; list reasons still appear; the record of
the check keeps the record ids; a record trigger without a legal basis is refused by the spec."""

from __future__ import annotations

import copy
import datetime as dt
import itertools

import pytest
import yaml

from tests.factories import ACTOR, make_department
from tests.measures.helpers import TODAY, entry, org, seed_all
from xinyong.auth.roles import Principal, Role
from xinyong.core.db import utcnow
from xinyong.core.errors import ValidationFailed
from xinyong.measures.check import SubjectQuery, check_detail, get_check, run_check
from xinyong.measures.record_triggers import RecordRule, TriggerRecord, matches
from xinyong.measures.spec import DEFAULT_MEASURES_PATH, parse_measures
from xinyong.records import publicity
from xinyong.records import service as records
from xinyong.records.models import CreditRecord
from xinyong.subjects import service as subjects

PROCUREMENT = "record_procurement_major_violation"
_serial = itertools.count(1)


@pytest.fixture
def seeded(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    session.commit()
    return Principal(
        kind="token", name="政府采购系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id, token_id=7
    ), dept


def penalty(
    session,
    code: str,
    dept,
    *,
    decided: dt.date,
    fine_wan: float | None = None,
    types: tuple[str, ...] = ("罚款",),
    severity: str = "general",
) -> CreditRecord:
    subject = subjects.get_subject(session, code)
    n = next(_serial)
    rec = CreditRecord(
        kind="penalty",
        authority_uscc="11410882MB0000000X",
        doc_no_norm=f"沁市监罚〔2024〕{n}号",
        doc_no=f"沁市监罚〔2024〕{n}号",
        authority="沁阳市市场监督管理局",
        subject_id=subject.id,
        department_id=dept.id,
        content_hash=f"{n:064x}",
        party_kind=subject.kind,
        party_name=subject.name,
        decision_date=decided,
        severity=severity,
        penalty_types=sorted(types),
        penalty_types_key=publicity.types_key(types),
        fine_fen=None if fine_wan is None else round(fine_wan * 1_000_000),
        received_at=utcnow(),
    )
    session.add(rec)
    session.commit()
    return rec


def _run(session, actor, code: str, scenario: str = "procurement") -> dict:
    answer = run_check(session, actor=actor, subjects=[SubjectQuery(code=code)], scenario=scenario, on=TODAY)
    session.commit()
    return answer


def _measure(result: dict, code: str) -> dict | None:
    return next((m for m in result["measures"] if m["code"] == code), None)


def test_large_fine_two_years_ago_bars_procurement_and_is_named(session, seeded) -> None:
    actor, dept = seeded
    code = org(session, "沁阳市重罚建材有限公司")
    rec = penalty(session, code, dept, decided=TODAY - dt.timedelta(days=2 * 365), fine_wan=250)
    answer = _run(session, actor, code)
    [r] = answer["results"]
    m = _measure(r, PROCUREMENT)
    assert m is not None and m["kind"] == "punish" and m["mandatory"]
    assert m["reasons"] == []
    [reason] = m["record_reasons"]
    assert reason["record_id"] == rec.id and reason["doc_no"] == rec.doc_no
    assert reason["authority"] == "沁阳市市场监督管理局"
    assert reason["decision_date"] == rec.decision_date.isoformat() and reason["fine_wan"] == "250"
    assert rec.doc_no in reason["text"] and "250万元" in reason["text"]
    assert any("第十九条" in (b.get("article") or "") for b in m["record_legal_basis"])
    assert any("第二十二条" in (b.get("article") or "") for b in m["legal_basis"])
    assert [x["id"] for x in r["records"]] == [rec.id] and r["records"][0]["repaired"] is False
    assert "信用记录" in r["conclusion"]
    assert answer["summary"]["with_punishments"] == 1
    # The recorded check keeps the triggering record.
    detail = check_detail(session, get_check(session, answer["check_id"], actor=actor))
    assert detail["items"][0]["record_ids"] == [rec.id]
    assert PROCUREMENT in detail["items"][0]["measure_codes"]
    # Not a procurement-only matter: the same record does not touch the honour scenario (general severity).
    assert _measure(_run(session, actor, code, "honour")["results"][0], "record_honour_serious_penalty") is None


def test_penalty_type_alone_triggers_and_old_or_small_ones_do_not(session, seeded) -> None:
    actor, dept = seeded
    revoked = org(session, "沁阳市吊销执照商贸有限公司")
    penalty(session, revoked, dept, decided=TODAY - dt.timedelta(days=400), types=("吊销执照",))
    assert _measure(_run(session, actor, revoked)["results"][0], PROCUREMENT) is not None

    old = org(session, "沁阳市陈年处罚有限公司")
    penalty(session, old, dept, decided=TODAY - dt.timedelta(days=4 * 365), fine_wan=500)
    small = org(session, "沁阳市小额罚款有限公司")
    penalty(session, small, dept, decided=TODAY - dt.timedelta(days=100), fine_wan=199.99)
    warned = org(session, "沁阳市警告处罚有限公司")
    penalty(session, warned, dept, decided=TODAY - dt.timedelta(days=100), types=("警告", "其他-责令改正"))
    for code in (old, small, warned):
        [r] = _run(session, actor, code)["results"]
        assert r["measures"] == [] and r["records"] == []
        assert r["conclusion"] == "未发现处于有效期内的红黑名单记录，无适用的联合奖惩措施"


def test_look_back_counts_from_the_check_date_both_ends_included(session, seeded) -> None:
    actor, dept = seeded
    edge = org(session, "沁阳市三年整有限公司")
    penalty(session, edge, dept, decided=dt.date(TODAY.year - 3, TODAY.month, TODAY.day), fine_wan=300)
    after = org(session, "沁阳市三年零一天有限公司")
    penalty(
        session,
        after,
        dept,
        decided=dt.date(TODAY.year - 3, TODAY.month, TODAY.day) - dt.timedelta(days=1),
        fine_wan=300,
    )
    future = org(session, "沁阳市核查日之后处罚有限公司")
    penalty(session, future, dept, decided=TODAY + dt.timedelta(days=1), fine_wan=300)
    assert _measure(_run(session, actor, edge)["results"][0], PROCUREMENT) is not None
    assert _measure(_run(session, actor, after)["results"][0], PROCUREMENT) is None
    assert _measure(_run(session, actor, future)["results"][0], PROCUREMENT) is None


def test_withdrawn_and_corrected_away_records_never_count(session, seeded) -> None:
    actor, dept = seeded
    revoked = org(session, "沁阳市处罚被撤销有限公司")
    rec = penalty(session, revoked, dept, decided=TODAY - dt.timedelta(days=300), fine_wan=250)
    records.withdraw(session, actor=ACTOR, record_id=rec.id, reason="复议决定撤销原处罚决定")
    session.commit()
    [r] = _run(session, actor, revoked)["results"]
    assert r["measures"] == [] and r["records"] == []

    corrected = org(session, "沁阳市罚款更正有限公司")
    rec2 = penalty(session, corrected, dept, decided=TODAY - dt.timedelta(days=300), fine_wan=250)
    records.correct_record(
        session,
        actor=ACTOR,
        record_id=rec2.id,
        changes={"fine_yuan": "25000"},
        reason="异议核查：罚款金额录入错误，应为2.5万元",
    )
    session.commit()
    [r] = _run(session, actor, corrected)["results"]
    assert r["measures"] == []


def test_repaired_record_does_not_count_unless_the_rule_includes_repaired(session, seeded) -> None:
    actor, dept = seeded
    code = org(session, "沁阳市已修复有限公司")
    rec = penalty(session, code, dept, decided=TODAY - dt.timedelta(days=500), fine_wan=250)
    records.end_publicity_early(
        session, actor=ACTOR, record_id=rec.id, on=TODAY - dt.timedelta(days=10), reason="信用修复 XF2025001：准予修复"
    )
    session.commit()
    [r] = _run(session, actor, code)["results"]
    assert r["measures"] == []
    # The same record under a rule that counts repaired records (pure: the rule as the catalogue holds it).
    found = TriggerRecord(
        rec.id,
        rec.subject_id,
        "penalty",
        rec.doc_no,
        rec.authority,
        rec.decision_date,
        "general",
        ("罚款",),
        rec.fine_fen,
        TODAY - dt.timedelta(days=10),
    )
    base = {"kinds": ["penalty"], "min_fine_wan": "200", "lookback_years": 3, "legal_basis": [{"title": "t"}]}
    assert not matches(RecordRule.from_data(base), found, TODAY)
    assert matches(RecordRule.from_data({**base, "include_repaired": True}), found, TODAY)
    # A repair that takes effect after the check date does not yet count as repaired.
    assert matches(RecordRule.from_data(base), found, TODAY - dt.timedelta(days=11))


def test_serious_penalty_bars_honours_and_funding_beside_list_reasons(session, seeded) -> None:
    actor, dept = seeded
    code = org(session, "沁阳市严重失信并被执行有限公司")
    rec = penalty(session, code, dept, decided=TODAY - dt.timedelta(days=200), fine_wan=5, severity="serious")
    e = entry(session, code, "court_dishonest_debtor")
    [r] = _run(session, actor, code, "honour")["results"]
    codes = [m["code"] for m in r["measures"]]
    assert "debtor_honour_ban" in codes and "record_honour_serious_penalty" in codes
    listed = _measure(r, "debtor_honour_ban")
    assert [x["entry_id"] for x in listed["reasons"]] == [e.id] and listed["record_reasons"] == []
    assert [x["record_id"] for x in _measure(r, "record_honour_serious_penalty")["record_reasons"]] == [rec.id]
    assert [x["id"] for x in r["entries"]] == [e.id] and [x["id"] for x in r["records"]] == [rec.id]
    assert "名单记录" in r["conclusion"] and "信用记录" in r["conclusion"]
    [f] = _run(session, actor, code, "funding")["results"]
    assert {"debtor_funding_restrict", "record_funding_serious_penalty"} <= {m["code"] for m in f["measures"]}
    # Small fine, general severity: not a 重大违法记录 for procurement; the list measure still applies there.
    [p] = _run(session, actor, code)["results"]
    assert [m["code"] for m in p["measures"]] == ["debtor_procurement_ban"] and p["records"] == []


def test_batch_reads_records_in_one_call_for_all_subjects(session, seeded, monkeypatch) -> None:
    actor, dept = seeded
    codes = [org(session, f"沁阳市批量核查{i}有限公司") for i in range(5)]
    for code in codes[:3]:
        penalty(session, code, dept, decided=TODAY - dt.timedelta(days=30), fine_wan=300)
    import xinyong.measures.check as check_module

    calls = []
    real = check_module.trigger_records

    def spy(session, subject_ids, rules, on):  # noqa: ANN001
        calls.append(list(subject_ids))
        return real(session, subject_ids, rules, on)

    monkeypatch.setattr(check_module, "trigger_records", spy)
    answer = run_check(
        session, actor=actor, subjects=[SubjectQuery(code=c) for c in codes], scenario="general", on=TODAY
    )
    session.commit()
    assert [bool(_measure(r, PROCUREMENT)) for r in answer["results"]] == [True, True, True, False, False]
    assert len(calls) == 1 and len(calls[0]) == 5
    # A scenario where no measure is triggered by records reads no record at all.
    run_check(session, actor=actor, subjects=[SubjectQuery(code=codes[0])], scenario="hiring", on=TODAY)
    session.commit()
    assert len(calls) == 1


def test_record_trigger_without_legal_basis_is_refused() -> None:
    data = yaml.safe_load(DEFAULT_MEASURES_PATH.read_text(encoding="utf-8"))
    parse_measures(data)
    bad = copy.deepcopy(data)
    m = next(x for x in bad["measures"] if x["code"] == PROCUREMENT)
    m["triggers"]["records"]["legal_basis"] = []
    with pytest.raises(ValidationFailed) as exc:
        parse_measures(bad)
    assert exc.value.code == "measures_file_invalid"
    assert "法律依据" in str(exc.value)
    del m["triggers"]["records"]["legal_basis"]
    with pytest.raises(ValidationFailed):
        parse_measures(bad)
    # Unknown penalty type, no look-back, a reward triggered by records, a measure with no trigger at all.
    for change in (lambda r: r.update(penalty_types=["罚金"]), lambda r: r.pop("lookback_years")):
        bad = copy.deepcopy(data)
        change(next(x for x in bad["measures"] if x["code"] == PROCUREMENT)["triggers"]["records"])
        with pytest.raises(ValidationFailed):
            parse_measures(bad)
    bad = copy.deepcopy(data)
    next(x for x in bad["measures"] if x["code"] == PROCUREMENT).pop("triggers")
    with pytest.raises(ValidationFailed):
        parse_measures(bad)


def test_catalogue_view_shows_the_trigger(session, seeded) -> None:
    from xinyong.measures.service import get_measure, measure_views

    view = measure_views(session, [get_measure(session, PROCUREMENT)])[0]
    assert view["list_types"] == [] and view["triggers"]["records"]["lookback_years"] == 3


def test_over_http_and_on_the_command_line(client, session, database, seeded) -> None:
    import json

    from typer.testing import CliRunner

    from tests.factories import auth_headers, make_token
    from xinyong.cli import app as cli
    from xinyong.core import clock
    from xinyong.measures.schemas import CheckOut

    _actor, dept = seeded
    code = org(session, "沁阳市停产停业有限公司")
    rec = penalty(session, code, dept, decided=clock.today() - dt.timedelta(days=700), types=("责令停产停业",))
    headers = auth_headers(make_token(session, Role.BUSINESS_SYSTEM, dept, name="财政局采购系统"))
    resp = client.post(
        "/api/v1/checks", json={"scenario": "procurement", "subjects": [{"code": code}]}, headers=headers
    )
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert CheckOut.model_validate(answer).model_dump(mode="json") == answer
    [r] = answer["results"]
    [m] = r["measures"]
    assert m["code"] == PROCUREMENT and m["record_reasons"][0]["doc_no"] == rec.doc_no
    assert m["record_reasons"][0]["penalty_types"] == ["责令停产停业"] and r["records"][0]["fine_wan"] is None
    shown = client.get(f"/api/v1/checks/{answer['check_id']}", headers=headers).json()
    assert shown["items"][0]["record_ids"] == [rec.id]
    catalogue = client.get(f"/api/v1/measures/{PROCUREMENT}").json()
    assert catalogue["triggers"]["records"]["min_fine_wan"] == "200" and "200万元以上" in catalogue["record_rule"]

    runner = CliRunner()
    out = runner.invoke(cli, ["--db", database.url, "check", code, "--scenario", "procurement", "--json"])
    assert out.exit_code == 1, out.output
    data = json.loads(out.stdout)
    assert data["results"][0]["records"][0]["doc_no"] == rec.doc_no
    out = runner.invoke(cli, ["--db", database.url, "check", code, "--scenario", "procurement"])
    text = "".join(out.stdout.split())  # the console wraps long lines
    assert out.exit_code == 1 and rec.doc_no in text and "理由（信用记录）" in text


def test_console_catalogue_page_shows_the_record_trigger(client, session, seeded) -> None:
    from tests.factories import make_user
    from tests.web.test_console import HTML, login

    _actor, dept = seeded
    make_user(session, username="viewer-czj", role=Role.DEPT_VIEWER, department=dept)
    session.commit()
    assert login(client, "viewer-czj").status_code == 303
    page = client.get("/console/measures?kind=punish", headers=HTML)
    assert page.status_code == 200
    assert "按信用记录触发：核查日前3年内作出的行政处罚决定" in page.text and "200万元以上" in page.text
    assert "记录触发：中华人民共和国政府采购法实施条例第十九条第一款" in page.text


def test_large_batch_records_the_record_ids_in_bulk(session, seeded) -> None:
    actor, dept = seeded
    codes = [org(session, f"沁阳市大批核查{i}有限公司") for i in range(120)]
    rec = penalty(session, codes[7], dept, decided=TODAY - dt.timedelta(days=30), fine_wan=300)
    answer = run_check(
        session, actor=actor, subjects=[SubjectQuery(code=c) for c in codes], scenario="procurement", on=TODAY
    )
    session.commit()
    assert [x["id"] for x in answer["results"][7]["records"]] == [rec.id]
    items = check_detail(session, get_check(session, answer["check_id"], actor=actor))["items"]
    assert items[7]["record_ids"] == [rec.id] and all(not it["record_ids"] for i, it in enumerate(items) if i != 7)


def test_a_record_from_the_province_is_marked_with_its_source(session, seeded) -> None:
    """A penalty the 省平台 forwarded (an external department, docs/exchange.md §7) triggers as any record, under
    its own deciding authority, and the answer says where it came from."""
    actor, _dept = seeded
    province = make_department(session, code="province", name="省平台")
    province.external = True
    session.commit()
    code = org(session, "沁阳市外地受罚建材有限公司")
    rec = penalty(session, code, province, decided=TODAY - dt.timedelta(days=365), fine_wan=250)
    [r] = _run(session, actor, code)["results"]
    m = _measure(r, PROCUREMENT)
    assert m is not None
    [reason] = m["record_reasons"]
    assert reason["record_id"] == rec.id and reason["source"] == "省平台"
    assert "（来源：省平台）" in reason["text"] and reason["authority"] == "沁阳市市场监督管理局"
    assert r["records"][0]["source"] == "省平台"


def test_unsettled_tax_arrears_trigger_the_procurement_measure(session, seeded) -> None:
    """A measure triggered by another information class (issue #18): 欠税公告 not settled on the check date."""
    actor, dept = seeded
    code = org(session, "沁阳市欠税商贸有限公司")
    subject = subjects.get_subject(session, code)
    rec = CreditRecord(
        kind="tax_arrears",
        authority_uscc="11410882MB0000000X",
        doc_no_norm="2024年第1季度|" + code,
        doc_no="2024年第1季度",
        authority="国家税务总局沁阳市税务局",
        subject_id=subject.id,
        department_id=dept.id,
        content_hash="7a" * 32,
        party_kind=subject.kind,
        party_name=subject.name,
        decision_date=TODAY - dt.timedelta(days=200),
        received_at=utcnow(),
    )
    session.add(rec)
    session.commit()
    m = _measure(_run(session, actor, code)["results"][0], "record_procurement_tax_arrears")
    assert m is not None and not m["mandatory"]
    assert "欠税公告信息" in m["record_reasons"][0]["text"] and "未终止" in m["record_reasons"][0]["rule"]
    assert any("第二十二条" in (b.get("article") or "") for b in m["legal_basis"])
    rec.licence_valid_to = TODAY - dt.timedelta(days=1)  # 缴清日期: settled yesterday
    session.commit()
    assert _measure(_run(session, actor, code)["results"][0], "record_procurement_tax_arrears") is None
