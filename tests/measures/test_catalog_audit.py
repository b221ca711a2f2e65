"""`xinyong catalog audit` and GET /api/v1/catalog/audit (issue #18.5): every number, rule and legal basis marked
unverified / low in the catalog, the list types and the measures, with where it is, its value and its basis; an
admin's correction of a catalog value shows as confirmed, with who changed it, when and why."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.factories import ACTOR, auth_headers, make_department, make_token
from tests.measures.helpers import seed_all
from xinyong.auth.roles import Role
from xinyong.catalog import service as catalog_service
from xinyong.cli import app as cli
from xinyong.measures import audit


def _audit(database, *args: str) -> tuple[int, dict]:
    r = CliRunner().invoke(cli, ["--db", database.url, "catalog", "audit", *args, "--json"])
    return r.exit_code, (json.loads(r.stdout) if r.stdout.strip() else {})


def test_cli_lists_unverified_items_with_place_value_and_basis(database, session) -> None:
    seed_all(session)
    code, data = _audit(database)
    assert code == 0
    items = {i["path"]: i for i in data["items"]}
    assert data["summary"]["total"] == len(items) and set(data["summary"]["by_source"]) == {
        "catalog",
        "list_types",
        "measures",
    }
    # The 7-working-day rule of 双公示: where it is, its value, what it rests on.
    t = items["classes[penalty].publicity.timeliness"]
    assert t["file"] == "catalog/data/catalog.yaml" and t["status"] == "unverified" and t["kind"] == "rule"
    assert t["value"]["days"] == 7 and t["value"]["unit"] == "workday"
    assert any("行政处罚法" in b["title"] for b in t["legal_basis"])
    # A new list type's term, a removal rule's minimum, a memorandum's number recalled from memory.
    lt = items["types[trading_dishonest]"]
    assert lt["file"] == "lists/data/list_types.yaml" and lt["status"] == "low" and lt["value"]["term_months"] == 36
    assert any("457号" in b["title"] for b in lt["legal_basis"])
    assert items["types[wage_arrears_dishonest].removal_rules[0]"]["value"]["min_months"] == 12
    source = items["sources[0]"]  # the documents the catalog follows: 基础目录 2024 and its number
    assert source["kind"] == "document" and source["value"]["number"] == "发改财金规〔2024〕203号"
    memo = items["memoranda[ndrc_2018_457]"]
    assert memo["kind"] == "document" and memo["value"]["doc_no"] == "发改法规〔2018〕457号" and memo["status"] == "low"
    trigger = items["measures[record_procurement_major_violation]"]
    assert trigger["value"]["triggers"]["records"]["min_fine_wan"] in (200, "200")
    # Verified items are not listed; the city plan (verified) is not, its basis entries neither.
    assert "memoranda[qinyang_plan]" not in items
    assert all(i["confidence"] in ("unverified", "low") for i in data["items"])
    code, low = _audit(database, "--only", "low", "--source", "list_types")
    assert code == 0 and low["items"] and {(i["status"], i["source"]) for i in low["items"]} == {("low", "list_types")}
    code, bad = _audit(database, "--only", "maybe")
    assert code == 2 and bad["error"]["code"] == "bad_only"


def test_an_admin_correction_shows_as_confirmed_with_who_and_why(session) -> None:
    seed_all(session)
    path = "classes[penalty].publicity.windows.general"
    before = {i.path: i for i in audit.audit(session)}[path]
    assert before.status == "unverified" and before.corrected is None and before.value["max_months"] == 12
    catalog_service.update_class(
        session,
        actor=ACTOR,
        code="penalty",
        changes={"publicity.windows.general.max_months": 6, "publicity.windows.general.confidence": "verified"},
        reason="已核对第58号令原文",
    )
    session.commit()
    after = {i.path: i for i in audit.audit(session)}
    item = after[path]
    assert item.status == "confirmed" and item.confidence == "verified" and item.value["max_months"] == 6
    assert item.file_confidence == "unverified" and item.file_value["max_months"] == 12
    assert item.corrected is not None and item.corrected["reason"] == "已核对第58号令原文"
    assert item.corrected["by"] == ACTOR.actor and item.corrected["revision"] == 2
    # Other items of the class are unchanged: no correction attached.
    assert after["classes[penalty].publicity.timeliness"].corrected is None
    assert [i.path for i in audit.audit(session, only="confirmed")] == [path]


def test_before_any_seed_the_files_are_read(session) -> None:
    items = audit.audit(session, source="list_types")
    assert "types[customs_aeo]" in {i.path for i in items}


def test_api_is_for_the_credit_office_only(client, session) -> None:
    seed_all(session)
    dept = make_department(session, code="fgw", name="沁阳市发展和改革委员会")
    admin = auth_headers(make_token(session, Role.ADMIN))
    operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, dept))
    r = client.get("/api/v1/catalog/audit", params={"only": "low", "source": "measures"}, headers=admin)
    assert r.status_code == 200
    body = r.json()
    assert body["items"] and all(i["status"] == "low" and i["source"] == "measures" for i in body["items"])
    assert client.get("/api/v1/catalog/audit", headers=operator).status_code == 403
    assert client.get("/api/v1/catalog/audit").status_code in (401, 403)
    assert client.get("/api/v1/catalog/audit", params={"only": "maybe"}, headers=admin).status_code == 422


def test_console_page_for_the_admin(client, session) -> None:
    seed_all(session)
    dept = make_department(session, code="fgw", name="沁阳市发展和改革委员会")
    admin = auth_headers(make_token(session, Role.ADMIN))
    operator = auth_headers(make_token(session, Role.DEPT_OPERATOR, dept))
    page = client.get("/console/catalog-audit", params={"source": "list_types", "only": "low"}, headers=admin)
    assert page.status_code == 200
    assert "types[trading_dishonest]" in page.text and "发改法规〔2018〕457号" in page.text
    assert "classes[penalty]" not in page.text  # filtered to the list types
    assert client.get("/console/catalog-audit", headers=operator).status_code == 403
