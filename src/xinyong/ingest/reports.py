"""Error reports a department downloads to fix and resend its rejected rows (CSV and XLSX).

The report has the department's own header row and cells as they sent them, plus the reasons, so the fixed
file can be submitted as it is. Every cell is escaped against spreadsheet formula injection: a value starting
with ``= + - @`` or a tab/carriage return is prefixed with an apostrophe, the OWASP recommendation, so no
spreadsheet program evaluates it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REASON_COLUMNS = ["错误行号", "错误代码", "错误说明"]


def escape_cell(value: Any) -> Any:
    """A cell value that no spreadsheet will evaluate as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def report_rows(
    headers: list[str], rejected: Iterable[tuple[int, list[Any], list[dict[str, Any]]]]
) -> Iterable[list[Any]]:
    yield [escape_cell(h) for h in headers] + REASON_COLUMNS
    width = len(headers)
    for row, values, issues in rejected:
        cells = [escape_cell(v) for v in (list(values) + [None] * width)[:width]]
        codes = "；".join(sorted({i["code"] for i in issues}))
        reasons = "；".join(f"{i['column']}：{i['message']}" if i.get("column") else i["message"] for i in issues)
        yield [*cells, row, escape_cell(codes), escape_cell(reasons)]


def to_csv(rows: Iterable[list[Any]]) -> bytes:
    """UTF-8 with BOM, so that Excel on a Chinese Windows opens it correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for r in rows:
        writer.writerow(r)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Iterable[list[Any]], *, title: str = "退回数据") -> bytes:
    # lazy: openpyxl costs ~0.3 s to import; only an export to XLSX needs it
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title)
    first = True
    for r in rows:
        if first:
            # lazy: as above
            from openpyxl.cell import WriteOnlyCell

            header = []
            for v in r:
                cell = WriteOnlyCell(ws, value=v)
                cell.font = Font(bold=True)
                header.append(cell)
            ws.append(header)
            first = False
            continue
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
