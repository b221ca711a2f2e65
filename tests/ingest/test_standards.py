"""Format detection, header aliases, missing columns, kind guessing."""

from __future__ import annotations

import pytest

from xinyong.core.errors import ValidationFailed
from xinyong.ingest.standards import FIELDS, detect_format, guess_kind, known_headers
from xinyong.records.inputs import RecordKind

from .helpers import LICENCE, PENALTY, zh_headers

PENALTY_CODED = [f.coded for f in FIELDS[PENALTY] if f.coded]
LICENCE_CODED = [f.coded for f in FIELDS[LICENCE] if f.coded]
PENALTY_LEGACY = [
    "CF_WSH",
    "CF_AJMC",
    "CF_CFLB1",
    "CF_CFLB2",
    "CF_SY",
    "CF_YJ",
    "CF_XDR",
    "CF_XDR_SHXYM",
    "CF_XDR_ZDM",
    "CF_XDR_GSDJ",
    "CF_XDR_SWDJ",
    "CF_XDR_SFZ",
    "CF_FR",
    "CF_JG",
    "CF_JDRQ",
    "CF_XZJG",
    "CF_ZT",
    "DFBM",
    "SJC",
    "BZ",
]
LICENCE_LEGACY = [
    "XK_WSH",
    "XK_XMMC",
    "XK_SPLB",
    "XK_NR",
    "XK_XDR",
    "XK_XDR_SHXYM",
    "XK_XDR_ZDM",
    "XK_XDR_GSDJ",
    "XK_XDR_SWDJ",
    "XK_XDR_SFZ",
    "XK_FR",
    "XK_JDRQ",
    "XK_JZQ",
    "XK_XZJG",
    "XK_ZT",
    "DFBM",
    "SJC",
    "BZ",
]


@pytest.mark.parametrize(
    ("kind", "headers", "fmt"),
    [
        (PENALTY, zh_headers(PENALTY), "current_zh"),
        (PENALTY, PENALTY_CODED, "current_coded"),
        (PENALTY, PENALTY_LEGACY, "legacy_2016"),
        (LICENCE, zh_headers(LICENCE), "current_zh"),
        (LICENCE, LICENCE_CODED, "current_coded"),
        (LICENCE, LICENCE_LEGACY, "legacy_2016"),
    ],
)
def test_each_format_is_detected_complete(kind, headers, fmt):
    hm = detect_format(kind, headers)
    assert hm.format == fmt
    assert hm.missing == [] and hm.extra == {}
    assert len(hm.columns) == len(headers)
    hm.require_complete()


def test_coded_and_legacy_columns_map_to_the_same_keys():
    coded = detect_format(PENALTY, PENALTY_CODED)
    legacy = detect_format(PENALTY, PENALTY_LEGACY)
    assert coded.columns["party_name"] == PENALTY_CODED.index("CF_XDR_MC")
    assert legacy.columns["party_name"] == PENALTY_LEGACY.index("CF_XDR")
    assert legacy.columns["penalty_content"] == PENALTY_LEGACY.index("CF_JG")
    assert legacy.columns["authority"] == PENALTY_LEGACY.index("CF_XZJG")
    assert legacy.columns["penalty_types"] == PENALTY_LEGACY.index("CF_CFLB1")
    assert legacy.columns["penalty_types_2"] == PENALTY_LEGACY.index("CF_CFLB2")
    assert legacy.columns["party_id_no"] == PENALTY_LEGACY.index("CF_XDR_SFZ")
    lic = detect_format(LICENCE, LICENCE_LEGACY)
    assert lic.columns["valid_to"] == LICENCE_LEGACY.index("XK_JZQ")
    assert lic.columns["licence_category"] == LICENCE_LEGACY.index("XK_SPLB")


@pytest.mark.parametrize(
    "header",
    [
        "行政相对人代码_1（统一社会信用代码）",
        "行政相对人代码_1(统一社会信用代码)",
        "行政相对人代码_1 （统一社会信用代码）",
        "行政相对人代码_1",
        "统一社会信用代码",
        "*统一社会信用代码",
        "CF_XDR_SHXYM",
        "cf_xdr_shxym",
    ],
)
def test_uscc_header_aliases(header):
    hm = detect_format(PENALTY, ["行政相对人名称", header])
    assert hm.columns == {"party_name": 0, "party_uscc": 1}
    assert hm.headers[1] == header  # kept as the sender wrote it, for messages


