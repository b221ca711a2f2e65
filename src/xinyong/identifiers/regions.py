"""Administrative division codes (GB/T 2260) with their history, read from python-stdnum's bundled ``cn/loc.dat``.

The file lists every county-level code since 1980 with the years it was in use (``[1983-2019]桥东区,[2020-]襄都区``).
stdnum only uses it to *reject* resident IDs whose region it does not know; we need more: a readable full name
(``河南省焦作市沁阳市``) and whether the code is still current, because region codes retire over time while the
numbers issued under them stay in use. An unknown or retired region is therefore a warning, never an error.

The table is read lazily, one province at a time: a look-up parses only the block of its province (a few hundred
lines of the 7,000), so ``xinyong validate CODE`` does not pay for the whole country. The file is found without
importing stdnum (whose package import alone costs more than the look-up).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path

_PERIOD = re.compile(r"\[(\d*)-(\d*)\]([^,]*)")

#: Codes outside GB/T 2260 that appear in real USCCs: central (national-level) registration authorities.
_SPECIAL = {"100000": "中央（国家级）"}


@dataclass(frozen=True)
class Region:
    code: str
    name: str  # full, most recent name, e.g. "河南省焦作市沁阳市"
    valid_from: int | None  # first year in use (None: before the table starts, 1980)
    valid_until: int | None  # last year in use (None: still current)

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


# loc.dat, as stdnum's numdb reads it: a province line ``41 province="河南省"`` followed by its indented county lines
# ``  0882 county="[1989-]沁阳市"`` (the code is the province's two digits followed by the county's four).
_PROVINCE_LINE = re.compile(r'^([0-9]{2}) province="([^"]*)"$', re.MULTILINE)
_COUNTY_LINE = re.compile(r'^ +([0-9]{4}) county="([^"]*)"$', re.MULTILINE)

_regions: dict[str, Region] = {
    code: Region(code=code, name=name, valid_from=None, valid_until=None) for code, name in _SPECIAL.items()
}
_pending: dict[str, list[tuple[str, int, int]]] | None = None  # province prefix -> (name, start, end) not read yet
_source = ""
_lock = threading.Lock()


def _loc_dat() -> Path:
    spec = importlib.util.find_spec("stdnum")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("python-stdnum is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "cn" / "loc.dat"


def _index() -> dict[str, list[tuple[str, int, int]]]:
    """Where each province's block is in loc.dat (read once; the blocks are parsed when first needed)."""
    global _pending, _source
    if _pending is None:
        text = _loc_dat().read_text(encoding="utf-8")
        starts = list(_PROVINCE_LINE.finditer(text))
        pending: dict[str, list[tuple[str, int, int]]] = {}
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
            pending.setdefault(match.group(1), []).append((match.group(2), match.end(), end))
        _source = text
        _pending = pending
    return _pending


def _load_province(prefix: str) -> None:
    """Build the regions of one province (two-digit prefix) into :data:`_regions`, once."""
    with _lock:
        blocks = _index().get(prefix)
        if not blocks:
            return  # no such province, or another thread has just built it
        province = blocks[-1][0]
        raw: dict[str, list[tuple[int | None, int | None, str]]] = {}
        for _name, start, end in blocks:
            for county, value in _COUNTY_LINE.findall(_source, start, end):
                raw[prefix + county] = _periods(value)
        built: dict[str, Region] = {}
        for code, periods in raw.items():
            starts = [s for s, _, _ in periods]
            ends = [e for _, e, _ in periods]
            county = periods[-1][2]
            prefecture_periods = raw.get(code[:4] + "00")
            parts = [province]
            if code[2:] != "0000":
                if code[4:] != "00" and prefecture_periods and not _is_placeholder(prefecture_periods[-1][2]):
                    parts.append(prefecture_periods[-1][2])
                parts.append(county)
            built[code] = Region(
                code=code,
                name="".join(p for p in parts if p),
                valid_from=None if None in starts else min(s for s in starts if s is not None),
                valid_until=None if None in ends else max(e for e in ends if e is not None),
            )
        for code, region in built.items():
            _regions.setdefault(code, region)  # the codes outside GB/T 2260 (_SPECIAL) keep their own entry
        del _index()[prefix]  # only now: a concurrent look-up that no longer sees it pending finds the regions


def lookup(code: str) -> Region | None:
    """The region with this 6-digit code, current or retired; ``None`` if the code never existed (in the table)."""
    found = _regions.get(code)
    if found is None:
        if _pending is None or code[:2] in _pending:
            _load_province(code[:2])
        found = _regions.get(code)  # again either way: another thread may have built the province meanwhile
    return found
