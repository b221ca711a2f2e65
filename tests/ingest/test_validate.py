"""validate_row: required fields, conditional rules, codes, enums, dates, amounts, lengths, masking, round trips."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from xinyong.catalog.rules import PartyKind
from xinyong.identifiers import orgcode
from xinyong.ingest.standards import detect_format
from xinyong.ingest.validate import validate_row
from xinyong.records.inputs import RecordKind

from .helpers import (
    AUTHORITY,
    COMPANY,
    LICENCE,
    PENALTY,
    PERSON_ID,
    SHOP,
    SOURCE,
    TODAY,
    check,
    codes,
    licence_row,
    penalty_row,
    valid,
    zh_headers,
)

NATURAL = {
    "行政相对人类别": "自然人",
    "行政相对人名称": "李明",
    "行政相对人代码_1(统一社会信用代码)": "",
    "法定代表人": "",
    "证件类型": "身份证",
    "证件号码": PERSON_ID,
}


# ---------------------------------------------------------------------------------------------- round trips


def test_penalty_round_trip():
    r = valid(PENALTY, penalty_row(备注='=HYPERLINK("http://x")'))
    assert r.kind is RecordKind.PENALTY and r.row == 2
    assert r.party_name == "福州市鼓楼区某某商贸有限公司" and r.party_kind is PartyKind.LEGAL_PERSON
    assert r.party_uscc == COMPANY and r.legal_rep == "王建国"
    assert r.doc_no == "榕鼓市监罚〔2024〕12号" and r.doc_no_norm == "榕鼓市监罚〔2024〕12号"
    assert r.decision_date == dt.date(2024, 3, 5) and r.penalty_valid_to == dt.date(2025, 3, 5)
    assert r.publicity_end == dt.date(2024, 9, 5)
    assert r.penalty_types == ["警告", "罚款"] and r.fine_wan == Decimal("1.5") and r.confiscated_wan is None
    assert (r.authority_uscc, r.source_unit_uscc) == (AUTHORITY, SOURCE)
    assert r.authority == r.source_unit == "福州市鼓楼区市场监督管理局"
    assert r.warnings == [] and r.extra == {}
    assert r.data == {
        "party_name": "福州市鼓楼区某某商贸有限公司",
        "party_kind": "legal_person",
        "party_uscc": COMPANY,
        "legal_rep": "王建国",
        "doc_no": "榕鼓市监罚〔2024〕12号",
        "violation_type": "违反《中华人民共和国食品安全法》第三十四条",
        "facts": "经营超过保质期的食品",
        "basis": "《中华人民共和国食品安全法》第一百二十四条",
        "penalty_types": ["警告", "罚款"],
        "penalty_content": "警告，罚款人民币壹万伍仟元",
        "fine_wan": "1.5",
        "decision_date": "2024-03-05",
        "penalty_valid_to": "2025-03-05",
        "publicity_end": "2024-09-05",
        "authority": "福州市鼓楼区市场监督管理局",
        "authority_uscc": AUTHORITY,
        "source_unit": "福州市鼓楼区市场监督管理局",
        "source_unit_uscc": SOURCE,
        "remarks": '=HYPERLINK("http://x")',  # formulas stay text: escaping is the exporter's job
    }
    assert json.loads(json.dumps(r.data)) == r.data


def test_licence_round_trip():
    r = valid(LICENCE, licence_row(许可类别="其他-备案", 当前状态="2"))
    assert r.kind is RecordKind.LICENCE
    assert r.licence_category == "其他" and r.data["licence_category"] == "其他-备案"
    assert r.current_status_valid is False and r.data["status"] == "2"
    assert r.licence_valid_from == dt.date(2024, 3, 5) and r.licence_valid_to == dt.date(2029, 3, 4)
    assert r.doc_no_norm == "榕鼓市监许〔2024〕7号" and r.decision_date == dt.date(2024, 3, 5)
    assert r.data["licence_no"] == "JY13501020001234" and r.data["decision_title"] == "食品经营许可决定书"
    assert r.penalty_types == [] and r.fine_wan is None
    json.dumps(r.data)


@pytest.mark.parametrize("value", ["长期", "长期有效", "2099-12-31", "2099/12/31", "9999-12-31"])
def test_licence_open_ended(value):
    r = valid(LICENCE, licence_row(有效期至=value))
    assert r.licence_valid_to is None
    assert r.data["valid_to"] is None and r.data["valid_to_open_ended"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("有效", True), (1, True), (1.0, True), ("2", False), ("无效", False), ("注销", False)],
)
def test_licence_status(value, expected):
    assert valid(LICENCE, licence_row(当前状态=value)).current_status_valid is expected


def test_unknown_columns_go_to_extra():
    r = valid(PENALTY, penalty_row(ID=12345, RESOURCE_ID="abc", CHECK_FLAG=None, UPDATED=dt.datetime(2024, 3, 6, 8, 0)))
    assert r.extra == {"ID": 12345, "RESOURCE_ID": "abc", "UPDATED": "2024-03-06T08:00:00"}
    assert "ID" not in r.data


def test_coded_file_round_trip():
    from xinyong.ingest.standards import FIELDS

    by_zh = penalty_row()
    headers = [f.coded for f in FIELDS[PENALTY] if f.coded]
    values = [by_zh.get(f.zh) for f in FIELDS[PENALTY] if f.coded]
    hm = detect_format(PENALTY, headers, today=TODAY)
    r, issues = validate_row(PENALTY, hm, 5, values)
    assert issues == [] and r is not None and r.row == 5
    assert r.party_uscc == COMPANY and r.fine_wan == Decimal("1.5")
    assert r.data == valid(PENALTY, penalty_row()).data


def test_legacy_2016_file():
    headers = [
        "CF_WSH",
        "CF_CFLB1",
        "CF_CFLB2",
        "CF_SY",
        "CF_YJ",
        "CF_XDR",
        "CF_XDR_SHXYM",
        "CF_FR",
        "CF_JG",
        "CF_JDRQ",
        "CF_XZJG",
        "DFBM",
    ]
    hm = detect_format(PENALTY, headers, today=TODAY)
    assert hm.format == "legacy_2016" and hm.missing == []
    r, issues = validate_row(
        PENALTY,
        hm,
        3,
        [
            "闽工商罚字【2016】8号",
            "罚款",
            "没收违法所得",
            "无照经营",
            "条例第十四条",
            "某某店",
            SHOP,
            "李四",
            "罚款五千元",
            "2016/08/09",
            "某工商局",
            "350100",
        ],
    )
    assert [i.code for i in issues] == ["fine_missing", "confiscation_missing"]
    values = [
        "闽工商罚字【2016】8号",
        "警告",
        "",
        "无照经营",
        "条例第十四条",
        "某某店",
        SHOP,
        "李四",
        "警告",
        "2016/08/09",
        "某工商局",
        "350100",
    ]
    r, issues = validate_row(PENALTY, hm, 3, values)
    assert issues == [] and r is not None
    assert r.party_kind is PartyKind.INDIVIDUAL_BUSINESS and r.data["party_kind_inferred"] is True
    assert r.penalty_types == ["警告"] and r.data["penalty_content"] == "警告"
    assert r.doc_no_norm == "闽工商罚字〔2016〕8号" and r.authority_uscc == ""
    assert r.data["region_code"] == "350100"


def test_legacy_natural_person_by_id_number():
    hm = detect_format(PENALTY, ["CF_WSH", "CF_CFLB1", "CF_XDR", "CF_XDR_SFZ", "CF_JDRQ", "CF_XZJG"], today=TODAY)
    r, issues = validate_row(PENALTY, hm, 2, ["罚〔2016〕1号", "警告", "李明", PERSON_ID, "2016-01-02", "某局"])
    assert issues == [] and r is not None
    assert r.party_kind is PartyKind.NATURAL_PERSON and r.party_id_type == "身份证" and r.party_id_number == PERSON_ID
    r, issues = validate_row(PENALTY, hm, 2, ["罚〔2016〕1号", "警告", "李明", "", "2016-01-02", "某局"])
    assert [i.code for i in issues] == ["party_kind_undetermined"]


def test_legacy_penalty_types_are_merged():
    hm = detect_format(
        PENALTY,
        ["CF_WSH", "CF_CFLB1", "CF_CFLB2", "CF_XDR", "CF_XDR_SHXYM", "CF_JDRQ", "CF_XZJG", "CF_FR"],
        today=TODAY,
    )
    r, issues = validate_row(
        PENALTY, hm, 2, ["罚〔2016〕1号", "警告", "警告、责令停产停业", "某公司", COMPANY, "2016-01-02", "某局", "王五"]
    )
    assert issues == [] and r is not None and r.penalty_types == ["警告", "责令停产停业"]
    assert "penalty_types_2" not in r.data


# ---------------------------------------------------------------------------------------------- required


def test_required_fields_each_reported():
    found = codes(PENALTY, penalty_row(行政相对人名称="  ", 处罚机关=None, 处罚决定日期=""))
    assert found["required_missing"]
    _, issues = check(PENALTY, penalty_row(行政相对人名称="  ", 处罚机关=None, 处罚决定日期=""))
    assert [(i.column, i.code) for i in issues] == [
        ("行政相对人名称", "required_missing"),
        ("处罚决定日期", "required_missing"),
        ("处罚机关", "required_missing"),
    ]
    assert issues[0].message == "「行政相对人名称」为必填项，不能为空"


def test_short_rows_count_as_empty_cells():
    hm = detect_format(PENALTY, zh_headers(PENALTY), today=TODAY)
    record, issues = validate_row(PENALTY, hm, 9, ["某公司"])
    assert record is None and {i.code for i in issues} == {"required_missing"} and all(i.row == 9 for i in issues)


# ---------------------------------------------------------------------------------------------- party rules


def test_legal_person_needs_a_code():
    found = codes(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": ""}))
    assert "party_code_missing" in found
    assert found["party_code_missing"].column == "行政相对人代码_1(统一社会信用代码)"


@pytest.mark.parametrize(
    "column",
    [
        "行政相对人代码_2(工商注册号)",
        "行政相对人代码_4(税务登记号)",
        "行政相对人代码_5(事业单位证书号)",
        "行政相对人代码_6(社会组织登记证号)",
    ],
)
def test_a_legacy_code_stands_in_for_the_uscc(column):
    r = valid(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": "", column: "350100400012345"[:12]}))
    assert r.party_uscc is None and len(r.party_codes) == 1


def test_org_code_stands_in_and_is_checked():
    body = "59467239"
    good = body + "-" + orgcode.calc_check_digit(body)
    r = valid(
        PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": "", "行政相对人代码_3(组织机构代码)": good})
    )
    assert r.party_codes == {"org_code": body + "9"}
    found = codes(
        PENALTY,
        penalty_row(**{"行政相对人代码_1(统一社会信用代码)": "", "行政相对人代码_3(组织机构代码)": "59467239-1"}),
    )
    assert "org_code_check_digit" in found


def test_org_code_must_match_the_uscc():
    found = codes(PENALTY, penalty_row(**{"行政相对人代码_3(组织机构代码)": "594672399"}))
    assert "org_code_mismatch" in found
    assert valid(PENALTY, penalty_row(**{"行政相对人代码_3(组织机构代码)": COMPANY[8:17]})).party_codes["org_code"]


def test_individual_business():
    r = valid(PENALTY, penalty_row(行政相对人类别="个体工商户", **{"行政相对人代码_1(统一社会信用代码)": SHOP}))
    assert r.party_kind is PartyKind.INDIVIDUAL_BUSINESS and r.party_uscc == SHOP
    assert codes(PENALTY, penalty_row(行政相对人类别="个体工商户", **{"行政相对人代码_1(统一社会信用代码)": ""}))[
        "party_code_missing"
    ]


def test_kind_and_code_prefix_mismatch_is_a_warning():
    r = valid(PENALTY, penalty_row(行政相对人类别="个体工商户"))
    assert [w.code for w in r.warnings] == ["party_kind_code_mismatch"]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (COMPANY[:17] + ("0" if COMPANY[17] != "0" else "1"), "uscc_check_digit"),
        (COMPANY[:16] + ("0" if COMPANY[16] != "0" else "1") + COMPANY[17], "uscc_org_code_check"),
        ("00000000000000000X", "uscc_authority"),
        ("9135010", "uscc_length"),
        ("91350100MA2YQ8K1ZI", "uscc_charset"),
    ],
)
def test_party_uscc_is_checked(code, error):
    found = codes(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": code}))
    assert error in found and found[error].value == code
    assert found[error].message.startswith("「行政相对人代码_1(统一社会信用代码)」不是有效的统一社会信用代码")


def test_messy_uscc_is_compacted():
    messy = " " + COMPANY[:9].lower() + " " + COMPANY[9:] + " "
    assert valid(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": messy})).party_uscc == COMPANY


@pytest.mark.parametrize("column", ["处罚机关统一社会信用代码", "数据来源单位统一社会信用代码"])
def test_authority_and_source_uscc_are_checked(column):
    bad = AUTHORITY[:17] + ("0" if AUTHORITY[17] != "0" else "1")
    found = codes(PENALTY, penalty_row(**{column: bad}))
    assert found["uscc_check_digit"].column == column


def test_bad_check_digit_allowed_as_warning_when_the_operator_says_so():
    pilot = "91350211M00013FA1N"  # real pilot-region code failing GB 32100
    assert "uscc_check_digit" in codes(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": pilot}))
    r = valid(PENALTY, penalty_row(**{"行政相对人代码_1(统一社会信用代码)": pilot}), allow_bad_check=True)
    assert r.party_uscc == pilot and [w.code for w in r.warnings] == ["uscc_check_digit"]


def test_legal_rep_missing_is_a_warning():
    r = valid(PENALTY, penalty_row(法定代表人=""))
    assert [w.code for w in r.warnings] == ["legal_rep_missing"]


def test_natural_person():
    r = valid(PENALTY, penalty_row(**NATURAL))
    assert r.party_kind is PartyKind.NATURAL_PERSON and r.party_id_type == "身份证"
    assert r.party_id_number == PERSON_ID and r.party_uscc is None
    assert r.data["party_id_no"] == PERSON_ID[:6] + "********" + PERSON_ID[14:]
    assert PERSON_ID not in json.dumps(r.data, ensure_ascii=False)


def test_natural_person_15_digit_id_is_converted():
    from xinyong.identifiers import resident_id

    old = PERSON_ID[:6] + PERSON_ID[8:17]
    r = valid(PENALTY, penalty_row(**{**NATURAL, "证件号码": old}))
    assert r.party_id_number == resident_id.to_18(old) == PERSON_ID


def test_natural_person_needs_id_type_and_number():
    found = codes(PENALTY, penalty_row(**{**NATURAL, "证件类型": "", "证件号码": ""}))
    assert {"id_type_missing", "id_number_missing"} <= set(found)


def test_natural_person_other_document_is_not_checked_as_resident_id():
    r = valid(PENALTY, penalty_row(**{**NATURAL, "证件类型": "护照", "证件号码": "E12345678"}))
    assert r.party_id_number == "E12345678" and r.data["party_id_no"] == "*********"


def test_unknown_id_type_is_an_enum_error():
    assert "enum_invalid" in codes(PENALTY, penalty_row(**{**NATURAL, "证件类型": "驾驶证"}))


def test_invalid_resident_id_is_masked_in_the_issue():
    bad = PERSON_ID[:17] + ("0" if PERSON_ID[17] != "0" else "1")
    found = codes(PENALTY, penalty_row(**{**NATURAL, "证件号码": bad}))
    issue = found["resident_id_check_digit"]
    assert issue.value == bad[:6] + "********" + bad[14:]
    assert bad not in issue.message and bad[6:14] not in issue.message
    assert issue.column == "证件号码" and "校验码错误" in issue.message


def test_invalid_birth_date_is_not_shown():
    bad = "350102" + "19850230" + "123"
    from xinyong.identifiers import resident_id

    bad += resident_id.calc_check_digit(bad)
    issue = codes(PENALTY, penalty_row(**{**NATURAL, "证件号码": bad}))["resident_id_birth_date"]
    assert "19850230" not in issue.message and "19850230" not in issue.value


def test_too_long_id_number_is_masked():
    issue = codes(PENALTY, penalty_row(**{**NATURAL, "证件号码": PERSON_ID * 5}))["too_long"]
    assert PERSON_ID not in issue.value and set(issue.value) == {"*"}


def test_legal_rep_resident_id_is_checked_and_kept_apart():
    r = valid(PENALTY, penalty_row(法定代表人证件类型="身份证", 法定代表人证件号码=PERSON_ID))
    assert (
        r.legal_rep_id_number == PERSON_ID and r.data["legal_rep_id_no"] == PERSON_ID[:6] + "********" + PERSON_ID[14:]
    )
    bad = PERSON_ID[:17] + ("0" if PERSON_ID[17] != "0" else "1")
    issue = codes(PENALTY, penalty_row(法定代表人证件号码=bad))["resident_id_check_digit"]
    assert bad not in issue.value and issue.column == "法定代表人证件号码"
    # another document type is not checked as a resident ID
    assert valid(PENALTY, penalty_row(法定代表人证件类型="护照", 法定代表人证件号码="E12345678")).legal_rep_id_number


# ---------------------------------------------------------------------------------------------- penalty rules


@pytest.mark.parametrize(
    "value", ["警告、罚款", "警告;罚款", "警告；罚款", "警告，罚款", "警告,罚款", "警告、 罚款、警告"]
)
def test_multi_value_penalty_types(value):
    assert valid(PENALTY, penalty_row(处罚类别=value)).penalty_types == ["警告", "罚款"]


@pytest.mark.parametrize(
    "value",
    [
        "通报批评",
        "暂扣或者吊销许可证、暂扣或者吊销执照",
        "其他-责令改正",
        "行政拘留",
        "限制开展生产经营活动",
        "降低资质等级",
    ],
)
def test_penalty_types_of_both_laws(value):
    row = penalty_row(处罚类别=value, **{"罚款金额(万元)": "", "暂扣或吊销证照名称及编号": "营业执照 123"})
    assert valid(PENALTY, row).penalty_types


def test_unknown_penalty_type():
    issue = codes(PENALTY, penalty_row(处罚类别="警告、批评教育"))["enum_invalid"]
    assert "批评教育" in issue.message and issue.column == "处罚类别"


def test_fine_needs_a_positive_amount():
    assert "fine_missing" in codes(PENALTY, penalty_row(**{"罚款金额(万元)": ""}))
    assert "fine_not_positive" in codes(PENALTY, penalty_row(**{"罚款金额(万元)": "0"}))
    assert "amount_negative" in codes(PENALTY, penalty_row(**{"罚款金额(万元)": "-1.5"}))


def test_fine_without_the_type_is_a_warning():
    r = valid(PENALTY, penalty_row(处罚类别="警告"))
    assert [w.code for w in r.warnings] == ["fine_without_type"] and r.fine_wan == Decimal("1.5")


def test_confiscation_needs_its_amount():
    found = codes(PENALTY, penalty_row(处罚类别="没收违法所得"))
    assert "confiscation_missing" in found
    r = valid(PENALTY, penalty_row(处罚类别="罚款、没收违法所得", **{"没收违法所得、没收非法财物的金额(万元)": "0.32"}))
    assert r.confiscated_wan == Decimal("0.32") and r.data["confiscated_wan"] == "0.32"


@pytest.mark.parametrize("types", ["吊销许可证件", "暂扣许可证件", "暂扣或者吊销执照"])
def test_suspension_needs_the_licence_named(types):
    assert "suspension_licence_missing" in codes(PENALTY, penalty_row(处罚类别=types, **{"罚款金额(万元)": ""}))
    row = penalty_row(处罚类别=types, **{"罚款金额(万元)": "", "暂扣或吊销证照名称及编号": "食品经营许可证 JY1350"})
    assert valid(PENALTY, row).data["licence_revoked"] == "食品经营许可证 JY1350"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5", "1.5"), ("1.5万元", "1.5"), (1.5, "1.5"), (3, "3"), ("0.000001", "0.000001"), ("2,000", "2000")],
)
def test_fine_amount_forms(value, expected):
    r = valid(PENALTY, penalty_row(**{"罚款金额(万元)": value}))
    assert r.fine_wan == Decimal(expected) and r.data["fine_wan"] == expected


def test_fine_in_yuan_is_converted_and_flagged():
    r = valid(PENALTY, penalty_row(**{"罚款金额(万元)": "15,000元"}))
    assert r.fine_wan == Decimal("1.5")
    assert [w.code for w in r.warnings] == ["amount_unit_converted"] and "15,000元" in r.warnings[0].message


@pytest.mark.parametrize(
    ("value", "code"), [("1.0000001", "amount_precision"), ("一万五", "amount_invalid"), ("#VALUE!", "formula_error")]
)
def test_bad_fine(value, code):
    assert code in codes(PENALTY, penalty_row(**{"罚款金额(万元)": value}))


# ---------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-05",
        "2024/3/5",
        "2024/03/05",
        "2024年3月5日",
        "20240305",
        "2024.03.05",
        45356,
        45356.0,
        "45356",
        dt.datetime(2024, 3, 5, 9, 30),
        dt.date(2024, 3, 5),
        "2024-03-05 00:00:00",
    ],
)
def test_every_date_form(value):
    assert valid(PENALTY, penalty_row(处罚决定日期=value)).decision_date == dt.date(2024, 3, 5)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2019-02-30", "date_invalid"),
        ("2023-13-01", "date_invalid"),
        ("二〇二四年", "date_invalid"),
        ("5", "date_out_of_range"),
        ("1900-01-01", "date_out_of_range"),
    ],
)
def test_bad_dates(value, code):
    issue = codes(PENALTY, penalty_row(处罚决定日期=value))[code]
    assert issue.column == "处罚决定日期" and issue.message.startswith("「处罚决定日期」")


def test_decision_date_not_in_the_future():
    found = codes(PENALTY, penalty_row(处罚决定日期="2024-07-01", 处罚有效期="2025-07-01"))
    assert "date_in_future" in found
    assert valid(PENALTY, penalty_row(处罚决定日期=TODAY.isoformat())).decision_date == TODAY


def test_penalty_dates_not_before_the_decision():
    assert codes(PENALTY, penalty_row(处罚有效期="2024-03-04"))["date_order"].column == "处罚有效期"
    assert codes(PENALTY, penalty_row(公示截止期="2024-01-01"))["date_order"].column == "公示截止期"


def test_licence_date_order():
    assert codes(LICENCE, licence_row(有效期至="2024-03-01"))["date_order"].column == "有效期至"
    assert codes(LICENCE, licence_row(有效期自="2024-04-01", 有效期至="2024-03-20"))["date_order"]
    r = valid(LICENCE, licence_row(有效期自="2024-03-01"))
    assert [w.code for w in r.warnings] == ["valid_from_before_decision"]


# ---------------------------------------------------------------------------------------------- enums


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("法人及非法人组织", PartyKind.LEGAL_PERSON),
        ("个体工商户", PartyKind.INDIVIDUAL_BUSINESS),
        ("法人及其他组织", PartyKind.LEGAL_PERSON),
    ],
)
def test_party_kind_values(value, kind):
    row = penalty_row(
        行政相对人类别=value, **{"行政相对人代码_1(统一社会信用代码)": SHOP if "个体" in value else COMPANY}
    )
    assert valid(PENALTY, row).party_kind is kind


def test_party_kind_invalid():
    issue = codes(PENALTY, penalty_row(行政相对人类别="企业"))["enum_invalid"]
    assert issue.column == "行政相对人类别" and issue.value == "企业"


@pytest.mark.parametrize(
    ("value", "category"),
    [
        ("普通", "普通"),
        ("特许", "特许"),
        ("认可", "认可"),
        ("核准", "核准"),
        ("登记", "登记"),
        ("其他", "其他"),
        ("其他-备案", "其他"),
        ("普通许可", "普通"),
    ],
)
def test_licence_categories(value, category):
    assert valid(LICENCE, licence_row(许可类别=value)).licence_category == category


def test_licence_category_and_status_invalid():
    assert "enum_invalid" in codes(LICENCE, licence_row(许可类别="审批"))
    assert "enum_invalid" in codes(LICENCE, licence_row(当前状态="3"))


# ---------------------------------------------------------------------------------------------- lengths, formulas


def test_length_limits_of_the_standard():
    assert valid(PENALTY, penalty_row(行政相对人名称="某" * 200)).party_name == "某" * 200
    issue = codes(PENALTY, penalty_row(行政相对人名称="某" * 201))["too_long"]
    assert issue.column == "行政相对人名称" and "200" in issue.message and len(issue.value) < 100
    assert valid(PENALTY, penalty_row(行政相对人名称="  " + "某" * 200 + "  ")).party_name == "某" * 200
    assert "too_long" in codes(PENALTY, penalty_row(行政处罚决定书文号="1" * 129))
    assert "too_long" in codes(PENALTY, penalty_row(备注="x" * 513))


def test_a_50_mb_cell_is_rejected_cheaply():
    import time

    huge = "违" * (50 * 1024 * 1024)
    t0 = time.perf_counter()
    for _ in range(20):
        found = codes(PENALTY, penalty_row(违法事实=huge))
    assert "too_long" in found and "52428800" in found["too_long"].message
    assert len(found["too_long"].value) < 100
    assert (time.perf_counter() - t0) / 20 < 0.01  # no copy, no strip, no regex over 50 MB


def test_a_huge_extra_cell_is_rejected():
    assert "too_long" in codes(PENALTY, penalty_row(NOTE="x" * 10_000))


def test_formula_result_errors():
    issue = codes(PENALTY, penalty_row(违法事实="#VALUE!"))["formula_error"]
    assert issue.column == "违法事实" and issue.value == "#VALUE!"
    assert "formula_error" in codes(PENALTY, penalty_row(处罚决定日期="#N/A"))


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x","y")', "+86 591", "-", "@张三", "#1号车间"])
def test_formula_like_text_is_kept(value):
    assert valid(PENALTY, penalty_row(违法事实=value)).data["facts"] == value


# ---------------------------------------------------------------------------------------------- doc numbers


@pytest.mark.parametrize(
    "doc_no", ["市场【2019】1号", "市场[2019]1号", "市场〔2019〕1号", "市场（2019）1号", "市场 (2019) 1号"]
)
def test_doc_no_identity(doc_no):
    r = valid(PENALTY, penalty_row(行政处罚决定书文号=doc_no))
    assert r.doc_no == doc_no.strip() and r.doc_no_norm == "市场〔2019〕1号"


def test_numeric_cells_in_text_columns():
    r = valid(LICENCE, licence_row(许可编号=350102000123456.0, 行政许可决定文书号=20240001))
    assert r.data["licence_no"] == "350102000123456" and r.doc_no == "20240001"


def test_wrong_kind_of_header_map_is_a_programming_error():
    hm = detect_format(PENALTY, zh_headers(PENALTY))
    with pytest.raises(ValueError):
        validate_row(LICENCE, hm, 2, [])


def test_header_map_is_compiled_once_and_reused():
    hm = detect_format(PENALTY, zh_headers(PENALTY), today=TODAY)
    row = penalty_row()
    values = [row.get(h) for h in zh_headers(PENALTY)]
    first, _ = validate_row(PENALTY, hm, 2, values)
    compiled = hm._compiled
    second, _ = validate_row(PENALTY, hm, 3, values)
    assert hm._compiled is compiled and first is not None and second is not None
    assert first.penalty_types is not second.penalty_types and first.data is not second.data
    assert first.data == second.data and second.row == 3
