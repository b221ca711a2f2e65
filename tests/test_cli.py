"""The root of the command line (``xinyong.cli``): lazy loading of the domains' commands.

The root knows every top-level command from ``cli.COMMANDS`` (name, module, help) and imports a domain's
``commands.py`` only when one of its commands runs. These tests fail when the table and the modules disagree (a
command added to a module without the table, a changed help text, a new ``commands.py`` nobody mounts) and when a
light command starts importing the heavy half of the platform again. Timings are in docs/testing.md, not here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

import xinyong
from xinyong import cli

# Registered inside another command's group by its own module, not at the top level.
NESTED = {"xinyong.lists.sync_commands": "lists", "xinyong.subjects.related_commands": "subjects"}

HEAVY = ("sqlalchemy", "fastapi", "starlette", "reportlab", "pydantic_settings", "httpx", "jinja2", "openpyxl")


def _entry_points() -> set[tuple[str, str]]:
    """(module, attr) of every Typer sub-app ``app`` and ``register`` function of a ``*commands.py`` in the package."""
    root = Path(xinyong.__file__).parent
    found = set()
    for path in root.rglob("*commands.py"):
        module_name = ".".join(("xinyong", *path.relative_to(root).with_suffix("").parts))
        if module_name in NESTED:
            continue
        module = importlib.import_module(module_name)
        if isinstance(getattr(module, "app", None), typer.Typer):
            found.add((module_name, "app"))
        if callable(getattr(module, "register", None)):
            found.add((module_name, "register"))
    return found


def _eager(module: str, attr: str, name: str) -> dict[str, Any]:
    """What mounting one entry point eagerly (as cli.py used to) adds to the root: commands by name."""
    return cli.LazyCommand(module, attr, "").build(name)


def _signature(cmd: Any) -> dict[str, Any]:
    """Name, help, options and sub-commands of a click command, recursively (what a user can observe)."""
    return {
        "name": cmd.name,
        "help": cmd.help,
        "hidden": cmd.hidden,
        "params": [
            (
                p.name,
                tuple(p.opts),
                tuple(p.secondary_opts),
                p.required,
                p.nargs,
                getattr(p, "help", None),
                None if callable(p.default) else repr(p.default),
            )
            for p in cmd.params
        ],
        "commands": {n: _signature(c) for n, c in getattr(cmd, "commands", {}).items()},
    }


def _root() -> tuple[cli.LazyGroup, typer.Context]:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, cli.LazyGroup)
    return group, typer.Context(group, info_name="xinyong")


def test_every_commands_module_is_in_the_lazy_table() -> None:
    mapped = {(spec.module, spec.attr) for spec in cli.COMMANDS.values()}
    # `subjects` is mounted by cli.subjects_group (the registry's app plus reports' `file` command), `catalog` by
    # cli.catalog_group (the catalog's app plus measures' `audit` command)
    joined = {("xinyong.subjects.commands", "app"), ("xinyong.catalog.commands", "app")}
    assert mapped == (_entry_points() - joined) | {
        ("xinyong.cli", "db_app"),
        ("xinyong.cli", "subjects_group"),
        ("xinyong.cli", "catalog_group"),
    }


def test_the_lazy_table_names_exactly_what_eager_registration_produces() -> None:
    by_entry: dict[tuple[str, str], set[str]] = {}
    for name, spec in cli.COMMANDS.items():
        by_entry.setdefault((spec.module, spec.attr), set()).add(name)
    for (module, attr), names in by_entry.items():
        if attr == "register":
            assert set(_eager(module, attr, "")) == names, f"{module}.register adds other commands than cli.COMMANDS"
        else:
            assert len(names) == 1, f"{module}.{attr} is mounted under several names: {names}"


def test_each_lazy_command_loads_the_same_command_as_eager_registration() -> None:
    for name, spec in cli.COMMANDS.items():
        group, ctx = _root()  # a fresh root each time: nothing loaded yet
        cmd = group.get_command(ctx, name)
        assert cmd is not None and cmd.name == name
        assert not isinstance(cmd, cli._Placeholder)
        assert _signature(cmd) == _signature(_eager(spec.module, spec.attr, name)[name])
        assert cmd.help == spec.help, f"help of {name!r} changed: update cli.COMMANDS[{name!r}]"


def test_nested_command_modules_are_reachable_through_their_group() -> None:
    group, ctx = _root()
    for module_name, parent in NESTED.items():
        holder = typer.Typer()
        importlib.import_module(module_name).register(holder)
        names = set(typer.main.get_group(holder).commands)
        assert names <= set(group.get_command(ctx, parent).commands)


def test_root_without_arguments_prints_help_listing_every_command() -> None:
    result = CliRunner().invoke(cli.app, [], env={"COLUMNS": "250"})
    assert result.exit_code == 2  # no_args_is_help, as before
    assert "Usage: xinyong" in result.output
    for name, spec in cli.COMMANDS.items():
        assert f" {name} " in result.output and spec.help.splitlines()[0] in result.output


def test_usage_errors_are_json_when_json_is_asked_for() -> None:
    """A script that asked for --json gets a JSON error document (exit 2), not Click's usage box."""
    runner = CliRunner()
    for args, problem in (
        (["ingest", "x.csv", "--json"], "--department"),
        (["ingest", "--json"], "file"),
        (["batches", "show", "abc", "--json"], "batch_id"),
        (["validate", "x", "--no-such-option", "--json"], "--no-such-option"),
    ):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 2, (args, result.output)
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "usage_error" and problem in error["message"], error
        assert "╭" not in result.output
    # Without --json: Click's usage message, exit 2, as before; and a good command still exits as it should.
    plain = runner.invoke(cli.app, ["ingest", "x.csv"])
    assert plain.exit_code == 2 and "--department" in plain.output and not plain.stdout.lstrip().startswith("{")
    assert runner.invoke(cli.app, ["validate", "9135", "--json"]).exit_code == 1
    assert runner.invoke(cli.app, ["validate", "91350100M000100Y43", "--json"]).exit_code == 0


