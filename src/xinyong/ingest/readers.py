"""Tabular file readers shared by every import (registry exports, 双公示 files, list snapshots, commitments, trading
data).

Departments send what their systems export: CSV in UTF-8 (with or without BOM) or GBK/GB18030, XLSX with
title rows above the header and blank rows in between, JSON arrays or ``{"rows": [...]}``. A reader finds the
header row, skips blank rows and yields each data row with the row number the sender sees in their own file,
so every error can point at the exact row.

Limits (``XINYONG_IMPORT_*``, :class:`Limits`) are enforced while a file is read, before anything is kept: a cell
longer than ``import_max_cell_chars`` or a row longer than ``import_max_row_chars`` is never held whole (CSV is
fed to the csv module one bounded physical line at a time, and an over-long record is scanned in chunks; XLSX is
streamed by :mod:`xinyong.ingest.xlsx`; JSON is parsed whole only up to ``import_max_json_bytes``). Such a row,
and an XLSX formula cell saved without its result, comes out as a :class:`FlaggedRow`: its cells cut to
``import_rejected_cell_chars`` and its :attr:`FlaggedRow.issues` (codes ``cell_too_long``, ``row_too_long``,
``formula_no_value``). Every importer rejects such a row with these issues (:func:`row_issues`), in its own
keep-good / reject-all mode, without validating its cut values.

Whole-file errors are :class:`ValidationFailed`: ``file_not_found``, ``file_empty``, ``header_not_found``,
``file_encoding_unknown``, ``file_encoding_error``, ``csv_malformed``, ``xlsx_encrypted``, ``xlsx_unreadable``,
``xls_or_encrypted``, ``xlsx_sheet_missing``, ``json_malformed``, ``json_shape``, ``json_too_large``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from xinyong.core.errors import ValidationFailed
from xinyong.ingest import xlsx
from xinyong.records.inputs import RowIssue

SNIFF_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 20
#: Characters read at a time while an over-long CSV record is scanned to its end.
_SCAN_CHUNK = 64 * 1024
#: A rejected row keeps at most this many of its cut cells' characters in all (16 cells at the cell cut).
_KEPT_ROW_CELLS = 16
_SHOWN = 60

#: Internal rows: (row number, values, flags); flags None or [(0-based column | None, code, length)].
_Flags = list[tuple[int | None, str, int]] | None
_Raw = tuple[int, list[Any], _Flags]


@dataclass(frozen=True)
class Limits:
    """The reading limits (from the settings unless a test gives its own)."""

    cell_chars: int = 32_768
    row_chars: int = 262_144
    kept_cell_chars: int = 2_048
    json_bytes: int = 32 * 1024 * 1024

    @classmethod
    def from_settings(cls) -> Limits:
        # lazy: the settings load pydantic-settings (~0.15 s); reading a file with given limits needs none
        from xinyong.core.settings import get_settings

        s = get_settings()
        return cls(
            cell_chars=s.import_max_cell_chars,
            row_chars=max(s.import_max_row_chars, s.import_max_cell_chars),
            kept_cell_chars=min(s.import_rejected_cell_chars, s.import_max_cell_chars),
            json_bytes=s.import_max_json_bytes,
        )


class Source(Protocol):
    """A file to import: a path on disk (the CLI) or an upload received by :mod:`xinyong.core.uploads`."""

    @property
    def name(self) -> str: ...

    def open(self) -> IO[bytes]:
        """A new binary, seekable stream positioned at the start (the caller closes it)."""
        ...

    def sha256(self) -> str: ...


@dataclass(frozen=True)
class PathSource:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def open(self) -> IO[bytes]:
        return self.path.open("rb")

    def sha256(self) -> str:
        return file_sha256(self.path)


def as_source(value: str | Path | Source) -> Source:
    """A path (checked to exist) or an already received upload, as a :class:`Source`."""
    if isinstance(value, str | Path):
        path = Path(value)
        if not path.is_file():
            raise ValidationFailed(f"文件不存在：{path}", code="file_not_found")
        return PathSource(path)
    return value


class FlaggedRow(list[Any]):
    """A row the reader refused while reading (over-long cell or row, formula without a value): its values are cut
    to what may be kept for the error report, and :attr:`issues` says why."""

    issues: list[RowIssue]


def row_issues(values: list[Any]) -> list[RowIssue]:
    """The reader's issues of a row (empty for an ordinary row): an importer rejects a row that has any."""
    return values.issues if type(values) is FlaggedRow else []


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
        raise ValidationFailed(
            "无法识别文件编码：既不是 UTF-8 也不是 GBK/GB18030", code="file_encoding_unknown"
        ) from None


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


