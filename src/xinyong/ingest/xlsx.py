"""A streaming XLSX reader with bounded memory (used by :mod:`xinyong.ingest.readers`).

openpyxl reads the workbook's structure (sheets, styles and their date formats, the 1900/1904 epoch); the shared
strings and the worksheets are parsed here with expat, chunk by chunk, because openpyxl (even ``read_only``)
materialises every cell's whole text before anyone can look at its length: a 50 MB cell costs hundreds of MB.
Here a cell's text is kept only up to the cell limit; past it only its first characters and its length are kept
(:class:`Cut`), and a row stops keeping text past the row limit. A formula cell whose file carries no cached
value (files written by programs rather than by Excel) is reported as such (:data:`FORMULA_NO_VALUE`), never
read as an empty cell.

Errors are :class:`~xinyong.core.errors.ValidationFailed`: ``xlsx_encrypted`` (a password-protected package:
ZIP entries with the encryption flag), ``xlsx_unreadable`` (not a ZIP, truncated, corrupt, not a workbook, a
part too large to be real).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any
from xml.parsers import expat

from xinyong.core.errors import ValidationFailed

#: Bytes of XML handed to expat at a time.
CHUNK = 64 * 1024
#: Columns of a worksheet (XFD).
MAX_COLUMNS = 16_384
#: Workbook parts read whole by openpyxl (workbook.xml, styles, relationships …) larger than this are refused:
#: real ones are kilobytes, a huge one is a decompression bomb.
MAX_STRUCTURE_PART_BYTES = 64 * 1024 * 1024
#: The shared strings table is kept in memory (each string bounded by the cell limit): its XML larger than this
#: is refused.
MAX_SHARED_STRINGS_BYTES = 1024 * 1024 * 1024

_UNREADABLE = "无法读取 Excel 文件（文件损坏、不完整或不是 .xlsx 文件）"


class Cut(str):
    """The first characters of a cell that was longer than the limit; ``length`` is its real length."""

    length: int

    def __new__(cls, prefix: str, length: int) -> Cut:
        obj = super().__new__(cls, prefix)
        obj.length = length
        return obj


class _FormulaNoValue:
    def __repr__(self) -> str:
        return "FORMULA_NO_VALUE"


#: The value of a formula cell saved without its result.
FORMULA_NO_VALUE = _FormulaNoValue()


def unreadable(detail: str | None = None) -> ValidationFailed:
    return ValidationFailed(_UNREADABLE + (f"：{detail}" if detail else ""), code="xlsx_unreadable")


def encrypted() -> ValidationFailed:
    return ValidationFailed(
        "Excel 文件设置了密码（已加密），无法读取：请在 Excel 中去掉密码后另存为 .xlsx，或另存为 CSV",
        code="xlsx_encrypted",
    )


def _parser(start: Any, end: Any, chars: Any) -> Any:
    p = expat.ParserCreate(namespace_separator=" ")
    p.buffer_text = True
    p.buffer_size = CHUNK
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars

    def refuse(*_: Any) -> None:  # an xlsx part never declares a DTD or entities (billion laughs, external files)
        raise ValueError("DTD")

    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    return p


_LOCAL: dict[str, str] = {}


def _local(name: str) -> str:
    tag = _LOCAL.get(name)
    if tag is None:
        tag = _LOCAL[name] = name.rpartition(" ")[2]
    return tag


def _feed(parser: Any, source: IO[bytes]) -> Iterator[None]:
    """Feed ``source`` to ``parser`` chunk by chunk, yielding after each (the caller takes the rows completed)."""
    try:
        while True:
            block = source.read(CHUNK)
            parser.Parse(block, not block)
            yield None
            if not block:
                return
    except (expat.ExpatError, ValueError) as exc:
        raise unreadable("XML 结构错误") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise unreadable() from exc


class _BoundedText:
    """Text collected from expat's character data, bounded while it arrives: past ``cell_chars`` only the first
    ``kept_chars`` are kept (``length`` counts them all). Subclasses set ``capture``, ``parts``, ``length``,
    ``cell_chars`` and ``kept_chars``."""

    capture: bool
    parts: list[str]
    length: int
    cell_chars: int
    kept_chars: int

    def chars(self, data: str) -> None:
        if self.capture:
            before = self.length
            self.length += len(data)
            if self.length <= self.cell_chars:
                self.parts.append(data)
            elif before <= self.cell_chars:  # just went over: keep only the start
                self.parts = ["".join(self.parts)[: self.kept_chars]]
                self.parts[0] += data[: max(0, self.kept_chars - len(self.parts[0]))]


class _Strings(_BoundedText):
    """The shared strings table (``xl/sharedStrings.xml``), each string bounded by the cell limit."""

    def __init__(self, cell_chars: int, kept_chars: int) -> None:
        self.cell_chars, self.kept_chars = cell_chars, kept_chars
        self.table: list[str] = []
        self.parts: list[str] = []
        self.length = 0
        self.depth_rph = 0
        self.capture = False
        self.in_si = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "si":
            self.in_si, self.parts, self.length = True, [], 0
        elif tag == "t":
            self.capture = self.in_si and not self.depth_rph
        elif tag == "rPh":
            self.depth_rph += 1

    def end(self, name: str) -> None:
        tag = _local(name)
        if tag == "t":
            self.capture = False
        elif tag == "rPh":
            self.depth_rph -= 1
        elif tag == "si":
            self.in_si = False
            text = "".join(self.parts)
            if self.length > self.cell_chars:
                self.table.append(Cut(text, self.length))
            else:
                self.table.append(text.replace("x005F_", ""))  # as openpyxl reads the table

    def read(self, source: IO[bytes]) -> list[str]:
        parser = _parser(self.start, self.end, self.chars)
        for _ in _feed(parser, source):
            pass
        return self.table


def _column(ref: str, cache: dict[str, int] = {}) -> int:  # noqa: B006 - a module-wide memo of column letters
    letters = ref.rstrip("0123456789")
    col = cache.get(letters)
    if col is None:
        col = 0
        for ch in letters.upper():
            if not "A" <= ch <= "Z":
                raise unreadable(f"单元格引用无效：{ref[:20]}")
            col = col * 26 + ord(ch) - 64
        if len(cache) < 20_000:
            cache[letters] = col
    return col


def _number(text: str) -> int | float:
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


class _Sheet(_BoundedText):
    """One worksheet's rows: ``(row number, values, flags)``; flags is None, or ``[(column, code, length)]`` with
    codes ``cell_too_long`` / ``row_too_long`` / ``formula_no_value`` (columns 0-based; None for the row)."""

    def __init__(self, book: Workbook) -> None:
        self.book = book
        self.cell_chars, self.row_chars, self.kept_chars = book.cell_chars, book.row_chars, book.kept_chars
        self.done: list[tuple[int, list[Any], list[tuple[int | None, str, int]] | None]] = []
        self.number = 0
        self.values: list[Any] = []
        self.flags: list[tuple[int | None, str, int]] | None = None
        self.row_length = 0
        self.in_row = False
        # the current cell
        self.col = 0
        self.type = "n"
        self.style = 0
        self.has_formula = False
        self.has_value = False
        self.parts: list[str] = []
        self.length = 0
        self.capture = False
        self.in_inline = False
        self.depth_rph = 0

    def _flag(self, col: int | None, code: str, length: int) -> None:
        if self.flags is None:
            self.flags = []
        self.flags.append((col, code, length))

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = _local(name)
        if tag == "c":
            ref = attrs.get("r")
            self.col = _column(ref) if ref else self.col + 1
            if self.col > MAX_COLUMNS:
                raise unreadable("列数超过 Excel 上限")
            self.type = attrs.get("t", "n")
            style = attrs.get("s")
            self.style = int(style) if style else 0
            self.has_formula = self.has_value = self.in_inline = False
            self.parts, self.length = [], 0
        elif tag == "v":
            self.capture = self.has_value = True
        elif tag == "f":
            self.has_formula = True
        elif tag == "is":
            self.in_inline = True
        elif tag == "t":
            self.capture = self.in_inline and not self.depth_rph
        elif tag == "rPh":
            self.depth_rph += 1
        elif tag == "row":
            ref = attrs.get("r")
            self.number = int(ref) if ref and ref.isdigit() else self.number + 1
            self.values, self.flags, self.row_length, self.col, self.in_row = [], None, 0, 0, True

    def end(self, name: str) -> None:
        tag = _local(name)
        if tag == "v" or tag == "t":
            self.capture = False
        elif tag == "c":
            if self.in_row:
                self._cell()
        elif tag == "rPh":
            self.depth_rph -= 1
        elif tag == "row":
            self.in_row = False
            self.done.append((self.number, self.values, self.flags))

    def _cell(self) -> None:
        col = self.col - 1
        kind = self.type
        value: Any
        if self.length > self.cell_chars:
            value = Cut("".join(self.parts), self.length)
        elif kind == "inlineStr":
            value = "".join(self.parts) if self.in_inline else None
        else:
            raw = "".join(self.parts) if self.has_value else ""
            if not raw:
                value = None
                if self.has_formula and kind != "str":
                    value = FORMULA_NO_VALUE
            else:
                value = self._typed(raw, kind)
        if type(value) is Cut:
            self._flag(col, "cell_too_long", value.length)
        elif value is FORMULA_NO_VALUE:
            self._flag(col, "formula_no_value", 0)
            value = None
        if value is not None and (type(value) is str or type(value) is Cut):
            self.row_length += len(value)  # a cut cell counts what is kept of it (it is flagged already)
            if self.row_length > self.row_chars:
                if not (self.flags and any(f[1] == "row_too_long" for f in self.flags)):
                    self._flag(None, "row_too_long", 0)
                value = value[: self.kept_chars]
        values = self.values
        if col >= len(values):
            if col > len(values):
                values.extend([None] * (col - len(values)))
            values.append(value)
        else:
            values[col] = value

    def _typed(self, raw: str, kind: str) -> Any:
        book = self.book
        try:
            if kind == "n":
                number = _number(raw)
                if self.style in book.date_styles:
                    # lazy: openpyxl (~0.3 s) only when a workbook is read (see _read_structure)
                    from openpyxl.utils.datetime import from_excel

                    try:
                        return from_excel(number, book.epoch, timedelta=self.style in book.timedelta_styles)
                    except (OverflowError, ValueError):
                        return "#VALUE!"  # as openpyxl: a date serial out of range is an error value
                return number
            if kind == "s":
                return book.strings[int(raw)]
            if kind == "b":
                return bool(int(raw))
            if kind == "d":
                # lazy: as above
                from openpyxl.utils.datetime import from_ISO8601

                return from_ISO8601(raw)
            return raw  # str (a formula's text result), e (an error such as #N/A)
        except (ValueError, IndexError) as exc:
            raise unreadable(f"第 {self.number} 行的单元格值无效") from exc


class Workbook:
    """An opened XLSX package: its sheets by title, read row by row with :meth:`rows`."""

    def __init__(self, source: IO[bytes], *, cell_chars: int, row_chars: int, kept_chars: int) -> None:
        self.cell_chars, self.row_chars, self.kept_chars = cell_chars, row_chars, kept_chars
        try:
            self.archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise unreadable() from exc
        try:
            self._check_members()
            self._read_structure()
        except BaseException:
            self.archive.close()
            raise

    def _check_members(self) -> None:
        infos = self.archive.infolist()
        if any(info.flag_bits & 0x1 for info in infos):
            raise encrypted()
        for info in infos:
            name = info.filename
            if name.startswith("xl/worksheets/") or name.endswith("sharedStrings.xml"):
                if name.endswith("sharedStrings.xml") and info.file_size > MAX_SHARED_STRINGS_BYTES:
                    raise unreadable("共享字符串表过大")
            elif info.file_size > MAX_STRUCTURE_PART_BYTES and name.endswith((".xml", ".rels")):
                raise unreadable(f"文件中的 {name[:60]} 过大")

    def _read_structure(self) -> None:
        # lazy: openpyxl (~0.3 s) loads only when a workbook is read; CSV and JSON uploads never need it
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet
        from openpyxl.xml.constants import SHARED_STRINGS

        reader = ExcelReader.__new__(ExcelReader)  # our archive, not a second ZipFile of the same stream
        reader.archive = self.archive
        reader.valid_files = self.archive.namelist()
        reader.read_only, reader.keep_vba, reader.data_only = True, False, True
        reader.keep_links, reader.rich_text, reader.shared_strings = False, False, []
        try:
            reader.read_manifest()
            part = reader.package.find(SHARED_STRINGS)
            strings: list[str] = []
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    strings = _Strings(self.cell_chars, self.kept_chars).read(src)
            reader.read_workbook()
            apply_stylesheet(self.archive, reader.wb)
            sheets = [
                (sheet.name, rel.target)
                for sheet, rel in reader.parser.find_sheets()
                if rel.target in reader.valid_files and "chartsheet" not in rel.Type
            ]
        except ValidationFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - openpyxl's errors on a broken part vary (KeyError, XML errors …)
            raise unreadable() from exc
        wb = reader.wb
        self.strings = strings
        self.date_styles = frozenset(getattr(wb, "_date_formats", ()) or ())
        self.timedelta_styles = frozenset(getattr(wb, "_timedelta_formats", ()) or ())
        self.epoch = wb.epoch
        self.sheets: dict[str, str] = dict(sheets)
        if not self.sheets:
            raise unreadable("没有工作表")

    def rows(
        self, title: str, *, max_rows: int | None = None
    ) -> Iterator[tuple[int, list[Any], list[tuple[int | None, str, int]] | None]]:
        """The sheet's rows in order (rows with no cells are not yielded; numbers are the sheet's own)."""
        sheet = _Sheet(self)
        parser = _parser(sheet.start, sheet.end, sheet.chars)
        count = 0
        try:
            src = self.archive.open(self.sheets[title])
        except (KeyError, zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise unreadable() from exc
        with src:
            for _ in _feed(parser, src):
                done, sheet.done = sheet.done, []
                for item in done:
                    yield item
                    count += 1
                    if max_rows is not None and count >= max_rows:
                        return

    def close(self) -> None:
        self.archive.close()
