"""Tabular file readers shared by every import (registry exports, 双公示 files, list snapshots).

Departments send what their systems export: CSV in UTF-8 (with or without BOM) or GBK/GB18030, XLSX with
title rows above the header and blank rows in between, JSON arrays or ``{"rows": [...]}``. A reader finds the
header row, skips blank rows and yields each data row with the row number the sender sees in their own file,
so every error can point at the exact row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from xinyong.core.errors import ValidationFailed

SNIFF_BYTES = 256 * 1024
#: The largest CSV cell read at all; larger cells make the file unreadable (a row validator rejects far smaller
#: cells by the standard's length limits, so this only bounds memory).
MAX_CELL_BYTES = 64 * 1024 * 1024
csv.field_size_limit(MAX_CELL_BYTES)
HEADER_SEARCH_ROWS = 20


def normalize_header(value: Any) -> str:
    """Header cell as a comparable key: trimmed, no inner spaces, full-width brackets folded, no '*' marks."""
    if value is None:
        return ""
    text = str(value).strip().replace("\ufeff", "")
    for a, b in (("（", "("), ("）", ")"), ("\u3000", ""), (" ", ""), ("*", ""), ("＊", ""), ("\n", "")):
        text = text.replace(a, b)
    return text


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with BOM → utf-8-sig) when the sample decodes as UTF-8, otherwise GB18030 (a superset of GBK)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a multi-byte character cut at the sample's end is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise ValidationFailed("无法识别文件编码：既不是 UTF-8 也不是 GBK/GB18030", code="file_encoding_unknown") from None


@dataclass
class Table:
    """A header and its rows. ``rows`` yields ``(row_number, values)``; values align with ``headers``."""

    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, list[Any]]]
    format: str
    encoding: str | None = None
    sheet: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw_headers: list[Any] = field(default_factory=list)  # the header cells exactly as the sender wrote them

    def dicts(self) -> Iterator[tuple[int, dict[str, Any]]]:
        keys = self.headers
        for number, values in self.rows:
            yield number, {k: values[i] if i < len(values) else None for i, k in enumerate(keys) if k}


def _blank(values: Iterable[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _score_header(values: list[Any], known: set[str] | None) -> int:
    cells = [normalize_header(v) for v in values]
    if known:
        return sum(1 for c in cells if c in known)
    return sum(1 for c in cells if c)


def _find_header(rows: Iterator[tuple[int, list[Any]]], known: set[str] | None
                 ) -> tuple[int, list[str], list[Any], list[tuple[int, list[Any]]]]:
    """Look at the first rows for the one that best matches the known headers (title rows come first)."""
    seen: list[tuple[int, list[Any]]] = []
    for item in rows:
        seen.append(item)
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    candidates = [(n, v) for n, v in seen if not _blank(v)]
    if not candidates:
        raise ValidationFailed("文件中没有数据（找不到表头行）", code="file_empty")
    if known:
        best = max(candidates, key=lambda item: _score_header(item[1], known))
        if _score_header(best[1], known) == 0:
            raise ValidationFailed("找不到表头行：前 20 行中没有可识别的列名", code="header_not_found",
                                   details={"expected_any_of": sorted(known)[:30]})
    else:
        best = candidates[0]
    number, values = best
    headers = [normalize_header(v) for v in values]
    rest = [(n, v) for n, v in seen if n > number]
    return number, headers, list(values), rest


def _chain(buffered: list[tuple[int, list[Any]]], rows: Iterator[tuple[int, list[Any]]]
           ) -> Iterator[tuple[int, list[Any]]]:
    for item in buffered:
        if not _blank(item[1]):
            yield item
    for item in rows:
        if not _blank(item[1]):
            yield item


def read_csv(stream: IO[bytes], *, known_headers: set[str] | None = None) -> Table:
    sample = stream.read(SNIFF_BYTES)
    encoding = detect_encoding(sample)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        dialect = csv.Sniffer().sniff(sample[:8192].decode(encoding, errors="ignore"), delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text, dialect)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for values in reader:
                yield reader.line_num, values
        except UnicodeDecodeError as exc:
            raise ValidationFailed(f"第 {reader.line_num + 1} 行附近含有无法按 {encoding} 解码的字节",
                                   code="file_encoding_error") from exc
        except csv.Error as exc:
            raise ValidationFailed(f"CSV 格式错误（第 {reader.line_num} 行）：{exc}", code="csv_malformed") from exc

    it = rows()
    header_row, headers, raw, buffered = _find_header(it, known_headers)
    return Table(headers, header_row, _chain(buffered, it), "csv", encoding=encoding, raw_headers=raw)


def read_xlsx(source: str | Path | IO[bytes], *, known_headers: set[str] | None = None,
              sheet: str | None = None) -> Table:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValidationFailed(f"无法读取 Excel 文件（文件损坏或不完整）：{exc}", code="xlsx_unreadable") from exc

    try:
        candidates = [wb[sheet]] if sheet else wb.worksheets
    except KeyError:
        raise ValidationFailed(f"Excel 文件中没有名为 {sheet} 的工作表", code="xlsx_sheet_missing") from None
    # The sheet with the best header wins (exports often carry a cover or notes sheet first).
    best: tuple[int, Any] | None = None
    for ws in candidates:
        head = [(i, list(v)) for i, v in enumerate(ws.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True), 1)]
        score = max((_score_header(v, known_headers) for _, v in head if not _blank(v)), default=0)
        if best is None or score > best[0]:
            best = (score, ws)
    assert best is not None
    ws = best[1]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for i, values in enumerate(ws.iter_rows(values_only=True), 1):
                yield i, list(values)
        except zipfile.BadZipFile as exc:
            raise ValidationFailed("Excel 文件已损坏", code="xlsx_unreadable") from exc
        finally:
            wb.close()

    it = rows()
    header_row, headers, raw, buffered = _find_header(it, known_headers)
    return Table(headers, header_row, _chain(buffered, it), "xlsx", sheet=ws.title, raw_headers=raw)


def read_json(stream: IO[bytes]) -> Table:
    try:
        data = json.load(io.TextIOWrapper(stream, encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"JSON 格式错误：{exc}", code="json_malformed") from exc
    return table_from_records(data)


def table_from_records(data: Any) -> Table:
    """A JSON array of objects, or ``{"rows": [...]}`` (other top-level keys are kept in ``extra``)."""
    extra: dict[str, Any] = {}
    if isinstance(data, dict):
        if not isinstance(data.get("rows"), list):
            raise ValidationFailed('JSON 应为对象数组，或含 "rows" 数组的对象', code="json_shape")
        extra = {k: v for k, v in data.items() if k != "rows"}
        data = data["rows"]
    if not isinstance(data, list):
        raise ValidationFailed('JSON 应为对象数组，或含 "rows" 数组的对象', code="json_shape")
    headers: list[str] = []
    raw: list[str] = []
    index: dict[str, int] = {}
    for item in data:
        if not isinstance(item, dict):
            raise ValidationFailed("JSON 数组的每一项都应是对象（列名: 值）", code="json_shape")
        for key in item:
            norm = normalize_header(key)
            if norm not in index:
                index[norm] = len(headers)
                headers.append(norm)
                raw.append(str(key))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, item in enumerate(data, 1):
            values: list[Any] = [None] * len(headers)
            for key, value in item.items():
                values[index[normalize_header(key)]] = value
            if not _blank(values):
                yield number, values

    return Table(headers, 0, rows(), "json", extra=extra, raw_headers=raw)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks: how a resubmitted file is recognised."""
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_table(path: str | Path, *, known_headers: set[str] | None = None, sheet: str | None = None) -> Table:
    """Open a CSV, XLSX or JSON file by its content (the extension is only a hint)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"文件不存在：{path}", code="file_not_found")
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        return read_xlsx(path, known_headers=known_headers, sheet=sheet)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValidationFailed("无法读取旧版 .xls 或设置了密码的 Excel 文件：请去掉密码并另存为 .xlsx 或 CSV",
                               code="xls_or_encrypted")
    stripped = magic.lstrip(codecs.BOM_UTF8).lstrip()
    stream = path.open("rb")
    if path.suffix.lower() == ".json" or stripped[:1] in (b"[", b"{"):
        with stream:
            return read_json(stream)
    return read_csv(stream, known_headers=known_headers)