def _score_header(values: list[Any], known: AbstractSet[str] | None) -> int:
    cells = [normalize_header(v) for v in values]
    if known:
        return sum(1 for c in cells if c in known)
    return sum(1 for c in cells if c)


def _find_header(rows: Iterator[_Raw], known: AbstractSet[str] | None) -> tuple[int, list[str], list[Any], list[_Raw]]:
    """Look at the first rows for the one that best matches the known headers (title rows come first)."""
    seen: list[_Raw] = []
    for item in rows:
        seen.append(item)
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    candidates = [(n, v) for n, v, _ in seen if not _blank(v)]
    if not candidates:
        raise ValidationFailed("文件中没有数据（找不到表头行）", code="file_empty")
    if known:
        best = max(candidates, key=lambda item: _score_header(item[1], known))
        if _score_header(best[1], known) == 0:
            raise ValidationFailed(
                "找不到表头行：前 20 行中没有可识别的列名",
                code="header_not_found",
                details={"expected_any_of": sorted(known)[:30]},
            )
    else:
        best = candidates[0]
    number, values = best
    headers = [normalize_header(v) for v in values]
    rest = [item for item in seen if item[0] > number]
    return number, headers, list(values), rest


def _flagged(
    number: int,
    values: list[Any],
    flags: list[tuple[int | None, str, int]],
    raw_headers: list[Any],
    headers: list[str],
    known: AbstractSet[str] | None,
    limits: Limits,
) -> list[Any] | None:
    """The row as the importers see it: a :class:`FlaggedRow` of cut values with its issues; a plain row when its
    only flags are formulas outside the known columns; None (skipped as blank) when nothing but formulas without
    a value is in it (a template's pre-filled rows)."""
    if known:
        flags = [
            f
            for f in flags
            if f[1] != "formula_no_value" or (f[0] is not None and f[0] < len(headers) and headers[f[0]] in known)
        ]
    if all(f[1] == "formula_no_value" for f in flags) and _blank(values):
        return None
    if not flags:
        return values
    issues: list[RowIssue] = []
    for col, code, length in flags:
        header = ""
        if col is not None:
            header = str(raw_headers[col]).strip() if col < len(raw_headers) and raw_headers[col] is not None else ""
            header = header or f"第 {col + 1} 列"
        value = values[col] if col is not None and col < len(values) else None
        shown = None if value is None else str(value)[:_SHOWN] + "…"
        if code == "cell_too_long":
            message = (
                f"「{header}」的内容有 {length} 个字符，超过单个单元格 {limits.cell_chars} 个字符的上限"
                f"（退回数据只保留前 {limits.kept_cell_chars} 个字符）"
            )
        elif code == "row_too_long":
            message = (
                f"本行内容超过 {limits.row_chars} 个字符的上限"
                f"（退回数据只保留每个单元格的前 {limits.kept_cell_chars} 个字符）"
            )
        else:
            message = f"「{header}」公式无计算结果：请在 Excel 中重新计算并保存，或粘贴为数值"
        issues.append(RowIssue(number, header, shown, code, message))
    row = FlaggedRow(_cut(values, limits))
    row.issues = issues
    return row


