"""The region table (``identifiers.regions``), read one province at a time, equals the whole table built from stdnum's
parse of ``cn/loc.dat`` (the way it was built before it was made lazy)."""

import threading

import pytest
from stdnum import numdb

from xinyong.identifiers import regions


def _whole_table() -> dict[str, regions.Region]:
    """Every region, from stdnum's own parse of the file (the reference)."""
    db = numdb.get("cn/loc")
    raw, provinces = {}, {}
    for _length, low, _high, props, children in db.prefixes:
        provinces[low] = props.get("province", "")
        for _clen, clow, _chigh, cprops, _ in children:
            raw[low + clow] = regions._periods(cprops.get("county", ""))
    table = {}
    for code, periods in raw.items():
        starts = [s for s, _, _ in periods]
        ends = [e for _, e, _ in periods]
        prefecture = raw.get(code[:4] + "00")
        parts = [provinces.get(code[:2], "")]
        if code[2:] != "0000":
            if code[4:] != "00" and prefecture and not regions._is_placeholder(prefecture[-1][2]):
                parts.append(prefecture[-1][2])
            parts.append(periods[-1][2])
        table[code] = regions.Region(
            code=code,
            name="".join(p for p in parts if p),
            valid_from=None if None in starts else min(s for s in starts if s is not None),
            valid_until=None if None in ends else max(e for e in ends if e is not None),
        )
    for code, name in regions._SPECIAL.items():
        table[code] = regions.Region(code=code, name=name, valid_from=None, valid_until=None)
    return table


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module as just imported: nothing read yet."""
    monkeypatch.setattr(regions, "_regions", {c: regions.Region(c, n, None, None) for c, n in regions._SPECIAL.items()})
    monkeypatch.setattr(regions, "_pending", None)
    monkeypatch.setattr(regions, "_source", "")


def test_every_code_as_in_the_whole_table(fresh: None) -> None:
    table = _whole_table()
    assert len(table) > 6000
    for code, region in table.items():
        assert regions.lookup(code) == region, code
    assert regions._pending == {}  # every province read, once


def test_known_names_and_history(fresh: None) -> None:
    assert regions.lookup("410882") == regions.Region("410882", "河南省焦作市沁阳市", 1989, None)
    assert regions.lookup("110103").valid_until == 2010  # 崇文区, merged in 2010
    assert regions.lookup("100000").name == "中央（国家级）"
    assert regions.lookup("110000").name == "北京市"


@pytest.mark.parametrize("code", ["", "1", "11", "999999", "110199", "100001", "abcdef", "41088", "4108820"])
def test_codes_that_never_existed(fresh: None, code: str) -> None:
    assert regions.lookup(code) is None
    assert regions.lookup(code) is None


def test_one_look_up_reads_only_its_own_province(fresh: None) -> None:
    assert regions.lookup("410882") is not None
    assert "41" not in regions._pending and "11" in regions._pending
    assert not [c for c in regions._regions if c[:2] not in ("41", "10")]


def test_concurrent_first_look_ups_all_find_their_region(fresh: None) -> None:
    table = _whole_table()
    codes = [c for c in table if c[:2] in ("41", "13", "51")]
    barrier = threading.Barrier(8)
    missing: list[str] = []

    def work(offset: int) -> None:
        barrier.wait()
        for code in codes[offset::8]:
            if regions.lookup(code) != table[code]:
                missing.append(code)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert missing == []