def test_global_db_option_before_a_lazily_loaded_command(tmp_path: Path) -> None:
    path = tmp_path / "chosen.db"
    result = CliRunner().invoke(cli.app, ["--db", f"sqlite:///{path}", "db", "current", "--json"])
    assert result.exit_code == 1, result.output  # an empty database is not at the head revision
    assert json.loads(result.stdout)["current"] is None
    assert path.exists()


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``xinyong ARGS`` in a fresh interpreter; return the process and the modules it had imported."""
    probe = (
        "import json, sys\n"
        "from xinyong.cli import main\n"
        f"sys.argv = ['xinyong', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "else:\n"
        "    code = 0\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"}
    )
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    modules = json.loads(line.removeprefix("MODULES "))
    return proc, {"all": set(modules), "xinyong": {m for m in modules if m.startswith("xinyong.")}}


def _commands_modules(modules: set[str]) -> set[str]:
    return {m for m in modules if m.endswith("commands")}


def test_help_imports_no_domain() -> None:
    proc, modules = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for name, spec in cli.COMMANDS.items():
        assert spec.help.splitlines()[0] in proc.stdout, name
    assert _commands_modules(modules["xinyong"]) == set()
    assert modules["xinyong"] <= {
        "xinyong.cli",
        "xinyong.core",
        "xinyong.core.clikit",
        "xinyong.core.errors",
        "xinyong.auth",
        "xinyong.auth.roles",
    }
    assert not [m for m in HEAVY if m in modules["all"]]


def test_validate_imports_only_the_identifiers() -> None:
    proc, modules = _run("validate", "91350100M000100Y43", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["valid"] is True
    assert _commands_modules(modules["xinyong"]) == {"xinyong.identifiers.commands"}
    assert not [m for m in HEAVY if m in modules["all"]]
    assert not {"xinyong.core.db", "xinyong.core.settings"} & modules["xinyong"]
    assert not {m for m in modules["all"] if m == "rich" or m.startswith("rich.")}  # --json prints no rich text
    assert not {m for m in modules["all"] if m.split(".")[0] in ("pydantic", "pydantic_core", "stdnum", "cryptography")}
    assert not {"xinyong.identifiers.vault", "xinyong.identifiers.masking"} & modules["xinyong"]


def test_an_invalid_code_still_exits_1_without_loading_the_database_layer() -> None:
    proc, modules = _run("validate", "91350100M000100Y44", "--json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)[0]["valid"] is False
    assert "sqlalchemy" not in modules["all"]


def test_a_domain_command_imports_its_own_domain_only() -> None:
    proc, modules = _run("audit", "--help")
    assert proc.returncode == 0, proc.stderr
    assert _commands_modules(modules["xinyong"]) == {"xinyong.core.audit_commands"}
    assert not {m for m in modules["xinyong"] if m.split(".")[1] in {"cases", "measures", "reports", "web"}}


def _all_commands(cmd: Any) -> Any:
    yield cmd
    for sub in (getattr(cmd, "commands", None) or {}).values():
        yield from _all_commands(sub)


@pytest.mark.skipif(cli._RuntimeParam is None, reason="typer < 0.29 converts with click types, not pydantic")
def test_plain_parameters_convert_as_typer_does() -> None:
    """Every parameter that gets the pydantic-free converter (``cli._PlainValues``) converts the values a command line
    gives it (and a few others) exactly as typer's own converter."""
    from typer._coercion import build_runtime_param

    group, ctx = _root()
    samples = {
        str: ["", "abc", " 91350100M000100Y43 ", "-", "１２", "0", b"bytes", 12, None],
        bool: [True, False, "true", "0", "", 1, None],
        list[str]: [("a", "b"), ["x"], (), ("１", ""), ("a", 1), "ab", None],
    }
    seen = 0
    for name in cli.COMMANDS:
        for cmd in _all_commands(group.get_command(ctx, name)):
            cmd_ctx = cmd.context_class(cmd, info_name=cmd.name, parent=ctx)
            for param in cmd.get_params(cmd_ctx):
                if not isinstance(param._runtime_param, cli._PlainValues):
                    continue
                seen += 1
                typers = build_runtime_param(param.type_descriptor)
                for value in samples[param.type_descriptor.annotation]:
                    results = []
                    for converter in (param._runtime_param, typers):
                        try:
                            results.append(("ok", converter.coerce(value, param=param, ctx=cmd_ctx)))
                        except Exception as exc:  # noqa: BLE001
                            results.append(("error", type(exc), str(exc)))
                    assert results[0] == results[1], (cmd.name, param.name, value)
                    assert type(results[0][-1]) is type(results[1][-1])
    assert seen > 100


