"""The commitments API (roles, departments, public masking) and CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.commitments.helpers import PERSON_ID, company_uscc, person_row, register_accepting_unit, row
from tests.factories import auth_headers, make_department, make_token
from tests.records.helpers import seed_catalog
from xinyong.auth.roles import Role
from xinyong.cli import app as cli_app

API = "/api/v1/commitments"


@pytest.fixture
def env(session):
    seed_catalog(session)
    a, b = make_department(session, code="depa"), make_department(session, code="depb")
    register_accepting_unit(session, a)
    return {
        "a": a,
        "b": b,
        "a_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, a)),
        "a_view": auth_headers(make_token(session, Role.DEPT_VIEWER, a)),
        "b_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, b)),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
        "bank": auth_headers(make_token(session, Role.BANK)),
    }


def test_push_list_show_fulfil_and_public(client, env):
    rows = [row(1), row(2, **{"公开类型": "不可公开"}), person_row(), row(3, **{"承诺类型": "胡乱型"})]
    r = client.post(f"{API}/batches", json={"rows": rows}, headers=env["a_op"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["created"], body["rejected"]) == ("partial", 3, 1)
    assert body["errors"][0]["row"] == 4 and body["errors"][0]["column"] == "承诺类型"
    assert PERSON_ID not in r.text
    assert client.post(f"{API}/batches", json={"rows": rows}, headers=env["a_view"]).status_code == 403
    assert client.post(f"{API}/batches", json={"rows": rows}, headers=env["admin"]).status_code == 422  # no dept
    # The same rows pushed again are unchanged.
    assert client.post(f"{API}/batches", json={"rows": rows[:3]}, headers=env["a_op"]).json()["unchanged"] == 3

    listed = client.get(API, headers=env["a_view"]).json()
    assert len(listed) == 3 and PERSON_ID not in json.dumps(listed, ensure_ascii=False)
    assert client.get(API, headers=env["b_op"]).json() == []
    assert client.get(API, params={"department": "depa"}, headers=env["b_op"]).status_code == 403
    assert len(client.get(API, headers=env["admin"]).json()) == 3
    ids = {x["code"][-1]: x["id"] for x in listed}
    public_id, private_id = ids["1"], ids["2"]
    assert client.get(f"{API}/{public_id}", headers=env["b_op"]).status_code == 200  # shared to government
    assert client.get(f"{API}/{private_id}", headers=env["b_op"]).status_code == 404
    assert client.get(f"{API}/{private_id}", headers=env["bank"]).status_code == 403

    breach = {
        "status": "全部未履行",
        "unfulfilled_content": "未补齐",
        "liability_pursued": "撤销许可",
        "expected_revision": 1,
    }
    assert client.post(f"{API}/{public_id}/fulfilments", json=breach, headers=env["b_op"]).status_code == 403
    assert (
        client.post(f"{API}/{public_id}/fulfilments", json={"status": "全部未履行"}, headers=env["a_op"]).json()[
            "error"
        ]["code"]
        == "unfulfilled_content_missing"
    )
    r = client.post(f"{API}/{public_id}/fulfilments", json=breach, headers=env["a_op"])
    assert r.status_code == 201, r.text
    detail = r.json()
    assert detail["broken"] and detail["revision"] == 2 and detail["fulfilments"][0]["breach"]
    assert [h["version_no"] for h in detail["history"]] == [1]
    stale = client.post(f"{API}/{public_id}/fulfilments", json={**breach, "status": "全部履行"}, headers=env["a_op"])
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_revision"

    pub = client.get(f"{API}/public").json()
    assert [x["code"][-1] for x in pub] == ["1"] and pub[0]["broken"] is True
    for key in ("department_id", "actor", "batch_id", "revision", "subject"):
        assert key not in pub[0]
    assert client.get(f"{API}/public", params={"subject": PERSON_ID}).json() == []
    assert [x["code"][-1] for x in client.get(f"{API}/public", params={"subject": company_uscc(1)}).json()] == ["1"]
    gov = client.get(f"{API}/by-subject", params={"subject": PERSON_ID}, headers=env["b_op"])
    assert gov.status_code == 200 and gov.json()[0]["subject"]["resident_id"] != PERSON_ID
    assert PERSON_ID not in gov.text
    assert client.get(f"{API}/by-subject", params={"subject": PERSON_ID}).status_code == 401


def test_file_upload_reject_all(client, env):
    content = json.dumps([row(1), row(2, **{"承诺作出日期": "2024-13-01"})], ensure_ascii=False).encode()
    r = client.post(
        f"{API}/files",
        files={"file": ("c.json", content, "application/json")},
        data={"reject_all_on_error": "true"},
        headers=env["a_op"],
    )
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["accepted"]) == ("rejected", 0)
    assert client.get(API, headers=env["a_op"]).json() == []
    batch = r.json()["batch"]
    assert client.get(f"{API}/batches/{batch}", headers=env["a_view"]).json()["rejected"] == 1
    assert client.get(f"{API}/batches/{batch}", headers=env["b_op"]).status_code == 404


def test_cli_import_list_show_fulfil(database, session, env, tmp_path):
    url = database.url
    path = tmp_path / "c.json"
    path.write_text(json.dumps([row(1), row(2, **{"承诺编码": "123"})], ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(cli_app, ["--db", url, "commitments", "import", str(path), "--department", "depa", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert (summary["created"], summary["rejected"]) == (1, 1)
    r = runner.invoke(
        cli_app,
        ["--db", url, "commitments", "import", str(path), "--department", "depa", "--reject-all-on-error", "--json"],
    )
    assert r.exit_code == 1 and json.loads(r.output)["status"] == "rejected"
    listed = json.loads(runner.invoke(cli_app, ["--db", url, "commitments", "list", "--json"]).output)
    assert len(listed) == 1
    cid = listed[0]["id"]
    r = runner.invoke(cli_app, ["--db", url, "commitments", "fulfil", str(cid), "--status", "部分履行", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "unfulfilled_content_missing"
    r = runner.invoke(
        cli_app,
        [
            "--db",
            url,
            "commitments",
            "fulfil",
            str(cid),
            "--status",
            "部分履行",
            "--unfulfilled",
            "未补齐",
            "--liability-pursued",
            "撤销",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    shown = json.loads(runner.invoke(cli_app, ["--db", url, "commitments", "show", listed[0]["code"], "--json"]).output)
    assert shown["broken"] and shown["fulfilments"][0]["status"] == "partial"
    broken = json.loads(runner.invoke(cli_app, ["--db", url, "commitments", "list", "--broken", "--json"]).output)
    assert [x["id"] for x in broken] == [cid]
    r = runner.invoke(cli_app, ["--db", url, "commitments", "show", "999", "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "commitment_not_found"
