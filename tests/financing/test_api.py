"""信易贷 over HTTP: the profile needs an active authorisation, answers only its classes and is refused again after
expiry or revocation; refusals are logged; document authorisations; feedback; figures. Both databases."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select

from tests.cases.helpers import PDF, verify
from tests.factories import auth_headers
from tests.financing.helpers import expire, grant, setup
from xinyong.core.audit import AuditEvent, verify_chain
from xinyong.subjects.access_log import SubjectAccess

PROFILE = "/api/v1/financing/subjects/{}/profile"


def _log(session, subject_id):
    session.commit()
    return list(
        session.scalars(select(SubjectAccess).where(SubjectAccess.subject_id == subject_id).order_by(SubjectAccess.id))
    )


def test_bank_role_needs_an_active_authorisation(client, session):
    b = setup(session)
    url = PROFILE.format(b.env.uscc)
    no = client.get(url, headers=b.bank)
    assert no.status_code == 403 and no.json()["error"]["code"] == "authorisation_required"
    assert "授权" in no.json()["error"]["message"]
    a = grant(session, b)
    ok = client.get(url, headers=b.bank)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["classes"] == ["penalty", "registration"]
    assert set(body["sections"]) == {"penalty", "registration"}
    assert len(body["sections"]["penalty"]["items"]) == 2
    # Outside the scope: refused, and logged.
    out = client.get(url, params={"classes": "penalty,evaluation"}, headers=b.bank)
    assert out.status_code == 403 and out.json()["error"]["code"] == "outside_scope"
    # Only some of the classes.
    some = client.get(url, params={"classes": "penalty"}, headers=b.bank)
    assert some.status_code == 200 and list(some.json()["sections"]) == ["penalty"]
    # Another bank has no authorisation of its own.
    other = client.get(url, headers=b.other_bank)
    assert other.status_code == 403 and other.json()["error"]["code"] == "authorisation_required"
    # A bank token not registered to an institution.
    unbound = client.get(url, headers=b.unbound)
    assert unbound.status_code == 403 and unbound.json()["error"]["code"] == "institution_not_registered"
    expire(session, a)
    late = client.get(url, headers=b.bank)
    assert late.status_code == 403 and late.json()["error"]["code"] == "authorisation_expired"
    rows = _log(session, b.env.subject_id)
    assert [(r.outcome, r.error_code) for r in rows] == [
        ("denied", "authorisation_required"),
        ("allowed", None),
        ("denied", "outside_scope"),
        ("allowed", None),
        ("denied", "authorisation_required"),
        ("denied", "institution_not_registered"),
        ("denied", "authorisation_expired"),
    ]
    assert rows[1].institution == "沁阳农村商业银行" and rows[1].scope == ["penalty", "registration"]
    assert rows[1].purpose == "融资授信" and rows[1].role == "bank"
    assert rows[4].institution == "另一家银行"
    events = {
        e.id: e for e in session.scalars(select(AuditEvent).where(AuditEvent.id.in_([r.audit_event_id for r in rows])))
    }
    assert {events[r.audit_event_id].action for r in rows} == {
        "financing.profile_read",
        "financing.profile_read_denied",
    }
    assert verify_chain(session).ok


def test_revocation_by_the_subject_ends_access(client, session):
    b = setup(session)
    url = PROFILE.format(b.env.uscc)
    body = verify(client, session, b.env.uscc, "financing")
    made = client.post(
        "/api/v1/financing/public/authorisations",
        json={**body, "institution": "qyrcb", "scope": ["registration", "licence"], "days": 30},
    )
    assert made.status_code == 201, made.text
    a = made.json()
    assert a["method"] == "online" and a["status"] == "active" and a["scope"] == ["licence", "registration"]
    assert client.get(url, headers=b.bank).status_code == 200
    # The code was used up: it cannot revoke.
    reused = client.post(f"/api/v1/financing/public/authorisations/{a['id']}/revoke", json=body)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "code_used"
    again = verify(client, session, b.env.uscc, "financing")
    revoked = client.post(
        f"/api/v1/financing/public/authorisations/{a['id']}/revoke", json={**again, "reason": "贷款已办结"}
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    after = client.get(url, headers=b.bank)
    assert after.status_code == 403 and after.json()["error"]["code"] == "authorisation_revoked"
    assert _log(session, b.env.subject_id)[-1].error_code == "authorisation_revoked"


def test_scope_must_be_authorisable(client, session):
    b = setup(session)
    body = verify(client, session, b.env.uscc, "financing")
    bad = client.post(
        "/api/v1/financing/public/authorisations",
        json={**body, "institution": "qyrcb", "scope": ["no_such_class"], "days": 30},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "scope_not_authorisable"
    wrong = client.post(
        "/api/v1/financing/public/authorisations",
        json={
            "challenge": "vc_nothing",
            "code": "123456",
            "institution": "qyrcb",
            "scope": ["registration"],
            "days": 30,
        },
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "code_invalid"


def test_document_authorisation_and_forged_or_unknown_documents(client, session):
    b = setup(session)
    url = PROFILE.format(b.env.uscc)
    until = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    form = {"subject": b.env.uscc, "scope": "registration,penalty", "expires_on": until}
    sha = hashlib.sha256(PDF).hexdigest()
    forged = client.post(
        "/api/v1/financing/authorisations/documents",
        headers=b.bank,
        data={**form, "sha256": "0" * 64},
        files={"file": ("授权书.pdf", PDF, "application/pdf")},
    )
    assert forged.status_code == 422 and forged.json()["error"]["code"] == "document_hash_mismatch"
    not_doc = client.post(
        "/api/v1/financing/authorisations/documents",
        headers=b.bank,
        data=form,
        files={"file": ("授权书.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
    )
    assert not_doc.status_code == 422 and not_doc.json()["error"]["code"] == "document_type_not_allowed"
    ok = client.post(
        "/api/v1/financing/authorisations/documents",
        headers=b.bank,
        data={**form, "sha256": sha},
        files={"file": ("授权书.pdf", PDF, "application/pdf")},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["document_sha256"] == sha and ok.json()["method"] == "document"
    reused = client.post(
        "/api/v1/financing/authorisations/documents",
        headers=b.bank,
        data=form,
        files={"file": ("授权书.pdf", PDF, "application/pdf")},
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "document_reused"
    assert client.get(url, params={"document": sha}, headers=b.bank).status_code == 200
    unknown = client.get(url, params={"document": "f" * 64}, headers=b.bank)
    assert unknown.status_code == 403 and unknown.json()["error"]["code"] == "authorisation_document_unknown"
    assert _log(session, b.env.subject_id)[-1].error_code == "authorisation_document_unknown"
    # The admin revokes a document found invalid.
    admin = client.post(
        f"/api/v1/financing/authorisations/{ok.json()['id']}/revoke",
        headers=b.env.admin,
        json={"reason": "授权书经核实无效"},
    )
    assert admin.status_code == 200 and admin.json()["status"] == "revoked"


def test_expired_bank_token_is_refused_and_logged(client, session, monkeypatch):
    b = setup(session)
    grant(session, b)
    from xinyong.auth.models import ApiToken
    from xinyong.auth.tokens import forget_tokens, hash_token

    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(b.bank_raw)))
    token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.commit()
    forget_tokens()
    resp = client.get(PROFILE.format(b.env.uscc), headers=b.bank)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token"
    last = _log(session, b.env.subject_id)[-1]
    assert last.outcome == "denied" and last.error_code == "invalid_token" and last.institution == "沁阳农村商业银行"
    # An unknown token names nobody: refused, nothing logged.
    count = len(_log(session, b.env.subject_id))
    assert client.get(PROFILE.format(b.env.uscc), headers=auth_headers("xy_unknown")).status_code == 401
    assert len(_log(session, b.env.subject_id)) == count


def test_feedback_and_figures(client, session):
    b = setup(session)
    a = grant(session, b)
    assert client.get(PROFILE.format(b.env.uscc), headers=b.bank).status_code == 200
    granted = client.post(
        "/api/v1/financing/feedback",
        headers=b.bank,
        json={
            "authorisation_id": a.id,
            "outcome": "granted",
            "amount_yuan": "500000.00",
            "rate_band": "lpr_plus_50",
            "reference": "QY-2026-001",
        },
    )
    assert granted.status_code == 201, granted.text
    declined = client.post(
        "/api/v1/financing/feedback", headers=b.bank, json={"authorisation_id": a.id, "outcome": "declined"}
    )
    assert declined.status_code == 201
    no_amount = client.post(
        "/api/v1/financing/feedback",
        headers=b.bank,
        json={"authorisation_id": a.id, "outcome": "granted", "rate_band": "lpr"},
    )
    assert no_amount.status_code == 422 and no_amount.json()["error"]["code"] == "bad_amount"
    foreign = client.post(
        "/api/v1/financing/feedback", headers=b.other_bank, json={"authorisation_id": a.id, "outcome": "declined"}
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "authorisation_not_found"
    assert client.get("/api/v1/financing/figures", headers=b.bank).status_code == 403
    figures = client.get("/api/v1/financing/figures", headers=b.env.admin).json()
    mine = next(r for r in figures["institutions"] if r["institution"] == "qyrcb")
    assert mine == {
        "institution": "qyrcb",
        "name": "沁阳农村商业银行",
        "authorisations": 1,
        "active_authorisations": 1,
        "queries": 1,
        "refused_queries": 0,
        "loans_granted": 1,
        "loans_declined": 1,
        "amount_granted_yuan": "500000.00",
    }
    listed = client.get("/api/v1/financing/authorisations", headers=b.other_bank)
    assert listed.status_code == 200 and listed.json() == []
    assert len(client.get("/api/v1/financing/authorisations", headers=b.bank).json()) == 1


def test_admin_access_log_api_is_paginated_and_bounded(client, session):
    b = setup(session)
    grant(session, b)
    for _ in range(3):
        client.get(PROFILE.format(b.env.uscc), headers=b.bank)
    url = f"/api/v1/subjects/{b.env.uscc}/access-log"
    assert client.get(url, headers=b.bank).status_code == 403
    page = client.get(url, params={"limit": 2}, headers=b.env.admin)
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 3 and len(page.json()["items"]) == 2
    item = page.json()["items"][0]
    assert item["who"] == "沁阳农村商业银行" and item["purpose"] == "融资授信" and item["actor"].startswith("token:")
    assert client.get(url, params={"limit": 1000}, headers=b.env.admin).status_code == 422
    assert client.get(url, params={"offset": 2**70}, headers=b.env.admin).status_code == 422
    from xinyong.subjects import access_log

    session.commit()
    assert access_log.verify(session)["ok"]


def test_authorisation_period_is_bounded_by_a_setting(session, monkeypatch):
    """The longest period (366 days) is local practice, not a national number: a setting changes it."""
    import pytest

    from xinyong.core.errors import ValidationFailed
    from xinyong.core.settings import reset_settings
    from xinyong.financing import service

    b = setup(session)
    with pytest.raises(ValidationFailed) as refused:
        service.grant_online(session, subject_id=b.env.subject_id, institution="qyrcb", scope=("penalty",), days=400)
    assert refused.value.code == "period_too_long" and refused.value.details == {"max_days": 366}
    session.rollback()
    monkeypatch.setenv("XINYONG_FINANCING_MAX_AUTHORISATION_DAYS", "500")
    reset_settings()
    a = service.grant_online(session, subject_id=b.env.subject_id, institution="qyrcb", scope=("penalty",), days=400)
    assert (a.expires_at - a.starts_at).days >= 400
