"""居民身份证号码 (resident identity number), GB 11643-1999, and the legacy 15-digit numbers.

18 digits: region (GB/T 2260) + birth date YYYYMMDD + sequence (odd = male) + ISO 7064 MOD 11-2 check (``X`` = 10).
15 digits (issued until 1999): region + YYMMDD (19YY) + sequence, no check; converted to the 18-digit form.

python-stdnum's ``cn.ric`` rejects 15-digit numbers and any number whose region it does not know for the birth year;
but region codes retire while the numbers stay in use, so here an unknown region is only a warning.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from typing import Any

from xinyong.identifiers import regions
from xinyong.identifiers._text import as_text
from xinyong.identifiers._text import compact as _compact
from xinyong.identifiers.check import CodeCheck, CodeKind, Issue

EARLIEST_BIRTH = date(1900, 1, 1)
FIRST_ISSUED_YEAR = 1984  # the first (15-digit) resident identity cards were issued from 1984

_SHAPE18 = re.compile(r"[0-9]{17}[0-9X]")
_SHAPE15 = re.compile(r"[0-9]{15}")
# Fast path (as stdnum does): the weights 2^(17-i) mod 11 make the weighted sum ≡ 2·int(first 17, 13) (13 ≡ 2 mod 11),
# so the check character is a function of ``int(first 17, 13) % 11``.
_CHECK_OF_INT = tuple("0123456789X"[(1 - 2 * r) % 11] for r in range(11))
_MONTH_DAYS = frozenset(
    f"{m:02d}{d:02d}"
    for m in range(1, 13)
    for d in range(1, 32)
    if d <= (29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)
)
_EARLIEST_KEY = EARLIEST_BIRTH.strftime("%Y%m%d")
#: Every date up to the end of last year is in the past for good; only later ones need today's date.
_SETTLED_KEY = f"{date.today().year - 1}1231"
_today_cache: list[Any] = ["", 0.0]  # (YYYYMMDD of today, epoch seconds at which it stops being today)


def _today_key() -> str:
    """Today's date as ``YYYYMMDD``, recomputed only when the local day changes."""
    now = time.time()
    if now >= _today_cache[1]:
        today = date.today()
        _today_cache[0] = today.strftime("%Y%m%d")
        _today_cache[1] = datetime.combine(today + timedelta(days=1), datetime.min.time()).timestamp()
    return _today_cache[0]


def _date_ok(ymd: str) -> bool:
    """A real calendar date, not before 1900, not in the future (``ymd`` is 8 ASCII digits)."""
    mmdd = ymd[4:]
    if mmdd not in _MONTH_DAYS or ymd < _EARLIEST_KEY or (ymd > _SETTLED_KEY and ymd > _today_key()):
        return False
    if mmdd == "0229":
        year = int(ymd[:4])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def compact(number: str) -> str:
    """Strip spaces/hyphens, full-width -> half-width, upper-case (``x`` -> ``X``)."""
    return _compact(number)


def calc_check_digit(first17: str) -> str:
    """The MOD 11-2 check character of the first 17 digits."""
    body = compact(first17)
    if not re.fullmatch(r"[0-9]{17}", body):
        raise ValueError(f"应为身份证号码的前17位数字：{first17!r}")
    from stdnum.cn import ric as _stdnum_ric  # here: importing stdnum costs more than validating a code

    return _stdnum_ric.calc_check_digit(body + "0")  # stdnum expects the number including a check position


def to_18(number15: str) -> str:
    """Convert a legacy 15-digit number to 18 digits: insert the century ``19`` and append the check digit."""
    n = compact(number15)
    if not _SHAPE15.fullmatch(n):
        raise ValueError(f"应为15位数字的旧身份证号码：{number15!r}")
    first17 = n[:6] + "19" + n[6:]
    return first17 + calc_check_digit(first17)


def is_valid(number: str) -> bool:
    """Fast path: shape, MOD 11-2 check (18 digits) and birth date; 15-digit numbers by their birth date.

    No region lookup (an unknown region is only a warning).
    """
    if type(number) is not str:
        return False
    if not _SHAPE18.fullmatch(number):
        number = compact(number)
        if not _SHAPE18.fullmatch(number):
            return _SHAPE15.fullmatch(number) is not None and _date_ok("19" + number[6:12])
    return _CHECK_OF_INT[int(number[:17], 13) % 11] == number[17] and _date_ok(number[6:14])