def _cut(values: list[Any], limits: Limits) -> list[Any]:
    """Values of a refused row as kept: text cut to ``kept_cell_chars``, at most 16 cuts' worth of text in all."""
    budget = limits.kept_cell_chars * _KEPT_ROW_CELLS
    out: list[Any] = []
    for v in values:
        if isinstance(v, str):
            v = v[: min(limits.kept_cell_chars, budget)] if budget > 0 else None
            budget -= len(v) if v else 0
        out.append(v)
    return out


def _chain(
    buffered: list[_Raw],
    rows: Iterator[_Raw],
    raw_headers: list[Any],
    headers: list[str],
    known: AbstractSet[str] | None,
    limits: Limits,
) -> Iterator[tuple[int, list[Any]]]:
    for source in (buffered, rows):
        for number, values, flags in source:
            if flags is not None:
                row = _flagged(number, values, flags, raw_headers, headers, known, limits)
                if row is not None:
                    yield number, row
            elif not _blank(values):
                yield number, values


def _table(rows: Iterator[_Raw], known: AbstractSet[str] | None, limits: Limits, fmt: str, **kwargs: Any) -> Table:
    header_row, headers, raw, buffered = _find_header(rows, known)
    return Table(
        headers, header_row, _chain(buffered, rows, raw, headers, known, limits), fmt, raw_headers=raw, **kwargs
    )


# CSV ------------------------------------------------------------------------------------------------------------

_START_FIELD, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED = range(4)
_NEWLINES = re.compile(r"\r\n|\r|\n")


class _Overlong:
    """An over-long CSV record, scanned in chunks: the start of each field and each field's length."""

    def __init__(self, keep: int, budget: int) -> None:
        self.fields: list[list[Any]] = [["", 0]]  # [kept start, length]
        self.keep, self.budget = keep, budget

    def add(self, text: str) -> None:
        f = self.fields[-1]
        room = min(self.keep - len(f[0]), self.budget)
        if room > 0 and text:
            part = text[:room]
            f[0] += part
            self.budget -= len(part)
        f[1] += len(text)

    def next_field(self) -> None:
        if len(self.fields) < 16_384:
            self.fields.append(["", 0])


