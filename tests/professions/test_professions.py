"""Key professions (issue #18 part 2) through the HTTP API, on every backend: the catalogue, registrations pushed by
the supervising department (row errors, atomic batch, idempotent, versioned), the profession file (role, purpose,
access log, masked ID) and profession lists seen by the check in a hiring scenario."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from tests.factories import ACTOR
from tests.professions.helpers import build, doctor_rows, person_id
from xinyong.lists import service as lists_service
from xinyong.professions import catalog
from xinyong.professions.models import ProfessionRegistration, ProfessionRegistrationVersion
from xinyong.subjects.access_log import SubjectAccess

PUSH = "/api/v1/professions/doctor/registrations"


def test_catalogue_has_the_fourteen_groups_with_legal_basis() -> None:
    professions = catalog.professions()
    assert len(professions) == 14
    assert {"civil_servant", "lawyer", "teacher", "doctor", "tour_guide", "auditor"} <= set(professions)
    for p in professions.values():
        assert p.legal_basis and p.departments and p.licence
    assert professions["civil_servant"].hr_only and professions["civil_servant"].file_readers == ["zzb", "rsj"]
    assert catalog.profession_lists()["tour_guide_blacklist"] == "tour_guide"


def test_push_is_atomic_idempotent_and_versioned(client, session) -> None:
    env = build(session)
    rows = doctor_rows(env)
    bad = [*rows, {"姓名": "坏行", "身份证号码": "410882199901011234", "证书编号": ""}]
    resp = client.post(PUSH, json={"rows": bad}, headers=env.wjw_op)
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "batch_rejected"
    assert {p["code"] for p in err["details"]["problems"]} == {"required", "resident_id_invalid"}
    assert all(p["row"] == 4 for p in err["details"]["problems"])
    assert "410882199901011234" not in resp.text  # never an ID in clear
    assert session.scalar(select(func.count()).select_from(ProfessionRegistration)) == 0  # nothing written

    resp = client.post(PUSH, json={"rows": rows}, headers=env.wjw_op)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["created"], resp.json()["persons_registered"]) == (3, 3)
    again = client.post(PUSH, json={"rows": rows}, headers=env.wjw_op).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    rows[0]["状态"] = "暂停执业"
    changed = client.post(PUSH, json={"rows": rows}, headers=env.wjw_op).json()
    assert (changed["updated"], changed["unchanged"]) == (1, 2)
    session.commit()
    assert session.scalar(select(func.count()).select_from(ProfessionRegistrationVersion)) == 4
    listing = client.get("/api/v1/professions/registrations", params={"profession": "doctor"}, headers=env.wjw_op)
    assert listing.status_code == 200 and listing.json()["total"] == 3
    item = listing.json()["items"][0]
    assert item["employer"]["name"] == "沁阳市人民医院" and item["person"]["resident_id"].count("*") >= 4
    assert person_id(0) not in listing.text
    one = client.get(f"/api/v1/professions/registrations/{item['id']}", headers=env.wjw_op).json()
    assert [h["revision"] for h in one["history"]] == ([1, 2] if one["status"] == "suspended" else [1])


def test_only_the_supervising_department_submits(client, session) -> None:
    env = build(session)
    resp = client.post(PUSH, json={"rows": doctor_rows(env)}, headers=env.other_op)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "profession_not_supervised"
    rows = doctor_rows(env, 1)
    rows[0]["执业单位统一社会信用代码"] = "91410882MA00000000"
    resp = client.post(PUSH, json={"rows": rows}, headers=env.wjw_op)
    assert resp.status_code == 422
    assert {p["code"] for p in resp.json()["error"]["details"]["problems"]} <= {
        "employer_uscc_invalid",
        "employer_unknown",
    }
    # the admin acts for the supervising department
    ok = client.post(PUSH, json={"rows": doctor_rows(env, 1)}, headers=env.admin)
    assert ok.status_code == 200 and ok.json()["department"] == "wjw"


def _listed_doctor(client, session, env):  # type: ignore[no-untyped-def]
    assert client.post(PUSH, json={"rows": doctor_rows(env, 2)}, headers=env.wjw_op).status_code == 200
    today = dt.date.today()
    lists_service.create_entry(
        session,
        actor=ACTOR,
        list_code="doctor_bad_practice",
        subject_code=person_id(0),
        reason="记分周期内不良执业行为累计记分达到12分",
        decision_no="沁卫记分〔2026〕1号",
        department="wjw",
        notice_given_on=today - dt.timedelta(days=30),
    )
    session.commit()


def test_profession_file_role_purpose_and_access_log(client, session) -> None:
    env = build(session)
    _listed_doctor(client, session, env)
    url = f"/api/v1/professions/file/{person_id(0)}"
    # no purpose: refused and logged
    resp = client.get(url, headers=env.wjw_viewer)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "purpose_required"
    # a department that does not supervise doctors: refused and logged
    resp = client.get(url, params={"purpose": "hiring"}, headers=env.other_op)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "profession_file_not_allowed"
    # business systems never
    resp = client.get(url, params={"purpose": "hiring"}, headers=env.business)
    assert resp.status_code == 403
    resp = client.get(url, params={"purpose": "supervision"}, headers=env.wjw_viewer)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["registrations"][0]["certificate_no"].startswith("110410882")
    assert data["registrations"][0]["employer"]["uscc"] == env.hospital_uscc
    assert [e["list_code"] for e in data["lists"]] == ["doctor_bad_practice"]
    assert data["lists"][0]["profession"] == "doctor" and data["profession_list_entries"] == 1
    assert data["civil_servant"] is None
    assert person_id(0) not in resp.text and data["subject"]["resident_id"]
    session.commit()
    log = list(session.scalars(select(SubjectAccess).order_by(SubjectAccess.id)))
    assert [(r.outcome, r.error_code) for r in log] == [
        ("denied", "purpose_required"),
        ("denied", "profession_file_not_allowed"),
        ("denied", "role_not_allowed"),
        ("allowed", None),
    ]
    assert "执业监管" in log[-1].purpose and "list_entry" in log[-1].scope


def test_hiring_check_sees_profession_list_entry(client, session) -> None:
    env = build(session)
    _listed_doctor(client, session, env)
    resp = client.post(
        "/api/v1/checks", json={"scenario": "hiring", "subjects": [{"code": person_id(0)}]}, headers=env.business
    )
    assert resp.status_code == 200, resp.text
    codes = {m["code"] for r in resp.json()["results"] for m in r["measures"]}
    assert "doctor_bad_practice_hiring" in codes
    clean = client.post(
        "/api/v1/checks", json={"scenario": "hiring", "subjects": [{"code": person_id(1)}]}, headers=env.business
    ).json()
    assert not [m for r in clean["results"] for m in r["measures"]]


def test_concurrent_pushes_of_the_same_certificates(database, session) -> None:
    """Three departments' systems pushing the same batch at once: each certificate created once, no error."""
    import threading

    from tests.factories import ACTOR
    from xinyong.professions import service

    env = build(session)
    rows = [(i + 1, {**r}) for i, r in enumerate(doctor_rows(env, 5))]
    fields = {"姓名": "name", "身份证号码": "resident_id", "证书编号": "certificate_no", "状态": "status"}
    mapped = [(n, {fields[k]: v for k, v in r.items() if k in fields}) for n, r in rows]
    barrier = threading.Barrier(3)
    results: list[dict] = []
    errors: list[BaseException] = []

    def push() -> None:
        barrier.wait()
        try:
            results.append(
                database.run(
                    lambda s: service.upsert_registrations(
                        s, actor=ACTOR, profession="doctor", rows=mapped, department="wjw"
                    )
                )
            )
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(r["created"] for r in results) == [0, 0, 5]
    session.commit()
    assert session.scalar(select(func.count()).select_from(ProfessionRegistration)) == 5
