"""The outbox and the delivery worker: signatures, back-off, acknowledgement, leases, restarts (both databases)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from tests.watches.helpers import (
    ADMIN,
    PERSON_ID,
    Recorder,
    company_uscc,
    make_org,
    make_person,
    make_receiver,
    watch,
)
from xinyong.core.db import Database, utcnow
from xinyong.core.errors import Conflict
from xinyong.watches import delivery, service
from xinyong.watches.delivery import WebhookSettings, claim_due, deliver_due
from xinyong.watches.models import Delivery, OutboxEvent

FAST = WebhookSettings(base_delay=10, max_delay=100, max_attempts=3, timeout=5, lease_seconds=60, batch_size=5)
T0 = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


def one() -> float:
    """A jitter source that always picks the top of the range, so waits are exact."""
    return 1.0


@pytest.fixture
def queued(session):
    """One organisation watched by one receiver, one list.entered event queued at T0."""
    org = make_org(session, 1)
    receiver, secret = make_receiver(session)
    watch(session, receiver, org.uscc)
    n = service.emit_subject_event(
        session,
        subject_id=org.id,
        event="list.entered",
        payload={"list": "严重失信主体名单", "listed_on": dt.date(2025, 3, 1)},
    )
    assert n == 1
    session.execute(Delivery.__table__.update().values(next_attempt_at=T0))
    session.commit()
    return {"org": org, "receiver": receiver, "secret": secret}


def deliveries(session) -> list[Delivery]:
    session.commit()  # end the read snapshot: the worker wrote in its own transactions
    session.expire_all()
    return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_emit_only_for_watched_subjects_and_active_receivers(session):
    watched, other = make_org(session, 1), make_org(session, 2)
    active, _ = make_receiver(session, name="甲")
    stopped, _ = make_receiver(session, name="乙")
    only_left, _ = make_receiver(session, name="丙", event_types=["list.left"])
    for r in (active, stopped, only_left):
        watch(session, r, watched.uscc)
    service.deactivate_receiver(session, actor=ADMIN, receiver_id=stopped.id)

    assert service.emit_subject_event(session, subject_id=other.id, event="list.entered", payload={}) == 0
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0  # nobody watches: nothing written

    assert service.emit_subject_event(session, subject_id=watched.id, event="list.entered", payload={"a": 1}) == 1
    assert service.emit_subject_event(session, subject_id=watched.id, event="list.left", payload={}) == 2
    # Open event types: a later producer (credit repair) needs no change here.
    assert service.emit_subject_event(session, subject_id=watched.id, event="record.repaired", payload={}) == 1
    rows = deliveries(session)
    assert sorted((d.event.event_type, d.receiver_id) for d in rows) == sorted(
        [
            ("list.entered", active.id),
            ("list.left", active.id),
            ("list.left", only_left.id),
            ("record.repaired", active.id),
        ]
    )
    assert all(d.status == "pending" and d.attempts == 0 for d in rows)
    with pytest.raises(Exception, match="事件类型"):
        service.emit_subject_event(session, subject_id=watched.id, event="Bad Event", payload={})


def test_payload_names_subject_publicly_and_never_carries_a_clear_personal_id(database, session):
    person = make_person(session)
    receiver, _ = make_receiver(session)
    result = watch(session, receiver, PERSON_ID)
    assert result["summary"] == {"added": 1} and PERSON_ID not in str(result)
    service.emit_subject_event(
        session,
        subject_id=person.id,
        event="list.entered",
        payload={"note": f"当事人身份证 {PERSON_ID}", "ids": [PERSON_ID]},
    )
    session.commit()
    recorder = Recorder()
    report = deliver_due(database, transport=recorder.transport, settings=FAST)
    assert report.sent == 1
    raw = recorder.requests[0].content.decode()
    assert PERSON_ID not in raw
    body = recorder.bodies()[0]
    assert body["subject"]["resident_id_masked"] == person.resident_id_masked
    assert body["subject"]["id"] == person.id and body["subject"]["name"] == "王小明"
    assert body["data"]["ids"] == [person.resident_id_masked]


def test_signature_is_verifiable_by_a_receiver(database, session, queued):
    recorder = Recorder()
    db = database
    report = deliver_due(db, transport=recorder.transport, settings=FAST, now=T0)
    assert (report.claimed, report.sent) == (1, 1)
    request = recorder.requests[0]
    assert request.method == "POST" and str(request.url) == "https://bs.example/hook"
    assert request.headers["X-Xinyong-Event"] == "list.entered"
    event = session.scalar(select(OutboxEvent))
    assert request.headers["X-Xinyong-Event-Id"] == event.uid
    assert request.headers["X-Xinyong-Delivery"] == str(deliveries(session)[0].id)
    header = request.headers["X-Xinyong-Signature"]

    # The check a receiver writes from docs/webhooks.md, independent of our own helper.
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    assert abs(time.time() - t) < 60
    expected = hmac.new(queued["secret"].encode(), f"{t}.".encode() + request.content, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)

    assert delivery.verify_signature(header, request.content, queued["secret"])
    assert not delivery.verify_signature(header, request.content, "whsec_wrong")
    assert not delivery.verify_signature(header, request.content.replace(b"list", b"lisT"), queued["secret"])
    assert not delivery.verify_signature(header, request.content, queued["secret"], now=t + 301)
    body = recorder.bodies()[0]
    assert body["type"] == "list.entered" and body["id"] == event.uid
    assert body["subject"]["uscc"] == company_uscc(1)
    assert body["data"] == {"list": "严重失信主体名单", "listed_on": "2025-03-01"}


def test_retry_with_backoff_then_dead(database, session, queued):
    recorder = Recorder(500)
    db = database
    run = lambda now: deliver_due(db, transport=recorder.transport, settings=FAST, now=now, rand=one)  # noqa: E731

    first = run(T0)
    assert (first.claimed, first.failed, first.dead) == (1, 1, 0)
    (d,) = deliveries(session)
    assert d.status == "pending" and d.attempts == 1 and d.last_status_code == 500
    assert d.next_attempt_at == T0 + dt.timedelta(seconds=10) and d.locked_until is None
    assert "系统维护中" in d.last_error

    assert run(T0 + dt.timedelta(seconds=9)).claimed == 0  # not due yet
    assert run(T0 + dt.timedelta(seconds=10)).failed == 1
    (d,) = deliveries(session)
    assert d.attempts == 2 and d.next_attempt_at == T0 + dt.timedelta(seconds=30)  # 10 s, then 20 s

    last = run(T0 + dt.timedelta(seconds=30))
    assert (last.failed, last.dead) == (0, 1)
    (d,) = deliveries(session)
    assert d.status == "dead" and d.attempts == 3
    assert run(T0 + dt.timedelta(days=30)).claimed == 0
    assert len(recorder.requests) == 3
    # Each attempt is numbered for the receiver's logs.
    assert [r.headers["X-Xinyong-Attempt"] for r in recorder.requests] == ["1", "2", "3"]

    # An admin gives it a new series of attempts; it is then delivered.
    service.redeliver(session, actor=ADMIN, delivery_id=d.id)
    session.commit()
    recorder.status = 204
    assert deliver_due(db, transport=recorder.transport, settings=FAST).sent == 1


def test_backoff_is_exponential_capped_and_jittered():
    assert [delivery.backoff_delay(n, base=10, cap=100, rand=one) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 100]
    assert delivery.backoff_delay(3, base=10, cap=100, rand=lambda: 0.0) == 20  # jitter: half at the least


def test_timeouts_and_connection_errors_are_failures_with_back_off(database, session, queued):
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    db = database
    report = deliver_due(db, transport=Recorder(boom).transport, settings=FAST, now=T0, rand=one)
    assert report.failed == 1 and "超时" in report.errors[0]["error"]
    (d,) = deliveries(session)
    assert d.status == "pending" and d.last_status_code is None and d.next_attempt_at == T0 + dt.timedelta(seconds=10)


def test_redirect_is_not_an_acknowledgement(database, session, queued):
    recorder = Recorder(lambda r: httpx.Response(302, headers={"Location": "https://elsewhere.example/"}))
    db = database
    report = deliver_due(db, transport=recorder.transport, settings=FAST, now=T0)
    assert report.failed == 1 and len(recorder.requests) == 1


def test_acknowledged_is_never_sent_again(database, session, queued):
    recorder = Recorder(200)
    db = database
    assert deliver_due(db, transport=recorder.transport, settings=FAST, now=T0).sent == 1
    assert deliver_due(db, transport=recorder.transport, settings=FAST, now=T0 + dt.timedelta(days=1)).claimed == 0
    assert deliver_due(db, transport=recorder.transport, settings=FAST).claimed == 0
    assert len(recorder.requests) == 1
    (d,) = deliveries(session)
    assert d.status == "delivered" and d.delivered_at == T0 and d.attempts == 1 and d.locked_by is None
    with pytest.raises(Conflict) as exc:
        service.redeliver(session, actor=ADMIN, delivery_id=d.id)
    assert exc.value.code == "already_delivered"


def test_lease_prevents_two_workers_from_claiming_the_same_delivery(database, session, queued):
    lease = dt.timedelta(seconds=60)
    with database.session() as s:
        first = claim_due(s, worker="w1:a", now=T0, limit=10, lease=lease)
    with database.session() as s:
        second = claim_due(s, worker="w2:b", now=T0 + dt.timedelta(seconds=30), limit=10, lease=lease)
    assert len(first) == 1 and second == []
    # A worker that died keeps the delivery only until its lease ends; then another may take it.
    with database.session() as s:
        third = claim_due(s, worker="w2:c", now=T0 + dt.timedelta(seconds=61), limit=10, lease=lease)
    assert third == first
    (d,) = deliveries(session)
    assert d.locked_by == "w2:c"


def test_concurrent_workers_send_each_delivery_once(database, session):
    receiver, _ = make_receiver(session)
    orgs = [make_org(session, n) for n in range(1, 13)]
    watch(session, receiver, *[o.uscc for o in orgs])
    for o in orgs:
        service.emit_subject_event(session, subject_id=o.id, event="list.entered", payload={})
    session.commit()

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)
        return httpx.Response(200)

    recorder = Recorder(slow)
    settings = WebhookSettings(**{**FAST.model_dump(), "batch_size": 2})
    reports = []
    threads = [
        threading.Thread(
            target=lambda w=w: reports.append(
                deliver_due(database, transport=recorder.transport, settings=settings, worker=w)
            )
        )
        for w in ("a", "b", "c")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [r.headers["X-Xinyong-Delivery"] for r in recorder.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert sum(r.sent for r in reports) == 12
    assert {d.status for d in deliveries(session)} == {"delivered"}


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_new_owner(database, session, queued):
    lease = dt.timedelta(seconds=60)
    with database.session() as s:
        (delivery_id,) = claim_due(s, worker="old:1", now=T0, limit=1, lease=lease)
    with database.session() as s:
        claim_due(s, worker="new:2", now=T0 + dt.timedelta(seconds=61), limit=1, lease=lease)
    job = delivery._Job(
        delivery_id=delivery_id,
        receiver_id=queued["receiver"].id,
        attempts=0,
        url="",
        event_type="",
        event_uid="",
        body=b"",
        secrets=[],
    )
    outcome = delivery._record(
        database,
        job,
        worker="old:1",
        now=T0 + dt.timedelta(seconds=62),
        ok=False,
        code=500,
        error="HTTP 500",
        settings=FAST,
        rand=one,
    )
    assert outcome == "lost"
    (d,) = deliveries(session)
    assert d.locked_by == "new:2" and d.attempts == 0
    # An acknowledgement always counts, whoever holds the lease: the receiver has the event.
    assert (
        delivery._record(database, job, worker="old:1", now=T0, ok=True, code=200, error=None, settings=FAST, rand=one)
        == "sent"
    )
    assert deliveries(session)[0].status == "delivered"


def test_pending_deliveries_survive_a_restart(database, session, queued):
    url = database.url
    database.dispose()
    restarted = Database(url)  # a new process: new engine, new pool
    recorder = Recorder(200)
    report = deliver_due(restarted, transport=recorder.transport, settings=FAST, now=T0)
    restarted.dispose()
    assert report.sent == 1 and len(recorder.requests) == 1


def test_crash_after_claim_resends_after_the_lease(database, session, queued):
    """At least once: a worker that claimed (and maybe sent) but never recorded is superseded after its lease."""
    with database.session() as s:
        claim_due(s, worker="crashed:1", now=T0, limit=10, lease=dt.timedelta(seconds=60))
    recorder = Recorder(200)
    assert (
        deliver_due(database, transport=recorder.transport, settings=FAST, now=T0 + dt.timedelta(seconds=30)).claimed
        == 0
    )
    assert (
        deliver_due(database, transport=recorder.transport, settings=FAST, now=T0 + dt.timedelta(seconds=61)).sent == 1
    )


def test_secret_is_encrypted_at_rest(session, queued):
    secret = queued["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    row = session.execute(text("SELECT * FROM watch_receivers")).mappings().one()
    assert all(secret not in str(v) for v in row.values())
    assert row["secret_enc"].startswith("v1:") and row["secret_prefix"] == secret[:10]
    from xinyong.identifiers.vault import get_vault

    with pytest.raises(ValueError):  # bound to its row: copying it to another receiver does not work
        get_vault().decrypt(row["secret_enc"], associated_data="receiver:999")


def test_rotation_signs_with_both_secrets_during_the_grace_period(database, session, queued):
    old = queued["secret"]
    _, new = service.rotate_secret(session, actor=ADMIN, receiver_id=queued["receiver"].id)
    session.commit()
    assert new != old
    recorder = Recorder(200)
    deliver_due(database, transport=recorder.transport, settings=FAST)
    request = recorder.requests[0]
    header = request.headers["X-Xinyong-Signature"]
    assert header.count("v1=") == 2
    assert delivery.verify_signature(header, request.content, new)
    assert delivery.verify_signature(header, request.content, old)
    receiver = session.get(type(queued["receiver"]), queued["receiver"].id)
    assert service.signing_secrets(receiver, now=utcnow() + dt.timedelta(hours=25)) == [new]


def test_deactivation_abandons_pending_deliveries(database, session, queued):
    service.deactivate_receiver(session, actor=ADMIN, receiver_id=queued["receiver"].id, reason="系统下线")
    session.commit()
    assert deliver_due(database, transport=Recorder().transport, settings=FAST).claimed == 0
    (d,) = deliveries(session)
    assert d.status == "dead" and d.last_error == "接收端已停用"
    assert service.emit_subject_event(session, subject_id=queued["org"].id, event="list.left", payload={}) == 0
    with pytest.raises(Conflict):
        service.redeliver(session, actor=ADMIN, delivery_id=d.id)


def test_unreachable_receiver_is_not_hammered_within_a_run(database, session):
    receiver, _ = make_receiver(session)
    orgs = [make_org(session, n) for n in range(1, 5)]
    watch(session, receiver, *[o.uscc for o in orgs])
    for o in orgs:
        service.emit_subject_event(session, subject_id=o.id, event="list.entered", payload={})
    session.commit()

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder = Recorder(refused)
    now = utcnow() + dt.timedelta(minutes=1)
    report = deliver_due(database, transport=recorder.transport, settings=FAST, now=now, rand=one)
    assert len(recorder.requests) == 1
    assert (report.failed, report.deferred) == (1, 3)
    assert {d.status for d in deliveries(session)} == {"pending"}
    assert {d.next_attempt_at for d in deliveries(session)} == {now + dt.timedelta(seconds=10)}


def test_loop_drains_then_waits(database, session, queued):
    rounds = []
    recorder = Recorder(200)
    delivery.run_forever(
        database,
        interval=0.01,
        transport=recorder.transport,
        settings=FAST,
        on_report=rounds.append,
        should_stop=lambda: len(recorder.requests) >= 1 and bool(rounds),
    )
    assert len(recorder.requests) == 1 and rounds[0].sent == 1
