"""Administrative division codes (GB/T 2260) with their history, read from python-stdnum's bundled ``cn/loc.dat``.

The file lists every county-level code since 1980 with the years it was in use (``[1983-2019]桥东区,[2020-]襄都区``).
stdnum only uses it to *reject* resident IDs whose region it does not know; we need more: a readable full name
(``河南省焦作市沁阳市``) and whether the code is still current, because region codes retire over time while the
numbers issued under them stay in use. An unknown or retired region is therefore a warning, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

_PERIOD = re.compile(r"\[(\d*)-(\d*)\]([^,]*)")

#: Codes outside GB/T 2260 that appear in real USCCs: central (national-level) registration authorities.
_SPECIAL = {"100000": "中央（国家级）"}


@dataclass(frozen=True)
class Region:
    code: str
    name: str                 # full, most recent name, e.g. "河南省焦作市沁阳市"
    valid_from: int | None    # first year in use (None: before the table starts, 1980)
    valid_until: int | None   # last year in use (None: still current)

    @property
    def current(self) -> bool:
        return self.valid_until is None

    def retired_before(self, year: int) -> bool:
        """True if the code was already out of use before ``year`` (so no number issued from then can carry it)."""
        return self.valid_until is not None and self.valid_until < year


def _periods(value: str) -> list[tuple[int | None, int | None, str]]:
    found = [(int(a) if a else None, int(b) if b else None, n) for a, b, n in _PERIOD.findall(value)]
    return found or [(None, None, value)]


def _is_placeholder(name: str) -> bool:
    # Grouping rows, not places: "市辖区" (districts of a city), "县" (counties of a municipality), "省直辖县级…".
    return name in ("市辖区", "县") or "直辖" in name


@cache
def _table() -> dict[str, Region]:
    from stdnum import numdb

    db = numdb.get("cn/loc")
    raw: dict[str, list[tuple[int | None, int | None, str]]] = {}
    provinces: dict[str, str] = {}
    for _length, low, _high, props, children in db.prefixes:
        provinces[low] = props.get("province", "")
        for _clen, clow, _chigh, cprops, _ in children:
            raw[low + clow] = _periods(cprops.get("county", ""))

    table: dict[str, Region] = {}
    for code, periods in raw.items():
        starts = [s for s, _, _ in periods]
        ends = [e for _, e, _ in periods]
        county = periods[-1][2]
        prefecture_periods = raw.get(code[:4] + "00")
        parts = [provinces.get(code[:2], "")]
        if code[2:] != "0000":
            if code[4:] != "00" and prefecture_periods and not _is_placeholder(prefecture_periods[-1][2]):
                parts.append(prefecture_periods[-1][2])
            parts.append(county)
        table[code] = Region(
            code=code,
            name="".join(p for p in parts if p),
            valid_from=None if None in starts else min(s for s in starts if s is not None),
            valid_until=None if None in ends else max(e for e in ends if e is not None),
        )
    for code, name in _SPECIAL.items():
        table[code] = Region(code=code, name=name, valid_from=None, valid_until=None)
    return table


def lookup(code: str) -> Region | None:
    """The region with this 6-digit code, current or retired; ``None`` if the code never existed (in the table)."""
    return _table().get(code)
