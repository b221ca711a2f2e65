"""Masking of personal data for anything shown outside the platform's protected views.

Rule (design §5, standards 1.5): at most the first 6 and the last 4 characters of an ID number are visible; the
birth date never is. A string that does not look like an ID number is masked completely by
:func:`mask_resident_id`: it may still be one, mistyped; :func:`mask_possible_id` masks an invalid input that may
be a mistyped ID number the way an ID number is masked (what ``xinyong validate`` shows).
"""

from __future__ import annotations

import re
import unicodedata

from xinyong.identifiers._text import compact

_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_ID15 = re.compile(r"[0-9]{15}")
_MOBILE = re.compile(r"(?:\+?86|0086)?(1[0-9]{10})")
_PHONE_JUNK = re.compile(r"[\s\-()（）.]")

#: Two-character surnames (复姓) in common use; the whole surname stays visible, the given name is masked.
COMPOUND_SURNAMES = frozenset(
    "欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫 宗政 濮阳 公冶 太叔 申屠 公孙 慕容 "
    "仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官 司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 轩辕 "
    "令狐 段干 百里 呼延 东郭 南门 羊舌 微生 梁丘 左丘 东门 西门 第五 呼衍 北堂 南郭".split()
)


def mask_resident_id(s: str) -> str:
    """``410882********123X`` for 18 digits; ``410882******123`` for 15 digits; anything else all stars."""
    n = compact(s)
    if _ID18.fullmatch(n):
        return n[:6] + "*" * 8 + n[14:]
    if _ID15.fullmatch(n):
        return n[:6] + "*" * 6 + n[12:]
    return "*" * len(n)


def mask_possible_id(s: str) -> str:
    """An input that is no valid code but may be a mistyped ID number (a digit too many or too few): masked as an ID
    number is — the first 6 and the last 4 characters visible, the rest (where the birth date would be) hidden —
    so the person who typed it can see which input the answer is about. Ten characters or fewer: all stars."""
    n = compact(s)
    if _ID18.fullmatch(n) or _ID15.fullmatch(n):
        return mask_resident_id(n)
    if len(n) <= 10:
        return "*" * len(n)
    return n[:6] + "*" * (len(n) - 10) + n[-4:]


def mask_name(s: str) -> str:
    """Personal names: ``张*``, ``张*明``, ``欧阳**``; longer names keep the first and last character."""
    name = "".join((s or "").split())
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2] + "*" * (len(name) - 2)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(s: str) -> str:
    """``138****5678`` for a mobile number (``+86`` prefix dropped); other numbers keep at most the first 3 and
    last 4 digits; short or non-numeric strings are masked completely."""
    digits = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", s or ""))
    mobile = _MOBILE.fullmatch(digits)
    if mobile:
        d = mobile.group(1)
        return d[:3] + "****" + d[7:]
    if digits.isdigit() and len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * len(digits)
