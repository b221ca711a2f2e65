"""`xinyong lists …` commands: JSON output, exit codes, the lifecycle from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.lists.entry_helpers import COMPANY, company_uscc, make_env, workdays_ago
from xinyong.core import clikit, clock
from xinyong.lists import commands


@pytest.fixture
def run(session, database):
    make_env(session, tokens=False)
    clikit.state.db_url = database.url
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, object]:
        result = runner.invoke(commands.app, [*args, "--json"])
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None

    return invoke


def test_types_json_lists_codes(run):
    code, data = run("types")
    assert code == 0
    codes = {t["code"]: t for t in data}
    assert codes["tax_serious_dishonest"]["kind"] == "black" and codes["court_dishonest_debtor"]["external"]
    code, data = run("seed")
    assert code == 0 and data["created"] == [] and "tax_a_grade" in data["unchanged"]


def test_lifecycle_from_the_command_line(run):
    today = clock.today()
    code, notice = run(
        "notify",
        "--list",
        "tax_serious_dishonest",
        "--subject",
        company_uscc(1),
        "--reason",
        "偷税",
        "--decision-no",
        "沁税罚〔2024〕1号",
        "--given-on",
        str(workdays_ago(10, today)),
    )
    assert code == 0 and notice["status"] == "notified" and notice["department_id"] is not None
    code, listed = run("list-entry", str(notice["id"]), "--expected-revision", "1")
    assert code == 0 and listed["counts"] is True and listed["party_name"] == COMPANY
    code, err = run("extend", str(notice["id"]), "--term-end", "2999-01-01", "--reason", "延长")
    assert code == 2 and err["error"]["code"] == "term_too_long"
    code, removed = run("remove", str(notice["id"]), "--reason", "revoked", "--note", "决定被撤销")
    assert code == 0 and removed["effective_status"] == "removed"
    code, shown = run("show", str(notice["id"]))
    assert code == 0 and [h["action"] for h in shown["history"]] == ["notice", "list", "remove"]
    code, rows = run("entries", "--status", "removed")
    assert code == 0 and [r["id"] for r in rows] == [notice["id"]]
    code, err = run("add", "--list", "nope", "--subject", company_uscc(1), "--reason", "x", "--decision-no", "1")
    assert code == 2 and err["error"]["code"] == "unknown_list_type"
    code, daily = run("daily")
    assert code == 0 and daily["announced"] == 0


def test_import_exit_code_reflects_row_errors(run, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        "主体名称,统一社会信用代码,列入事由,决定文书号,认定日期\n"
        f"{COMPANY},{company_uscc(1)},纳税信用A级,A1,{clock.today()}\n",
        encoding="utf-8",
    )
    code, report = run("import", str(path), "--list", "tax_a_grade")
    assert code == 0 and report["created"] == 1
    path.write_text(path.read_text(encoding="utf-8") + "某公司,bad,纳税信用A级,A2,2024-01-01\n", encoding="utf-8")
    code, report = run("import", str(path), "--list", "tax_a_grade")
    assert code == 1 and report["skipped"] == 1 and report["rejected"] == 1