class _CsvLines:
    """The physical lines the csv module parses, each bounded: the characters of one record never pass the row
    limit. A record that would is scanned to its end here (the same states as the csv module: a newline inside
    quotes continues the record), keeping only the start of its fields; the csv module is handed an empty line
    in its place (or a closing quote, when it was already inside a quoted field) and :meth:`take_overlong` gives
    the scanned record to the row loop."""

    def __init__(self, text: IO[str], dialect: Any, limits: Limits) -> None:
        self.text, self.limits, self.readline, self.row_chars = text, limits, text.readline, limits.row_chars
        self.delimiter, self.quote = dialect.delimiter, dialect.quotechar or '"'
        self.doublequote, self.skip_space = dialect.doublequote, dialect.skipinitialspace
        self.pending = ""
        self.fed = 0  # characters given to csv for the record being parsed
        self.line_no = 0  # physical lines consumed
        self.overlong: tuple[_Overlong, bool] | None = None
        self._field_end = re.compile("[" + re.escape(self.delimiter) + "\r\n]")

    def __iter__(self) -> _CsvLines:
        return self

    def _read(self, size: int) -> str:
        if self.pending:
            cut = _NEWLINES.search(self.pending)
            if cut is not None and cut.end() <= size:
                line, self.pending = self.pending[: cut.end()], self.pending[cut.end() :]
                return line
            if len(self.pending) >= size:
                line, self.pending = self.pending[:size], self.pending[size:]
                return line
            line, self.pending = self.pending, ""
            if line.endswith("\r"):  # a \r\n split between the look-ahead and the stream
                return line
            return line + self.text.readline(size - len(line))
        return self.text.readline(size)

    def __next__(self) -> str:
        room = self.row_chars - self.fed
        line = self._read(room + 1) if self.pending else self.readline(room + 1)
        if not line:
            raise StopIteration
        if len(line) <= room:
            self.fed += len(line)
            self.line_no += 1
            return line
        quoted = self.fed > 0  # csv asked for more of a record: it is inside a quoted field
        self.overlong = (self._scan(line, quoted), quoted)
        return self.quote + "\n" if quoted else "\n"

    def take_overlong(self) -> tuple[_Overlong, bool] | None:
        found, self.overlong = self.overlong, None
        return found

    def _more(self) -> str:
        if self.pending:
            buf, self.pending = self.pending, ""
            return buf
        return self.text.read(_SCAN_CHUNK)

    def _scan(self, buf: str, quoted: bool) -> _Overlong:
        """Consume the rest of the record that starts (or, ``quoted``, continues inside quotes) with ``buf``."""
        rec = _Overlong(self.limits.kept_cell_chars, self.limits.kept_cell_chars * _KEPT_ROW_CELLS)
        state = _IN_QUOTED if quoted else _START_FIELD
        d, q, pos = self.delimiter, self.quote, 0
        while True:
            if pos >= len(buf):
                buf, pos = self._more(), 0
                if not buf:
                    self.line_no += 1
                    return rec
            if state == _IN_QUOTED:
                i = buf.find(q, pos)
                segment = buf[pos:] if i < 0 else buf[pos:i]
                rec.add(segment)
                self.line_no += len(_NEWLINES.findall(segment))
                if i < 0:
                    pos = len(buf)
                    continue
                pos = i + 1
                state = _QUOTE_IN_QUOTED if self.doublequote else _IN_FIELD
                continue
            if state == _IN_FIELD:
                m = self._field_end.search(buf, pos)
                rec.add(buf[pos:] if m is None else buf[pos : m.start()])
                if m is None:
                    pos = len(buf)
                    continue
                pos = m.start()
                state = _START_FIELD if buf[pos] == d else state
                if state == _START_FIELD:
                    rec.next_field()
                    pos += 1
                    continue
            c = buf[pos]
            if c == "\r" or c == "\n":  # the record ends (START_FIELD, IN_FIELD, QUOTE_IN_QUOTED)
                pos += 1
                if c == "\r":
                    if pos >= len(buf):
                        buf, pos = self._more(), 0
                    if buf[pos : pos + 1] == "\n":
                        pos += 1
                self.pending = buf[pos:] + self.pending
                self.line_no += 1
                return rec
            pos += 1
            if state == _START_FIELD:
                if c == q:
                    state = _IN_QUOTED
                elif c == d:
                    rec.next_field()
                elif not (c == " " and self.skip_space):
                    rec.add(c)
                    state = _IN_FIELD
            else:  # QUOTE_IN_QUOTED
                if c == q:
                    rec.add(q)
                    state = _IN_QUOTED
                elif c == d:
                    rec.next_field()
                    state = _START_FIELD
                else:
                    rec.add(c)
                    state = _IN_FIELD


def _sniff(sample: bytes, encoding: str) -> Any:
    try:
        return csv.Sniffer().sniff(sample[:8192].decode(encoding, errors="ignore"), delimiters=",\t;|")
    except csv.Error:
        return csv.excel


def read_csv(
    stream: IO[bytes], *, known_headers: AbstractSet[str] | None = None, limits: Limits | None = None
) -> Table:
    limits = limits or Limits.from_settings()
    sample = stream.read(SNIFF_BYTES)
    encoding = detect_encoding(sample)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    dialect = _sniff(sample, encoding)
    # The lines are bounded by the row limit, so no field can pass it: csv's own limit is never the one that stops.
    if csv.field_size_limit() < limits.row_chars + 2:
        csv.field_size_limit(limits.row_chars + 2)
    lines = _CsvLines(text, dialect, limits)
    reader = csv.reader(lines, dialect)
    cell_chars = limits.cell_chars

    def rows() -> Iterator[_Raw]:
        try:
            for values in reader:
                over = lines.take_overlong()
                lines.fed = 0
                if over is not None:
                    yield lines.line_no, *_overlong_row(values, over, limits)
                elif values and max(map(len, values)) > cell_chars:
                    flags: _Flags = [(i, "cell_too_long", len(v)) for i, v in enumerate(values) if len(v) > cell_chars]
                    yield lines.line_no, values, flags
                else:
                    yield lines.line_no, values, None
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"第 {lines.line_no + 1} 行附近含有无法按 {encoding} 解码的字节", code="file_encoding_error"
            ) from exc
        except csv.Error as exc:
            raise ValidationFailed(f"CSV 格式错误（第 {lines.line_no} 行）：{exc}", code="csv_malformed") from exc
        finally:
            stream.close()

    return _table(rows(), known_headers, limits, "csv", encoding=encoding)


