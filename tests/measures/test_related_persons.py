"""Measures that extend to related persons (issue #15 point 3), on both databases: the measure rule's parsing
(unit), and the check over HTTP — a ``hiring`` check on the legal representative of a 失信被执行人 company
returns the restriction naming the company, its USCC, the role, the list entry and the legal basis of the
extension; the company itself is not "appointed"; a director (not in the memorandum's extension) is not reached;
an ended role no longer counts; the fast path answers the same; the check naming the person stays in the
person's access log."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import yaml

from tests.factories import auth_headers, make_department, make_token
from tests.measures.helpers import entry, org, person, seed_all
from xinyong.auth.roles import Role
from xinyong.core import clock
from xinyong.core.errors import ValidationFailed
from xinyong.measures.schemas import CheckOut
from xinyong.measures.spec import DEFAULT_MEASURES_PATH, load_measures, parse_measures
from xinyong.subjects import access_log
from xinyong.subjects import service as subjects
from xinyong.web.check_fast_path import CheckFastPath

API = "/api/v1"
APPOINT = "debtor_rep_appointment_restrict"
CONSUMPTION = "debtor_high_consumption"


# The measure rule (unit) -----------------------------------------------------------------------------------------


def _file() -> dict:
    return yaml.safe_load(DEFAULT_MEASURES_PATH.read_text(encoding="utf-8"))


def _with(change) -> dict:
    data = copy.deepcopy(_file())
    m = next(m for m in data["measures"] if m["code"] == APPOINT)
    change(m)
    return data


def test_shipped_file_declares_the_extensions_with_their_basis() -> None:
    spec = load_measures()
    by_code = {m.code: m for m in spec.measures}
    appoint = by_code[APPOINT].extends_to
    assert appoint is not None and appoint.related_only and set(appoint.roles) == {"legal_rep", "principal"}
    assert by_code[APPOINT].scenarios == ["hiring"]
    consumption = by_code[CONSUMPTION].extends_to
    assert consumption is not None and not consumption.related_only
    assert any("第三条" in (b.article or "") for b in consumption.legal_basis)
    # every basis of an extension is marked (none verified against the official text here)
    assert all(
        b.confidence in ("unverified", "low") for m in spec.measures if m.extends_to for b in m.extends_to.legal_basis
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["extends_to"].update(roles=["cfo"]), "未知的关联人员职务"),
        (lambda m: m["extends_to"].update(roles=["legal_rep", "legal_rep"]), "关联人员职务重复"),
        (lambda m: m["extends_to"].update(legal_basis=[]), "延伸的法律依据"),
        (lambda m: m["extends_to"].update(colour="red"), "colour"),
        (lambda m: m.update(party_kinds=["natural_person"]), "适用于法人或个体工商户"),
        (lambda m: m.update(kind="reward", category="incentive"), "只有惩戒措施可以延伸"),
    ],
)
def test_bad_extension_rules_are_refused_in_chinese(change, message) -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_measures(_with(change))
    assert message in exc.value.message and exc.value.code == "measures_file_invalid"


# The check over HTTP ---------------------------------------------------------------------------------------------


@pytest.fixture
def env(session):
    seed_all(session)
    dept = make_department(session, code="zzb", name="沁阳市委组织部")
    today = clock.today()
    debtor = org(session, "沁阳市老赖建材有限公司")
    e = entry(
        session,
        debtor,
        "court_dishonest_debtor",
        listed_on=today - dt.timedelta(days=30),
        term_end=today + dt.timedelta(days=300),
    )
    rep = person(session, "王法人")
    director = person(session, "赵董事")
    session.commit()
    return {
        "debtor": debtor,
        "entry_id": e.id,
        "rep": rep,
        "director": director,
        "admin": auth_headers(make_token(session, Role.ADMIN)),
        "system": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, dept, name="干部任用系统")),
    }


def _check(client, headers, code: str, scenario: str) -> dict:
    r = client.post(f"{API}/checks", headers=headers, json={"subjects": [{"code": code}], "scenario": scenario})
    assert r.status_code == 200, r.text
    return r.json()


def _measure(result: dict, code: str) -> dict | None:
    return next((m for m in result["measures"] if m["code"] == code), None)


def _add(client, env, role: str, number: str, name: str):
    return client.post(
        f"{API}/subjects/{env['debtor']}/related-persons",
        headers=env["admin"],
        json={"role": role, "name": name, "resident_id": number, "reason": "工商登记信息"},
    )


def test_hiring_check_on_the_legal_rep_names_the_company(client, session, env) -> None:
    before = _check(client, env["system"], env["rep"], "hiring")["results"][0]
    assert before["measures"] == [] and before["related"] == []
    r = _add(client, env, "legal_rep", env["rep"], "王法人")
    assert r.status_code == 201, r.text
    related_id = r.json()["id"]

    answer = _check(client, env["system"], env["rep"], "hiring")
    assert CheckOut.model_validate(answer).model_dump(mode="json") == answer  # the documented shape
    [res] = answer["results"]
    assert res["outcome"] == "matched" and res["entries"] == []  # the person has no entry of their own
    m = _measure(res, APPOINT)
    assert m is not None and m["kind"] == "punish" and m["mandatory"] and m["reasons"] == []
    [why] = m["related_reasons"]
    assert why["company"]["name"] == "沁阳市老赖建材有限公司" and why["company"]["uscc"] == env["debtor"]
    assert why["role"] == "legal_rep" and why["role_label"] == "法定代表人"
    assert why["entry_id"] == env["entry_id"] and why["list_type"] == "court_dishonest_debtor"
    assert why["related_id"] == related_id
    assert "沁阳市老赖建材有限公司" in why["text"] and env["debtor"] in why["text"] and "法定代表人" in why["text"]
    assert m["related_legal_basis"] and "141号" in m["related_legal_basis"][0]["title"]
    assert res["related"][0]["company"]["uscc"] == env["debtor"]
    assert "沁阳市老赖建材有限公司" in res["conclusion"] and "法定代表人" in res["conclusion"]
    assert answer["summary"]["with_punishments"] == 1
    assert env["rep"] not in str(answer)  # the person's ID only masked
    # The check's record keeps the company's entry among its grounds and the measure.
    detail = client.get(f"{API}/checks/{answer['check_id']}", headers=env["system"]).json()
    assert detail["items"][0]["entry_ids"] == [env["entry_id"]] and APPOINT in detail["items"][0]["measure_codes"]
    # The check naming the person is in the person's access log.
    person_id = subjects.get_subject(session, env["rep"]).id
    session.expire_all()
    total, rows = access_log.entries(session, subject_id=person_id)
    assert total == 2 and {r.endpoint for r in rows} == {"POST /api/v1/checks"}

    # general: 限制高消费 reaches the legal representative too (最高法 限制消费规定 第三条)
    general = _check(client, env["system"], env["rep"], "general")["results"][0]
    consumption = _measure(general, CONSUMPTION)
    assert consumption is not None and consumption["related_reasons"][0]["role"] == "legal_rep"
    assert any("第三条" in (b.get("article") or "") for b in consumption["related_legal_basis"])
    assert _measure(general, APPOINT) is not None  # general: every measure that applies
    assert _measure(_check(client, env["system"], env["rep"], "procurement")["results"][0], APPOINT) is None

    # The company itself is not "appointed": the related-only measure is not in its own answer.
    company = _check(client, env["system"], env["debtor"], "hiring")["results"][0]
    assert _measure(company, APPOINT) is None

    # Ended today: no longer the legal representative, no longer restricted through the company.
    r = client.post(
        f"{API}/subjects/{env['debtor']}/related-persons/{related_id}/end",
        headers=env["admin"],
        json={"reason": "法定代表人变更登记"},
    )
    assert r.status_code == 200 and r.json()["valid_to"] == clock.today().isoformat()
    after = _check(client, env["system"], env["rep"], "hiring")["results"][0]
    assert after["measures"] == [] and after["related"] == []


def test_a_director_is_not_reached_by_a_legal_rep_measure(client, env) -> None:
    assert _add(client, env, "director", env["director"], "赵董事").status_code == 201
    res = _check(client, env["system"], env["director"], "hiring")["results"][0]
    assert _measure(res, APPOINT) is None and res["measures"] == []
    assert res["related"][0]["role"] == "director"  # the role is shown, no measure extends to it


def test_the_fast_path_answers_the_same(client, env) -> None:
    _add(client, env, "principal", env["rep"], "王法人")
    first = _check(client, env["system"], env["rep"], "hiring")
    before = CheckFastPath.answered
    second = _check(client, env["system"], env["rep"], "hiring")
    assert CheckFastPath.answered == before + 1
    for a in (first, second):
        a.pop("check_id"), a.pop("checked_at")
        for r in a["results"]:
            r.pop("item_id")
    assert first == second
    assert _measure(second["results"][0], APPOINT)["related_reasons"][0]["role_label"] == "主要负责人"


def test_cli_check_shows_the_company_and_the_basis(database, client, env) -> None:
    from typer.testing import CliRunner

    from xinyong.cli import app as cli

    _add(client, env, "legal_rep", env["rep"], "王法人")
    r = CliRunner().invoke(cli, ["--db", database.url, "check", env["rep"], "--scenario", "hiring"])
    assert r.exit_code == 1, r.output
    assert "理由（关联单位）" in r.stdout and "沁阳市老赖建材有限公司" in r.stdout
    assert "延伸至关联人员的依据" in r.stdout and env["rep"] not in r.stdout
