"""Department list management through the HTTP API, on SQLite and PostgreSQL: the notice step, exact term ends,
extension limits, removal, department permissions, bad input, optimistic concurrency, history, audit, watches and
the public view (persons masked)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests.lists.entry_helpers import (
    ADMIN,
    API,
    COMPANY,
    PERSON,
    PERSON_ID,
    company_uscc,
    make_env,
    workdays_ago,
)
from xinyong.catalog import service as catalog_service
from xinyong.catalog.rules import add_months
from xinyong.core import clock, workdays
from xinyong.core.audit import AuditEvent
from xinyong.lists import queries, service
from xinyong.lists.models import ListEntry
from xinyong.lists.rules import term_end_for
from xinyong.watches import service as watches
from xinyong.watches.models import OutboxEvent


@pytest.fixture
def env(session):
    return make_env(session)


def _new(client, headers, **body):
    payload = {"reason": "偷税", "decision_no": "沁税稽罚〔2024〕1号", "facts": "少缴税款"} | body
    return client.post(f"{API}/entries", json=payload, headers=headers)


def _entry_count(session) -> int:
    session.expire_all()
    return len(session.scalars(select(ListEntry)).all())


def test_types_are_public_and_unknown_codes_are_clear(client, env):
    r = client.get(f"{API}/types")
    assert r.status_code == 200
    codes = [t["code"] for t in r.json()]
    assert "tax_serious_dishonest" in codes and "court_dishonest_debtor" in codes
    tax = client.get(f"{API}/types/tax_serious_dishonest").json()
    assert tax["requires_notice"] is True and tax["notice_workdays"] == 10 and tax["managing_departments"] == ["swj"]
    missing = client.get(f"{API}/types/no_such_list")
    assert missing.status_code == 404
    err = missing.json()["error"]
    assert err["code"] == "unknown_list_type" and "tax_serious_dishonest" in err["details"]["valid_codes"]


def test_notice_step_listing_before_notice_until_is_refused(client, session, env):
    today = clock.today()
    # A type that requires notice cannot be listed without one, nor before the notice period has run.
    r = _new(client, env.swj_op, list_code="tax_serious_dishonest", subject_code=env.company)
    assert r.status_code == 422 and r.json()["error"]["code"] == "notice_required"
    r = _new(
        client, env.swj_op, list_code="tax_serious_dishonest", subject_code=env.company, notice_given_on=str(today)
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "notice_period_running"
    assert _entry_count(session) == 0

    notice = _new(client, env.swj_op, list_code="tax_serious_dishonest", subject_code=env.company, stage="notice")
    assert notice.status_code == 201, notice.text
    n = notice.json()
    assert n["status"] == "notified" and n["counts"] is False and n["listed_on"] is None
    assert n["notice_until"] == workdays.add_workdays(today, 10).isoformat()
    refused = client.post(f"{API}/entries/{n['id']}/list", json={}, headers=env.swj_op)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "notice_period_running"
    again = client.get(f"{API}/entries/{n['id']}", headers=env.swj_op).json()
    assert again["status"] == "notified" and again["revision"] == 1 and len(again["history"]) == 1
    # The same decision may not be notified twice.
    dup = _new(client, env.swj_op, list_code="tax_serious_dishonest", subject_code=env.company, stage="notice")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "entry_exists"

    # A notice given ten working days ago has run its period: listing today is allowed.
    old = _new(
        client,
        env.swj_op,
        list_code="tax_serious_dishonest",
        subject_code=env.other,
        stage="notice",
        decision_no="沁税稽罚〔2024〕2号",
        notice_given_on=str(workdays_ago(10, today)),
    )
    assert old.status_code == 201
    listed = client.post(f"{API}/entries/{old.json()['id']}/list", json={"expected_revision": 1}, headers=env.swj_op)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["status"] == "active" and body["counts"] is True and body["listed_on"] == today.isoformat()
    assert body["term_end"] == term_end_for(today, 36).isoformat()
    assert [h["action"] for h in body["history"]] == ["notice", "list"] and body["revision"] == 2
    # Withdrawing the other notice: the subject was heard and will not be listed.
    w = client.post(f"{API}/entries/{n['id']}/withdraw-notice", json={"note": "陈述申辩理由成立"}, headers=env.swj_op)
    assert w.status_code == 200 and w.json()["effective_status"] == "removed"
    assert w.json()["removal_reason"] == "not_listed"


def test_direct_listing_with_an_outside_notice_and_exact_term_end(client, env):
    today = clock.today()
    r = _new(
        client,
        env.swj_op,
        list_code="tax_serious_dishonest",
        subject_code=env.company,
        notice_given_on=str(workdays_ago(12, today)),
        listed_on=str(today - dt.timedelta(days=1)),
    )
    assert r.status_code == 201, r.text
    assert r.json()["notice_given_on"] == workdays_ago(12, today).isoformat()

    listed_on = add_months(today, -12)  # a red list of 12 months listed a year ago ended yesterday
    red = _new(
        client,
        env.swj_op,
        list_code="tax_a_grade",
        subject_code=env.other,
        reason="纳税信用A级",
        decision_no="A级〔2023〕7号",
        listed_on=str(listed_on),
    )
    assert red.status_code == 201, red.text
    e = red.json()
    term_end = dt.date.fromisoformat(e["term_end"])
    assert term_end == today - dt.timedelta(days=1)
    on_last_day = client.get(f"{API}/entries/{e['id']}", params={"on": str(term_end)}, headers=env.swj_op).json()
    assert on_last_day["counts"] is True and on_last_day["effective_status"] == "active"
    day_after = client.get(
        f"{API}/entries/{e['id']}", params={"on": str(term_end + dt.timedelta(days=1))}, headers=env.swj_op
    ).json()
    assert day_after["counts"] is False and day_after["effective_status"] == "expired"
    assert e["counts"] is False and e["effective_status"] == "expired"  # today, without any job having run
    expired = client.get(f"{API}/entries", params={"status": "expired"}, headers=env.swj_op).json()
    active = client.get(f"{API}/entries", params={"status": "active"}, headers=env.swj_op).json()
    assert [x["id"] for x in expired] == [e["id"]] and e["id"] not in [x["id"] for x in active]
    # A term longer than the type allows is refused; a term before the listing too.
    too_long = _new(
        client,
        env.swj_op,
        list_code="tax_a_grade",
        subject_code=env.company,
        reason="A级",
        decision_no="A级〔2024〕8号",
        term_end=str(term_end_for(today, 12) + dt.timedelta(days=1)),
    )
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "term_too_long"
    future = _new(
        client,
        env.swj_op,
        list_code="tax_a_grade",
        subject_code=env.company,
        reason="A级",
        decision_no="A级〔2024〕9号",
        listed_on=str(today + dt.timedelta(days=3)),
    )
    assert future.status_code == 422 and future.json()["error"]["code"] == "listed_on_in_future"


def test_extend_within_maximum_and_beyond_refused(client, env):
    today = clock.today()
    # labour_security_a_grade: 12 months by default, at most 36 (managed by rsj: the admin enters it).
    r = _new(
        client,
        env.admin,
        list_code="labour_security_a_grade",
        subject_code=env.company,
        reason="A级用人单位",
        decision_no="人社A〔2024〕1号",
    )
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["term_end"] == term_end_for(today, 12).isoformat() and e["department_id"] is None
    limit = term_end_for(today, 36)
    ok = client.post(
        f"{API}/entries/{e['id']}/extend", json={"term_end": str(limit), "reason": "复评仍为A级"}, headers=env.admin
    )
    assert ok.status_code == 200 and ok.json()["term_end"] == limit.isoformat() and ok.json()["revision"] == 2
    beyond = client.post(
        f"{API}/entries/{e['id']}/extend",
        json={"term_end": str(limit + dt.timedelta(days=1)), "reason": "再延"},
        headers=env.admin,
    )
    assert beyond.status_code == 422 and beyond.json()["error"]["code"] == "term_too_long"
    earlier = client.post(
        f"{API}/entries/{e['id']}/extend", json={"term_end": str(today), "reason": "缩短"}, headers=env.admin
    )
    assert earlier.status_code == 422 and earlier.json()["error"]["code"] == "extension_not_later"
    after = client.get(f"{API}/entries/{e['id']}", headers=env.admin).json()
    assert after["term_end"] == limit.isoformat() and after["revision"] == 2
    assert [h["action"] for h in after["history"]] == ["create", "extend"]


def test_removal_and_repair_rules(client, env):
    today = clock.today()
    red = _new(
        client,
        env.scjgj_op,
        list_code="contract_credit_enterprise",
        subject_code=env.company,
        reason="守合同重信用",
        decision_no="守重〔2024〕1号",
    )
    assert red.status_code == 201, red.text
    rid = red.json()["id"]
    r = client.post(
        f"{API}/entries/{rid}/remove", json={"reason": "revoked", "note": "被列入经营异常名录"}, headers=env.scjgj_op
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["effective_status"] == "removed" and body["counts"] is False
    assert body["removed_on"] == today.isoformat() and body["removal_reason_label"] == "撤销认定"
    again = client.post(f"{API}/entries/{rid}/remove", json={"reason": "revoked", "note": "再次"}, headers=env.scjgj_op)
    assert again.status_code == 409 and again.json()["error"]["code"] == "entry_removed"
    bad = client.post(f"{API}/entries/{rid}/remove", json={"reason": "forgiven", "note": "x"}, headers=env.scjgj_op)
    assert bad.status_code == 422
    # Food and drug list: repair only after 12 months on the list.
    fd = _new(
        client,
        env.scjgj_op,
        list_code="food_drug_dishonest",
        subject_code=env.other,
        reason="销售假药",
        decision_no="沁市监罚〔2024〕9号",
        notice_given_on=str(workdays_ago(5, today - dt.timedelta(days=40))),
        listed_on=str(today - dt.timedelta(days=30)),
    )
    assert fd.status_code == 201, fd.text
    early = client.post(
        f"{API}/entries/{fd.json()['id']}/remove", json={"reason": "repaired", "note": "已整改"}, headers=env.scjgj_op
    )
    assert early.status_code == 422 and early.json()["error"]["code"] == "removal_too_early"
    assert client.get(f"{API}/entries/{fd.json()['id']}", headers=env.scjgj_op).json()["counts"] is True


def test_other_department_is_refused_and_nothing_changes(client, session, env):
    today = clock.today()
    r = _new(
        client,
        env.swj_op,
        list_code="tax_serious_dishonest",
        subject_code=env.company,
        notice_given_on=str(workdays_ago(10, today)),
    )
    assert r.status_code == 201
    eid = r.json()["id"]
    attempts = [
        ("extend", {"term_end": str(today), "reason": "越权"}),
        ("remove", {"reason": "repaired", "note": "越权"}),
        ("correct", {"reason": "越权修改", "note": "越权"}),
        ("withdraw-notice", {"note": "越权"}),
    ]
    for action, body in attempts:
        resp = client.post(f"{API}/entries/{eid}/{action}", json=body, headers=env.scjgj_op)
        assert resp.status_code == 403, (action, resp.text)
        assert resp.json()["error"]["code"] in ("list_not_managed",)
    # Creating on a list the department does not manage, and writing as a viewer, are refused too.
    other = _new(
        client,
        env.scjgj_op,
        list_code="tax_serious_dishonest",
        subject_code=env.other,
        decision_no="越权〔2024〕1号",
        notice_given_on=str(workdays_ago(10, today)),
    )
    assert other.status_code == 403 and other.json()["error"]["code"] == "list_not_managed"
    viewer = _new(client, env.swj_viewer, list_code="tax_a_grade", subject_code=env.other, decision_no="V1")
    assert viewer.status_code == 403 and viewer.json()["error"]["code"] == "role_not_allowed"
    after = client.get(f"{API}/entries/{eid}", headers=env.swj_op).json()
    assert after["revision"] == 1 and after["reason"] == "偷税" and after["counts"] is True
    assert _entry_count(session) == 1
    # External lists change only by sync: nobody enters them by hand.
    for headers in (env.scjgj_op, env.admin):
        ext = _new(
            client,
            headers,
            list_code="samr_abnormal",
            subject_code=env.other,
            reason="未按期公示年报",
            decision_no="异常〔2024〕1号",
        )
        assert ext.status_code == 403 and ext.json()["error"]["code"] == "external_list"


def test_department_view_sees_own_and_public_lists_only(client, session, env):
    a = _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="A1")
    b = _new(
        client,
        env.scjgj_op,
        list_code="contract_credit_enterprise",
        subject_code=env.other,
        reason="守合同",
        decision_no="C1",
    )
    assert a.status_code == b.status_code == 201
    # Both lists are public: each department sees both.
    assert {x["id"] for x in client.get(f"{API}/entries", headers=env.swj_viewer).json()} == {
        a.json()["id"],
        b.json()["id"],
    }
    # Made a shared (政务共享) class, the red list's entries of another department are no longer visible.
    catalog_service.update_class(
        session, actor=ADMIN, code="red_list", changes={"public_attribute": "shared"}, reason="测试"
    )
    session.commit()
    seen = client.get(f"{API}/entries", headers=env.swj_viewer).json()
    assert [x["id"] for x in seen] == [a.json()["id"]]
    assert client.get(f"{API}/entries/{b.json()['id']}", headers=env.swj_viewer).status_code == 404
    assert len(client.get(f"{API}/entries", headers=env.admin).json()) == 2
    # ... nor on the public page.
    assert client.get(f"{API}/public/entries").json() == []


def test_bad_input_is_a_clear_4xx_and_changes_nothing(client, session, env):
    r = _new(client, env.swj_op, list_code="no_such_list", subject_code=env.company)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_list_type"
    assert "tax_serious_dishonest" in r.json()["error"]["details"]["valid_codes"]
    r = _new(client, env.swj_op, list_code="tax_a_grade", subject_code="12345-XYZ")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_subject_code"
    r = _new(client, env.swj_op, list_code="tax_a_grade", subject_code=company_uscc(99))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_subject"
    r = _new(client, env.scjgj_op, list_code="contract_credit_enterprise", subject_code=PERSON_ID)
    assert r.status_code == 422 and r.json()["error"]["code"] == "party_kind_not_allowed"
    assert PERSON_ID not in r.text
    r = _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, decision_no="  ")
    assert r.status_code == 422
    r = client.post(f"{API}/entries/999999/remove", json={"reason": "revoked", "note": "x"}, headers=env.admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "entry_not_found"
    r = client.get(f"{API}/entries", params={"subject": "bad"}, headers=env.admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_subject_code"
    assert _entry_count(session) == 0


def test_stale_revision_is_a_conflict(client, env):
    r = _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="A9")
    eid = r.json()["id"]
    first = client.post(
        f"{API}/entries/{eid}/correct",
        json={"facts": "更正后的事实", "note": "笔误", "expected_revision": 1},
        headers=env.swj_op,
    )
    assert first.status_code == 200 and first.json()["revision"] == 2
    second = client.post(
        f"{API}/entries/{eid}/remove",
        json={"reason": "revoked", "note": "并发", "expected_revision": 1},
        headers=env.swj_op,
    )
    assert second.status_code == 409 and second.json()["error"]["code"] == "revision_mismatch"
    assert second.json()["error"]["details"] == {"current": 2, "expected": 1}
    now = client.get(f"{API}/entries/{eid}", headers=env.swj_op).json()
    assert now["counts"] is True and now["facts"] == "更正后的事实"


def test_history_audit_and_watch_events(client, session, env):
    receiver, _secret = watches.create_receiver(
        session, actor=ADMIN, name="审批系统", url="https://example.org/hook", department_id=env.swj.id
    )
    watches.subscribe(session, actor=ADMIN, receiver_id=receiver.id, codes=[env.company])
    session.commit()
    r = _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="A5")
    eid = r.json()["id"]
    client.post(f"{API}/entries/{eid}/remove", json={"reason": "revoked", "note": "降级"}, headers=env.swj_op)
    session.expire_all()
    events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [e.event_type for e in events] == ["list.entered", "list.left"]
    data = events[1].payload["data"]
    assert data["list_type"] == "tax_a_grade" and data["entry_id"] == eid and data["removal_reason"] == "revoked"
    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_type == "list_entry", AuditEvent.entity_id == str(eid))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["lists.entry.create", "lists.entry.remove"]
    history = client.get(f"{API}/entries/{eid}", headers=env.swj_op).json()["history"]
    assert [h["action"] for h in history] == ["create", "remove"]
    assert history[1]["before"]["status"] == "active" and history[1]["after"]["status"] == "removed"


def test_persons_are_masked_everywhere(client, session, env):
    today = clock.today()
    r = _new(
        client,
        env.swj_op,
        list_code="tax_serious_dishonest",
        subject_code=PERSON_ID,
        notice_given_on=str(workdays_ago(10, today)),
    )
    assert r.status_code == 201, r.text
    assert PERSON_ID not in r.text and r.json()["party_code"].startswith("410882") and "*" in r.json()["party_code"]
    # serious_dishonest_list shares natural persons with departments only: not on the public page.
    assert client.get(f"{API}/public/entries").json() == []
    catalog_service.update_class(
        session,
        actor=ADMIN,
        code="serious_dishonest_list",
        changes={"natural_person_attribute": "public", "natural_person_basis": [{"title": "测试依据"}]},
        reason="测试",
    )
    session.commit()
    pub = client.get(f"{API}/public/entries")
    assert [x["party_name"] for x in pub.json()] == ["王*明"]
    assert PERSON not in pub.text and PERSON_ID not in pub.text
    assert "facts" not in pub.json()[0] and "department_id" not in pub.json()[0]
    assert client.get(f"{API}/public/entries", params={"subject": PERSON_ID}).json() == []
    audit_rows = session.scalars(select(AuditEvent)).all()
    dumped = json.dumps([[a.before, a.after] for a in audit_rows], ensure_ascii=False)
    assert PERSON_ID not in dumped
    assert PERSON not in json.dumps([a.after for a in audit_rows if a.entity_type == "list_entry"], ensure_ascii=False)


def test_public_entries_only_counting_today(client, env):
    today = clock.today()
    _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="P1")
    _new(
        client,
        env.swj_op,
        list_code="tax_a_grade",
        subject_code=env.other,
        reason="A级",
        decision_no="P2",
        listed_on=str(add_months(today, -12)),
    )  # ended yesterday
    pub = client.get(f"{API}/public/entries").json()
    assert [(x["party_name"], x["decision_no"]) for x in pub] == [(COMPANY, "P1")]
    assert client.get(f"{API}/public/entries", params={"subject": env.other}).json() == []


def test_sizes_and_daily_expiry_announcement(client, session, env):
    today = clock.today()
    receiver, _ = watches.create_receiver(
        session, actor=ADMIN, name="系统", url="https://example.org/h", department_id=env.swj.id
    )
    watches.subscribe(session, actor=ADMIN, receiver_id=receiver.id, codes=[env.other])
    session.commit()
    _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="S1")
    old = _new(
        client,
        env.swj_op,
        list_code="tax_a_grade",
        subject_code=env.other,
        reason="A级",
        decision_no="S2",
        listed_on=str(add_months(today, -12) - dt.timedelta(days=1)),
    )
    sizes = {s["list_code"]: s for s in client.get(f"{API}/sizes", headers=env.swj_viewer).json()}
    assert sizes["tax_a_grade"]["active"] == 1 and sizes["tax_a_grade"]["added_30d"] == 1
    assert sizes["tax_a_grade"]["expired_30d"] == 1 and sizes["tax_serious_dishonest"]["active"] == 0
    # Recorded after its term ended: never counted, so never announced as leaving.
    assert service.announce_expirations(session, today=today, actor=ADMIN).announced == 0
    session.commit()

    # An entry that counted and then expired is announced once.
    entry = session.get(ListEntry, old.json()["id"])
    entry.expiry_announced_on = None
    session.commit()
    first = service.announce_expirations(session, today=today, actor=ADMIN)
    session.commit()
    second = service.announce_expirations(session, today=today, actor=ADMIN)
    session.commit()
    assert first.entry_ids == [old.json()["id"]] and second.announced == 0
    left = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "list.left")).all()
    assert len(left) == 1 and left[0].payload["data"]["removal_reason"] == "term_ended"
    history = client.get(f"{API}/entries/{old.json()['id']}", headers=env.swj_op).json()["history"]
    assert history[-1]["action"] == "expired"


def test_subject_entries_view(session, env, client):
    _new(client, env.swj_op, list_code="tax_a_grade", subject_code=env.company, reason="A级", decision_no="V1")
    subject = service.resolve_subject(session, env.company)
    view = queries.subject_entries_view(session, subject, clock.today())
    assert [(v["list_code"], v["counts"], v["effective_status"]) for v in view] == [("tax_a_grade", True, "active")]