def test_validate_through_the_plain_converters() -> None:
    ok = CliRunner().invoke(cli.app, ["validate", "91350100M000100Y43", "410882198001010018", "--json"])
    assert ok.exit_code == 0, ok.output
    assert [c["valid"] for c in json.loads(ok.stdout)] == [True, True]
    assert json.loads(ok.stdout)[1]["details"]["region_name"] == "河南省焦作市沁阳市"
    missing = CliRunner().invoke(cli.app, ["validate", "--json"])
    assert missing.exit_code == 2 and "Missing argument" in missing.output
    helped = CliRunner().invoke(cli.app, ["validate", "--help"], env={"COLUMNS": "250"})
    assert helped.exit_code == 0 and "--allow-bad-check" in helped.output


def _command_paths(cmd: Any, path: tuple[str, ...] = ()) -> Any:
    yield path
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _command_paths(sub, (*path, name))


def test_help_shows_no_typer_type_noise() -> None:
    """Issue #17: no ``<str>`` / ``<bool>`` in any command's help: click's labels (TEXT, PATH, INTEGER), nothing
    after a flag, FILE (not ``{file}``) in the usage line."""
    group, ctx = _root()
    for name in group.lazy_commands:
        group.get_command(ctx, name)
    runner = CliRunner()
    paths = list(_command_paths(group))
    assert len(paths) > 20
    for path in paths:
        result = runner.invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        for noise in ("<str>", "<bool>", "<int>", "<path>", "list[str]"):
            assert noise not in result.output, (path, noise, result.output)
    ingest = runner.invoke(cli.app, ["ingest", "--help"], env={"COLUMNS": "200"}).output
    assert "Usage: xinyong ingest [OPTIONS] FILE" in ingest and "PATH" in ingest and "TEXT" in ingest
    dry_run = next(line for line in ingest.splitlines() if "--dry-run" in line)
    assert "TEXT" not in dry_run and "BOOL" not in dry_run.upper().replace("--DRY-RUN", "")
