"""Recognise which kind of identifier a string is, then validate it as that kind.

Shapes: 18 characters containing letters (other than a final X) -> USCC; 18 digits (or 17 + X) -> resident ID or
USCC, whichever the rules accept (a resident ID wins a tie: it is then masked, the safe mistake); 15 digits ->
legacy resident ID; 9 characters or ``XXXXXXXX-C`` -> organisation code; anything else is ``unknown``.
"""

from __future__ import annotations

import re

from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.identifiers._text import as_text, compact
from xinyong.identifiers.check import CodeCheck, CodeKind, Issue

_DIGITS18 = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS15 = re.compile(r"[0-9]{15}")


_CODE_SHAPE = re.compile(r"[0-9A-Za-z\-]{8,20}")
_MASKED_CODE_SHAPE = re.compile(r"[0-9A-Za-z*\-]{8,20}")


def looks_like_code(text: str, *, masked: bool = False) -> bool:
    """Whether what a person typed is a code (USCC, resident ID, organisation code, registration number: 8 to 20
    letters, digits and hyphens) rather than a name; ``masked`` also takes a masked number (``*`` for digits). The
    one rule of the public search and the console's check form; whether the code is *valid* is :func:`explain`'s."""
    return (_MASKED_CODE_SHAPE if masked else _CODE_SHAPE).fullmatch(text) is not None


def _faults(check: CodeCheck) -> int:
    return len(check.errors) + len(check.warnings)


def explain(code: str, *, allow_bad_check: bool = False) -> CodeCheck:
    """Detect the kind of ``code`` from its shape and validate it (``allow_bad_check`` as in :func:`uscc.validate`)."""
    raw = as_text(code)
    c = compact(raw)
    if not c:
        return CodeCheck(CodeKind.UNKNOWN, raw, None, False, [Issue("empty", "代码为空")], [], {})
    if len(c) == 18:
        if not _DIGITS18.fullmatch(c):
            return uscc.validate(raw, allow_bad_check=allow_bad_check)
        as_person = resident_id.validate(raw)
        as_org = uscc.validate(raw, allow_bad_check=allow_bad_check)
        if as_person.valid:
            if uscc.is_valid(c):
                as_person.warnings.append(
                    Issue("kind_ambiguous", "该号码同时符合统一社会信用代码规则，已按居民身份证号码处理")
                )
            return as_person
        # Neither reading is valid: take the one with fewer faults, an unknown region counting as one (a mistyped
        # ID usually keeps a real region and a near-valid date; a USCC read as an ID breaks both).
        if as_org.valid or _faults(as_org) < _faults(as_person):
            return as_org
        return as_person
    if len(c) == 15 and _DIGITS15.fullmatch(c):
        return resident_id.validate(raw)
    if len(c) == 9:  # also XXXXXXXX-C: compaction drops the hyphen
        return orgcode.validate(raw)
    return CodeCheck(
        CodeKind.UNKNOWN,
        raw,
        None,
        False,
        [
            Issue(
                "unknown_kind",
                f"无法识别的代码格式（{len(c)}位）：应为18位统一社会信用代码、18位或15位居民身份证号码、9位组织机构代码",
            )
        ],
        [],
        {"length": len(c)},
    )
