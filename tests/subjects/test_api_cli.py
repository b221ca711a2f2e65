"""Subject registry through the HTTP API and the CLI."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from tests.factories import auth_headers, make_token
from tests.subjects.test_registry_import import A, B, row, write_csv
from xinyong.auth.roles import Role, system_principal
from xinyong.cli import app
from xinyong.identifiers import resident_id, uscc
from xinyong.subjects import service

ACTOR = system_principal("test")
PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 9), sequence=77)


def _seed(session, tmp_path):
    service.import_registry(
        session,
        actor=ACTOR,
        path=write_csv(
            tmp_path / "r.csv", [row(A, "沁阳市宏达机械有限公司"), row(B, "沁阳市怀府小吃店", kind="个体工商户")]
        ),
    )
    service.register_person(session, actor=ACTOR, name="李医生", id_number=PERSON_ID, profession="doctor")
    session.commit()


def test_public_reads_organisations_but_never_persons(client, session, tmp_path):
    _seed(session, tmp_path)
    r = client.get(f"/api/v1/subjects/{A}")
    assert r.status_code == 200 and r.json()["name"] == "沁阳市宏达机械有限公司"
    assert client.get("/api/v1/subjects", params={"q": "宏达机械"}).json()[0]["uscc"] == A
    r = client.get(f"/api/v1/subjects/{PERSON_ID}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "subject_not_found"
    assert PERSON_ID not in r.text
    assert client.get("/api/v1/subjects", params={"q": "李医生"}).json() == []
    r = client.get("/api/v1/subjects", params={"q": "x", "kind": "natural_person"})
    assert r.status_code == 422


def test_department_reads_person_masked_and_is_audited(client, session, tmp_path):
    _seed(session, tmp_path)
    token = make_token(session, Role.DEPT_VIEWER)
    r = client.get(f"/api/v1/subjects/{PERSON_ID}", params={"purpose": "执业资格核查"}, headers=auth_headers(token))
    assert r.status_code == 200
    body = r.json()
    assert body["resident_id"].startswith("410882") and "*" in body["resident_id"]
    assert PERSON_ID not in r.text
    from xinyong.core.audit import events_for

    session.expire_all()
    ev = events_for(session, entity_type="subject", entity_id=body["id"])[0]
    assert ev.action == "subjects.person_viewed" and ev.reason == "执业资格核查" and ev.actor.startswith("token:")


def test_upload_registry_admin_only(client, session, tmp_path):
    path = write_csv(tmp_path / "r.csv", [row(A, "沁阳市宏达机械有限公司"), row("bad", "沁阳市坏码有限公司")])
    files = {"file": ("登记.csv", path.read_bytes(), "text/csv")}
    assert client.post("/api/v1/subjects/imports", files=files).status_code == 401
    op = make_token(session, Role.DEPT_OPERATOR)
    assert client.post("/api/v1/subjects/imports", files=files, headers=auth_headers(op)).status_code == 403
    admin = make_token(session, Role.ADMIN)
    r = client.post("/api/v1/subjects/imports", files=files, headers=auth_headers(admin))
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["created"] == 1 and report["rejected"] == 1
    r = client.get(f"/api/v1/subjects/imports/{report['import_id']}", headers=auth_headers(admin))
    assert r.json()["problems"][0]["row"] == 3


def test_register_person_validates(client, session):
    op = make_token(session, Role.DEPT_OPERATOR)
    bad = PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")
    r = client.post("/api/v1/subjects/persons", json={"name": "王五", "resident_id": bad}, headers=auth_headers(op))
    assert r.status_code == 422 and r.json()["error"]["code"]
    r = client.post(
        "/api/v1/subjects/persons", json={"name": "王五", "resident_id": PERSON_ID}, headers=auth_headers(op)
    )
    assert r.status_code == 201 and PERSON_ID not in r.text
    r = client.post(
        "/api/v1/subjects/persons", json={"name": "王五", "resident_id": PERSON_ID}, headers=auth_headers(op)
    )
    assert r.status_code == 409


def test_cli_import_show_quality(database, tmp_path):
    runner = CliRunner()
    path = write_csv(
        tmp_path / "r.csv", [row(A, "沁阳市宏达机械有限公司"), row("", "沁阳市老店有限公司", reg="410882100000009")]
    )
    r = runner.invoke(app, ["--db", database.url, "subjects", "import", str(path), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["created"] == 2 and report["without_uscc"]["count"] == 1
    r = runner.invoke(app, ["--db", database.url, "subjects", "show", A, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["uscc"] == A
    r = runner.invoke(app, ["--db", database.url, "subjects", "show", "91000000000000000X", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "subject_not_found"
    r = runner.invoke(app, ["--db", database.url, "subjects", "import", str(tmp_path / "missing.csv")])
    assert r.exit_code == 2 and "文件不存在" in r.output
    r = runner.invoke(app, ["--db", database.url, "subjects", "quality", "--json"])
    assert json.loads(r.stdout)["uscc_conversion_rate"] == 0.5


def test_cli_register_organisation_and_person(database):
    """`xinyong subjects register`: one subject the registry lacks (a department as a government body); a person with
    --person, shown masked; a bad code or a second registration refused with a non-zero exit and JSON."""
    runner = CliRunner()
    body = uscc.make(authority="1", category="1", region="410882", org_body="MB123456")
    base = ["--db", database.url, "subjects", "register"]
    r = runner.invoke(app, [*base, body, "--name", "沁阳市测试局", "--reason", "政务诚信主体", "--json"])
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["uscc"] == body and made["org_type"] and made["kind"] == "legal_person"
    r = runner.invoke(app, [*base, body, "--name", "沁阳市测试局", "--json"])
    assert r.exit_code != 0 and json.loads(r.stdout)["error"]["code"]
    r = runner.invoke(app, [*base, "91000000000000000X", "--name", "坏代码", "--json"])
    assert r.exit_code != 0 and json.loads(r.stdout)["error"]["code"]
    r = runner.invoke(app, [*base, PERSON_ID, "--person", "--name", "王律师", "--profession", "lawyer", "--json"])
    assert r.exit_code == 0, r.output
    person = json.loads(r.stdout)
    assert person["kind"] == "natural_person" and PERSON_ID not in r.stdout and person["resident_id"].count("*") >= 8
