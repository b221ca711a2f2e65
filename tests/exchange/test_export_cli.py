"""Export (files per kind and day, manifest with SHA-256) and the ``xinyong exchange`` commands."""

from __future__ import annotations

import csv
import hashlib
import json

from typer.testing import CliRunner

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.records.helpers import ADMIN
from xinyong.cli import app as cli
from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.exchange import export
from xinyong.records import service as records_service


def _three_messages(session):
    dept = setup(session)
    record_id = upsert(session, dept, [penalty()]).outcomes[0].record_id
    session.commit()
    records_service.correct_record(
        session, actor=ADMIN, record_id=record_id, changes={"fine_yuan": "20000"}, reason="异议核实，金额有误"
    )
    session.commit()
    records_service.withdraw(session, actor=ADMIN, record_id=record_id, reason="决定已被撤销")
    session.commit()
    return record_id


def test_export_carries_created_corrected_withdrawn(session, tmp_path):
    record_id = _three_messages(session)
    manifest = export.export(session, out_dir=tmp_path, since_seq=1, fmt="csv")
    day = clock.local_date(utcnow()).isoformat()
    [entry] = manifest["files"]
    assert (manifest["first_seq"], manifest["last_seq"], manifest["count"]) == (1, 3, 3)
    assert entry["file"] == f"penalty_{day}.csv" and entry["count"] == 3
    path = tmp_path / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8")) == manifest
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["seq"], r["op"], r["entity_id"], r["CF_ZT"], r["CF_NR_FK"]) for r in rows] == [
        ("1", "created", str(record_id), "1", "1.5"),
        ("2", "corrected", str(record_id), "1", "2"),
        ("3", "withdrawn", str(record_id), "2", "2"),
    ]
    # From a sequence number on; as JSON.
    later = export.export(session, out_dir=tmp_path / "j", since_seq=3, fmt="json")
    items = json.loads((tmp_path / "j" / later["files"][0]["file"]).read_text(encoding="utf-8"))
    assert [(i["seq"], i["op"]) for i in items] == [(3, "withdrawn")]
    assert items[0]["row"]["撤销原因"] == "决定已被撤销"


def test_cli_export_push_status_reconcile(database, session, tmp_path, monkeypatch):
    _three_messages(session)
    runner = CliRunner()
    db = ["--db", database.url]
    day = clock.local_date(utcnow()).isoformat()
    r = runner.invoke(cli, [*db, "exchange", "export", "--since", day, "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["count"] == 3
    r = runner.invoke(cli, [*db, "exchange", "export", "--since", "昨天", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "bad_since"
    # No receiver configured: a configuration error, exit 2.
    monkeypatch.delenv("XINYONG_EXCHANGE_RECEIVER_URL", raising=False)
    r = runner.invoke(cli, [*db, "exchange", "push", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "exchange_receiver_missing"
    with FakeProvince() as fake:
        monkeypatch.setenv("XINYONG_EXCHANGE_RECEIVER_URL", fake.url)
        monkeypatch.setenv("XINYONG_EXCHANGE_TOKEN", TOKEN)
        monkeypatch.setenv("XINYONG_EXCHANGE_HMAC_SECRET", SECRET)
        r = runner.invoke(cli, [*db, "exchange", "push", "--once", "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["sent"] == 3
        r = runner.invoke(cli, [*db, "exchange", "status", "--json"])
        st = json.loads(r.output)
        assert (st["last_seq_written"], st["last_seq_acknowledged"], st["backlog"]) == (3, 3, 0)
        r = runner.invoke(cli, [*db, "exchange", "reconcile", day, "--json"])
        assert r.exit_code == 0 and json.loads(r.output)["ok"] is True
        del fake.held[2]
        r = runner.invoke(cli, [*db, "exchange", "reconcile", day, "--json"])
        assert r.exit_code == 1 and [m["seq"] for m in json.loads(r.output)["missing"]] == [2]
        r = runner.invoke(cli, [*db, "exchange", "replay", "--from", "2", "--reason", "接收端丢失", "--json"])
        assert r.exit_code == 0 and json.loads(r.output)["backlog"] == 2
        r = runner.invoke(cli, [*db, "exchange", "push", "--json"])
        assert r.exit_code == 0 and json.loads(r.output)["sent"] == 2
        r = runner.invoke(cli, [*db, "exchange", "reconcile", day, "--json"])
        assert r.exit_code == 0
    # The receiver gone: the push fails with exit 1 and the status shows it.
    r = runner.invoke(cli, [*db, "exchange", "replay", "--from", "3", "--reason", "再次重发", "--json"])
    r = runner.invoke(cli, [*db, "exchange", "push", "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["ok"] is False
    st = json.loads(runner.invoke(cli, [*db, "exchange", "status", "--json"]).output)
    assert st["failures"] == 1 and st["backlog"] == 1 and st["last_error"]
    r = runner.invoke(cli, [*db, "exchange", "reconcile", day, "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "receiver_unreachable"


def test_api_status_and_feed_for_the_admin_only(client, session):
    from tests.factories import auth_headers, make_token
    from xinyong.auth.roles import Role

    _three_messages(session)
    admin = auth_headers(make_token(session, role=Role.ADMIN))
    session.commit()
    r = client.get("/api/v1/exchange/status", headers=admin)
    assert r.status_code == 200 and r.json()["backlog"] == 3
    page = client.get("/api/v1/exchange/feed", params={"after": 1, "limit": 1}, headers=admin).json()
    assert [(m["seq"], m["op"]) for m in page["messages"]] == [(2, "corrected")]
    assert (page["next_after"], page["last_seq"]) == (2, 3)
    assert page["messages"][0]["row"]["CF_NR_FK"] == "2"
    assert client.get("/api/v1/exchange/feed").status_code == 401
