"""Catalog over HTTP: everyone reads, only the platform admin writes."""

from __future__ import annotations

import pytest

from tests.factories import auth_headers, make_token
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog import service
from xinyong.catalog.spec import load_catalog
from xinyong.core.audit import events_for, verify_chain

#: Classes of the shipped catalog (other work adds classes: counted, not written down).
N_CLASSES = len(load_catalog().classes)

URL = "/api/v1/catalog"


@pytest.fixture
def seeded(session):
    service.seed_catalog(session, actor=system_principal("tests"))
    session.commit()
    return session


def test_public_reads(client, seeded) -> None:
    meta = client.get(URL)
    assert meta.status_code == 200
    assert meta.json()["edition"] == service.catalog_meta(seeded).edition and meta.json()["class_count"] == N_CLASSES

    listing = client.get(f"{URL}/classes")
    assert listing.status_code == 200
    codes = [c["code"] for c in listing.json()]
    assert codes[:3] == ["registration", "licence", "penalty"]

    penalty = client.get(f"{URL}/classes/penalty").json()
    assert penalty["publicity"]["windows"]["serious"] == {
        "label": "严重失信行为",
        "min_months": 12,
        "max_months": 36,
        "confidence": "unverified",
        "note": penalty["publicity"]["windows"]["serious"]["note"],
    }
    assert penalty["public_attribute_label"] == "社会公开" and penalty["revision"] == 1
    assert "严重失信行为 12–36个月" in penalty["publicity_summary"]
    assert "updated_by" not in penalty  # who edited is for the audit log, not the public


def test_unknown_class_is_404(client, seeded) -> None:
    response = client.get(f"{URL}/classes/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "info_class_not_found"


def test_not_seeded(client) -> None:
    assert client.get(f"{URL}/classes").json() == []
    response = client.get(URL)
    assert response.status_code == 404 and response.json()["error"]["code"] == "catalog_not_seeded"


def test_writes_need_the_admin(client, seeded) -> None:
    body = {"changes": {"public_attribute": "conditional"}, "reason": "试图修改"}
    assert client.patch(f"{URL}/classes/penalty", json=body).status_code == 401
    assert client.post(f"{URL}/seed", json={}).status_code == 401
    bad = client.patch(f"{URL}/classes/penalty", json=body, headers=auth_headers("not-a-token"))
    assert bad.status_code == 401
    for role in (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM, Role.BANK):
        headers = auth_headers(make_token(seeded, role))
        assert client.patch(f"{URL}/classes/penalty", json=body, headers=headers).status_code == 403, role
        assert client.post(f"{URL}/seed", json={}, headers=headers).status_code == 403, role
    assert client.get(f"{URL}/classes/penalty").json()["public_attribute"] == "public"


def test_admin_corrects_a_class(client, seeded) -> None:
    headers = auth_headers(make_token(seeded, Role.ADMIN))
    response = client.patch(
        f"{URL}/classes/penalty",
        headers=headers,
        json={
            "changes": {"publicity.windows.general.min_months": 6},
            "reason": "本市规定一般失信行为最短公示6个月",
            "expected_revision": 1,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["publicity"]["windows"]["general"]["min_months"] == 6
    assert response.json()["revision"] == 2 and response.json()["origin"] == "admin"

    seeded.expire_all()
    event = events_for(seeded, entity_type="info_class", entity_id="penalty", limit=1)[0]
    assert event.action == "catalog.class.update" and event.actor.startswith("token:")
    assert event.reason == "本市规定一般失信行为最短公示6个月"
    assert verify_chain(seeded).ok

    stale = client.patch(
        f"{URL}/classes/penalty",
        headers=headers,
        json={"changes": {"note": "x"}, "reason": "x", "expected_revision": 1},
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "revision_mismatch"


def test_invalid_corrections_are_422(client, seeded) -> None:
    headers = auth_headers(make_token(seeded, Role.ADMIN))
    no_reason = client.patch(f"{URL}/classes/penalty", headers=headers, json={"changes": {"note": "x"}, "reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    too_long = client.patch(
        f"{URL}/classes/penalty",
        headers=headers,
        json={"changes": {"publicity.windows.general.min_months": 24}, "reason": "试试"},
    )
    error = too_long.json()["error"]
    assert too_long.status_code == 422 and error["code"] == "invalid_change"
    assert "不得长于" in error["details"][0]["reason"]
    missing = client.patch(f"{URL}/classes/penalty", headers=headers, json={"changes": {"note": "x"}})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "validation_failed"
    assert client.get(f"{URL}/classes/penalty").json()["revision"] == 1


def test_admin_seeds(client, session) -> None:
    headers = auth_headers(make_token(session, Role.ADMIN))
    first = client.post(f"{URL}/seed", headers=headers)
    assert first.status_code == 200 and len(first.json()["created"]) == N_CLASSES
    again = client.post(f"{URL}/seed", headers=headers, json={"replace": True})
    assert again.status_code == 200 and again.json()["created"] == [] and len(again.json()["unchanged"]) == N_CLASSES
