"""应报尽报: expected volumes (configured, learned from history), completeness, the admin's API and CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.analytics.fixture import MARCH, TODAY, build
from tests.factories import ACTOR, auth_headers, make_token
from xinyong.analytics import assessment, volumes
from xinyong.analytics.dashboards import Period
from xinyong.auth.roles import Role
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import NotFound, ValidationFailed

API = "/api/v1/analytics/assessment"


def test_learned_monthly_is_the_median_from_the_first_submission():
    assert volumes.learned_monthly([0, 0, 3, 0, 5]) == 3  # months before the first submission do not count
    assert volumes.learned_monthly([0, 4, 0, 0, 0]) == 0  # stopped submitting: nothing expected any more
    assert volumes.learned_monthly([1, 2]) == 1.5
    assert volumes.learned_monthly([0, 0, 0]) is None and volumes.learned_monthly([]) is None
    assert volumes.expected_for(1.5, 3) == 5 and volumes.expected_for(1.5, 1) == 2 and volumes.expected_for(0, 12) == 0


def test_history_window_is_the_twelve_months_before():
    w = volumes.history_window(MARCH)
    assert (w.date_from, w.date_to) == (dt.date(2023, 3, 1), dt.date(2024, 2, 29))
    q = volumes.history_window(Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31)))
    assert (q.date_from, q.date_to) == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))


def _by_code(rows):
    return {r["department_code"]: r for r in rows}


def test_completeness_learned_configured_and_nothing(session: Session):
    city = build(session)
    rows = _by_code(volumes.volume(session, period=MARCH))
    # scjgj: February's one penalty is its history → 1 penalty expected in March; it sent 3 (counted 1) and a
    # licence (no licence history: nothing expected of that class).
    penalty, licence = rows["scjgj"]["classes"][1], rows["scjgj"]["classes"][0]
    assert (penalty["basis"], penalty["monthly"], penalty["expected"], penalty["submitted"]) == ("history", 1, 1, 3)
    assert (licence["basis"], licence["expected"], licence["submitted"]) == ("none", None, 1)
    assert rows["scjgj"]["completeness"] == 1.0 and rows["scjgj"]["counted"] == 1
    # swj: no history, sent 2 → complete; zjj: nothing expected, nothing sent → no figure ("—").
    assert rows["swj"]["completeness"] == 1.0 and rows["swj"]["expected"] == 0
    assert rows["zjj"]["completeness"] is None and rows["zjj"]["submitted"] == 0

    volumes.set_expected(
        session, actor=ACTOR, department_code="zjj", info_class_="penalty", monthly=4, note="年度计划 48 件"
    )
    volumes.set_expected(session, actor=ACTOR, department_code="scjgj", info_class_="licence", monthly=2)
    volumes.set_expected(session, actor=ACTOR, department_code="scjgj", info_class_="licence", monthly=3)
    session.commit()
    rows = _by_code(volumes.volume(session, period=MARCH))
    assert rows["zjj"]["completeness"] == 0.0 and rows["zjj"]["expected"] == 4
    # scjgj: licence 1 of 3 (configured), penalty 3 of 1 (capped at 1) → 2 of 4; a surplus never fills a gap.
    assert rows["scjgj"]["classes"][0]["basis"] == "configured"
    assert (rows["scjgj"]["expected"], rows["scjgj"]["counted"], rows["scjgj"]["completeness"]) == (4, 2, 0.5)
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "assessment.expected_volume_set").order_by(AuditEvent.seq)
    ).all()
    assert [e.entity_id for e in events] == ["zjj:penalty", "scjgj:licence", "scjgj:licence"]
    assert events[-1].before == {"monthly": 2, "note": None} and events[-1].after["monthly"] == 3

    result = assessment.assess(session, period=MARCH, today=TODAY)
    zjj = _by_code(result["rows"])["zjj"]["indicators"]["completeness"]
    assert zjj["points"] == 0 and zjj["parts"]["expected"] == 4
    assert "应报 4 条，已报 0 条，计入 0 条，期间未报送" in zjj["explanation"]
    assert "行政处罚应报 4（管理员配置，每月 4 × 1 个月），已报 0" in zjj["explanation"]

    volumes.delete_expected(session, actor=ACTOR, department_code="zjj", info_class_="penalty")
    session.commit()
    assert _by_code(volumes.volume(session, period=MARCH))["zjj"]["expected"] == 0
    assert city.c.code == "zjj"


def test_bad_input_is_refused_with_a_code(session: Session):
    build(session)
    cases = [
        (dict(department_code="zjj", info_class_="honour", monthly=1), "unknown_info_class"),
        (dict(department_code="zjj", info_class_="penalty", monthly=-1), "bad_expected_volume"),
        (dict(department_code="zjj", info_class_="penalty", monthly=2_000_000), "bad_expected_volume"),
        (dict(department_code="zjj", info_class_="penalty", monthly=1, note="长" * 201), "note_too_long"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ValidationFailed) as err:
            volumes.set_expected(session, actor=ACTOR, **kwargs)
        assert err.value.code == code
    with pytest.raises(NotFound) as missing:
        volumes.set_expected(session, actor=ACTOR, department_code="nowhere", info_class_="penalty", monthly=1)
    assert missing.value.code == "department_not_found"
    with pytest.raises(NotFound) as nothing:
        volumes.delete_expected(session, actor=ACTOR, department_code="zjj", info_class_="penalty")
    assert nothing.value.code == "expected_volume_not_found"


def test_api(client: TestClient, session: Session):
    city = build(session)
    admin = auth_headers(make_token(session, Role.ADMIN))
    viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, city.b))

    r = client.get(f"{API}?period=2024-03", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["department_code"] for x in body["rows"]] == ["swj", "scjgj", "zjj"] and body["ranked"] == 3
    zjj = body["rows"][-1]
    assert zjj["total"] == 0 and zjj["indicators"]["timeliness"]["points"] == 0
    assert zjj["indicators"]["completeness"]["parts"]["submitted"] == 0
    assert body["period"]["label"] == "2024年3月"
    mine = client.get(f"{API}?period=2024-03", headers=viewer).json()
    assert [x["department_code"] for x in mine["rows"]] == ["swj"] and mine["ranked"] == 3
    assert client.get(f"{API}?period=2024", headers=admin).json()["period"]["granularity"] == "year"

    bad = client.get(f"{API}?period=2024-13", headers=admin)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "bad_assessment_period" and "格式有误" in bad.json()["error"]["message"]

    url = f"{API}/expected-volumes/zjj/penalty"
    assert client.put(url, json={"monthly": 5}, headers=viewer).status_code == 403
    r = client.put(url, json={"monthly": 5, "note": "按年度执法计划"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["monthly"] == 5 and r.json()["info_class_name"] == "行政处罚"
    listed = client.get(f"{API}/expected-volumes?period=2024-03", headers=admin).json()
    assert [(c["department_code"], c["monthly"]) for c in listed["configured"]] == [("zjj", 5)]
    assert _by_code(listed["departments"])["zjj"]["expected"] == 5
    ranking = client.get(f"{API}?period=2024-03", headers=admin).json()
    assert _by_code(ranking["rows"])["zjj"]["indicators"]["completeness"]["parts"]["expected"] == 5

    for path, payload, status, code in (
        ("zjj/honour", {"monthly": 1}, 422, "unknown_info_class"),
        ("zjj/penalty", {"monthly": -3}, 422, "validation_failed"),
        ("nowhere/penalty", {"monthly": 1}, 404, "department_not_found"),
        ("zjj/penalty", {"monthly": "many"}, 422, "validation_failed"),
    ):
        r = client.put(f"{API}/expected-volumes/{path}", json=payload, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), path
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]["message"])
    assert client.delete(url, headers=admin).status_code == 200
    gone = client.delete(url, headers=admin)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "expected_volume_not_found")


def test_cli(database, session: Session):
    from xinyong.cli import app

    build(session)
    session.close()
    url = database.url
    runner = CliRunner()
    r = runner.invoke(
        app, ["--db", url, "analytics", "expected", "set", "zjj", "penalty", "6", "--note", "计划", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["monthly"] == 6
    r = runner.invoke(app, ["--db", url, "analytics", "expected", "list", "--period", "2024-03", "--json"])
    assert r.exit_code == 0, r.output
    assert _by_code(json.loads(r.stdout)["departments"])["zjj"]["expected"] == 6
    r = runner.invoke(app, ["--db", url, "analytics", "assessment", "--period", "2024-03", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["rows"][-1]["department_code"] == "zjj" and out["rows"][-1]["total"] == 0
    assert "explanation" in out["rows"][0]["indicators"]["timeliness"]
    r = runner.invoke(app, ["--db", url, "analytics", "assessment", "--period", "2024-03", "--explain"])
    assert r.exit_code == 0 and "应报 6 条" in r.output
    r = runner.invoke(app, ["--db", url, "analytics", "assessment", "--period", "2024-Q5"])
    assert r.exit_code == 2 and "bad_assessment_period" in r.output
    r = runner.invoke(app, ["--db", url, "analytics", "expected", "set", "zjj", "honour", "1"])
    assert r.exit_code == 2 and "unknown_info_class" in r.output
    r = runner.invoke(app, ["--db", url, "analytics", "expected", "delete", "zjj", "penalty", "--json"])
    assert r.exit_code == 0, r.output


def test_console_page_explains_each_score(client: TestClient, session: Session):
    import io
    import re

    import openpyxl

    from tests.factories import DEFAULT_PASSWORD, make_user

    city = build(session)
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="zjj-view", role=Role.DEPT_VIEWER, department=city.c)
    html = {"accept": "text/html"}

    def login(username: str) -> None:
        client.cookies.clear()
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login", headers=html).text)[1]
        r = client.post(
            "/console/login",
            data={"username": username, "password": DEFAULT_PASSWORD, "next": "/console", "csrf_token": token},
            headers=html,
            follow_redirects=False,
        )
        assert r.status_code == 303

    login("chief")
    page = client.get("/console/assessment?month=2024-03", headers=html)
    assert page.status_code == 200
    assert "2024年3月" in page.text and "得分说明" in page.text and "迟报 1 条" in page.text
    assert "无数据（—）的指标不得分" in page.text
    quarter = client.get("/console/assessment?period=2024-Q1", headers=html)
    assert quarter.status_code == 200 and "2024年第1季度" in quarter.text and "period=2024-Q1" in quarter.text
    bad = client.get("/console/assessment?period=2024-Q5", headers=html)
    assert bad.status_code == 422 and "格式有误" in bad.text
    xlsx = client.get("/console/assessment.xlsx?period=2024")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert "2024-01-01" in book["考核排名"]["A1"].value and book["得分说明"].max_row > 1

    login("zjj-view")
    mine = client.get("/console/assessment?month=2024-03", headers=html).text
    assert "排名第 <strong>3</strong>" in mine and "期间未报送" in mine and "沁阳市税务局" not in mine