@pytest.mark.parametrize("header", ["法定代表人证件号码", "法定代表人身份证号", "CF_FR_ZJHM"])
def test_legal_rep_id_header_aliases(header):
    assert detect_format(PENALTY, [header]).columns == {"legal_rep_id_no": 0}


def test_amount_headers_with_full_width_brackets():
    hm = detect_format(PENALTY, ["罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）"])
    assert hm.columns == {"fine_wan": 0, "confiscated_wan": 1}


def test_unknown_columns_are_kept_aside_and_duplicates_too():
    headers = ["ID", *zh_headers(PENALTY), "RESOURCE_ID", "CHECK_FLAG", "统一社会信用代码"]
    hm = detect_format(PENALTY, headers)
    assert hm.format == "current_zh"
    assert hm.extra == {
        0: "ID",
        len(headers) - 3: "RESOURCE_ID",
        len(headers) - 2: "CHECK_FLAG",
        len(headers) - 1: "统一社会信用代码",
    }
    assert hm.columns["party_uscc"] == 3
    assert hm.unknown == ["ID", "RESOURCE_ID", "CHECK_FLAG", "统一社会信用代码"] and hm.standard == "current_zh"


def test_missing_required_columns_are_listed_and_refused():
    headers = [h for h in zh_headers(PENALTY) if h not in ("处罚决定日期", "处罚机关统一社会信用代码", "违法事实")]
    hm = detect_format(PENALTY, headers)
    assert hm.missing == ["违法事实", "处罚决定日期", "处罚机关统一社会信用代码"]
    assert hm.missing_keys == ["facts", "decision_date", "authority_uscc"]
    with pytest.raises(ValidationFailed) as exc:
        hm.require_complete()
    assert exc.value.code == "columns_missing"
    assert exc.value.details["missing"] == ["违法事实", "处罚决定日期", "处罚机关统一社会信用代码"]
    assert "处罚决定日期" in exc.value.message


def test_missing_columns_are_spelled_in_the_detected_format():
    coded = detect_format(PENALTY, [h for h in PENALTY_CODED if h != "CF_JDRQ"])
    assert coded.missing == ["CF_JDRQ"]
    legacy = detect_format(PENALTY, [h for h in PENALTY_LEGACY if h not in ("CF_XZJG", "CF_CFLB1")])
    assert legacy.format == "legacy_2016"
    assert legacy.missing == ["CF_CFLB1", "CF_XZJG"]


def test_legacy_files_only_need_the_2016_required_columns():
    hm = detect_format(PENALTY, ["CF_XDR", "CF_WSH", "CF_CFLB1", "CF_JDRQ", "CF_XZJG"])
    assert hm.format == "legacy_2016" and hm.missing == []


def test_relaxed_keys_become_optional():
    headers = [h for h in zh_headers(LICENCE) if h not in ("有效期自", "有效期至", "当前状态")]
    assert detect_format(LICENCE, headers).missing == ["有效期自", "有效期至", "当前状态"]
    hm = detect_format(LICENCE, headers, relaxed={"valid_from", "valid_to", "status"})
    assert hm.missing == []
    with pytest.raises(ValueError):
        detect_format(LICENCE, headers, relaxed={"no_such_field"})


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        (zh_headers(PENALTY), RecordKind.PENALTY),
        (zh_headers(LICENCE), RecordKind.LICENCE),
        (PENALTY_CODED, RecordKind.PENALTY),
        (LICENCE_CODED, RecordKind.LICENCE),
        (PENALTY_LEGACY, RecordKind.PENALTY),
        (LICENCE_LEGACY, RecordKind.LICENCE),
        (["行政相对人名称", "处罚类别", "备注"], RecordKind.PENALTY),
    ],
)
def test_guess_kind(headers, kind):
    assert guess_kind(headers) is kind


def test_guess_kind_refuses_when_undecidable():
    with pytest.raises(ValidationFailed) as exc:
        guess_kind(["行政相对人名称", "统一社会信用代码", "备注", "ID"])
    assert exc.value.code == "kind_unknown"


def test_known_headers_cover_the_reader_spelling():
    names = known_headers(PENALTY)
    assert "行政相对人代码_1(统一社会信用代码)" in names and "CF_XDR_MC" in names and "cf_xdr_mc" in names
    assert "许可类别" not in names and "许可类别" in known_headers()
