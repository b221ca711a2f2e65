"""Repair of a black-list entry (removal through the lists service, announced to watchers) and the CLI."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from typer.testing import CliRunner

from tests.cases.helpers import PDF, build
from tests.records.helpers import ADMIN
from xinyong.cli import app
from xinyong.lists import service as lists
from xinyong.lists.models import ListEntry
from xinyong.measures import service as measures
from xinyong.watches.models import OutboxEvent

API = "/api/v1/cases"


def _entry(session, env, listed_days_ago: int) -> int:  # type: ignore[no-untyped-def]
    listed = env.today - dt.timedelta(days=listed_days_ago)
    entry = lists.create_entry(
        session,
        actor=ADMIN,
        list_code="market_serious_illegal",
        subject_code=env.uscc,
        reason="提交虚假材料取得登记",
        decision_no=f"沁市监严〔{listed_days_ago}〕1号",
        notice_given_on=listed - dt.timedelta(days=30),
        listed_on=listed,
        department="scjgj",
    )
    session.commit()
    return entry.id


def test_black_list_removal_by_repair(session, client):
    env = build(session)
    young = _entry(session, env, 30)
    early = client.post(
        f"{API}/repairs",
        headers=env.operator,
        json={
            "target_type": "list_entry",
            "target_id": young,
            "facts": "已整改",
            "obligations_fulfilled": True,
            "commitment_signed": True,
        },
    )
    assert early.status_code == 422 and early.json()["error"]["code"] == "repair_too_early"
    # A newer black-list entry bars repair of an older one: the young entry is revoked first.
    lists.remove_entry(session, actor=ADMIN, entry_id=young, reason="revoked", note="认定撤销")
    session.commit()
    entry_id = _entry(session, env, 400)
    filed = client.post(
        f"{API}/repairs",
        headers=env.operator,
        json={
            "target_type": "list_entry",
            "target_id": entry_id,
            "facts": "已整改并履行义务",
            "applicant_name": "窗口代办",
            "obligations_fulfilled": True,
            "commitment_signed": True,
        },
    )
    assert filed.status_code == 201, filed.text
    cid = filed.json()["case"]["id"]
    # Before the decision, the business systems' check returns the measures the entry triggers.
    measures.seed_measures(session, actor=ADMIN)
    session.commit()

    def check() -> dict:
        r = client.post(
            "/api/v1/checks", headers=env.operator, json={"scenario": "general", "subjects": [{"code": env.uscc}]}
        )
        assert r.status_code == 200, r.text
        return r.json()["results"][0]

    before = check()
    assert [e["id"] for e in before["entries"]] == [entry_id] and before["measures"]
    up = client.post(f"{API}/{cid}/documents", headers=env.operator, files={"file": ("整改报告.pdf", PDF)})
    assert up.status_code == 201, up.text
    assert client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.operator).status_code == 200
    ok = client.post(f"{API}/{cid}/actions/approve", json={"reason": "符合移出条件"}, headers=env.operator)
    assert ok.status_code == 200, ok.text
    session.commit()
    session.expire_all()
    entry = session.get(ListEntry, entry_id)
    assert entry.status == "removed" and entry.removal_reason == "repaired" and entry.removed_on == env.today
    assert "list.left" in session.scalars(select(OutboxEvent.event_type)).all()
    # The repair takes effect everywhere at once: the check no longer returns the entry or its measures.
    after = check()
    # (The subject's serious penalty of 400 days ago still triggers the record-based measures: the record itself
    # was not repaired, only the list entry.)
    assert after["entries"] == [] and all(not m["reasons"] and m["record_reasons"] for m in after["measures"])
    # False materials found: the repair is revoked and the entry counts again to its original term end.
    revoked = client.post(f"{API}/{cid}/actions/revoke", json={"reason": "整改报告系伪造"}, headers=env.operator)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["data"]["revocation"]["type"] == "list_entry_restored"
    session.commit()
    session.expire_all()
    entry = session.get(ListEntry, entry_id)
    assert entry.status == "active" and entry.removed_on is None
    assert [e["id"] for e in check()["entries"]] == [entry_id]
    assert [e.event_type for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))][-1] == "list.entered"


def test_objection_on_a_list_entry_is_marked_everywhere(session, client):
    env = build(session, watch=False)
    measures.seed_measures(session, actor=ADMIN)
    entry_id = _entry(session, env, 100)
    filed = client.post(
        f"{API}/objections",
        headers=env.operator,
        json={
            "target_type": "list_entry",
            "target_id": entry_id,
            "facts": "列入事由所依据的处罚决定已被撤销",
            "applicant_name": "窗口代办",
        },
    )
    assert filed.status_code == 201, filed.text
    session.commit()
    shown = client.get(f"/api/v1/lists/entries/{entry_id}", headers=env.admin).json()
    assert shown["objection"] == "异议处理中"
    public = client.get("/api/v1/lists/public/entries", params={"subject": env.uscc}).json()
    assert [e["objection"] for e in public] == ["异议处理中"]
    r = client.post(
        "/api/v1/checks", headers=env.operator, json={"scenario": "procurement", "subjects": [{"code": env.uscc}]}
    ).json()["results"][0]
    assert [e["objection"] for e in r["entries"]] == ["异议处理中"]


def test_cli_steps(session, database, tmp_path, monkeypatch):
    env = build(session, watch=False)
    monkeypatch.setenv("XINYONG_DATABASE_URL", database.url)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, dict]:
        result = runner.invoke(app, ["--db", database.url, "cases", *args, "--json"])
        return result.exit_code, json.loads(result.stdout)

    code, filed = run(
        "repair",
        "--target",
        f"record:{env.record_id}",
        "--facts",
        "已缴清罚款",
        "--obligations-fulfilled",
        "--commitment-signed",
    )
    assert code == 0, filed
    cid = filed["case"]["id"]
    evidence = tmp_path / "凭证.pdf"
    evidence.write_bytes(PDF)
    code, doc = run("attach", str(cid), str(evidence))
    assert code == 0 and len(doc["sha256"]) == 64
    disguised = tmp_path / "x.jpg"
    disguised.write_bytes(PDF)
    code, err = run("attach", str(cid), str(disguised))
    assert code == 2 and err["error"]["code"] == "document_disguised"
    code, case = run("act", str(cid), "accept")
    assert code == 0 and case["state"] == "accepted"
    code, err = run("act", str(cid), "accept")
    assert code == 2 and err["error"]["code"] == "invalid_transition"
    code, case = run("act", str(cid), "approve", "--reason", "符合条件", "--version", str(case["version"]))
    assert code == 0 and case["state"] == "approved"
    code, shown = run("show", str(cid))
    assert [e["action"] for e in shown["events"]] == ["file", "document", "accept", "approve"]
    # As text: the workflow's step and state names and civil time, not codes and UTC.
    text = runner.invoke(app, ["--db", database.url, "cases", "show", str(cid)]).stdout
    assert "受理" in text and "approve" not in text and "accepted" not in text
    stats_text = runner.invoke(app, ["--db", database.url, "cases", "stats"]).stdout
    assert "信用修复申请" in stats_text and "repair" not in stats_text
    code, queue = run("list", "--kind", "repair")
    assert [c["id"] for c in queue] == [cid]
    code, stats = run("stats")
    assert stats[0]["closed"] == 1
    code, sent = run("notify")
    assert code == 0 and sent == {"sent": 1, "failed": 0, "retry": 0}  # the handler's "new case" notice
    log = (tmp_path / "data" / "notifications.log").read_text(encoding="utf-8")
    assert "department:scjgj" in log and filed["case"]["case_no"] in log
    code, esc = run("escalate")
    assert code == 0 and esc["escalated"] == []
