"""统一社会信用代码 (Unified Social Credit Code), GB 32100-2015.

Layout: pos 1 registration authority (1-9, A, N, Y), pos 2 category (table per authority), pos 3–8 region
(GB/T 2260), pos 9–17 organisation code (GB 11714, with its own check character), pos 18 MOD-31 check.

python-stdnum's ``cn.uscc`` does the MOD-31 maths (``calc_check_digit``) but demands eight leading digits, so it
rejects real codes of village collectives (``N2…``), military units (``A1…``) and others (``Y1…``); it also ignores the
embedded organisation code and the code tables. :func:`validate` applies the whole standard and explains every
fault; :func:`is_valid` is the allocation-free fast path for bulk ingest (same rules, boolean answer).
"""

from __future__ import annotations

import re
from typing import Any

from xinyong.identifiers import orgcode, regions
from xinyong.identifiers._text import as_text, in_shape
from xinyong.identifiers._text import compact as _compact
from xinyong.identifiers.check import CodeCheck, CodeKind, Issue

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
FIRST_ISSUED_YEAR = 2015  # GB 32100-2015 took effect on 2015-10-01

AUTHORITIES: dict[str, str] = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "市场监管（原工商）",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}

SUBJECT_TYPES = (
    "enterprise",
    "individual_business",
    "farmers_cooperative",
    "social_organisation",
    "public_institution",
    "government",
    "other",
)

#: authority -> category character -> (category name, subject type). GB 32100-2015 appendix, as amended in use.
CATEGORIES: dict[str, dict[str, tuple[str, str]]] = {
    "1": {
        "1": ("机关", "government"),
        "2": ("事业单位", "public_institution"),
        "3": ("中央编办直接管理机构编制的群众团体", "social_organisation"),
        "9": ("其他", "other"),
    },
    "2": {"1": ("外国常驻新闻机构", "other"), "9": ("其他", "other")},
    "3": {
        "1": ("律师执业机构", "other"),
        "2": ("公证处", "other"),
        "3": ("基层法律服务所", "other"),
        "4": ("司法鉴定机构", "other"),
        "5": ("仲裁委员会", "other"),
        "9": ("其他", "other"),
    },
    "4": {"1": ("外国在华文化中心", "other"), "9": ("其他", "other")},
    "5": {
        "1": ("社会团体", "social_organisation"),
        "2": ("民办非企业单位（社会服务机构）", "social_organisation"),
        "3": ("基金会", "social_organisation"),
        "9": ("其他", "social_organisation"),
    },
    "6": {
        "1": ("外国旅游部门常驻代表机构", "other"),
        "2": ("港澳台地区旅游部门常驻内地（大陆）代表机构", "other"),
        "9": ("其他", "other"),
    },
    "7": {"1": ("宗教活动场所", "other"), "2": ("宗教院校", "other"), "9": ("其他", "other")},
    "8": {"1": ("基层工会", "social_organisation"), "9": ("其他", "other")},
    "9": {
        "1": ("企业", "enterprise"),
        "2": ("个体工商户", "individual_business"),
        "3": ("农民专业合作社", "farmers_cooperative"),
    },
    "A": {"1": ("军队事业单位", "public_institution"), "9": ("其他", "other")},
    "N": {
        "1": ("组级集体经济组织", "other"),
        "2": ("村级集体经济组织", "other"),
        "3": ("乡镇级集体经济组织", "other"),
        "9": ("其他", "other"),
    },
    "Y": {"1": ("其他", "other")},
}

_PREFIXES = frozenset(a + c for a, cats in CATEGORIES.items() for c in cats)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_CLASS = "[0-9A-HJ-NPQRTUWXY]"
_SHAPE = re.compile(f"{_CLASS}{{2}}[0-9]{{6}}{_CLASS}{{10}}")

