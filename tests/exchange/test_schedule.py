"""Pull and push without an operator (docs/exchange.md §4.2): ``push --loop`` and ``pull --inbox DIR --loop``, and
the lease that keeps two of them from sending (or pulling) at the same time, on both databases."""

from __future__ import annotations

import csv
import json
import threading

from sqlalchemy import select
from typer.testing import CliRunner

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.ingest.helpers import penalty_row
from tests.records.helpers import ADMIN
from xinyong.cli import app as cli
from xinyong.exchange import lease, province, push
from xinyong.records.models import CreditRecord


def _settings(fake, **kw):
    return push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, base_delay=0, **kw)


def _ingest(session, dept, n):
    upsert(session, dept, [penalty(**{"行政处罚决定书文号": f"榕鼓市监罚〔2024〕{i}号"}) for i in range(1, n + 1)])
    session.commit()


def test_lease_has_one_holder_until_released_or_expired(database):
    assert lease.acquire(database, "push", "a", ttl=60)
    assert not lease.acquire(database, "push", "b", ttl=60)
    assert lease.acquire(database, "push", "a", ttl=60)  # its holder renews it
    assert lease.holder(database, "push")["owner"] == "a"
    lease.release(database, "push", "b")  # not b's: nothing happens
    assert not lease.acquire(database, "push", "b", ttl=60)
    lease.release(database, "push", "a")
    assert lease.acquire(database, "push", "b", ttl=-1)  # taken, already expired (a holder that died)
    assert lease.holder(database, "push") is None
    assert lease.acquire(database, "push", "c", ttl=60)


def test_two_pushers_at_once_never_send_a_batch_twice(database, session):
    dept = setup(session)
    _ingest(session, dept, 6)
    results = []
    with FakeProvince(delay=0.15) as fake:
        settings = _settings(fake, batch_size=1)
        start = threading.Barrier(2)

        def run():
            start.wait()
            results.append(push.push_once(database, settings=settings))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(fake.held) == [1, 2, 3, 4, 5, 6]
        assert set(fake.deliveries.values()) == {1}, fake.deliveries  # no sequence number sent twice
    assert sorted(r.get("skipped") is not None for r in results) == [False, True]
    assert sum(r["sent"] for r in results) == 6
    assert lease.holder(database, "push") is None  # released at the end of the run


def test_push_loop_goes_on_by_itself(database, session):
    dept = setup(session)
    _ingest(session, dept, 3)
    sleeps = []
    with FakeProvince() as fake:
        settings = _settings(fake, batch_size=2, poll_interval=7)

        def sleep(seconds):
            sleeps.append(seconds)
            _ingest(session, dept, 5) if len(sleeps) == 1 else None  # new changes while it waits

        total = push.push_loop(database, settings=settings, sleep=sleep, rounds=4)
        assert sorted(fake.held) == [1, 2, 3, 4, 5]
    assert total["sent"] == 5 and sleeps and sleeps[0] == 7


def _province_file(path, doc):
    rows = [penalty_row(**{"行政处罚决定书文号": doc})]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_pull_inbox_loop_and_cli(database, session, tmp_path):
    setup(session)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _province_file(inbox / "2024-06-01.csv", "豫郑市监罚〔2024〕1号")
    (inbox / "2024-06-02.csv").write_text("不是双公示文件\n", encoding="utf-8")
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        _province_file(inbox / "2024-06-03.csv", "豫郑市监罚〔2024〕3号")  # arrives while the loop waits

    total = province.pull_loop(database, actor=ADMIN, inbox=inbox, interval=60, sleep=sleep, rounds=2)
    assert (total["pulled"], total["failed"], total["ok"]) == (2, 1, False) and sleeps == [60]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["2024-06-01.csv", "2024-06-03.csv"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["2024-06-02.csv", "2024-06-02.csv.error.json"]
    session.rollback()
    docs = set(session.scalars(select(CreditRecord.doc_no)))
    assert {"豫郑市监罚〔2024〕1号", "豫郑市监罚〔2024〕3号"} <= docs

    # Another puller holds the lease: this one pulls nothing.
    _province_file(inbox / "2024-06-04.csv", "豫郑市监罚〔2024〕4号")
    assert lease.acquire(database, province.PULL_LEASE, "elsewhere", ttl=60)
    assert province.pull_inbox(database, actor=ADMIN, inbox=inbox)["skipped"]
    lease.release(database, province.PULL_LEASE, "elsewhere")

    runner = CliRunner()
    r = runner.invoke(cli, ["--db", database.url, "exchange", "pull", "--inbox", str(inbox), "--json"])
    assert r.exit_code == 0, r.output
    assert [p["file"] for p in json.loads(r.output)["pulled"]] == ["2024-06-04.csv"]
    r = runner.invoke(cli, ["--db", database.url, "exchange", "pull", "--json"])
    assert r.exit_code != 0 and json.loads(r.output)["error"]["code"] == "file_required"


def test_loops_outlive_a_busy_database(database, session, tmp_path, monkeypatch):
    from xinyong.core.errors import Busy

    dept = setup(session)
    _ingest(session, dept, 2)
    real_push, real_pull = push.push_once, province.pull_inbox
    calls = {"push": 0, "pull": 0}

    def busy_once(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            if calls[name] == 1:
                raise Busy("数据库忙")
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(push, "push_once", busy_once("push", real_push))
    monkeypatch.setattr(province, "pull_inbox", busy_once("pull", real_pull))
    with FakeProvince() as fake:
        total = push.push_loop(database, settings=_settings(fake), sleep=lambda s: None, rounds=3)
        assert total["sent"] == 2 and sorted(fake.held) == [1, 2]
    inbox = tmp_path / "in"
    inbox.mkdir()
    _province_file(inbox / "a.csv", "豫郑市监罚〔2024〕7号")
    total = province.pull_loop(database, actor=ADMIN, inbox=inbox, interval=1, sleep=lambda s: None, rounds=2)
    assert total["pulled"] == 1 and calls == {"push": 3, "pull": 2}
