"""Hostile and broken files, made byte by byte (no fixture is checked in): the test files of issue #13 finding 5.

- :func:`zipcrypto_xlsx`: a real workbook whose ZIP entries are encrypted with the traditional PKWARE cipher
  (ZipCrypto), as 7-Zip or WinRAR write with a password; Python's zipfile can read these but not write them.
- :func:`ole_encrypted_xlsx`: what Excel writes for "Encrypt with password": an OLE compound file (CFB) with the
  streams ``EncryptionInfo`` and ``EncryptedPackage``.
- :func:`corrupt_zip`: a ZIP local header followed by garbage.
- :func:`huge_cell_xlsx`: a workbook whose one cell holds ``size`` characters (an inline string, as openpyxl
  and many exporters write them; openpyxl itself refuses to write more than Excel's 32,767).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openpyxl


def workbook_bytes(rows: Iterable[Iterable[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _crc_byte(crc: int, b: int) -> int:
    return zlib.crc32(bytes([b]), crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


class _ZipCrypto:
    def __init__(self, password: bytes) -> None:
        self.k0, self.k1, self.k2 = 0x12345678, 0x23456789, 0x34567890
        for b in password:
            self._update(b)

    def _update(self, b: int) -> None:
        self.k0 = _crc_byte(self.k0, b)
        self.k1 = ((self.k1 + (self.k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        self.k2 = _crc_byte(self.k2, (self.k1 >> 24) & 0xFF)

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            t = (self.k2 | 2) & 0xFFFF
            out.append(b ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            self._update(b)
        return bytes(out)


def zipcrypto_xlsx(path: Path, rows: Iterable[Iterable[Any]], password: bytes = b"secret") -> Path:
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes(rows)))
    body = bytearray()
    central = bytearray()
    for info in source.infolist():
        plain = source.read(info.filename)
        crc = zlib.crc32(plain)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = comp.compress(plain) + comp.flush()
        cipher = _ZipCrypto(password)
        header = bytes(range(11)) + bytes([(crc >> 24) & 0xFF])  # the check byte: the CRC's high byte
        sealed = cipher.encrypt(header) + cipher.encrypt(deflated)
        name = info.filename.encode()
        offset = len(body)
        fields = (20, 0x1, 8, 0, 0, crc, len(sealed), len(plain), len(name), 0)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + name + sealed
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0x1,
                8,
                0,
                0,
                crc,
                len(sealed),
                len(plain),
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(source.infolist()), len(source.infolist()), len(central), len(body), 0
    )
    path.write_bytes(bytes(body + central + end))
    return path


def ole_encrypted_xlsx(path: Path) -> Path:
    """A minimal compound file: header, one FAT sector, one directory sector naming the encryption streams."""
    free, end_chain, fat_sect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)  # versions, byte order, sector shifts
    struct.pack_into("<I", header, 44, 1)  # FAT sectors
    struct.pack_into("<I", header, 48, 1)  # first directory sector
    struct.pack_into("<I", header, 56, 4096)  # mini stream cut-off
    struct.pack_into("<II", header, 60, end_chain, 0)  # no mini FAT
    struct.pack_into("<II", header, 68, end_chain, 0)  # no DIFAT sectors
    struct.pack_into("<I", header, 76, 0)  # DIFAT[0]: the FAT is sector 0
    for i in range(1, 109):
        struct.pack_into("<I", header, 76 + 4 * i, free)
    fat = bytearray(struct.pack("<II", fat_sect, end_chain) + struct.pack("<I", free) * 126)

    def entry(name: str, kind: int, child: int = free, right: int = free) -> bytes:
        e = bytearray(128)
        raw = (name + "\0").encode("utf-16-le")
        e[: len(raw)] = raw
        struct.pack_into("<HBB", e, 64, len(raw), kind, 1)
        struct.pack_into("<III", e, 68, free, right, child)
        struct.pack_into("<I", e, 116, end_chain)
        return bytes(e)

    directory = (
        entry("Root Entry", 5, child=1)
        + entry("EncryptionInfo", 2, right=2)
        + entry("EncryptedPackage", 2)
        + bytes(128)
    )
    path.write_bytes(bytes(header + fat + directory))
    return path


def corrupt_zip(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    return path


def huge_cell_xlsx(path: Path, rows: list[list[Any]], *, row: int, column: int, size: int, char: str = "假") -> Path:
    """``rows`` as a workbook, with the cell at (``row``, ``column``) (0-based among ``rows``) replaced by
    ``size`` characters, written straight into the sheet XML without holding them in memory at once."""
    marker = "__HUGE_CELL__"
    rows = [list(r) for r in rows]
    rows[row][column] = marker
    source = zipfile.ZipFile(io.BytesIO(workbook_bytes(rows)))
    block = (char * 1_000_000).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if marker.encode() not in data:
                out.writestr(info, data)
                continue
            before, after = data.split(marker.encode())
            with out.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(before)
                left = size
                while left > 0:
                    n = min(left, 1_000_000)
                    fh.write(block if n == 1_000_000 else (char * n).encode())
                    left -= n
                fh.write(after)
    return path


def huge_cell_csv(
    path: Path, header: list[str], rows: list[list[str]], *, row: int, column: int, size: int, char: str = "假"
) -> Path:
    """A UTF-8 CSV whose cell (``row``, ``column``) holds ``size`` characters, written in blocks."""
    import csv

    def line(cells: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(cells)
        return out.getvalue()

    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(line(header) + "\r\n")
        for i, r in enumerate(rows):
            if i != row:
                fh.write(line(r) + "\r\n")
                continue
            fh.write(line(r[:column]) + ("," if column else ""))
            left = size
            while left > 0:
                n = min(left, 1_000_000)
                fh.write(char * n)
                left -= n
            fh.write(("," + line(r[column + 1 :]) if column + 1 < len(r) else "") + "\r\n")
    return path


def corrupt_sheet_xlsx(path: Path, rows: Iterable[Iterable[Any]]) -> Path:
    """A workbook whose ZIP directory is intact but whose sheet's compressed data is damaged (a bad sector, a
    transfer cut and patched): it opens, then fails while the rows are read."""
    data = bytearray(workbook_bytes(rows))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + 8, min(start + info.compress_size, start + 200)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path