# Fast-path arithmetic in C (``int(text, base)``) instead of Python loops:
# - MOD 31: Σ v_i·3^i ≡ Σ v_i·34^i (34 ≡ 3 mod 31), i.e. ``int(first 17 reversed, 34)`` once every character is
#   spelled as the base-36 digit of its USCC value (J->I, K->J, …, Y->U: the alphabet skips I, O, S, V, Z).
# - GB 11714 inside: weights 2^(8-i) ≡ 2·35^(7-i) mod 11, and a USCC character's base-36 digit already *is* its
#   GB 11714 value (Y = 34 < 35), so ``int(pos 9-16, 35)`` gives the weighted sum up to the factor 2.
_TO_BASE36 = bytes.maketrans(b"JKLMNPQRTUWXY", b"IJKLMNOPQRSTU")
_ORG_CHECK = tuple("0123456789X"[(-2 * r) % 11] for r in range(11))


def compact(code: str) -> str:
    """Strip spaces/hyphens, full-width -> half-width, upper-case."""
    return _compact(code)


def calc_check_digit(first17: str) -> str:
    """The MOD-31 check character (pos 18) of the first 17 characters."""
    body = compact(first17)
    if len(body) != 17 or any(ch not in _VALUE for ch in body):
        raise ValueError(f"应为统一社会信用代码的前17位（字符集 {ALPHABET}）：{first17!r}")
    from stdnum.cn import uscc as _stdnum_uscc  # here: importing stdnum costs more than validating a code

    return _stdnum_uscc.calc_check_digit(body)


def _org_check_of(code: str) -> str:
    """Expected pos-17 character (GB 11714) of a code of valid shape."""
    return _ORG_CHECK[int(code[8:16], 35) % 11]


def _check_of(code: str) -> str:
    """Expected pos-18 character (MOD 31) of a code of valid shape."""
    return ALPHABET[-int(code.encode()[16::-1].translate(_TO_BASE36), 34) % 31]


def is_valid(code: str) -> bool:
    """Fast path: shape, authority/category table, embedded organisation-code check and MOD-31 check.

    No region lookup (an unknown region is only a warning). Inputs that need clean-up (spaces, lower case,
    full-width) are compacted once and retried.
    """
    shaped = in_shape(code, _SHAPE)
    if shaped is None:
        return False
    code = shaped
    # The helpers' bodies are inlined: a function call is a sizeable share of this path's cost.
    return (
        code[:2] in _PREFIXES
        and _ORG_CHECK[int(code[8:16], 35) % 11] == code[16]
        and ALPHABET[-int(code.encode()[16::-1].translate(_TO_BASE36), 34) % 31] == code[17]
    )


def _charset_issues(c: str) -> list[Issue]:
    issues = []
    for pos, ch in enumerate(c, start=1):
        if ch not in _VALUE:
            hint = "（不使用字母 I、O、Z、S、V）" if ch in "IOZSV" else ""
            issues.append(Issue("uscc_charset", f"第{pos}位字符 '{ch}' 不在统一社会信用代码字符集中{hint}"))
        elif 3 <= pos <= 8 and not ch.isdigit():
            issues.append(
                Issue("uscc_region_format", f"第{pos}位字符 '{ch}' 应为数字（第3-8位为登记管理机关行政区划码）")
            )
    return issues


def _classify(c: str, errors: list[Issue], details: dict[str, Any]) -> None:
    authority = c[0]
    if authority not in AUTHORITIES:
        errors.append(Issue("uscc_authority", f"第1位登记管理部门码 '{authority}' 不存在（应为 1-9、A、N、Y）"))
        return
    details["authority_code"] = authority
    details["authority_name"] = AUTHORITIES[authority]
    if len(c) < 2:
        return
    categories = CATEGORIES[authority]
    category = categories.get(c[1])
    if category is None:
        allowed = "、".join(authority + k for k in categories)
        errors.append(
            Issue(
                "uscc_category",
                f"第2位机构类别码 '{c[1]}' 不属于登记管理部门 '{authority}'（{AUTHORITIES[authority]}）的类别（可用：{allowed}）",
            )
        )
        return
    details["category_code"] = c[:2]
    details["category_name"], details["subject_type"] = category


