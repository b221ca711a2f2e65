"""`xinyong professions …` (both backends): import a file (all or nothing, idempotent), list, show, the file with a
purpose (logged), the government dashboard; --json and non-zero exit on failure."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from tests.professions.helpers import build, doctor_rows, person_id
from xinyong.core import clikit
from xinyong.professions import commands
from xinyong.subjects.access_log import SubjectAccess


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cli_import_list_show_file(database, session, tmp_path: Path) -> None:
    env = build(session)
    clikit.state.db_url = database.url

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(commands.app, [*args, "--json"])
        return result.exit_code, json.loads(result.stdout)

    rows = doctor_rows(env, 3)
    bad = _csv(tmp_path / "bad.csv", [*rows, {**rows[0], "证书编号": "X1", "身份证号码": "123"}])
    code, data = invoke("import", str(bad), "--profession", "doctor")
    assert code == 2 and data["error"]["code"] == "batch_rejected"
    good = _csv(tmp_path / "good.csv", rows)
    code, data = invoke("import", str(good), "--profession", "doctor")
    assert code == 0 and data["created"] == 3 and data["department"] == "wjw"
    code, data = invoke("import", str(good), "--profession", "doctor")
    assert code == 0 and data["unchanged"] == 3
    code, data = invoke("list", "--profession", "doctor")
    assert code == 0 and data["total"] == 3
    code, shown = invoke("show", str(data["items"][0]["id"]))
    assert code == 0 and shown["history"][0]["source"].startswith("good.csv#")
    code, data = invoke("file", person_id(0), "--purpose", "nonsense")
    assert code == 2 and data["error"]["code"] == "purpose_unknown"
    code, data = invoke("file", person_id(0), "--purpose", "hiring")
    assert code == 0 and data["registrations"][0]["profession"] == "doctor"
    code, data = invoke("government")
    assert code == 0 and "public_bodies" in data
    session.commit()
    outcomes = [r.outcome for r in session.scalars(select(SubjectAccess).order_by(SubjectAccess.id))]
    assert outcomes == ["denied", "allowed"]  # the refusal about a known person is logged too


def test_cli_import_xlsx(database, session, tmp_path: Path) -> None:
    import openpyxl

    env = build(session)
    clikit.state.db_url = database.url
    rows = doctor_rows(env, 2)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["医师执业登记（沁阳市卫生健康委员会）"])  # a title row above the header
    ws.append(list(rows[0]))
    for r in rows:
        ws.append(list(r.values()))
    path = tmp_path / "doctors.xlsx"
    wb.save(path)
    result = CliRunner().invoke(commands.app, ["import", str(path), "--profession", "doctor", "--json"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["created"] == 2
