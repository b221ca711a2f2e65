"""Figures of the exchange per department (上报率, 上报合格率) from the receipts, on the dashboards, in the
department assessment, the API and the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.factories import auth_headers, make_department, make_token
from tests.records.helpers import ADMIN
from xinyong.analytics import assessment, dashboards
from xinyong.auth.roles import Role
from xinyong.cli import app as cli
from xinyong.core import clock
from xinyong.exchange import figures, push, service

REFUSED = "测试拒收有限公司"


def _refuse(message):
    return "party_refused" if message["row"].get("CF_XDR_MC") == REFUSED else None


def _settings(fake):
    return push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, batch_size=2, base_delay=0)


def _four_rows(session):
    dept = setup(session)
    names = ["甲有限公司", REFUSED, "乙有限公司", "丙有限公司"]
    rows = [
        penalty(**{"行政处罚决定书文号": f"榕鼓市监罚〔2024〕{i}号", "行政相对人名称": name})
        for i, name in enumerate(names, start=1)
    ]
    upsert(session, dept, rows)
    session.commit()
    return dept


def test_rates_from_receipts_and_replay(database, session):
    dept = _four_rows(session)
    other = make_department(session, code="swj")  # nothing to send: no rate ("—")
    span = figures.Span.of(None, None)
    [row] = [r for r in figures.by_department(session, period=span) if r["department_id"] == dept.id]
    assert (row["due"], row["sent"], row["pending"], row["report_rate"], row["acceptance_rate"]) == (4, 0, 4, 0.0, None)

    with FakeProvince(_refuse) as fake:
        settings = _settings(fake)
        assert push.push_once(database, settings=settings)["ok"]
        session.rollback()
        rows = {r["department_id"]: r for r in figures.by_department(session, period=span)}
        want = {
            "due": 4,
            "sent": 4,
            "accepted": 3,
            "rejected": 1,
            "pending": 0,
            "report_rate": 1.0,
            "acceptance_rate": 0.75,
        }
        assert {k: rows[dept.id][k] for k in want} == want
        assert rows[other.id]["report_rate"] is None and rows[other.id]["acceptance_rate"] is None

        # Replayed, and now the receiver keeps the row: the latest receipt decides.
        fake.reject = lambda m: None
        service.replay_from(session, actor=ADMIN, seq=1, reason="省平台已修正校验规则")
        session.commit()
        assert push.push_once(database, settings=settings)["ok"]
        session.rollback()
        [row] = [r for r in figures.by_department(session, period=span) if r["department_id"] == dept.id]
        assert (row["accepted"], row["rejected"], row["acceptance_rate"]) == (4, 0, 1.0)


def test_dashboards_assessment_api_and_cli(database, session, client):
    dept = _four_rows(session)
    with FakeProvince(_refuse) as fake:
        assert push.push_once(database, settings=_settings(fake))["ok"]
    session.rollback()
    today = clock.today()
    period = dashboards.Period(today.replace(day=1), today)

    [row] = [r for r in dashboards.overview(session, period=period)["exchange"] if r["department_id"] == dept.id]
    assert row["acceptance_rate"] == 0.75

    result = assessment.assess(session, period=period, today=today)
    [mine] = [r for r in result["rows"] if r["department_id"] == dept.id]
    scored = mine["indicators"]["exchange_accepted"]
    assert scored["value"] == 0.75
    # linear from 80 % (0 points) to 100 % (full): 75 % earns nothing; explained like the others
    assert scored["points"] == 0
    assert "应上报省平台 4 条，已上报 4 条（省平台接收 3 条，拒收 1 条）" in scored["explanation"]

    admin = auth_headers(make_token(session, Role.ADMIN))
    resp = client.get("/api/v1/exchange/figures", headers=admin)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["totals"]["sent"] == 4 and body["totals"]["rejected"] == 1
    assert body["totals"]["acceptance_rate"] == 0.75

    r = CliRunner().invoke(cli, ["--db", database.url, "exchange", "figures", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["totals"]["accepted"] == 3
    r = CliRunner().invoke(cli, ["--db", database.url, "exchange", "figures", "--from", "2026-13-01", "--json"])
    assert r.exit_code != 0


def test_no_data_earns_nothing(session):
    dept = setup(session)
    today = clock.today()
    period = dashboards.Period(today.replace(day=1), today)
    result = assessment.assess(session, period=period, today=today)
    [mine] = [r for r in result["rows"] if r["department_id"] == dept.id]
    scored = mine["indicators"]["exchange_accepted"]
    assert scored["value"] is None and scored["points"] == 0
    assert "期间无应上报省平台的数据" in scored["explanation"]
