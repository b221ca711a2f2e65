"""Push to a fake provincial receiver over real HTTP: rejections, a dropped connection, a crash after sending,
reconciliation that finds a row the receiver lost, and replay."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.records.helpers import ADMIN
from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.exchange import push, service, status
from xinyong.exchange.models import PushReceipt
from xinyong.records import service as records_service

REFUSED = "测试拒收有限公司"


def _refuse(message):
    return "party_refused" if message["row"].get("CF_XDR_MC") == REFUSED else None


def _settings(fake, **kw):
    kw.setdefault("batch_size", 2)
    kw.setdefault("base_delay", 0)
    return push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, **kw)


def _docs(n):
    return [f"榕鼓市监罚〔2024〕{i}号" for i in range(1, n + 1)]


def _ingest(session, dept, names):
    rows = [
        penalty(**{"行政处罚决定书文号": doc, "行政相对人名称": name})
        for doc, name in zip(_docs(len(names)), names, strict=True)
    ]
    result = upsert(session, dept, rows)
    session.commit()
    return [o.record_id for o in result.outcomes]


def test_push_rejections_dropped_connection_and_backoff(database, session):
    dept = setup(session)
    _ingest(session, dept, ["甲公司", REFUSED, "丙公司", "丁公司", "戊公司"])
    with FakeProvince(_refuse) as fake:
        fake.drop_next = 1
        settings = _settings(fake, base_delay=60)
        first = push.push_once(database, settings=settings)
        assert first["ok"] is False and "RemoteProtocolError" in first["error"]
        with database.sessionmaker() as s:
            st = status.status(s)
        assert st["failures"] == 1 and st["backlog"] == 5 and st["last_seq_acknowledged"] == 0
        assert st["next_attempt_at"] is not None
        # Backing off: a run before the next attempt time sends nothing.
        waiting = push.push_once(database, settings=settings)
        assert waiting["ok"] is False and "waiting_until" in waiting and fake.requests == 1
        done = push.push_once(database, settings=settings, ignore_backoff=True)
        assert done["ok"] is True
        assert (done["batches"], done["sent"], done["accepted"], done["rejected"]) == (3, 5, 4, 1)
        assert sorted(fake.held) == [1, 3, 4, 5]
        # Nothing acknowledged is ever sent again.
        assert push.push_once(database, settings=settings)["sent"] == 0
        assert set(fake.deliveries.values()) == {1}
    with database.sessionmaker() as s:
        st = status.status(s)
        assert (st["backlog"], st["failures"], st["last_seq_acknowledged"], st["rejected_rows"]) == (0, 0, 5, 1)
        rejections = [r for rec in s.scalars(select(PushReceipt)) for r in rec.rejections]
        assert rejections == [{"seq": 2, "code": "party_refused", "message": "数据项不符合要求"}]


def test_crash_between_sending_and_commit_loses_nothing(database, session, monkeypatch):
    dept = setup(session)
    record_ids = _ingest(session, dept, ["甲公司", "乙公司", "丙公司"])
    records_service.withdraw(session, actor=ADMIN, record_id=record_ids[0], reason="决定已被撤销")
    session.commit()
    with FakeProvince() as fake:
        settings = _settings(fake)
        real = push._record_receipt
        calls = {"n": 0}

        def crash_on_second(db, **kw):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("进程在收到应答后、提交前中止")
            real(db, **kw)

        monkeypatch.setattr(push, "_record_receipt", crash_on_second)
        with pytest.raises(KeyboardInterrupt):
            push.push_once(database, settings=settings)
        with database.sessionmaker() as s:
            assert push.acked_seq(s) == 2  # the first batch was acknowledged; the second's receipt was lost
        monkeypatch.setattr(push, "_record_receipt", real)
        result = push.push_once(database, settings=settings)
        assert result["ok"] and result["sent"] == 2
        # The receiver got batch 3–4 twice and keeps each sequence number once.
        assert fake.deliveries == {1: 1, 2: 1, 3: 2, 4: 2}
        assert sorted(fake.held) == [1, 2, 3, 4]
        assert [fake.held[s]["op"] for s in (1, 2, 3, 4)] == ["created", "created", "created", "withdrawn"]
    with database.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(PushReceipt)) == 2
        assert status.status(s)["backlog"] == 0


def test_reconcile_finds_a_lost_row_and_replay_restores_it(database, session):
    dept = setup(session)
    _ingest(session, dept, ["甲公司", REFUSED, "丙公司"])
    today = clock.local_date(utcnow())
    with FakeProvince(_refuse) as fake:
        settings = _settings(fake)
        assert push.push_once(database, settings=settings)["ok"]
        del fake.held[3]  # the receiver "lost" a row it acknowledged
        with database.sessionmaker() as s:
            report = status.reconcile(s, today, settings=settings)
        assert report["ok"] is False and report["checked_at_receiver"]
        assert [m["seq"] for m in report["missing"]] == [3]
        [row] = report["by_kind_department"]
        assert row | {} == {
            "kind": "penalty",
            "department_id": dept.id,
            "written": 3,
            "acknowledged": 3,
            "rejected": 1,
            "pending": 0,
            "held": 1,
            "missing": 1,
        }
        with database.sessionmaker() as s:
            service.replay_from(s, actor=ADMIN, seq=3, reason="省级平台丢失数据")
            s.commit()
        assert push.push_once(database, settings=settings)["sent"] == 1
        with database.sessionmaker() as s:
            assert status.reconcile(s, today, settings=settings)["ok"] is True
