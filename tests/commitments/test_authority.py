"""The authority rule for commitments (both backends): 承诺受理单位 must be the submitting department or a unit
registered for it, on every path (API push, file upload, CLI, the admin acting for a department)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.commitments.helpers import accepted_by, row
from tests.factories import auth_headers, make_department, make_token, make_uscc, register_authority
from tests.records.helpers import seed_catalog
from xinyong.auth.roles import Role
from xinyong.cli import app as cli_app
from xinyong.commitments.models import Commitment

API = "/api/v1/commitments"
A_NAME, B_NAME = "沁阳市市场监督管理局", "沁阳市卫生健康委员会"


@pytest.fixture
def env(session):
    seed_catalog(session)
    a = make_department(session, code="scjgj", name=A_NAME, uscc=make_uscc(4401))
    b = make_department(session, code="wjw", name=B_NAME, uscc=make_uscc(4402))
    return {
        "a": a,
        "b": b,
        "a_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, a)),
        "b_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, b)),
        "admin": auth_headers(make_token(session, Role.ADMIN)),
    }


def stored(session) -> list[tuple[str, int]]:
    session.rollback()
    return [(c.code, c.department_id) for c in session.scalars(select(Commitment).order_by(Commitment.code))]


def assert_refused(body: dict, code: str = "authority_not_registered", column: str = "承诺受理单位代码") -> None:
    assert (body["status"], body["accepted"], body["rejected"]) == ("rejected", 0, 1), body
    assert body["issue_counts"] == {code: 1}
    [error] = body["errors"]
    assert (error["column"], error["code"]) == (column, code)
    assert A_NAME in error["message"] and B_NAME in error["message"]


def test_push_and_upload_in_another_departments_name_are_refused(client, session, env):
    a, b = env["a"], env["b"]
    theirs = row(1, **accepted_by(a))
    r = client.post(f"{API}/batches", json={"rows": [theirs]}, headers=env["b_op"])
    assert r.status_code == 201, r.text
    assert_refused(r.json())
    content = json.dumps([theirs], ensure_ascii=False).encode()
    r = client.post(f"{API}/files", files={"file": ("c.json", content, "application/json")}, headers=env["b_op"])
    assert r.status_code == 201
    assert_refused(r.json())
    # The admin acting for B is held to B's authorities.
    r = client.post(f"{API}/batches", params={"department_id": b.id}, json={"rows": [theirs]}, headers=env["admin"])
    assert r.status_code == 201
    assert_refused(r.json())
    # B's own code under A's name.
    r = client.post(
        f"{API}/batches", json={"rows": [row(1, **{**accepted_by(b), "承诺受理单位": A_NAME})]}, headers=env["b_op"]
    )
    assert_refused(r.json(), "authority_name_mismatch", "承诺受理单位")
    assert stored(session) == []

    # A's own commitment with that code is accepted as A's; B's own too.
    r = client.post(f"{API}/batches", json={"rows": [theirs]}, headers=env["a_op"])
    assert r.json()["created"] == 1, r.text
    r = client.post(f"{API}/batches", json={"rows": [row(2, **accepted_by(b))]}, headers=env["b_op"])
    assert r.json()["created"] == 1
    assert [d for _, d in stored(session)] == [a.id, b.id]


def test_registered_unit_and_the_cli(database, session, env, tmp_path):
    a, b = env["a"], env["b"]
    unit = {"承诺受理单位": "沁阳市卫生健康委员会综合监督执法局", "承诺受理单位代码": make_uscc(4403)}
    path = tmp_path / "c.json"
    path.write_text(json.dumps([row(1, **unit)], ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(
        cli_app, ["--db", database.url, "commitments", "import", str(path), "--department", "wjw", "--json"]
    )
    summary = json.loads(r.output)
    assert summary["status"] == "rejected" and summary["issue_counts"] == {"authority_not_registered": 1}
    assert r.exit_code == 1  # it ran; the batch was refused
    register_authority(session, b, uscc=unit["承诺受理单位代码"], name=unit["承诺受理单位"])
    r = runner.invoke(
        cli_app, ["--db", database.url, "commitments", "import", str(path), "--department", "wjw", "--json"]
    )
    assert r.exit_code == 0 and json.loads(r.output)["created"] == 1, r.output
    assert stored(session) == [(row(1)["承诺编码"], b.id)]
    # A cannot submit in the name of B's registered unit.
    r = runner.invoke(
        cli_app, ["--db", database.url, "commitments", "import", str(path), "--department", "scjgj", "--json"]
    )
    assert json.loads(r.output)["issue_counts"] == {"authority_not_registered": 1}
    assert a.id not in [d for _, d in stored(session)]
