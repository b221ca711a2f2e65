"""The plan's demonstration domains (issue #18 part 4): a subject put on each new list gets that domain's measure in
the check, with its legal basis and memorandum in the answer; a red list gives a reward; the record of tourists'
uncivilised behaviour triggers nothing; the types are listed (CLI, API) with their owner department kind."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests.factories import ACTOR, make_department
from tests.measures.helpers import TODAY, entry, org, person, seed_all
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.service import seed_catalog
from xinyong.cli import app as cli
from xinyong.core.errors import ValidationFailed
from xinyong.lists.types import DEFAULT_TYPES_PATH, seed_list_types
from xinyong.measures.check import SubjectQuery, run_check


@pytest.fixture
def checker(session):
    seed_all(session)
    dept = make_department(session, code="fgw", name="沁阳市发展和改革委员会")
    return Principal(kind="token", name="业务系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id, token_id=9)


def _check(session, actor, code: str, scenario: str) -> dict:
    answer = run_check(session, actor=actor, subjects=[SubjectQuery(code=code)], scenario=scenario, on=TODAY)
    session.commit()
    [result] = answer["results"]
    assert result["outcome"] == "matched"
    return result


# (list code, subject is a person, scenario, measure expected, kind, text found in one of its legal bases)
DOMAINS = [
    ("trading_dishonest", False, "trading", "trading_participation_restrict", "punish", "发改法规〔2018〕457号"),
    ("tourism_dishonest", False, "approval", "tourism_approval_review", "punish", "文化和旅游部令第7号"),
    ("illegal_medical_practice", True, "general", "illegal_medical_supervision", "punish", "基本医疗卫生与健康促进法"),
    ("social_insurance_dishonest", False, "procurement", "si_procurement_restrict", "punish", "政府采购法"),
    ("medical_insurance_fraud", True, "general", "mi_intensive_supervision", "punish", "国务院令第735号"),
    ("ecommerce_dishonest", False, "general", "ecommerce_intensive_supervision", "punish", "电子商务法"),
    ("intermediary_d_grade", False, "general", "intermediary_d_supervision", "punish", "国发〔2016〕33号"),
    ("product_quality_dishonest", False, "trading", "quality_procurement_trading_restrict", "punish", "370号"),
    ("customs_dishonest", False, "general", "customs_strict_control", "punish", "海关总署令第251号"),
    ("transport_overload_dishonest", True, "honour", "overload_honour_ban", "punish", "发改运行〔2017〕274号"),
    ("ecommerce_honest_shop", False, "subsidy", "ecommerce_red_priority", "reward", "沁政办〔2019〕23号"),
    ("intermediary_a_grade", False, "approval", "intermediary_a_fewer_inspections", "reward", "沁政办〔2019〕23号"),
    ("customs_aeo", False, "approval", "customs_aeo_green_channel", "reward", "发改财金〔2016〕2190号"),
    ("transport_construction_trustworthy", False, "trading", "transport_red_bidding_priority", "reward", "守信"),
]


@pytest.mark.parametrize(("list_code", "is_person", "scenario", "measure", "kind", "basis"), DOMAINS, ids=lambda v: v)
def test_a_subject_on_a_domain_list_gets_its_measure_with_the_legal_basis(
    session, checker, list_code, is_person, scenario, measure, kind, basis
) -> None:
    code = person(session, "张某") if is_person else org(session, f"沁阳市{list_code}测试有限公司")
    e = entry(session, code, list_code)
    result = _check(session, checker, code, scenario)
    found = {m["code"]: m for m in result["measures"]}
    assert measure in found, (list_code, sorted(found))
    m = found[measure]
    assert m["kind"] == kind
    assert any(basis in b["title"] for b in m["legal_basis"]), m["legal_basis"]
    assert m["memorandum"]["title"]
    assert [r["entry_id"] for r in m["reasons"]] == [e.id]
    # A red list never punishes, a black one never rewards.
    assert {x["kind"] for x in result["measures"]} == {kind}
    # Outside the scenarios a measure names nothing applies (hiring: none of these lists' measures name it).
    assert _check(session, checker, code, "hiring")["measures"] == []


def test_a_subject_on_two_domain_lists_gets_the_measures_of_both(session, checker) -> None:
    code = org(session, "沁阳市双重失信旅行社有限公司")
    entry(session, code, "tourism_dishonest")
    entry(session, code, "social_insurance_dishonest")
    codes = [m["code"] for m in _check(session, checker, code, "honour")["measures"]]
    assert {"tourism_honour_ban", "si_honour_ban"} <= set(codes)


def test_the_record_of_uncivilised_tourists_triggers_no_measure(session, checker) -> None:
    code = person(session, "李某")
    entry(session, code, "tourism_uncivilised")
    result = _check(session, checker, code, "general")
    assert [e["list_type"] for e in result["entries"]] == ["tourism_uncivilised"]
    assert result["measures"] == []


def test_new_types_are_listed_with_owner_department_kind(database, client, session) -> None:
    seed_all(session)
    r = CliRunner().invoke(cli, ["--db", database.url, "lists", "types", "--json"])
    assert r.exit_code == 0, r.output
    types = {t["code"]: t for t in json.loads(r.stdout)}
    assert types["trading_dishonest"]["name"] == "公共资源交易领域严重失信主体名单"
    assert types["trading_dishonest"]["owner_department_kind"] == "public_resource_trading"
    assert types["medical_insurance_fraud"]["managing_departments"] == ["ybj"]
    assert types["tax_a_grade"]["owner_department_kind"] == "tax"
    body = client.get("/api/v1/lists/types/customs_aeo").json()
    assert body["kind"] == "red" and body["owner_department_kind"] == "customs" and body["confidence"] == "low"


def test_cli_check_answers_a_domain_measure(database, session) -> None:
    seed_all(session)
    code = org(session, "沁阳市超限运输有限公司")
    entry(session, code, "transport_overload_dishonest", listed_on=TODAY.replace(year=TODAY.year - 1))
    r = CliRunner().invoke(cli, ["--db", database.url, "check", code, "--scenario", "approval", "--json"])
    assert r.exit_code == 1, r.output
    [m] = json.loads(r.stdout)["results"][0]["measures"]
    assert m["code"] == "overload_approval_review" and m["memorandum"]["doc_no"] == "发改运行〔2017〕274号"


def test_an_unknown_owner_department_kind_is_refused(session, tmp_path) -> None:
    seed_catalog(session, actor=ACTOR)
    data = yaml.safe_load(DEFAULT_TYPES_PATH.read_text(encoding="utf-8"))
    data["types"][0]["owner_department_kind"] = "ministry_of_magic"
    path = tmp_path / "types.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        seed_list_types(session, actor=ACTOR, path=path)
    assert info.value.code == "unknown_department_kind"
    data["types"][0]["params"] = {"owner_department_kind": "tax"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        seed_list_types(session, actor=ACTOR, path=path)
    assert info.value.code == "invalid_list_types"


def test_the_portal_shows_the_new_lists_in_chinese(client, session) -> None:
    seed_all(session)
    code = org(session, "沁阳市围标串标建设有限公司")
    entry(session, code, "trading_dishonest", listed_on=TODAY.replace(year=TODAY.year - 1), term_end=None)
    page = client.get("/lists")
    assert page.status_code == 200
    assert "公共资源交易领域严重失信主体名单" in page.text and "海关高级认证企业名单" in page.text
    # A classification kept for government use (信用评价结果, shared) is not on the public site.
    assert "中介服务机构信用D级" not in page.text
    detail = client.get("/lists/trading_dishonest")
    assert detail.status_code == 200 and "沁阳市围标串标建设有限公司" in detail.text
    assert client.get("/lists/intermediary_d_grade").status_code == 404
