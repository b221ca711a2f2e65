"""Issue #17: the ``ingest`` text report prints what its JSON reports (new subjects, name mismatches), and a
duplicate submission says it was one: 0 created, the original batch named, in both the JSON and the text."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.factories import make_department
from tests.ingest.test_authority_rule import A_NAME, A_USCC, ADMIN, csv_bytes, decision
from xinyong.catalog.service import seed_catalog
from xinyong.cli import app


def test_cli_ingest_prints_name_mismatches_and_reports_a_duplicate_as_one(database, tmp_path):
    with database.sessionmaker() as s:
        seed_catalog(s, actor=ADMIN)
        make_department(s, code="scjgj", name=A_NAME, uscc=A_USCC)
    runner = CliRunner()

    def ingest(path, *extra):
        return runner.invoke(app, ["--db", database.url, "ingest", str(path), "--department", "scjgj", *extra])

    first = tmp_path / "1.csv"
    first.write_bytes(csv_bytes([decision("沁市监罚〔2026〕1号")]))
    made = ingest(first, "--json")
    assert made.exit_code == 0, made.output
    original = json.loads(made.stdout)
    assert original["created"] == 1 and original["duplicate"] is False and original["subjects_created"] == 1

    # The same subject's code under another name: accepted, and flagged in the JSON and the text alike.
    renamed = tmp_path / "2.csv"
    renamed.write_bytes(csv_bytes([decision("沁市监罚〔2026〕2号", 行政相对人名称="沁阳市另一个名称有限公司")]))
    text = ingest(renamed)
    assert text.exit_code == 0, text.output
    assert "名称与登记不一致 1 行" in text.stdout and "新增 1" in text.stdout

    # The first file again: a duplicate, 0 created, the original batch named; the text says so too.
    again = ingest(first, "--json")
    assert again.exit_code == 0, again.output
    dup = json.loads(again.stdout)
    assert dup["duplicate"] is True and dup["duplicate_of"] == original["batch"] == dup["batch"]
    assert (dup["created"], dup["updated"], dup["subjects_created"]) == (0, 0, 0)
    plain = ingest(first)
    assert plain.exit_code == 0, plain.output
    assert f"已于批次 {original['batch']} 报送" in plain.stdout and "新增 0" in plain.stdout
    assert "新增 1" not in plain.stdout
