"""Name normalisation for matching (never for display).

Departments write the same organisation in many ways: full- or half-width brackets, 【】 or 〔〕, spaces, and the
legal form spelled out or abbreviated (``有限责任公司`` / ``有限公司``). Two names that normalise to the same string are
candidates for the same subject; the normalised form is a matching key, not a name to show.
"""

from __future__ import annotations

import re
import unicodedata

# After NFKC, （）［］｛｝ are already ASCII; the CJK brackets are not.
_BRACKETS = str.maketrans(
    {
        "[": "(",
        "【": "(",
        "〔": "(",
        "〖": "(",
        "{": "(",
        "〘": "(",
        "]": ")",
        "】": ")",
        "〕": ")",
        "〗": ")",
        "}": ")",
        "〙": ")",
    }
)
_INVISIBLE = str.maketrans({"\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None, "\u00ad": None})
_SPACE = re.compile(r"\s+")

#: Legal-form variants -> one spelling, applied in order (the longer forms first, so that 股份有限责任公司 ends up as
#: 股份公司, like 股份有限公司).
LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    ("有限责任公司", "有限公司"),
    ("责任有限公司", "有限公司"),
    ("股份有限公司", "股份公司"),
    ("个体工商户", "个体户"),
    ("农民专业合作社", "专业合作社"),
)

# Separating dots in transliterated names (阿卜杜·热合曼): many look-alikes, one meaning.
_DOTS = str.maketrans({ch: "·" for ch in "•・‧･∙⋅.．。・·"})


def _base(s: str) -> str:
    text = unicodedata.normalize("NFKC", s or "").translate(_INVISIBLE)
    return _SPACE.sub("", text).casefold()


def normalize_org_name(s: str) -> str:
    """Matching key of an organisation name: NFKC, brackets unified to ``()``, spaces removed, legal forms unified,
    Latin letters case-folded. ``沁阳市（焦作）宏达机械有限责任公司`` == ``沁阳市(焦作)宏达机械有限公司``."""
    text = _base(s).translate(_BRACKETS)
    for variant, canonical in LEGAL_FORMS:
        text = text.replace(variant, canonical)
    return text


def normalize_person_name(s: str) -> str:
    """Matching key of a personal name: NFKC, spaces removed, separating dots unified to ``·``, Latin case-folded."""
    return _base(s).translate(_DOTS)
