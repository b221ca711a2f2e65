"""`xinyong departments|users|tokens …` through the real CLI (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import DEFAULT_PASSWORD, make_uscc
from xinyong.auth import service, tokens
from xinyong.cli import app
from xinyong.core.audit import AuditEvent
from xinyong.core.db import Database, forget_databases

runner = CliRunner()


@pytest.fixture
def cli(database: Database) -> Iterator[Any]:
    """Run ``xinyong --db <test db> …``; returns the result."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, ["--db", database.url, *args], input=input, env=env)

    yield run
    forget_databases()  # the CLI caches an engine per URL


def _json(result: Any) -> Any:
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def _add_department(cli: Any, code: str = "scjgj") -> dict[str, Any]:
    result = cli(
        "departments",
        "add",
        "--code",
        code,
        "--name",
        f"沁阳市{code}局",
        "--uscc",
        make_uscc(),
        "--short-name",
        "简称",
        "--json",
    )
    assert result.exit_code == 0, result.output
    return _json(result)


def test_departments_add_and_list(cli: Any, session: Session) -> None:
    dept = _add_department(cli)
    assert dept["code"] == "scjgj" and dept["active"] is True
    listed = _json(cli("departments", "list", "--json"))
    assert [d["code"] for d in listed] == ["scjgj"]
    text = cli("departments", "list")
    assert text.exit_code == 0 and "scjgj" in text.stdout
    event = session.query(AuditEvent).filter_by(action="department.create").one()
    assert event.actor.startswith("system:cli:")


def test_bad_input_exits_2_with_message(cli: Any) -> None:
    result = cli("departments", "add", "--code", "scjgj", "--name", "某局", "--uscc", "91410882MA00000000", "--json")
    assert result.exit_code == 2
    assert _json(result)["error"]["code"] == "invalid_uscc"
    result = cli("departments", "add", "--code", "scjgj", "--name", "某局", "--uscc", "123")
    assert result.exit_code == 2 and "统一社会信用代码" in result.stderr and "Traceback" not in result.output
    result = cli("users", "add", "--username", "x1", "--display-name", "x", "--role", "superuser", "--password", "a")
    assert result.exit_code == 2  # not a role: rejected by the option parser
    result = cli(
        "users",
        "add",
        "--username",
        "bank1",
        "--display-name",
        "x",
        "--role",
        "bank",
        "--organisation",
        "某银行",
        "--password",
        "short",
        "--json",
    )
    assert result.exit_code == 2 and _json(result)["error"]["code"] == "weak_password"
    result = cli("tokens", "create", "--name", "x", "--role", "business_system", "--department", "nosuch", "--json")
    assert result.exit_code == 2 and _json(result)["error"]["code"] == "department_not_found"


def test_users_add_password_sources(cli: Any, session: Session) -> None:
    _add_department(cli)
    from_option = cli(
        "users",
        "add",
        "--username",
        "op1",
        "--display-name",
        "张三",
        "--role",
        "dept_operator",
        "--department",
        "scjgj",
        "--password",
        DEFAULT_PASSWORD,
        "--json",
    )
    assert from_option.exit_code == 0, from_option.output
    assert _json(from_option)["department_code"] == "scjgj"
    from_env = cli(
        "users",
        "add",
        "--username",
        "bank1",
        "--display-name",
        "李四",
        "--role",
        "bank",
        "--organisation",
        "中国银行沁阳支行",
        "--json",
        env={"XINYONG_NEW_PASSWORD": "from-env-password-1"},
    )
    assert from_env.exit_code == 0, from_env.output
    prompted = cli(
        "users",
        "add",
        "--username",
        "admin1",
        "--display-name",
        "王五",
        "--role",
        "admin",
        "--json",
        input="prompted-password-2\nprompted-password-2\n",
    )
    assert prompted.exit_code == 0, prompted.output
    for username, password in (
        ("op1", DEFAULT_PASSWORD),
        ("bank1", "from-env-password-1"),
        ("admin1", "prompted-password-2"),
    ):
        assert service.authenticate_password(session, username=username, password=password).name == username
    listed = cli("users", "list", "--department", "scjgj", "--json")
    assert [u["username"] for u in _json(listed)] == ["op1"]
    assert "password" not in listed.stdout and "$argon2" not in listed.stdout


def test_users_set_password_and_deactivate(cli: Any, session: Session) -> None:
    assert (
        cli(
            "users",
            "add",
            "--username",
            "admin1",
            "--display-name",
            "王五",
            "--role",
            "admin",
            "--password",
            DEFAULT_PASSWORD,
        ).exit_code
        == 0
    )
    result = cli(
        "users",
        "set-password",
        "admin1",
        "--reason",
        "遗忘",
        "--json",
        env={"XINYONG_NEW_PASSWORD": "brand-new-password-3"},
    )
    assert result.exit_code == 0, result.output
    assert service.authenticate_password(session, username="admin1", password="brand-new-password-3")
    session.rollback()
    result = cli("users", "deactivate", "admin1", "--reason", "离职", "--json")
    assert result.exit_code == 0 and _json(result)["active"] is False
    assert cli("users", "deactivate", "nosuch", "--reason", "x").exit_code == 2


def test_tokens_create_list_revoke(cli: Any, session: Session) -> None:
    _add_department(cli)
    result = cli(
        "tokens",
        "create",
        "--name",
        "行政审批系统",
        "--role",
        "business_system",
        "--department",
        "scjgj",
        "--expires-days",
        "30",
    )
    assert result.exit_code == 0, result.output
    raw = next(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("xy_"))
    principal = tokens.principal_for_token(session, raw)
    assert principal is not None and principal.role == "business_system"
    session.rollback()

    created = _json(cli("tokens", "create", "--name", "银行接口", "--role", "bank", "--json"))
    assert created["token"].startswith("xy_") and created["department_code"] is None

    listed = cli("tokens", "list", "--json")
    assert {t["name"] for t in _json(listed)} == {"行政审批系统", "银行接口"}
    assert raw not in listed.stdout and created["token"] not in listed.stdout
    assert [t["name"] for t in _json(cli("tokens", "list", "--department", "scjgj", "--json"))] == ["行政审批系统"]

    token_id = principal.token_id
    result = cli("tokens", "revoke", str(token_id), "--reason", "系统下线", "--json")
    assert result.exit_code == 0 and _json(result)["revoked_reason"] == "系统下线"
    assert tokens.principal_for_token(session, raw) is None
    again = cli("tokens", "revoke", str(token_id), "--reason", "again", "--json")
    assert again.exit_code == 2 and _json(again)["error"]["code"] == "token_already_revoked"
    assert cli("tokens", "create", "--name", "x", "--role", "admin", "--department", "scjgj").exit_code == 2
    assert len(_json(cli("tokens", "list", "--all", "--json"))) == 2
