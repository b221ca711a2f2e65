"""`xinyong catalog …` through the real command line app, on each backend."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xinyong.catalog.spec import load_catalog
from xinyong.cli import app
from xinyong.core import clikit
from xinyong.core.db import forget_databases

#: Classes of the shipped catalog (other work adds classes: counted, not written down).
N_CLASSES = len(load_catalog().classes)

runner = CliRunner()


@pytest.fixture
def cli(database):
    """Run ``xinyong --db <test database> …``; returns the result."""

    def run(*args: str):
        return runner.invoke(app, ["--db", database.url, *args])

    yield run
    clikit.state.db_url = None
    forget_databases()


def _json(result) -> object:
    return json.loads(result.stdout)


def test_seed_list_show(cli) -> None:
    seeded = cli("catalog", "seed", "--json")
    assert seeded.exit_code == 0, seeded.output
    assert len(_json(seeded)["created"]) == N_CLASSES
    assert _json(cli("catalog", "seed", "--json"))["created"] == []

    listing = cli("catalog", "list", "--json")
    assert listing.exit_code == 0
    assert [c["code"] for c in _json(listing)][:3] == ["registration", "licence", "penalty"]

    shown = cli("catalog", "show", "penalty", "--json")
    assert shown.exit_code == 0
    assert _json(shown)["publicity"]["windows"]["general"]["max_months"] == 12

    text = cli("catalog", "show", "penalty")
    assert text.exit_code == 0 and "行政处罚信息" in text.stdout
    table = cli("catalog", "list")
    assert table.exit_code == 0
    assert all(code in table.stdout for code in ("registration", "dishonest_judgment_debtor", "contract"))

    missing = cli("catalog", "show", "nope", "--json")
    assert missing.exit_code == 2 and _json(missing)["error"]["code"] == "info_class_not_found"


def test_set_is_audited(cli) -> None:
    cli("catalog", "seed")
    result = cli(
        "catalog",
        "set",
        "penalty",
        "--set",
        "publicity.windows.general.max_months=9",
        "--set",
        "params.fine_unit_in_standard=元",
        "--public-attribute",
        "public",
        "--reason",
        "本地规定",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = _json(result)
    assert data["changed"] == ["publicity", "params"] and data["revision"] == 2
    assert data["class"]["publicity"]["windows"]["general"]["max_months"] == 9

    log = cli("audit", "log", "--type", "info_class", "--id", "penalty", "--json")
    latest = _json(log)[0]
    assert latest["action"] == "catalog.class.update" and latest["reason"] == "本地规定"
    assert latest["actor"].startswith("system:cli:")
    assert cli("audit", "verify").exit_code == 0

    same = cli("catalog", "set", "penalty", "--public-attribute", "public", "--reason", "确认")
    assert same.exit_code == 0 and "无变化" in same.stdout


BAD_SETS = [
    (["--public-attribute", "conditional"], "reason_required"),
    (["--set", "publicity.windows.serious.min_months=48", "--reason", "x"], "invalid_change"),
    (["--set", "publicity.windows.general.max_months", "--reason", "x"], "bad_assignment"),
    (["--public-attribute", "everyone", "--reason", "x"], "invalid_change"),
    (["--reason", "x"], "no_changes"),
]


def test_bad_set_exits_2(cli) -> None:
    cli("catalog", "seed")
    for args, code in BAD_SETS:
        result = cli("catalog", "set", "penalty", *args, "--json")
        assert result.exit_code == 2, args
        assert _json(result)["error"]["code"] == code, args
    assert _json(cli("catalog", "show", "penalty", "--json"))["revision"] == 1
    plain = cli("catalog", "set", "penalty", "--reason", "x")
    assert plain.exit_code == 2 and "没有指定要修改的字段" in plain.stderr


def test_export_and_seed_from_file(cli, tmp_path) -> None:
    cli("catalog", "seed")
    cli("catalog", "set", "licence", "--set", "publicity.timeliness.days=5", "--reason", "本地时限")
    path = tmp_path / "catalog.yaml"
    exported = cli("catalog", "export", "--output", str(path), "--json")
    assert exported.exit_code == 0 and _json(exported)["classes"] == N_CLASSES
    as_yaml = cli("catalog", "export")
    assert as_yaml.exit_code == 0 and as_yaml.stdout == path.read_text(encoding="utf-8")
    assert _json(cli("catalog", "export", "--json"))["edition"] == _json(exported)["edition"]

    # Back to the national defaults, then the exported file restores the local change.
    assert cli("catalog", "seed", "--replace").exit_code == 0
    assert _json(cli("catalog", "show", "licence", "--json"))["publicity"]["timeliness"]["days"] == 7
    restored = cli("catalog", "seed", "--file", str(path), "--json")
    assert _json(restored)["updated"] == ["licence"]
    assert _json(cli("catalog", "show", "licence", "--json"))["publicity"]["timeliness"]["days"] == 5

    broken = tmp_path / "broken.yaml"
    broken.write_text("edition: x\n", encoding="utf-8")
    bad = cli("catalog", "seed", "--file", str(broken), "--json")
    assert bad.exit_code == 2 and _json(bad)["error"]["code"] == "invalid_catalog"