def _shape_issues(n: str) -> list[Issue]:
    issues = []
    if len(n) not in (15, 18):
        issues.append(Issue("resident_id_length", f"居民身份证号码应为18位（或15位旧号码），实为{len(n)}位"))
    last = len(n) if len(n) == 18 else 0  # only an 18-digit number may end in X
    for pos, ch in enumerate(n, start=1):
        if ch in "0123456789" or (pos == last and ch == "X"):
            continue
        expect = "数字或 X" if pos == 18 else "数字"
        issues.append(Issue("resident_id_charset", f"第{pos}位字符 '{ch}' 应为{expect}"))
    return issues


def _birth_issues(ymd: str, positions: str) -> list[Issue]:
    try:
        born = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        return [Issue("resident_id_birth_date", f"{positions}出生日期 {ymd} 不是有效日期")]
    if born < EARLIEST_BIRTH:
        return [Issue("resident_id_birth_date", f"{positions}出生日期 {ymd} 早于1900年")]
    if ymd > _today_key():
        return [Issue("resident_id_birth_date", f"{positions}出生日期 {ymd} 晚于今天")]
    return []


def validate(number: str) -> CodeCheck:
    """Validate and explain a resident ID number (18-digit, or 15-digit converted to 18).

    ``details``: birth_date (ISO), sex (男/女), region_code, region_name (``None`` if unknown), region_current,
    legacy_15. An unknown region, or one retired before ID numbers were issued, is the warning
    ``resident_id_region_unknown``; codes retired later stay on real cards and are not flagged.
    """
    raw = as_text(number)
    n = compact(raw)
    errors: list[Issue] = []
    warnings: list[Issue] = []
    details: dict[str, Any] = {}
    if not n:
        errors.append(Issue("resident_id_empty", "居民身份证号码为空"))
        return CodeCheck(CodeKind.RESIDENT_ID, raw, None, False, errors, warnings, details)
    if not (_SHAPE18.fullmatch(n) or _SHAPE15.fullmatch(n)):
        errors.extend(_shape_issues(n))
        return CodeCheck(CodeKind.RESIDENT_ID, raw, None, False, errors, warnings, details)

    legacy = len(n) == 15
    if legacy:
        ymd, sequence, normalized = "19" + n[6:12], n[12:15], to_18(n)
        birth_issues = _birth_issues(ymd, "第7-12位")
        errors.extend(birth_issues)
        warnings.append(Issue("resident_id_legacy_15", "15位旧号码没有校验码，已换算为18位号码"))
    else:
        ymd, sequence, normalized = n[6:14], n[14:17], n
        birth_issues = _birth_issues(ymd, "第7-14位")
        errors.extend(birth_issues)
        expected = _CHECK_OF_INT[int(n[:17], 13) % 11]
        if n[17] != expected:
            errors.append(Issue("resident_id_check_digit", f"第18位校验码应为 '{expected}'，实为 '{n[17]}'"))

    region = regions.lookup(n[:6])
    details["birth_date"] = None if birth_issues else f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:]}"
    details["sex"] = "男" if int(sequence[-1]) % 2 else "女"
    details["region_code"] = n[:6]
    details["region_name"] = region.name if region else None
    details["region_current"] = region.current if region else None
    details["legacy_15"] = legacy
    if region is None:
        warnings.append(Issue("resident_id_region_unknown", f"第1-6位行政区划代码 {n[:6]} 不在行政区划代码表中"))
    elif region.retired_before(FIRST_ISSUED_YEAR):
        warnings.append(
            Issue(
                "resident_id_region_unknown",
                f"第1-6位行政区划代码 {n[:6]}（{region.name}）已于{region.valid_until}年后撤销，早于身份证号码的启用",
            )
        )
    return CodeCheck(CodeKind.RESIDENT_ID, raw, normalized, not errors, errors, warnings, details)


def make(*, region: str, birth_date: date, sequence: int) -> str:
    """Build a valid 18-digit number (demo data and tests). ``sequence`` 0–999; odd = male."""
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError(f"行政区划代码应为6位数字：{region!r}")
    if not 0 <= sequence <= 999:
        raise ValueError(f"顺序码应在 0–999 之间：{sequence}")
    first17 = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + calc_check_digit(first17)
