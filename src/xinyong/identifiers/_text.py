"""Text clean-up shared by the identifier modules.

Codes arrive typed by hand, pasted from Word or exported from Excel: with spaces, hyphens, full-width characters
(``９１３５…``, ``－``) and lower-case letters. One translation table handles all of that in a single C-level pass,
which keeps the fast validation paths fast.
"""

from __future__ import annotations

import re
from typing import Any

# Full-width ASCII (U+FF01..U+FF5E) -> ASCII; separators people type inside codes are dropped.
_SEPARATORS = " \t\r\n\u00a0\u3000\u200b\u200c\u200d\ufeff-\u2010\u2011\u2012\u2013\u2014\u2212\uff0d\u30fc"
_COMPACT_TABLE: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_COMPACT_TABLE.update({ord(ch): None for ch in _SEPARATORS})


def as_text(value: Any) -> str:
    """The input as a string: ``None`` becomes ``""`` so a missing cell is reported as empty, not as a crash."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def compact(value: Any) -> str:
    """Strip spaces and hyphens (half- and full-width), convert full-width to half-width, upper-case."""
    return as_text(value).translate(_COMPACT_TABLE).upper()


def in_shape(code: Any, shape: re.Pattern[str]) -> str | None:
    """``code`` in the canonical form that ``shape`` matches whole (compacted once if it does not as given), or
    ``None``: the first step of every fast ``is_valid``. Not a string at all is ``None`` too."""
    if type(code) is not str:
        return None
    if shape.fullmatch(code):
        return code
    code = compact(code)
    return code if shape.fullmatch(code) else None
