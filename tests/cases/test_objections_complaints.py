"""Objections (with the one-time code and the 异议处理中 marker), complaints with protected reporters, queues,
escalation, statistics and concurrent decisions, over HTTP on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from tests.cases.helpers import build, last_code, verify
from tests.records.helpers import company_uscc, penalty
from xinyong.cases import service
from xinyong.cases.models import Case, Notification, VerificationChallenge
from xinyong.core.errors import Conflict
from xinyong.records.models import CreditRecord

API = "/api/v1/cases"


def _object(client, session, env, record_id, **kw):  # type: ignore[no-untyped-def]
    body = {
        **verify(client, session, env.uscc, "objection"),
        "target_type": "record",
        "target_id": record_id,
        "facts": "处罚金额登记错误，应为一般失信行为",
        "applicant_name": "李会计",
        **kw,
    }
    return client.post(f"{API}/public/objections", json=body)


def test_objection_upheld_corrects_record(session, client):
    env = build(session, watch=False)
    resp = _object(client, session, env, env.record_id)
    assert resp.status_code == 201, resp.text
    case = resp.json()["case"]
    # While open, the target carries the marker.
    session.commit()
    assert service.open_objection_targets(session, record_ids=[env.record_id, env.young_record_id]) == {
        ("record", env.record_id)
    }
    # … in the records API too (department view and detail), and only on that record.
    listed = {r["id"]: r["objection"] for r in client.get("/api/v1/records", headers=env.operator).json()}
    assert listed[env.record_id] == "异议处理中" and listed[env.young_record_id] is None
    detail = client.get(f"/api/v1/records/{env.record_id}", headers=env.operator).json()
    assert detail["objection"] == "异议处理中"
    # The handler's queue shows it with its due date; another department's does not.
    queue = client.get(API, params={"open": True}, headers=env.operator).json()
    assert [c["case_no"] for c in queue] == [case["case_no"]] and queue[0]["due_on"]
    assert client.get(API, headers=env.other_operator).json() == []
    cid = case["id"]
    assert client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.operator).status_code == 200
    bad = client.post(f"{API}/{cid}/actions/decide", json={"reason": "核实", "outcome": "upheld"}, headers=env.operator)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "correction_required"
    decided = client.post(
        f"{API}/{cid}/actions/decide",
        headers=env.operator,
        json={
            "reason": "经核实，应为一般失信行为",
            "outcome": "upheld",
            "correction": "correct",
            "changes": {"severity": "general"},
        },
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "decided" and decided.json()["outcome_label"] == "异议成立"
    session.commit()
    session.expire_all()
    record = session.get(CreditRecord, env.record_id)
    assert record.severity == "general" and record.version_count == 2
    assert service.open_objection_targets(session, record_ids=[env.record_id]) == set()
    assert client.get(f"/api/v1/records/{env.record_id}", headers=env.operator).json()["objection"] is None
    # The applicant was told (queued to the registered contact).
    bodies = session.scalars(
        select(Notification.body).where(Notification.case_id == cid, Notification.recipient_kind == "applicant")
    ).all()
    assert any("异议成立" in b for b in bodies)


def test_objection_bad_input(session, client):
    env = build(session, watch=False)
    # A record the verified subject does not own.
    from tests.records.helpers import ADMIN
    from xinyong.ingest.models import IngestBatch
    from xinyong.records import upsert as records_upsert

    batch = session.scalar(select(IngestBatch.id))
    other = records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=env.dept.id,
        batch_id=batch,
        received_at=dt.datetime.now(dt.UTC),
        rows=[
            penalty(
                code=company_uscc(2), party="沁阳市别家公司", doc="别家1号", decided=env.today - dt.timedelta(days=30)
            )
        ],
    )
    session.commit()
    foreign = _object(client, session, env, other.outcomes[0].record_id)
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "not_subject_target"
    # Wrong code: counted even though the request fails; exhausted after the limit.
    challenge = client.post(f"{API}/public/verifications", json={"subject": env.uscc, "purpose": "objection"}).json()
    good = last_code(session)
    wrong = "000000" if good != "000000" else "111111"
    body = {
        "challenge": challenge["challenge"],
        "target_type": "record",
        "target_id": env.record_id,
        "facts": "错误",
        "applicant_name": "李",
    }
    for left in (4, 3, 2, 1, 0):
        r = client.post(f"{API}/public/objections", json={**body, "code": wrong})
        assert r.status_code == 422 and r.json()["error"]["details"]["attempts_left"] == left
    r = client.post(f"{API}/public/objections", json={**body, "code": good})
    assert r.json()["error"]["code"] == "code_attempts_exhausted"
    session.commit()
    assert (
        session.scalar(
            select(VerificationChallenge.attempts).where(VerificationChallenge.challenge == challenge["challenge"])
        )
        == 5
    )
    assert session.scalar(select(Case.id)) is None
    # The code goes to the registered contact, masked in the answer; never to an address the caller names.
    assert challenge["address"] == "138****5678"
    # An unknown subject and a subject without contact are clear errors.
    r = client.post(f"{API}/public/verifications", json={"subject": company_uscc(3), "purpose": "objection"})
    assert r.status_code == 404


def test_two_reviewers_exactly_one_wins(session, database, client):
    env = build(session, watch=False)
    case = _object(client, session, env, env.record_id).json()["case"]
    assert client.post(f"{API}/{case['id']}/actions/accept", json={}, headers=env.operator).status_code == 200
    a, b = database.sessionmaker(), database.sessionmaker()
    try:
        # Both reviewers have read the case before either decides.
        service.get_case(a, case["id"])
        service.get_case(b, case["id"])
        service.transition(
            a, actor=env.principal(), case_id=case["id"], action="decide", outcome="rejected", reason="记录无误"
        )
        a.commit()
        with pytest.raises(Conflict) as err:
            service.transition(
                b,
                actor=env.principal(),
                case_id=case["id"],
                action="decide",
                outcome="upheld",
                reason="应当撤回",
                params={"correction": "withdraw"},
            )
        assert err.value.code in ("case_changed", "invalid_transition")
        b.rollback()
    finally:
        a.close()
        b.close()
    session.commit()
    session.expire_all()
    final = session.get(Case, case["id"])
    assert final.outcome == "rejected" and final.version == 3
    assert session.get(CreditRecord, env.record_id).withdrawn_at is None  # the loser changed nothing


def test_complaint_reporter_identity_is_protected(session, client):
    env = build(session, watch=False)
    resp = client.post(
        f"{API}/public/complaints",
        json={
            "subject": env.uscc,
            "facts": "该公司虚假宣传",
            "reporter_name": "王五",
            "reporter_channel": "sms",
            "reporter_address": "13900001111",
        },
    )
    assert resp.status_code == 201, resp.text
    case = resp.json()["case"]
    assert case["department"] is None and case["state"] == "submitted"
    cid = case["id"]
    # Unrouted: the credit office routes it to the competent department.
    assert (
        client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.admin).json()["error"]["code"] == "route_first"
    )
    routed = client.post(
        f"{API}/{cid}/actions/route", json={"reason": "属市场监管职责", "department": "scjgj"}, headers=env.admin
    )
    assert routed.status_code == 200 and routed.json()["department"]["code"] == "scjgj"
    seen = client.get(f"{API}/{cid}", headers=env.operator).json()
    assert seen["applicant"]["name"] == "王五" and seen["applicant"]["contact"] == "13900001111"
    assert client.get(f"{API}/{cid}", headers=env.other_operator).status_code == 404
    # A database dump does not reveal the reporter or any contact: sealed at rest.
    session.commit()
    raw = session.execute(text("SELECT applicant_name, applicant_address FROM cases WHERE id = :i"), {"i": cid}).one()
    assert "王五" not in raw[0] and "13900001111" not in raw[1] and raw[1].startswith("v1:")
    dumped = " ".join(
        str(v)
        for row in session.execute(
            text("SELECT address FROM case_notifications UNION ALL SELECT address FROM case_subject_contacts")
        )
        for v in row
    )
    assert "13900001111" not in dumped and "13812345678" not in dumped
    assert client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.operator).status_code == 200
    done = client.post(
        f"{API}/{cid}/actions/conclude",
        headers=env.operator,
        json={"reason": "查实并立案处罚", "outcome": "substantiated"},
    )
    assert done.status_code == 200 and done.json()["state"] == "concluded"
    anon = client.post(
        f"{API}/public/complaints",
        json={
            "subject_name": "某无证作坊",
            "facts": "无证经营",
            "anonymous": True,
            "department": "scjgj",
            "reporter_name": "不应保存",
        },
    ).json()
    session.commit()
    stored = session.get(Case, anon["case"]["id"])
    assert stored.applicant_name is None and stored.applicant_address is None and stored.anonymous
    named = client.post(f"{API}/public/complaints", json={"subject_name": "某店", "facts": "欺诈"})
    assert named.status_code == 422 and named.json()["error"]["code"] == "reporter_name_required"


def test_overdue_escalation_and_stats(session, client):
    env = build(session, watch=False)
    case = _object(client, session, env, env.record_id).json()["case"]
    later = dt.date.fromisoformat(case["due_on"]) + dt.timedelta(days=1)
    session.commit()
    escalated = service.escalate_overdue(session, actor=env.principal(), today=later)
    assert [c.case_no for c in escalated] == [case["case_no"]]
    assert service.escalate_overdue(session, actor=env.principal(), today=later) == []  # once per deadline
    session.commit()
    office = client.get(API, params={"escalated": True}, headers=env.admin).json()
    assert [c["case_no"] for c in office] == [case["case_no"]]
    assert session.scalar(select(Notification.id).where(Notification.recipient_kind == "office")) is not None
    # Decide late: closed_late, and the statistics count it.
    service.transition(session, actor=env.principal(), case_id=case["id"], action="accept", today=later)
    service.transition(
        session,
        actor=env.principal(),
        case_id=case["id"],
        action="decide",
        outcome="rejected",
        reason="无误",
        today=later + dt.timedelta(days=30),
    )
    session.commit()
    stats = client.get(f"{API}/stats", headers=env.operator).json()
    [row] = [r for r in stats if r["kind"] == "objection"]
    assert row["filed"] == 1 and row["closed"] == 1 and row["closed_late"] == 1 and row["overdue_rate"] == 1.0
    assert row["mean_workdays"] > 0 and row["department"]["code"] == "scjgj"


@pytest.mark.parametrize(
    ("fine", "status", "code"),
    [
        ("1e30", 422, "amount_too_large"),
        ("99999999999999999999", 422, "amount_too_large"),
        ("NaN", 422, "amount_invalid"),
        ("一万", 422, "amount_invalid"),
        ("-1", 422, "amount_negative"),
        (1e300, 422, "amount_too_large"),
        ("1500.005", 200, None),
        ({"decision_date": "2024-99999999999999999999-1"}, 422, "date_invalid"),
    ],
)
def test_a_corrected_fine_is_checked_like_an_imported_one(session, client, fine, status, code):
    """The fine of an upheld objection's correction (in yuan) meets the import's amount rules: 1e30 is a refusal
    (422 ``amount_too_large``), not an integer overflow of the record's fen column (a 500)."""
    env = build(session, watch=False)
    cid = _object(client, session, env, env.record_id).json()["case"]["id"]
    assert client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.operator).status_code == 200
    r = client.post(
        f"{API}/{cid}/actions/decide",
        headers=env.operator,
        json={
            "reason": "经核实，罚款金额登记错误",
            "outcome": "upheld",
            "correction": "correct",
            "changes": fine if isinstance(fine, dict) else {"fine_yuan": fine},
        },
    )
    assert r.status_code == status, r.text
    session.commit()
    session.expire_all()
    record = session.get(CreditRecord, env.record_id)
    if code is None:
        assert record.fine_fen == 150_001 and record.version_count == 2
    else:
        assert r.json()["error"]["code"] == code and record.version_count == 1
