"""Identifiers of credit subjects — pure functions, no database.

- :mod:`uscc` 统一社会信用代码 (GB 32100-2015), :mod:`orgcode` 组织机构代码 (GB 11714),
  :mod:`resident_id` 居民身份证号码 (GB 11643, 18- and 15-digit): ``compact`` / ``is_valid`` (fast) / ``validate``
  (explained :class:`CodeCheck`) / ``calc_check_digit`` / ``make``;
- :func:`explain`: detect the kind from the shape and validate;
- :mod:`masking` of ID numbers, names and phones; :mod:`names` normalisation for matching;
- :mod:`vault`: look-up hashes and encryption of personal identifiers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xinyong.identifiers import masking, names, orgcode, regions, resident_id, uscc, vault
    from xinyong.identifiers.check import CodeCheck, Issue
    from xinyong.identifiers.detect import explain

__all__ = [
    "CodeCheck",
    "Issue",
    "explain",
    "masking",
    "names",
    "orgcode",
    "regions",
    "resident_id",
    "uscc",
    "vault",
]

# Imported when first used: ``xinyong validate`` needs the code modules, not vault (cryptography) or masking.
_LAZY = {
    "CodeCheck": "xinyong.identifiers.check",
    "Issue": "xinyong.identifiers.check",
    "explain": "xinyong.identifiers.detect",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in __all__:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
