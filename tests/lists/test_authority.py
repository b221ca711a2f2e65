"""The authority rule for list entries (both backends): an entry's 认定机关 is the recording department or one of
the units registered for it; naming another department's authority is refused on every path (API, file import,
CLI, the admin recording for a department)."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.factories import make_uscc, register_authority
from tests.lists.entry_helpers import ADMIN, API, COMPANY, OTHER_COMPANY, company_uscc, make_env
from xinyong.auth.roles import Principal, Role
from xinyong.core import clikit, clock
from xinyong.core.errors import ValidationFailed
from xinyong.lists import commands, importer
from xinyong.lists.models import ListEntry

UNIT, UNIT_NAME = make_uscc(5501), "国家税务总局沁阳市税务局第一税务分局"
TAX = "国家税务总局沁阳市税务局"


@pytest.fixture
def env(session):
    env = make_env(session)
    register_authority(session, env.swj, uscc=UNIT, name=UNIT_NAME)
    return env


def entries(session) -> list[tuple[str, str, dict]]:
    session.rollback()
    return [(e.decision_no, e.authority, e.data) for e in session.scalars(select(ListEntry).order_by(ListEntry.id))]


def _new(client, headers, decision_no: str, **body):
    payload = {
        "list_code": "tax_a_grade",
        "subject_code": company_uscc(1),
        "reason": "纳税信用A级",
        "decision_no": decision_no,
    } | body
    return client.post(f"{API}/entries", json=payload, headers=headers)


def test_api_entry_naming_another_departments_authority_is_refused(client, session, env):
    resp = _new(client, env.swj_op, "A〔2024〕1号", authority="沁阳市市场监督管理局", authority_uscc=env.scjgj.uscc)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "authority_not_registered" and error["details"] == {"field": "uscc"}
    assert "认定机关「沁阳市市场监督管理局」" in error["message"] and TAX in error["message"]
    # The admin recording for the tax office is held to its authorities as well.
    resp = _new(client, env.admin, "A〔2024〕1号", department="swj", authority="沁阳市市场监督管理局")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "authority_not_registered"
    # A known code under another name.
    resp = _new(client, env.swj_op, "A〔2024〕1号", authority="沁阳市市场监督管理局", authority_uscc=UNIT)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "authority_name_mismatch"
    assert entries(session) == []

    # Its own name, or the registered unit (by code, by name), are accepted; the registered name is stored.
    assert _new(client, env.swj_op, "A〔2024〕1号").json()["authority"] == TAX  # default: the department itself
    resp = _new(client, env.swj_op, "A〔2024〕2号", authority_uscc=UNIT.lower())
    assert resp.status_code == 201 and resp.json()["authority"] == UNIT_NAME
    resp = _new(client, env.swj_op, "A〔2024〕3号", subject_code=company_uscc(2), authority=f" {UNIT_NAME}")
    assert resp.status_code == 201 and resp.json()["authority"] == UNIT_NAME
    assert entries(session) == [
        ("A〔2024〕1号", TAX, {}),
        ("A〔2024〕2号", UNIT_NAME, {"authority_uscc": UNIT}),
        ("A〔2024〕3号", UNIT_NAME, {"authority_uscc": UNIT}),
    ]


def test_import_rows_naming_other_authorities_are_rejected_rows(session, env, tmp_path):
    today = clock.today().isoformat()
    headers = [
        "名单类型",
        "主体名称",
        "统一社会信用代码",
        "列入事由",
        "决定文书号",
        "认定日期",
        "认定机关",
        "认定机关统一社会信用代码",
    ]
    rows = [
        ["tax_a_grade", COMPANY, company_uscc(1), "纳税信用A级", "A〔2024〕1号", today, "", ""],
        [
            "tax_a_grade",
            OTHER_COMPANY,
            company_uscc(2),
            "纳税信用A级",
            "A〔2024〕2号",
            today,
            "沁阳市市场监督管理局",
            env.scjgj.uscc,
        ],
        [
            "tax_a_grade",
            OTHER_COMPANY,
            company_uscc(2),
            "纳税信用A级",
            "A〔2024〕3号",
            today,
            "沁阳市市场监督管理局",
            "",
        ],
        ["tax_a_grade", OTHER_COMPANY, company_uscc(2), "纳税信用A级", "A〔2024〕4号", today, "税务分局", UNIT],
        ["tax_a_grade", OTHER_COMPANY, company_uscc(2), "纳税信用A级", "A〔2024〕5号", today, "", "123"],
        ["tax_a_grade", OTHER_COMPANY, company_uscc(2), "纳税信用A级", "A〔2024〕6号", today, UNIT_NAME, ""],
    ]
    path = tmp_path / "名单.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh).writerows([headers, *rows])
    # The tax office's operator imports (department roles act for their own department).
    operator = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=env.swj.id, user_id=1)
    report = importer.import_entries(session, actor=operator, path=path)
    session.commit()
    assert (report["rows"], report["created"], report["rejected"]) == (6, 2, 4)
    assert [(e["row"], e["column"], e["code"]) for e in report["errors"]] == [
        (3, "认定机关统一社会信用代码", "authority_not_registered"),
        (4, "认定机关", "authority_not_registered"),
        (5, "认定机关", "authority_name_mismatch"),
        (6, "认定机关统一社会信用代码", "authority_uscc_invalid"),
    ]
    assert entries(session) == [("A〔2024〕1号", TAX, {}), ("A〔2024〕6号", UNIT_NAME, {"authority_uscc": UNIT})]
    # reject_all: nothing is written.
    rows[0][4] = "A〔2024〕7号"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        csv.writer(fh).writerows([headers, *rows])
    with pytest.raises(ValidationFailed) as caught:
        importer.import_entries(session, actor=ADMIN, path=path, department="swj", reject_all=True)
    session.rollback()
    assert caught.value.code == "import_rejected" and caught.value.details["rejected"] == 4
    assert len(entries(session)) == 2


def test_cli_add_is_held_to_the_departments_authorities(session, database, env):
    clikit.state.db_url = database.url
    runner = CliRunner()
    base = [
        "add",
        "--list",
        "tax_a_grade",
        "--subject",
        company_uscc(1),
        "--reason",
        "纳税信用A级",
        "--department",
        "swj",
        "--json",
    ]
    result = runner.invoke(
        commands.app,
        [
            *base,
            "--decision-no",
            "A〔2024〕1号",
            "--authority",
            "沁阳市市场监督管理局",
            "--authority-uscc",
            env.scjgj.uscc,
        ],
    )
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "authority_not_registered"
    result = runner.invoke(commands.app, [*base, "--decision-no", "A〔2024〕1号", "--authority-uscc", UNIT])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["authority"] == UNIT_NAME
    assert entries(session) == [("A〔2024〕1号", UNIT_NAME, {"authority_uscc": UNIT})]
