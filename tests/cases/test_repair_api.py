"""Credit repair of a penalty end to end over HTTP, on SQLite and PostgreSQL: verification, filing, evidence,
acceptance, approval with its propagation (public list, webhook outbox), revocation and the reapplication bar."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from sqlalchemy import select

from tests.cases.helpers import PDF, build, png, verify
from xinyong.cases.models import Case
from xinyong.core import audit
from xinyong.records.models import CreditRecord
from xinyong.watches import delivery
from xinyong.watches.models import OutboxEvent

API = "/api/v1/cases"


def _file(client, session, env, record_id):  # type: ignore[no-untyped-def]
    body = {
        **verify(client, session, env.uscc, "repair"),
        "target_type": "record",
        "target_id": record_id,
        "facts": "已缴清罚款并完成整改",
        "applicant_name": "张经理",
        "obligations_fulfilled": True,
        "commitment_signed": True,
    }
    return client.post(f"{API}/public/repairs", json=body)


def _public_docs(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["doc_no"] for r in client.get("/api/v1/records/public", params={"limit": 100}).json()]


def test_repair_end_to_end(session, client, database):
    env = build(session)
    assert "沁市监罚〔修复〕1号" in _public_docs(client)

    resp = _file(client, session, env, env.record_id)
    assert resp.status_code == 201, resp.text
    filed = resp.json()
    case, token = filed["case"], filed["access_token"]
    assert case["state"] == "submitted" and case["due_on"] and case["data"]["checks"]["minimum_elapsed"]
    assert case["department"]["code"] == "scjgj"
    headers = {"X-Case-Token": token}

    # A second application while one is open.
    again = _file(client, session, env, env.record_id)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "case_already_open"

    # The applicant follows the case; a wrong token finds nothing.
    assert client.get(f"{API}/public/{case['case_no']}", headers=headers).json()["case"]["state"] == "submitted"
    assert client.get(f"{API}/public/{case['case_no']}", headers={"X-Case-Token": "ck_wrong"}).status_code == 404

    # No evidence yet: the handler cannot accept.
    accept = client.post(f"{API}/{case['id']}/actions/accept", json={}, headers=env.operator)
    assert accept.status_code == 422 and accept.json()["error"]["code"] == "evidence_required"

    # Disguised and foreign uploads are refused; a real PDF is stored with its hash.
    bad = client.post(
        f"{API}/public/{case['case_no']}/documents",
        headers=headers,
        files={"file": ("缴款凭证.pdf", png(), "application/pdf")},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "document_disguised"
    exe = client.post(
        f"{API}/public/{case['case_no']}/documents",
        headers=headers,
        files={"file": ("a.pdf", b"MZ\x90\x00" + b"\x00" * 100, "application/pdf")},
    )
    assert exe.status_code == 422 and exe.json()["error"]["code"] == "document_type_not_allowed"
    up = client.post(
        f"{API}/public/{case['case_no']}/documents",
        headers=headers,
        files={"file": ("缴款凭证.pdf", PDF, "application/pdf")},
        data={"kind": "evidence"},
    )
    assert up.status_code == 201, up.text
    assert len(up.json()["sha256"]) == 64 and up.json()["media_type"] == "application/pdf"

    # Another department cannot see or act on the case; the viewer may read but not act.
    assert client.get(f"{API}/{case['id']}", headers=env.other_operator).status_code == 404
    assert client.post(f"{API}/{case['id']}/actions/accept", json={}, headers=env.viewer).status_code == 403
    # Out of order: approving before accepting.
    early = client.post(f"{API}/{case['id']}/actions/approve", json={"reason": "符合条件"}, headers=env.operator)
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_transition"

    accepted = client.post(
        f"{API}/{case['id']}/actions/accept", json={"version": case["version"]}, headers=env.operator
    )
    assert accepted.status_code == 200, accepted.text
    accepted = accepted.json()
    assert accepted["state"] == "accepted" and accepted["due_on"] >= case["due_on"]
    # The handling department reads the evidence back; the public never can.
    doc_id = accepted["documents"][0]["id"]
    got = client.get(f"{API}/{case['id']}/documents/{doc_id}", headers=env.operator)
    assert got.status_code == 200 and got.content == PDF
    assert client.get(f"{API}/{case['id']}/documents/{doc_id}").status_code == 401

    # A stale version is a conflict and changes nothing.
    stale = client.post(
        f"{API}/{case['id']}/actions/approve",
        json={"reason": "符合条件", "version": case["version"]},
        headers=env.operator,
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "case_changed"

    approved = client.post(
        f"{API}/{case['id']}/actions/approve",
        json={"reason": "已履行义务并签署承诺", "version": accepted["version"]},
        headers=env.operator,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and approved.json()["data"]["effect"]["type"] == "publicity_ended"

    # Propagation: gone from the public list at once, ended_on set, the watcher's event queued.
    assert "沁市监罚〔修复〕1号" not in _public_docs(client)
    session.commit()
    session.expire_all()
    record = session.get(CreditRecord, env.record_id)
    assert record.ended_on == env.today
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.subject_id == env.subject_id)).all()
    assert [e.event_type for e in events] == ["record.repaired"]
    assert events[0].payload["data"]["record_id"] == env.record_id
    # … and the watching system receives it, signed, from the delivery worker.
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    report = delivery.deliver_due(database, transport=httpx.MockTransport(receiver))
    assert report.sent == 1 and len(received) == 1
    hook = received[0]
    assert hook.url == "https://approval.example.test/hook" and hook.headers["X-Xinyong-Event"] == "record.repaired"
    assert delivery.verify_signature(hook.headers["X-Xinyong-Signature"], hook.content, env.webhook_secret)
    assert json.loads(hook.content)["data"]["record_id"] == env.record_id
    assert client.get(f"{API}/public/{case['case_no']}", headers=headers).json()["case"]["state"] == "approved"
    assert audit.verify_chain(session).ok

    # False materials found: revoked, public again to the end of the maximum window, and barred.
    revoked = client.post(f"{API}/{case['id']}/actions/revoke", json={"reason": "缴款凭证系伪造"}, headers=env.operator)
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["state"] == "revoked" and body["bar_until"] > env.today.isoformat()
    assert body["data"]["revocation"]["public_until"] > env.today.isoformat()
    assert "沁市监罚〔修复〕1号" in _public_docs(client)
    session.commit()
    session.expire_all()
    assert session.get(CreditRecord, env.record_id).ended_on is None
    kinds = [e.event_type for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert kinds == ["record.repaired", "record.repair_revoked"]
    barred = _file(client, session, env, env.record_id)
    assert barred.status_code == 422 and barred.json()["error"]["code"] == "repair_barred"


def test_repair_refusals_are_clear_and_change_nothing(session, client):
    env = build(session, watch=False)
    young = _file(client, session, env, env.young_record_id)
    assert young.status_code == 422 and young.json()["error"]["code"] == "repair_too_early"
    assert young.json()["error"]["details"]["available_from"] > env.today.isoformat()
    body = {
        **verify(client, session, env.uscc, "repair"),
        "target_type": "record",
        "target_id": env.record_id,
        "facts": "已整改",
        "applicant_name": "张经理",
        "obligations_fulfilled": True,
        "commitment_signed": False,
    }
    nocommit = client.post(f"{API}/public/repairs", json=body)
    assert nocommit.status_code == 422 and nocommit.json()["error"]["code"] == "commitment_required"
    # The code was used up by that request: it cannot be replayed.
    replay = client.post(f"{API}/public/repairs", json={**body, "commitment_signed": True})
    assert replay.status_code == 422 and replay.json()["error"]["code"] == "code_used"
    session.commit()
    session.expire_all()
    assert session.scalar(select(Case.id)) is None
    assert session.get(CreditRecord, env.record_id).ended_on is None


def test_refusal_with_false_materials_bars(session, client):
    env = build(session, watch=False)
    filed = _file(client, session, env, env.record_id).json()
    cid = filed["case"]["id"]
    client.post(
        f"{API}/public/{filed['case']['case_no']}/documents",
        headers={"X-Case-Token": filed["access_token"]},
        files={"file": ("凭证.png", png(), "image/png")},
    )
    assert client.post(f"{API}/{cid}/actions/accept", json={}, headers=env.operator).status_code == 200
    no_reason = client.post(f"{API}/{cid}/actions/refuse", json={}, headers=env.operator)
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    refused = client.post(
        f"{API}/{cid}/actions/refuse", json={"reason": "材料虚假", "false_materials": True}, headers=env.operator
    )
    assert refused.status_code == 200 and refused.json()["state"] == "refused"
    assert refused.json()["bar_until"] is not None and refused.json()["closed_on"] == env.today.isoformat()
    assert dt.date.fromisoformat(refused.json()["bar_until"]) > env.today


def test_broken_repair_commitment_revokes_the_repair(session, client):
    """信用修复型 commitment broken → the repair in effect is revoked and the penalty is public again."""
    from tests.commitments.helpers import accepted_by, row
    from tests.records.helpers import ADMIN
    from xinyong.commitments import importer

    env = build(session, watch=False)
    case = _file(client, session, env, env.record_id).json()["case"]
    assert (
        client.post(
            f"{API}/{case['id']}/documents", headers=env.operator, files={"file": ("缴款凭证.pdf", PDF)}
        ).status_code
        == 201
    )
    assert client.post(f"{API}/{case['id']}/actions/accept", json={}, headers=env.operator).status_code == 200
    assert (
        client.post(
            f"{API}/{case['id']}/actions/approve", json={"reason": "已履行并承诺"}, headers=env.operator
        ).status_code
        == 200
    )
    assert "沁市监罚〔修复〕1号" not in _public_docs(client)

    broken = row(
        1,
        **{
            "承诺人代码": env.uscc,
            "承诺人名称": "沁阳市修复测试有限公司",
            "承诺类型": "信用修复型",
            "承诺作出日期": env.today.isoformat(),
            "承诺履行状态": "全部未履行",
            "履行状态认定日期": env.today.isoformat(),
            "未履行的承诺内容": "未按承诺缴清罚款",
            "违诺责任追究内容": "按最长公示期重新公示",
            **accepted_by(env.dept),
        },
    )
    session.commit()  # end the test session's read so that it may write (SQLite)
    summary = importer.import_rows(session, actor=ADMIN, department_id=env.dept.id, rows=[broken], today=env.today)
    assert summary["broken"] == 1, summary
    session.commit()
    session.expire_all()
    revoked = session.get(Case, case["id"])
    assert revoked.state == "revoked" and revoked.bar_until is not None
    assert session.get(CreditRecord, env.record_id).ended_on is None
    assert "沁市监罚〔修复〕1号" in _public_docs(client)