def _overlong_row(values: list[str], over: tuple[_Overlong, bool], limits: Limits) -> tuple[list[Any], _Flags]:
    """The cells of an over-long record: what csv parsed before the record grew too long, then the scanned rest."""
    rec, quoted = over
    cells: list[list[Any]] = [[v[: limits.kept_cell_chars], len(v)] for v in values]
    if quoted and cells:  # the scan continued the field csv was inside (csv saw our closing quote and a newline)
        last = cells.pop()
        first = rec.fields[0]
        merged = (last[0] + first[0])[: limits.kept_cell_chars]
        cells.append([merged, last[1] + first[1]])
        cells.extend(rec.fields[1:])
    else:
        cells.extend(rec.fields)
    flags: list[tuple[int | None, str, int]] = [
        (i, "cell_too_long", length) for i, (_, length) in enumerate(cells) if length > limits.cell_chars
    ]
    if sum(length for _, length in cells) > limits.row_chars and not flags:
        flags.append((None, "row_too_long", 0))
    return [text for text, _ in cells], flags


# XLSX -----------------------------------------------------------------------------------------------------------


def read_xlsx(
    source: str | Path | IO[bytes],
    *,
    known_headers: AbstractSet[str] | None = None,
    sheet: str | None = None,
    limits: Limits | None = None,
) -> Table:

    limits = limits or Limits.from_settings()
    stream = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115 - closed below
    try:
        book = xlsx.Workbook(
            stream, cell_chars=limits.cell_chars, row_chars=limits.row_chars, kept_chars=limits.kept_cell_chars
        )
    except BaseException:
        if stream is not source:
            stream.close()
        raise
    if sheet is not None and sheet not in book.sheets:
        book.close()
        raise ValidationFailed(f"Excel 文件中没有名为 {sheet} 的工作表", code="xlsx_sheet_missing")
    # The sheet with the best header wins (exports often carry a cover or notes sheet first).
    best: tuple[int, str] | None = None
    try:
        for title in [sheet] if sheet else list(book.sheets):
            head = list(book.rows(title, max_rows=HEADER_SEARCH_ROWS))
            score = max((_score_header(v, known_headers) for _, v, _ in head if not _blank(v)), default=0)
            if best is None or score > best[0]:
                best = (score, title)
    except BaseException:
        book.close()
        if stream is not source:
            stream.close()
        raise
    assert best is not None
    title = best[1]

    def rows() -> Iterator[_Raw]:
        try:
            yield from book.rows(title)
        finally:
            book.close()
            if stream is not source:
                stream.close()

    return _table(rows(), known_headers, limits, "xlsx", sheet=title)


# JSON -----------------------------------------------------------------------------------------------------------


def read_json(stream: IO[bytes], *, limits: Limits | None = None) -> Table:
    limits = limits or Limits.from_settings()
    data = stream.read(limits.json_bytes + 1)
    if len(data) > limits.json_bytes:
        raise ValidationFailed(
            f"JSON 文件超过 {limits.json_bytes // (1024 * 1024)} MB 的上限（JSON 须整体解析）："
            "请分成多个文件，或改用 CSV / XLSX",
            code="json_too_large",
            details={"limit_bytes": limits.json_bytes},
        )
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"JSON 格式错误：{str(exc)[:200]}", code="json_malformed") from exc
    del data
    return table_from_records(parsed, limits=limits)


