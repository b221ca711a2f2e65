"""Related persons of organisations (``subjects.related``, issue #15 point 3) on both databases: the registry
import fills them from its 法定代表人 columns (the ID encrypted, hashed, masked; a new legal representative ends
the previous one, the history stays); records and list entries only add where none is current; the admin API
and CLI list, add and end them, refuse an unknown role or a bad ID with a clear Chinese 4xx, show IDs masked and
write the access log of the registered persons they show."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_token
from tests.subjects.test_registry_import import HEADER, A, B, write_csv
from xinyong.auth.roles import Role, system_principal
from xinyong.cli import app
from xinyong.core import clock
from xinyong.identifiers import resident_id
from xinyong.identifiers.vault import get_vault
from xinyong.subjects import access_log, related, service
from xinyong.subjects.related import RelatedPerson, RelatedRole, RelatedSource

ACTOR = system_principal("test")
REP = resident_id.make(region="410882", birth_date=dt.date(1975, 4, 1), sequence=31)
OTHER = resident_id.make(region="410882", birth_date=dt.date(1980, 8, 8), sequence=52)


def _registry(tmp_path, rows: list[tuple[str, str, str, str]], name: str = "reg.csv"):
    header = [*HEADER, "法定代表人身份证号码"]
    lines = [
        [c, n, "", "", rep, "有限责任公司", "2018-05-06", "存续", "沁阳市怀庆街道1号", "沁阳市市场监督管理局", rid]
        for c, n, rep, rid in rows
    ]
    path = tmp_path / name
    write_csv(path, lines)
    # write_csv writes the standard header; put ours in its place
    text = path.read_text(encoding="utf-8").splitlines()
    text[0] = ",".join(header)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def _open(session, subject_id: int) -> list[RelatedPerson]:
    return list(
        session.scalars(
            select(RelatedPerson).where(RelatedPerson.subject_id == subject_id, RelatedPerson.valid_to.is_(None))
        )
    )


def test_registry_import_keeps_legal_reps_with_history(session, tmp_path) -> None:
    service.import_registry(
        session,
        actor=ACTOR,
        path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "张三", REP), (B, "沁阳市甲有限公司", "李四", "")]),
    )
    person = service.register_person(session, actor=ACTOR, name="张三", id_number=REP)
    session.commit()
    a, b = service.get_subject(session, A), service.get_subject(session, B)
    [rep] = _open(session, a.id)
    assert rep.role == RelatedRole.LEGAL_REP and rep.name == "张三" and rep.source == RelatedSource.REGISTRY
    assert rep.id_hash == get_vault().lookup_hash(REP) and rep.id_enc and REP not in rep.id_enc
    assert get_vault().decrypt(rep.id_enc) == REP and "*" in (rep.id_masked or "")
    assert rep.provenance["file"] == "reg.csv" and rep.provenance["row"] == 2
    [name_only] = _open(session, b.id)
    assert name_only.id_hash is None and name_only.name == "李四"
    # The same file again: nothing changes.
    service.import_registry(
        session,
        actor=ACTOR,
        path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "张三", REP), (B, "沁阳市甲有限公司", "李四", "")]),
    )
    session.commit()
    assert [r.id for r in _open(session, a.id)] == [rep.id]
    # A new legal representative: the previous row is ended (kept), the new one open.
    service.import_registry(
        session, actor=ACTOR, path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "王五", OTHER)], "reg2.csv")
    )
    session.commit()
    [now] = _open(session, a.id)
    assert now.name == "王五" and now.id != rep.id
    session.refresh(rep)
    assert rep.valid_to == clock.today() and rep.end_reason and "法定代表人" in rep.end_reason
    # The person registered after the import: the rows with their ID's hash are linked to them.
    assert person.resident_id_hash == rep.id_hash and rep.person_subject_id == person.id


def test_records_and_lists_add_only_where_none_is_current(session, tmp_path) -> None:
    service.import_registry(
        session,
        actor=ACTOR,
        path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "张三", ""), (B, "沁阳市甲有限公司", "", "")]),
    )
    session.commit()
    a, b = service.get_subject(session, A), service.get_subject(session, B)
    counts = related.note_legal_reps(
        session,
        [
            related.RelatedInput(subject_id=a.id, name="张三", id_number=REP, provenance={"doc_no": "X1"}),
            related.RelatedInput(subject_id=b.id, name="赵六", id_number="123", provenance={"doc_no": "X2"}),
        ],
        source=RelatedSource.RECORD,
        actor="test",
    )
    assert counts["completed"] == 1 and counts["added"] == 1
    [a_rep] = _open(session, a.id)
    assert a_rep.id_hash == get_vault().lookup_hash(REP) and a_rep.source == RelatedSource.RECORD
    [b_rep] = _open(session, b.id)
    assert b_rep.name == "赵六" and b_rep.id_hash is None  # an invalid ID is ignored, the name kept
    # Somebody else named by an (older) record: the register is not changed.
    counts = related.note_legal_reps(
        session,
        [related.RelatedInput(subject_id=a.id, name="钱七", id_number=OTHER)],
        source=RelatedSource.LIST_ENTRY,
        actor="test",
    )
    assert counts == {"added": 0, "completed": 0, "ended": 0, "unchanged": 0, "conflicts": 1, "skipped": 0}
    assert [r.name for r in _open(session, a.id)] == ["张三"]


@pytest.fixture
def env(session, tmp_path):
    service.import_registry(session, actor=ACTOR, path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "", "")]))
    service.register_person(session, actor=ACTOR, name="张三", id_number=REP)
    session.commit()
    return {
        "admin": auth_headers(make_token(session, Role.ADMIN)),
        "dept": auth_headers(make_token(session, Role.DEPT_OPERATOR)),
    }


def test_api_lists_adds_and_ends_with_ids_masked_and_access_logged(client, session, env) -> None:
    url = f"/api/v1/subjects/{A}/related-persons"
    r = client.post(url, headers=env["admin"], json={"role": "legal_rep", "name": "张三", "resident_id": REP})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role_label"] == "法定代表人" and body["source"] == "manual" and body["current"] is True
    assert body["resident_id"] != REP and "*" in body["resident_id"] and REP not in r.text
    person = service.get_subject(session, REP)
    assert body["person_subject_id"] == person.id
    # the same person again in the same role: refused
    again = client.post(url, headers=env["admin"], json={"role": "法定代表人", "name": "张三", "resident_id": REP})
    assert again.status_code == 422 and again.json()["error"]["code"] == "related_exists"
    r = client.post(url, headers=env["admin"], json={"role": "director", "name": "孙董事"})
    assert r.status_code == 201

    listed = client.get(url, headers=env["admin"], params={"purpose": "任职审查"})
    assert listed.status_code == 200 and REP not in listed.text
    assert [x["role"] for x in listed.json()] == ["legal_rep", "director"]
    session.rollback()
    total, rows = access_log.entries(session, subject_id=person.id)
    assert total == 1 and rows[0].purpose == "任职审查" and rows[0].endpoint == "subjects.related_persons"
    # By the person's ID: the organisations where the person holds a role (and the person's access log).
    mine = client.get(f"/api/v1/subjects/{REP}/related-persons", headers=env["admin"])
    assert mine.status_code == 200 and [x["subject_id"] for x in mine.json()] == [service.get_subject(session, A).id]
    session.rollback()
    assert access_log.entries(session, subject_id=person.id)[0] == 2

    ended = client.post(f"{url}/{body['id']}/end", headers=env["admin"], json={"reason": "辞去法定代表人"})
    assert (
        ended.status_code == 200 and ended.json()["current"] is False and ended.json()["end_reason"] == "辞去法定代表人"
    )
    twice = client.post(f"{url}/{body['id']}/end", headers=env["admin"], json={"reason": "再次"})
    assert twice.status_code == 422 and twice.json()["error"]["code"] == "related_already_ended"
    current = client.get(url, headers=env["admin"], params={"current": True}).json()
    assert [x["role"] for x in current] == ["director"]
    assert len(client.get(url, headers=env["admin"]).json()) == 2  # the ended row stays (history)


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        ({"role": "cfo", "name": "张三"}, "related_role_unknown", "未知的关联人员职务"),
        (
            {"role": "legal_rep", "name": "张三", "resident_id": "410882197504010000"},
            "related_id_invalid",
            "身份证号码无效",
        ),
        ({"role": "legal_rep", "name": "   "}, "related_name_missing", "姓名不能为空"),
        ({"role": "legal_rep", "name": "张三", "valid_from": "2999-01-01"}, "related_date_in_future", "不能晚于今天"),
    ],
)
def test_bad_input_is_a_clear_422(client, env, payload, code, words) -> None:
    r = client.post(f"/api/v1/subjects/{A}/related-persons", headers=env["admin"], json=payload)
    assert r.status_code == 422 and r.json()["error"]["code"] == code and words in r.json()["error"]["message"]


def test_only_the_admin_and_only_organisations(client, env) -> None:
    url = f"/api/v1/subjects/{A}/related-persons"
    assert client.get(url, headers=env["dept"]).status_code == 403
    assert client.post(url, headers=env["dept"], json={"role": "legal_rep", "name": "张三"}).status_code == 403
    assert client.get(url).status_code == 401
    r = client.post(
        f"/api/v1/subjects/{REP}/related-persons", headers=env["admin"], json={"role": "legal_rep", "name": "某"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "related_on_person"
    assert client.get("/api/v1/subjects/91410882MA00000000/related-persons", headers=env["admin"]).status_code == 404
    r = client.post(f"{url}/999999/end", headers=env["admin"], json={"reason": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "related_not_found"


def test_cli_add_list_end(database, env) -> None:
    runner = CliRunner()
    base = ["--db", database.url, "subjects", "related"]
    r = runner.invoke(app, [*base, "add", A, "--role", "legal_rep", "--name", "张三", "--id", REP, "--json"])
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    assert added["role"] == "legal_rep" and REP not in r.stdout
    r = runner.invoke(app, [*base, "list", A, "--json"])
    assert r.exit_code == 0 and [x["name"] for x in json.loads(r.stdout)] == ["张三"]
    r = runner.invoke(app, [*base, "list", REP, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["id"] == added["id"] and REP not in r.stdout
    r = runner.invoke(app, [*base, "add", A, "--role", "cfo", "--name", "某", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "related_role_unknown"
    r = runner.invoke(app, [*base, "add", A, "--role", "director", "--name", "某", "--id", "123", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "related_id_invalid"
    r = runner.invoke(app, [*base, "end", A, str(added["id"]), "--reason", "变更", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["current"] is False
    r = runner.invoke(app, [*base, "list", A, "--current"])
    assert r.exit_code == 0 and "张三" not in r.stdout


def test_a_record_naming_the_legal_rep_adds_them_with_the_id(session) -> None:
    from tests.factories import make_department
    from tests.records.helpers import company_uscc, make_batch, penalty, seed_catalog
    from xinyong.core.db import utcnow
    from xinyong.records import upsert as records_upsert

    seed_catalog(session)
    dept = make_department(session, code="scjgj")
    row = penalty(code=company_uscc(5), party="沁阳市记录法人有限公司")
    row.legal_rep, row.legal_rep_id_number = "周八", REP
    batch = make_batch(session, dept.id, batch_id=71)
    records_upsert.upsert_records(
        session, actor=ACTOR, department_id=dept.id, batch_id=batch, received_at=utcnow(), rows=[row]
    )
    session.commit()
    company = service.get_subject(session, company_uscc(5))
    [rep] = _open(session, company.id)
    assert rep.name == "周八" and rep.source == RelatedSource.RECORD and rep.id_hash == get_vault().lookup_hash(REP)
    assert rep.valid_from == row.decision_date and rep.provenance["doc_no"] == row.doc_no_norm


def test_concurrent_writers_open_one_row(database, session, tmp_path) -> None:
    import threading

    service.import_registry(session, actor=ACTOR, path=_registry(tmp_path, [(A, "沁阳市宏达机械有限公司", "", "")]))
    session.commit()
    subject_id = service.get_subject(session, A).id
    start = threading.Barrier(3)
    results: list[dict] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait(timeout=30)
            results.append(
                database.run(
                    lambda s: related.note_legal_reps(
                        s,
                        [related.RelatedInput(subject_id=subject_id, name="张三", id_number=REP)],
                        source=RelatedSource.RECORD,
                        actor="test",
                    )
                )
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(r["added"] - r["skipped"] for r in results) == [0, 1]
    session.rollback()
    assert len(_open(session, subject_id)) == 1
