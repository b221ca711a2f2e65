"""The check over HTTP and the command line: bad requests change nothing, departments see only their own
checks, feedback rules and rates, the public catalogue, the CLI's exit codes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.measures.helpers import entry, org, seed_all
from xinyong.auth.roles import Role
from xinyong.cli import app as cli
from xinyong.core import clock
from xinyong.measures.models import Check, CheckFeedback, CheckItem
from xinyong.measures.schemas import CheckOut

API = "/api/v1"


@pytest.fixture
def env(session):
    seed_all(session)
    a = make_department(session, code="czj", name="沁阳市财政局")
    b = make_department(session, code="zjj", name="沁阳市住房和城乡建设局")
    today = clock.today()
    debtor = org(session, "沁阳市欠债不还有限公司")
    entry(
        session,
        debtor,
        "court_dishonest_debtor",
        listed_on=today - dt.timedelta(days=30),
        term_end=today + dt.timedelta(days=300),
    )
    clean = org(session, "沁阳市清白有限公司")
    return {
        "debtor": debtor,
        "clean": clean,
        "a": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, a, name="财政局采购系统")),
        "a_viewer": auth_headers(make_token(session, Role.DEPT_VIEWER, a)),
        "b": auth_headers(make_token(session, Role.BUSINESS_SYSTEM, b, name="住建局审批系统")),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
        "bank": auth_headers(make_token(session, Role.BANK)),
    }


def _counts(session) -> tuple[int, int, int]:
    session.rollback()  # end the read snapshot: the app committed in its own sessions
    return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Check, CheckItem, CheckFeedback))


def test_check_over_http_and_its_record(client, session, env) -> None:
    body = {
        "scenario": "general",
        "reference": "CG-2025-001",
        "subjects": [{"code": env["debtor"]}, {"code": env["clean"]}],
    }
    resp = client.post(f"{API}/checks", json=body, headers=env["a"])
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    # The route serialises the answer itself: it must be exactly the documented CheckOut shape.
    assert CheckOut.model_validate(answer).model_dump(mode="json") == answer
    debtor, clean = answer["results"]
    assert "debtor_high_consumption" in [m["code"] for m in debtor["measures"]]
    assert all(m["legal_basis"] and m["reasons"] for m in debtor["measures"] if m["kind"] == "punish")
    assert clean["outcome"] == "matched" and clean["measures"] == [] and clean["conclusion"]
    check_id = answer["check_id"]
    shown = client.get(f"{API}/checks/{check_id}", headers=env["a_viewer"])
    assert shown.status_code == 200
    record = shown.json()
    assert record["system"] == "财政局采购系统" and record["reference"] == "CG-2025-001"
    assert record["items"][0]["measure_codes"] == [m["code"] for m in debtor["measures"]]
    assert "debtor_high_consumption" in record["measures"]
    # Another department neither sees it nor lists it; the admin does.
    assert client.get(f"{API}/checks/{check_id}", headers=env["b"]).status_code == 404
    assert client.get(f"{API}/checks", headers=env["b"]).json() == []
    assert [c["id"] for c in client.get(f"{API}/checks", headers=env["a"]).json()] == [check_id]
    assert client.get(f"{API}/checks/{check_id}", headers=env["admin"]).status_code == 200
    assert client.post(f"{API}/checks", json=body, headers=env["bank"]).status_code == 403
    assert client.post(f"{API}/checks", json=body).status_code == 401


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"scenario": "lottery", "subjects": [{"code": "x"}]}, "unknown_scenario"),
        ({"scenario": "general", "subjects": []}, "validation_failed"),
        ({"scenario": "general", "subjects": [{"code": "91410882MA0000000X"}] * 10_001}, "batch_too_large"),
    ],
)
def test_bad_requests_are_422_and_record_nothing(client, session, env, body, code) -> None:
    resp = client.post(f"{API}/checks", json=body, headers=env["a"])
    assert resp.status_code == 422 and resp.json()["error"]["code"] == code
    assert _counts(session) == (0, 0, 0)


def test_feedback_rules_and_rates(client, session, env) -> None:
    answer = client.post(
        f"{API}/checks", json={"scenario": "procurement", "subjects": [{"code": env["debtor"]}]}, headers=env["a"]
    ).json()
    [r] = answer["results"]
    [measure] = [m["code"] for m in r["measures"]]
    url = f"{API}/checks/{answer['check_id']}/feedback"
    # Someone else's check: not found, nothing written.
    resp = client.post(url, json={"items": [{"measure_code": measure, "applied": True}]}, headers=env["b"])
    assert resp.status_code == 404
    # A measure that was not in the answer, or "not applied" without a reason: 422.
    resp = client.post(url, json={"items": [{"measure_code": "debtor_honour_ban", "applied": True}]}, headers=env["a"])
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "measure_not_in_answer"
    resp = client.post(url, json={"items": [{"measure_code": measure, "applied": False}]}, headers=env["a"])
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "reason_required"
    assert _counts(session)[2] == 0
    resp = client.post(
        url,
        json={
            "items": [
                {
                    "item_id": r["item_id"],
                    "measure_code": measure,
                    "applied": False,
                    "reason": "该项目为应急采购，经批准按规定程序办理",
                }
            ]
        },
        headers=env["a"],
    )
    assert resp.status_code == 200 and resp.json()["recorded"] == 1
    again = client.post(url, json={"items": [{"measure_code": measure, "applied": True}]}, headers=env["a"])
    assert again.status_code == 409
    assert _counts(session)[2] == 1
    shown = client.get(f"{API}/checks/{answer['check_id']}", headers=env["a"]).json()
    assert shown["items"][0]["feedback"][0]["reason"].startswith("该项目为应急采购")

    # A second check with measures and no feedback, and one without measures.
    client.post(f"{API}/checks", json={"scenario": "honour", "subjects": [{"code": env["debtor"]}]}, headers=env["a"])
    client.post(f"{API}/checks", json={"scenario": "honour", "subjects": [{"code": env["clean"]}]}, headers=env["b"])
    rates = client.get(f"{API}/checks/feedback-rates", headers=env["admin"]).json()
    by_dept = {r["department_code"]: r for r in rates}
    assert by_dept["czj"] == {
        **by_dept["czj"],
        "checks": 2,
        "checks_with_measures": 2,
        "checks_with_feedback": 1,
        "rate": 0.5,
    }
    assert by_dept["zjj"]["checks_with_measures"] == 0 and by_dept["zjj"]["rate"] is None
    own = client.get(f"{API}/checks/feedback-rates", headers=env["b"]).json()
    assert [r["department_code"] for r in own] == ["zjj"]
    assert client.get(f"{API}/checks/feedback-rates?department=czj", headers=env["b"]).status_code == 403
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    assert client.get(f"{API}/checks/feedback-rates?date_from={tomorrow}", headers=env["admin"]).json() == []


def test_catalogue_is_public_and_admin_changes_it(client, env) -> None:
    measures = client.get(f"{API}/measures").json()
    assert len(measures) >= 40
    assert client.get(f"{API}/measures?kind=reward&scenario=approval").json()
    one = client.get(f"{API}/measures/debtor_high_consumption").json()
    assert one["memorandum"]["code"] == "spc_consumption" and one["legal_basis"][0]["article"] == "第三条"
    assert client.get(f"{API}/measures/nothing_like_this").status_code == 404
    memos = client.get(f"{API}/measures/memoranda").json()
    assert any(m["doc_no"] == "发改财金〔2016〕141号" and m["measure_count"] > 0 for m in memos)
    assert [s["code"] for s in client.get(f"{API}/checks/scenarios").json()] == [
        "approval",
        "procurement",
        "trading",
        "funding",
        "subsidy",
        "honour",
        "hiring",
        "general",
    ]
    resp = client.post(f"{API}/measures/debtor_procurement_ban/deactivate", json={"reason": "测试"}, headers=env["a"])
    assert resp.status_code == 403
    resp = client.post(
        f"{API}/measures/debtor_procurement_ban/deactivate", json={"reason": "文件废止待核实"}, headers=env["admin"]
    )
    assert resp.status_code == 200 and resp.json()["active"] is False
    answer = client.post(
        f"{API}/checks", json={"scenario": "procurement", "subjects": [{"code": env["debtor"]}]}, headers=env["a"]
    ).json()
    assert answer["results"][0]["measures"] == []


def test_cli_check_exit_codes(database, env) -> None:
    runner = CliRunner()
    base = ["--db", database.url]
    r = runner.invoke(cli, [*base, "check", env["debtor"], "--scenario", "procurement", "--json"])
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert data["results"][0]["measures"][0]["code"] == "debtor_procurement_ban"
    r = runner.invoke(cli, [*base, "check", env["clean"], "--scenario", "procurement", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"]["matched"] == 1
    r = runner.invoke(cli, [*base, "check", env["clean"], "--scenario", "lottery", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "unknown_scenario"
    # As text: one sentence (it names the allowed scenarios), no JSON blob of the details appended.
    r = runner.invoke(cli, [*base, "check", env["clean"], "--scenario", "lottery"])
    assert r.exit_code == 2 and "未知的核查场景" in r.output and "procurement" in r.output
    assert "{" not in r.output and '"allowed"' not in r.output
    r = runner.invoke(
        cli, [*base, "check", "--name", "沁阳市清白有限公司", "--region", "410882", "--scenario", "general", "--json"]
    )
    assert r.exit_code == 1 and json.loads(r.stdout)["results"][0]["outcome"] == "candidates"
    r = runner.invoke(cli, [*base, "check", env["debtor"], "--scenario", "general"])
    assert r.exit_code == 1 and "限制高消费" in r.stdout
    r = runner.invoke(cli, [*base, "measures", "list", "--kind", "reward", "--json"])
    assert r.exit_code == 0 and all(m["kind"] == "reward" for m in json.loads(r.stdout))
    r = runner.invoke(cli, [*base, "measures", "deactivate", "debtor_procurement_ban", "--reason", "测试停用"])
    assert r.exit_code == 0
    r = runner.invoke(cli, [*base, "measures", "show", "debtor_procurement_ban", "--json"])
    assert json.loads(r.stdout)["active"] is False
    r = runner.invoke(cli, [*base, "measures", "feedback-rates", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["checks"] == 4  # the refused one is not recorded
