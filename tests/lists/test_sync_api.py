"""Sync and review over HTTP (permissions, errors) and on the command line (both backends)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.lists.test_sync import Registry, court_row, first_snapshot, seed, write_csv
from xinyong.auth.roles import Role
from xinyong.core import clikit
from xinyong.core.db import Database
from xinyong.lists import commands
from xinyong.lists.models import ListEntry, ListSync

COURT = "court_dishonest_debtor"


def _upload(client: TestClient, token: str, path: Path, *, list_code: str = COURT, mode: str = "snapshot"):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        return client.post(
            "/api/v1/lists/syncs",
            headers=auth_headers(token),
            data={"list": list_code, "mode": mode},
            files={"file": (path.name, fh, "text/csv")},
        )


def test_api_sync_review_and_permissions(session: Session, client: TestClient, tmp_path: Path) -> None:
    seed(session)
    reg = Registry(session)
    court = make_department(session, code="fy", name="沁阳市人民法院")
    market = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    court_op = make_token(session, Role.DEPT_OPERATOR, court)
    court_viewer = make_token(session, Role.DEPT_VIEWER, court)
    market_op = make_token(session, Role.DEPT_OPERATOR, market)
    admin = make_token(session, Role.ADMIN)
    snapshot = write_csv(tmp_path / "court.csv", first_snapshot(reg))

    # Not the managing department, or not an operator: refused, nothing written.
    refused = _upload(client, market_op, snapshot)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "list_not_managed"
    assert _upload(client, court_viewer, snapshot).status_code == 403
    assert session.scalar(select(func.count()).select_from(ListSync)) == 0

    # A court file against the market regulator's list.
    wrong = _upload(client, market_op, snapshot, list_code="samr_abnormal")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "wrong_list_format"

    ok = _upload(client, court_op, snapshot)
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert (body["added"], body["changed"], body["removed"], body["unchanged"]) == (6, 0, 0, 0)
    assert body["review_queue_size"] >= 1 and body["list"] == COURT

    unknown = _upload(
        client, court_op, write_csv(tmp_path / "d.csv", [court_row("无此案号", "", "", op="删除")]), mode="delta"
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_entry"

    listing = client.get("/api/v1/lists/syncs", headers=auth_headers(court_viewer)).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == body["id"]
    assert client.get("/api/v1/lists/syncs", headers=auth_headers(market_op)).json()["total"] == 0
    assert client.get(f"/api/v1/lists/syncs/{body['id']}", headers=auth_headers(court_viewer)).status_code == 200
    assert client.get(f"/api/v1/lists/syncs/{body['id']}", headers=auth_headers(market_op)).status_code == 404

    queue = client.get("/api/v1/lists/review", params={"list": COURT}, headers=auth_headers(court_viewer)).json()
    assert queue["total"] == body["review_queue_size"]
    assert client.get("/api/v1/lists/review", headers=auth_headers(market_op)).json()["total"] == 0
    item = next(i for i in queue["items"] if i["entry_key"] == "(2025)豫0882执4号")
    assert item["candidates"][0]["evidence"]["name"]["text"]

    judgement = {"verdict": "same", "subject_code": reg.org_code, "reason": "经核对为同一企业"}
    assert (
        client.post(
            f"/api/v1/lists/review/{item['entry_id']}", json=judgement, headers=auth_headers(court_viewer)
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/lists/review/{item['entry_id']}", json=judgement, headers=auth_headers(market_op)
        ).status_code
        == 403
    )
    done = client.post(f"/api/v1/lists/review/{item['entry_id']}", json=judgement, headers=auth_headers(court_op))
    assert done.status_code == 200, done.text
    assert done.json()["match_status"] == "judged" and done.json()["subject_id"] == reg.org.id
    after = client.get("/api/v1/lists/review", headers=auth_headers(admin)).json()
    assert after["total"] == queue["total"] - 1
    bad = client.post(
        f"/api/v1/lists/review/{item['entry_id']}",
        json={"verdict": "same", "reason": "x"},
        headers=auth_headers(court_op),
    )
    assert bad.status_code == 422


def test_cli_sync_review_judge(session: Session, database: Database, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed(session)
    reg = Registry(session)
    clikit.state.db_url = database.url
    runner = CliRunner()
    path = write_csv(tmp_path / "court.csv", first_snapshot(reg))
    r = runner.invoke(commands.app, ["sync", str(path), "--list", COURT, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["added"], out["removed"], out["rejected"]) == (6, 0, 0) and out["review_queue_size"] >= 1

    r = runner.invoke(commands.app, ["sync", str(path), "--list", "samr_abnormal", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "wrong_list_format"

    r = runner.invoke(commands.app, ["review", "--json"])
    queue = json.loads(r.output)
    assert r.exit_code == 0 and queue["total"] == out["review_queue_size"]
    entry_id = next(i["entry_id"] for i in queue["items"] if i["entry_key"] == "(2025)豫0882执4号")
    monkeypatch.setattr(clikit.console, "width", 250)
    text = runner.invoke(commands.app, ["review"]).output
    assert "失信被执行人" in text and "(2025)豫0882执4号" in text and reg.org_code in text
    r = runner.invoke(commands.app, ["judge", str(entry_id), reg.org_code, "--same", "--reason", "核对一致", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["match_status"] == "judged"
    r = runner.invoke(commands.app, ["judge", str(entry_id), reg.org_code, "--reason", "x", "--json"])
    assert r.exit_code == 2
    r = runner.invoke(commands.app, ["syncs", "--json"])
    assert json.loads(r.output)["total"] == 1
    session.expire_all()
    judged = session.get(ListEntry, entry_id)
    assert judged is not None and judged.subject_id == reg.org.id
