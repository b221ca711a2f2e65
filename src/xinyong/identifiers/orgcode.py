"""组织机构代码 (organisation code), GB 11714-1997: 8-character body + 1 check character, printed ``XXXXXXXX-C``.

python-stdnum has no module for it, so the (short) maths is here: weights 3 7 9 10 5 8 4 2, values 0-9 and A=10 …
Z=35, ``C9 = 11 - (Σ mod 11)`` with 10 -> ``X`` and 11 -> ``0``. The same check guards positions 9–17 of a USCC.
"""

from __future__ import annotations

import re

from xinyong.identifiers._text import as_text, in_shape
from xinyong.identifiers._text import compact as _compact
from xinyong.identifiers.check import CodeCheck, CodeKind, Issue

BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_VALUE = {ch: i for i, ch in enumerate(BODY_ALPHABET)}
_SHAPE = re.compile(r"[0-9A-Z]{8}[0-9X]")
_CHECK_CHARS = "0123456789X"


def compact(code: str) -> str:
    """Strip spaces and the hyphen, full-width to half-width, upper-case: ``"59467239-9"`` -> ``"594672399"``."""
    return _compact(code)


def format(code: str) -> str:  # noqa: A001 - the conventional stdnum-style name
    """The printed form ``XXXXXXXX-C`` of a 9-character code."""
    c = compact(code)
    return f"{c[:8]}-{c[8:]}" if len(c) == 9 else c


def calc_check_digit(body8: str) -> str:
    """The GB 11714 check character of an 8-character body."""
    body = compact(body8)
    if len(body) != 8 or any(ch not in _VALUE for ch in body):
        raise ValueError(f"组织机构代码本体应为8位数字或大写字母：{body8!r}")
    remainder = 11 - sum(_VALUE[ch] * w for ch, w in zip(body, WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else "0" if remainder == 11 else str(remainder)


def is_valid(code: str) -> bool:
    """Boolean check (format and check character), without building an explanation."""
    shaped = in_shape(code, _SHAPE)
    if shaped is None:
        return False
    code = shaped
    return calc_check_digit(code[:8]) == code[8]


def validate(code: str) -> CodeCheck:
    """Validate and explain: every character at fault is named by its position."""
    raw = as_text(code)
    c = compact(raw)
    errors: list[Issue] = []
    details: dict[str, object] = {}
    if not c:
        errors.append(Issue("org_code_empty", "组织机构代码为空"))
        return CodeCheck(CodeKind.ORG_CODE, raw, None, False, errors, [], details)
    if len(c) != 9:
        errors.append(Issue("org_code_length", f"组织机构代码应为9位（不含连字符），实为{len(c)}位"))
    for pos, ch in enumerate(c, start=1):
        if pos == 9:
            if ch not in _CHECK_CHARS:
                errors.append(Issue("org_code_charset", f"第9位校验码 '{ch}' 无效，应为数字或 X"))
        elif ch not in _VALUE:
            errors.append(Issue("org_code_charset", f"第{pos}位字符 '{ch}' 不是数字或大写字母"))
    if errors:
        return CodeCheck(CodeKind.ORG_CODE, raw, None, False, errors, [], details)
    expected = calc_check_digit(c[:8])
    details.update({"formatted": format(c), "check_digit": expected})
    if c[8] != expected:
        errors.append(Issue("org_code_check_digit", f"第9位校验码应为 '{expected}'，实为 '{c[8]}'"))
    return CodeCheck(CodeKind.ORG_CODE, raw, c, not errors, errors, [], details)