def _region(c: str, warnings: list[Issue], details: dict[str, Any]) -> None:
    code = c[2:8]
    region = regions.lookup(code)
    details["region_code"] = code
    details["region_name"] = region.name if region else None
    if region is None:
        warnings.append(Issue("uscc_region_unknown", f"第3-8位行政区划码 {code} 不在行政区划代码表中"))
    elif region.retired_before(FIRST_ISSUED_YEAR):
        warnings.append(
            Issue(
                "uscc_region_unknown",
                f"第3-8位行政区划码 {code}（{region.name}）已于{region.valid_until}年后撤销，早于统一社会信用代码的启用",
            )
        )


def validate(code: str, *, allow_bad_check: bool = False) -> CodeCheck:
    """Validate and explain a USCC.

    ``allow_bad_check=True`` keeps a code whose only fault is the pos-18 check character (real codes from early
    pilot regions fail it): the fault becomes the warning ``uscc_check_digit`` so the record is kept for review.

    ``details``: authority_code/name, category_code (pos 1–2, e.g. ``"91"``)/name, subject_type, region_code/name,
    org_code (pos 9–17, 9 characters without hyphen).
    """
    raw = as_text(code)
    c = compact(raw)
    errors: list[Issue] = []
    warnings: list[Issue] = []
    details: dict[str, Any] = {}
    if not c:
        errors.append(Issue("uscc_empty", "统一社会信用代码为空"))
        return CodeCheck(CodeKind.USCC, raw, None, False, errors, warnings, details)
    shape_ok = _SHAPE.fullmatch(c) is not None
    if not shape_ok:
        if len(c) != 18:
            errors.append(Issue("uscc_length", f"统一社会信用代码应为18位，实为{len(c)}位"))
        errors.extend(_charset_issues(c))
    _classify(c, errors, details)
    if not shape_ok:
        return CodeCheck(CodeKind.USCC, raw, None, False, errors, warnings, details)

    _region(c, warnings, details)
    org = c[8:17]
    details["org_code"] = org
    expected_org = _org_check_of(c)
    if org[8] != expected_org:
        errors.append(
            Issue(
                "uscc_org_code_check",
                f"第9-17位组织机构代码 {org[:8]}-{org[8]} 的校验码错误：第17位应为 '{expected_org}'，实为 '{org[8]}'",
            )
        )
    expected = _check_of(c)
    if c[17] != expected:
        if allow_bad_check:
            warnings.append(
                Issue("uscc_check_digit", f"第18位校验码应为 '{expected}'，实为 '{c[17]}'（按设置保留，待复核）")
            )
        else:
            errors.append(Issue("uscc_check_digit", f"第18位校验码应为 '{expected}'，实为 '{c[17]}'"))
    return CodeCheck(CodeKind.USCC, raw, c, not errors, errors, warnings, details)


def make(*, authority: str, category: str, region: str, org_body: str) -> str:
    """Build a valid code from its parts, computing both check characters (demo data and tests).

    ``category`` is the pos-2 character (``"1"``) or the two-character code (``"91"``); ``org_body`` is the 8-character
    organisation-code body (its check character is computed).
    """
    authority = compact(authority)
    category = compact(category)
    if len(category) == 2:
        if category[0] != authority:
            raise ValueError(f"机构类别码 {category!r} 与登记管理部门码 {authority!r} 不一致")
        category = category[1]
    if authority + category not in _PREFIXES:
        raise ValueError(f"登记管理部门码与机构类别码的组合 {authority + category!r} 不存在")
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError(f"行政区划码应为6位数字：{region!r}")
    body = compact(org_body)
    if len(body) != 8 or any(ch not in _VALUE for ch in body):
        raise ValueError(f"组织机构代码本体应为8位，且只用统一社会信用代码字符集（{ALPHABET}）：{org_body!r}")
    first17 = authority + category + region + body + orgcode.calc_check_digit(body)
    return first17 + calc_check_digit(first17)


def subject_type_of(code: str) -> str | None:
    """The subject type of a valid, compact code (from its authority and category), without re-validating."""
    entry = CATEGORIES.get(code[:1], {}).get(code[1:2])
    return entry[1] if entry else None
