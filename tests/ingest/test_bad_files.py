"""Bad files: each is answered with a clear error (or per-row errors), never a traceback or a partial batch."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import func, select

from tests.ingest.test_batches import ADMIN, rows, write_csv
from xinyong.core.errors import ValidationFailed
from xinyong.ingest import service
from xinyong.ingest.models import IngestBatch
from xinyong.records.models import CreditRecord


def refused(session, dept, path, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path, kind="penalty")
    assert err.value.code == code, err.value.message
    assert err.value.message
    assert session.scalar(select(func.count()).select_from(IngestBatch)) == 0


def test_truncated_xlsx(session, dept, tmp_path):
    wb = openpyxl.Workbook()
    data = rows(3)
    wb.active.append(list(data[0]))
    for r in data:
        wb.active.append(list(r.values()))
    buf = io.BytesIO()
    wb.save(buf)
    path = tmp_path / "cut.xlsx"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    refused(session, dept, path, "xlsx_unreadable")


def test_password_protected_or_old_excel(session, dept, tmp_path):
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)  # OLE container: encrypted xlsx or .xls
    refused(session, dept, path, "xls_or_encrypted")


def test_undecodable_bytes(session, dept, tmp_path):
    path = tmp_path / "mixed.csv"
    good = write_csv(tmp_path / "g.csv", rows(2)).read_bytes()
    path.write_bytes(good + b"\xff\xfe\xfa\xfb,\x81\x30\n")
    with pytest.raises(ValidationFailed) as err:
        service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path, kind="penalty")
    assert err.value.code in ("file_encoding_error", "file_encoding_unknown")
    assert session.scalar(select(func.count()).select_from(CreditRecord)) == 0


def test_huge_cell_is_a_row_error(session, dept, tmp_path):
    data = rows(3, bad={1: {"违法事实": "假" * 3_000_000}})
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=write_csv(tmp_path / "big.csv", data))
    assert (s["accepted"], s["rejected"]) == (2, 1)
    assert s["errors"][0]["row"] == 3


def test_empty_and_headerless_files(session, dept, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused(session, dept, empty, "file_empty")
    junk = tmp_path / "junk.csv"
    junk.write_text("甲,乙,丙\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=junk, kind="penalty")
    assert err.value.code in ("header_not_found", "columns_missing")