#: Rows one API push may carry (collection and commitments alike); larger pushes are split by the caller.
MAX_API_ROWS = 10_000


def push_digest(rows: list[dict[str, Any]]) -> str:
    """The SHA-256 of an API push (a JSON array of row objects) in a canonical form — what recognises the same push
    sent twice — after refusing an empty push and one over :data:`MAX_API_ROWS` rows."""
    if not rows:
        raise ValidationFailed("推送的数据为空", code="batch_empty")
    if len(rows) > MAX_API_ROWS:
        raise ValidationFailed(f"单次推送最多 {MAX_API_ROWS} 行，请分批推送", code="batch_too_large")
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def table_from_records(data: Any, *, limits: Limits | None = None) -> Table:
    """A JSON array of objects, or ``{"rows": [...]}`` (other top-level keys are kept in ``extra``)."""
    limits = limits or Limits.from_settings()
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
    cell_chars, row_chars = limits.cell_chars, limits.row_chars

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, item in enumerate(data, 1):
            values: list[Any] = [None] * len(headers)
            length = 0
            flags: list[tuple[int | None, str, int]] = []
            for key, value in item.items():
                i = index[normalize_header(key)]
                values[i] = value
                if isinstance(value, str):
                    length += len(value)
                    if len(value) > cell_chars:
                        flags.append((i, "cell_too_long", len(value)))
            if length > row_chars and not flags:
                flags.append((None, "row_too_long", 0))
            if flags:
                yield number, _flagged(number, values, flags, raw, headers, None, limits)  # type: ignore[misc]
            elif not _blank(values):
                yield number, values

    return Table(headers, 0, rows(), "json", extra=extra, raw_headers=raw)


# Files ----------------------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks: how a resubmitted file is recognised."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The stream an encrypted OOXML package (Excel's "Encrypt with password") keeps in its OLE container.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def _is_encrypted_package(stream: IO[bytes]) -> bool:
    """Whether an OLE/CFB container holds an encrypted workbook (its directory names ``EncryptedPackage``)."""
    stream.seek(0)
    tail = b""
    while True:
        block = stream.read(1 << 20)
        if not block:
            return False
        if _ENCRYPTED_PACKAGE in tail + block:
            return True
        tail = block[-len(_ENCRYPTED_PACKAGE) :]


def open_table(
    source: str | Path | Source,
    *,
    known_headers: AbstractSet[str] | None = None,
    sheet: str | None = None,
    limits: Limits | None = None,
) -> Table:
    """Open a CSV, XLSX or JSON file by its content (the extension is only a hint)."""
    src = as_source(source)
    limits = limits or Limits.from_settings()
    stream = src.open()
    try:
        magic = stream.read(8)
        stream.seek(0)
        if magic.startswith(b"PK"):
            return read_xlsx(stream, known_headers=known_headers, sheet=sheet, limits=limits)
        if magic.startswith(_CFB_MAGIC[:4]):
            if _is_encrypted_package(stream):
                raise ValidationFailed(
                    "Excel 文件设置了密码（已加密），无法读取：请在 Excel 中去掉密码后另存为 .xlsx，或另存为 CSV",
                    code="xlsx_encrypted",
                )
            raise ValidationFailed(
                "无法读取旧版 .xls 或设置了密码的 Excel 文件：请去掉密码并另存为 .xlsx 或 CSV", code="xls_or_encrypted"
            )
        stripped = magic.lstrip(codecs.BOM_UTF8).lstrip()
        if src.name.lower().endswith(".json") or stripped[:1] in (b"[", b"{"):
            with stream:
                return read_json(stream, limits=limits)
        return read_csv(stream, known_headers=known_headers, limits=limits)
    except BaseException:
        stream.close()
        raise
