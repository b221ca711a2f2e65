"""Absurd amounts (1e30, 1e309, NaN, -1, 20 digits …) are rejected rows with a stable code, never a crash.

Each case goes in through the three channels (CLI with ``--json``, HTTP upload, HTTP push) on both databases;
the good row beside it is still written, so the batch is never lost.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.factories import auth_headers, make_department, make_token
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, penalty_row
from tests.ingest.test_batches import write_csv
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.cli import app
from xinyong.records.models import CreditRecord

FINE = "罚款金额(万元)"
CONFISCATED = "没收违法所得、没收非法财物的金额(万元)"

#: (cell as written, expected code). Text cells: what a CSV or a JSON string carries.
ABSURD = [
    ("1e30", "amount_too_large"),
    ("1e309", "amount_too_large"),  # a finite Decimal, an infinite float
    ("99999999999999999999", "amount_too_large"),
    ("1E+400000000", "amount_too_large"),  # beyond what Decimal arithmetic can scale
    ("100000001", "amount_too_large"),  # just above the default ceiling of 10^8 万元
    ("NaN", "amount_invalid"),
    ("-Infinity", "amount_invalid"),
    ("inf", "amount_invalid"),
    ("-1", "amount_negative"),
    ("-1e30", "amount_negative"),
]


def _row(n: int, **changes) -> dict:
    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    row = penalty_row(
        **{
            "行政处罚决定书文号": f"沁市监罚〔2026〕{n}号",
            "处罚决定日期": day,
            "处罚有效期": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
            "公示截止期": "",
        }
    )
    row.update(changes)
    return row


def _rows(value, column: str = FINE) -> list[dict]:
    if column == CONFISCATED:
        return [
            _row(1, **{CONFISCATED: "2"}),
            _row(2, **{CONFISCATED: value, "处罚类别": "没收违法所得、没收非法财物", FINE: ""}),
        ]
    return [_row(1), _row(2, **{column: value})]


@pytest.fixture
def ready(session):
    seed_catalog(session, actor=system_principal("tests"))
    dept = make_department(session, code="scjgj", uscc=AUTHORITY, name=AUTHORITY_NAME)
    session.commit()
    return dept


def _codes(report: dict) -> set[str]:
    return {i["code"] for e in report["errors"] for i in e.get("issues", [e])}


@pytest.mark.parametrize(("value", "code"), ABSURD)
def test_cli_json(database, ready, tmp_path, value, code):
    path = write_csv(tmp_path / "p.csv", _rows(value))
    r = CliRunner().invoke(app, ["--db", database.url, "ingest", str(path), "--department", "scjgj", "--json"])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output
    out = json.loads(r.stdout)
    assert out["created"] == 1 and out["rejected"] == 1, out
    assert code in _codes(out), out


@pytest.mark.parametrize(("value", "code"), ABSURD)
def test_http_upload(client, session, ready, tmp_path, value, code):
    op = make_token(session, Role.DEPT_OPERATOR, ready)
    path = write_csv(tmp_path / "p.csv", _rows(value, CONFISCATED))
    r = client.post(
        "/api/v1/ingest/files",
        files={"file": ("处罚.csv", path.read_bytes(), "text/csv")},
        data={"kind": "penalty"},
        headers=auth_headers(op),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 1 and body["rejected"] == 1 and code in _codes(body), body


#: JSON numbers as a sender's system writes them (1e309 is read as an infinite float by Python's JSON reader).
JSON_NUMBERS = [
    ("1e30", "amount_too_large"),
    ("1e309", "amount_invalid"),
    ("-1", "amount_negative"),
    ("99999999999999999999", "amount_too_large"),
    ("NaN", "amount_invalid"),
    ("-1e309", "amount_invalid"),
]


@pytest.mark.parametrize(("number", "code"), JSON_NUMBERS)
def test_http_push_json_numbers(client, session, ready, number, code):
    op = make_token(session, Role.DEPT_OPERATOR, ready)
    rows = _rows("__AMOUNT__")
    body = json.dumps({"kind": "penalty", "rows": rows}, ensure_ascii=False).replace('"__AMOUNT__"', number)
    r = client.post(
        "/api/v1/ingest/batches",
        content=body.encode(),
        headers={**auth_headers(op), "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] == 1 and out["rejected"] == 1 and code in _codes(out), out


@pytest.mark.parametrize(("value", "code"), ABSURD[:5])
def test_http_push_strings(client, session, ready, value, code):
    op = make_token(session, Role.DEPT_OPERATOR, ready)
    r = client.post("/api/v1/ingest/batches", json={"kind": "penalty", "rows": _rows(value)}, headers=auth_headers(op))
    assert r.status_code == 201, r.text
    assert code in _codes(r.json())


def test_the_ceiling_itself_is_stored_exactly(client, session, ready):
    """10^8 万元 with 6 decimals (the largest accepted amount) fits the record's fine column on both databases."""
    op = make_token(session, Role.DEPT_OPERATOR, ready)
    r = client.post(
        "/api/v1/ingest/batches",
        json={"kind": "penalty", "rows": [_row(1, **{FINE: "99999999.999999"}), _row(2, **{FINE: "100000000"})]},
        headers=auth_headers(op),
    )
    assert r.status_code == 201 and r.json()["created"] == 2, r.text
    fines = sorted(session.scalars(select(CreditRecord.fine_fen)))
    assert fines == [99_999_999_999_999, 100_000_000_000_000]
    assert session.scalar(select(func.count()).select_from(CreditRecord)) == 2


def test_a_number_in_a_text_column_is_held_to_its_length(client, session, ready):
    """A JSON 1e308 as 行政相对人名称 is text of 309 digits: refused as too long, not a PostgreSQL
    ``value too long for type character varying(200)`` (a 500) when the batch is written."""
    op = make_token(session, Role.DEPT_OPERATOR, ready)
    rows = [_row(1), _row(2, 行政相对人名称="__NAME"), _row(3, 处罚机关="__NAME")]
    body = json.dumps({"kind": "penalty", "rows": rows}, ensure_ascii=False).replace('"__NAME"', "1e308")
    r = client.post(
        "/api/v1/ingest/batches",
        content=body.encode(),
        headers={**auth_headers(op), "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] == 1 and out["rejected"] == 2 and _codes(out) == {"too_long"}, out
