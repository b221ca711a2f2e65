"""Evaluation through its surfaces: the API (run by the admin, results for government roles, the public view
governed by the catalog), the CLI (models, run, explain, sample), the check's grade field, and reproducible
double-random sampling lists with reasons."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from typer.testing import CliRunner

from tests.evaluation.helpers import TODAY, entry, org, record, seed
from tests.factories import ACTOR, auth_headers, make_department, make_token
from xinyong.auth.roles import Principal, Role
from xinyong.catalog import service as catalog_service
from xinyong.cli import app
from xinyong.core.errors import Forbidden
from xinyong.evaluation import service, supervision

API = "/api/v1/evaluation"
runner = CliRunner()


def _setup(session, n=3):
    depts = seed(session)
    subjects = [org(session) for _ in range(n)]
    service.run_evaluation(session, actor=ACTOR, as_of=TODAY)
    session.commit()
    return depts, subjects


def test_api_run_is_admin_only_and_results_are_explained(client, session) -> None:
    depts, [a, _b, _c] = _setup(session)
    entry(session, a, "tax_serious_dishonest")
    admin = auth_headers(make_token(session, Role.ADMIN))
    viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, depts["wjw"]))
    assert client.post(f"{API}/runs", json={}, headers=viewer).status_code == 403
    r = client.post(
        f"{API}/runs",
        json={"model": "public_credit_legal_person", "subjects": [a.uscc], "as_of": TODAY.isoformat()},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    [run] = r.json()
    assert run["scope"] == "subset" and run["grade_changed"] == 1

    r = client.get(f"{API}/subjects/{a.uscc}", headers=viewer)
    assert r.status_code == 200, r.text
    general = next(x for x in r.json()["results"] if x["model"] == "public_credit_legal_person")
    assert general["grade"] == "D" and general["grade_label"] == "严重失信" and general["rule"] == "serious_black_list"
    assert any(line["indicator"] == "black_list" and line["points"] == -30 for line in general["explanation"]["lines"])
    assert [(h["from_grade"], h["to_grade"]) for h in general["history"]] == [("B", "D"), (None, "B")]
    assert client.get(f"{API}/models", headers=viewer).json()[0]["grade_rules"]


def test_public_view_follows_the_catalog(client, session) -> None:
    _, [a, *_] = _setup(session, 1)
    assert client.get(f"{API}/public/subjects/{a.uscc}").json()["results"] == []  # 政务共享 by default
    catalog_service.update_class(
        session,
        actor=ACTOR,
        code="evaluation",
        changes={"public_attribute": "public"},
        reason="本市决定公开公共信用综合评价结果",
    )
    session.commit()
    results = client.get(f"{API}/public/subjects/{a.uscc}").json()["results"]
    assert {r["model"] for r in results} == {"public_credit_legal_person"}
    assert results[0]["grade"] == "B" and results[0]["history"] is None


def test_check_returns_the_grade_to_government_callers(session) -> None:
    from tests.measures.helpers import seed_all
    from xinyong.measures.check import SubjectQuery, run_check

    seed_all(session)
    czj = make_department(session, code="czj", name="沁阳市财政局")
    a = org(session)
    service.run_evaluation(session, actor=ACTOR, as_of=TODAY)
    session.commit()
    system = Principal(kind="token", name="采购系统", role=Role.BUSINESS_SYSTEM, department_id=czj.id, token_id=1)
    answer = run_check(session, actor=system, subjects=[SubjectQuery(code=a.uscc)], scenario="general", on=TODAY)
    session.commit()
    [grade] = answer["results"][0]["grades"]
    assert grade["model"] == "public_credit_legal_person" and grade["grade"] == "B"
    catalog_service.update_class(
        session, actor=ACTOR, code="evaluation", changes={"public_attribute": "restricted"}, reason="测试：不予共享"
    )
    session.commit()
    answer = run_check(session, actor=system, subjects=[SubjectQuery(code=a.uscc)], scenario="general", on=TODAY)
    session.commit()
    assert answer["results"][0]["grades"] == []


def test_sampling_is_reproducible_per_grade_with_reasons(session) -> None:
    depts, subjects = _setup(session, 30)
    for s in subjects[:4]:
        entry(session, s, "samr_abnormal")
    service.run_evaluation(session, actor=ACTOR, as_of=TODAY)
    session.commit()
    one = supervision.sample(session, actor=ACTOR, department="scjgj", period="2026-12", seed=42)
    two = supervision.sample(session, actor=ACTOR, department="scjgj", period="2026-12", seed=42)
    other = supervision.sample(session, actor=ACTOR, department="scjgj", period="2026-12", seed=43)
    assert one["subjects"] == two["subjects"] and one["digest"] == two["digest"]
    assert one["digest"] != other["digest"]
    grades = {g["grade"]: g for g in one["grades"]}
    assert grades["B"]["pool"] == 26 and grades["B"]["drawn"] == 2  # ceil(26 × 5 %)
    assert grades["C"]["pool"] == 4 and grades["C"]["drawn"] == 1  # ceil(4 × 15 %)
    assert all("抽查比例" in s["reason"] and s["name"] for s in one["subjects"])
    viewer = Principal(kind="user", name="v", role=Role.DEPT_VIEWER, department_id=depts["wjw"].id, user_id=1)
    with pytest.raises(Forbidden):
        supervision.sample(session, actor=viewer, department="scjgj", period="2026-12", seed=1)


def test_sampling_csv_escapes_formulas(client, session) -> None:
    seed(session)
    for i in range(3):  # whichever is drawn, its name starts with "="
        org(session, f'=HYPERLINK("http://x")有限公司{i}')
    service.run_evaluation(session, actor=ACTOR, as_of=TODAY)
    session.commit()
    admin = auth_headers(make_token(session, Role.ADMIN))
    r = client.get(
        f"{API}/sample", params={"department": "scjgj", "period": "2026-12", "seed": 7, "format": "csv"}, headers=admin
    )
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    names = [row[1] for row in rows[1:]]
    assert names and all(n.startswith("'=HYPERLINK(") for n in names)


def test_licensee_pool_samples_only_the_departments_licensees(session) -> None:
    depts = seed(session)
    clinic = org(session, name="沁阳市济民诊所")
    record(session, clinic, depts["wjw"], kind="licence", decided=dt.date(2025, 1, 1), valid_to=dt.date(2030, 1, 1))
    named_only = org(session, name="沁阳市康复医院")
    service.run_evaluation(session, actor=ACTOR, as_of=TODAY)
    session.commit()
    out = supervision.sample(
        session, actor=ACTOR, department="wjw", period="2026-Q4", seed=1, model="medical_institution_demerit"
    )
    assert out["pool_size"] == 1 and [s["subject_id"] for s in out["subjects"]] == [clinic.id]
    assert named_only.id not in {s["subject_id"] for s in out["subjects"]}


def test_cli_models_run_explain_show_sample(database, session) -> None:
    seed(session)
    a = org(session)
    entry(session, a, "samr_abnormal")
    db = ["--db", str(database.engine.url.render_as_string(hide_password=False))]
    r = runner.invoke(app, [*db, "evaluation", "models", "--json"])
    assert r.exit_code == 0, r.output
    assert {m["code"] for m in json.loads(r.output)} >= {"public_credit_legal_person", "environment_credit"}
    r = runner.invoke(app, [*db, "evaluation", "run", "--model", "public_credit_legal_person", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["evaluated"] == 1
    r = runner.invoke(app, [*db, "evaluation", "explain", a.uscc])
    assert r.exit_code == 0, r.output
    assert "经营异常名录" in r.output and "最高评为 C" in r.output
    r = runner.invoke(app, [*db, "evaluation", "show", a.uscc, "--json"])
    assert json.loads(r.output)[0]["grade"] == "C"
    r = runner.invoke(app, [*db, "subjects", "show", a.uscc, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["evaluations"][0]["grade"] == "C"
    r = runner.invoke(
        app, [*db, "evaluation", "sample", "--department", "scjgj", "--period", "2026-12", "--seed", "7", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["drawn"] == 1
    r = runner.invoke(app, [*db, "evaluation", "sample", "--department", "scjgj", "--period", "12/2026", "--seed", "7"])
    assert r.exit_code == 2
