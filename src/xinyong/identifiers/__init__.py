"""Identifiers of credit subjects — pure functions, no database.

- :mod:`uscc` 统一社会信用代码 (GB 32100-2015), :mod:`orgcode` 组织机构代码 (GB 11714),
  :mod:`resident_id` 居民身份证号码 (GB 11643, 18- and 15-digit): ``compact`` / ``is_valid`` (fast) / ``validate``
  (explained :class:`CodeCheck`) / ``calc_check_digit`` / ``make``;
- :func:`explain`: detect the kind from the shape and validate;
- :mod:`masking` of ID numbers, names and phones; :mod:`names` normalisation for matching;
- :mod:`vault`: look-up hashes and encryption of personal identifiers.
"""

from xinyong.identifiers import (
    masking,
    names,
    orgcode,
    regions,
    resident_id,
    uscc,
    vault,
)
from xinyong.identifiers.check import CodeCheck, Issue
from xinyong.identifiers.detect import explain

__all__ = [
    "CodeCheck", "Issue", "explain", "masking", "names", "orgcode", "regions", "resident_id", "uscc", "vault",
]
