import random

import pytest
from stdnum.cn import uscc as stdnum_uscc

from tests.identifiers.reference import USCC_ALPHABET, build_uscc, org_check, uscc_check
from xinyong.identifiers import uscc

KNOWN_VALID = ["91350100M000100Y43", "91512081MA62K0260E", "91110000600037341L"]

# GB 32100-2015 pos 1 / pos 2 tables, copied from standards.md §2.1 (independently of the module's tables).
STANDARD_CATEGORIES = {
    "11": "机关",
    "12": "事业单位",
    "13": "中央编办直接管理机构编制的群众团体",
    "19": "其他",
    "21": "外国常驻新闻机构",
    "29": "其他",
    "31": "律师执业机构",
    "32": "公证处",
    "33": "基层法律服务所",
    "34": "司法鉴定机构",
    "35": "仲裁委员会",
    "39": "其他",
    "41": "外国在华文化中心",
    "49": "其他",
    "51": "社会团体",
    "52": "民办非企业单位",
    "53": "基金会",
    "59": "其他",
    "61": "外国旅游部门常驻代表机构",
    "62": "港澳台地区旅游部门常驻内地（大陆）代表机构",
    "69": "其他",
    "71": "宗教活动场所",
    "72": "宗教院校",
    "79": "其他",
    "81": "基层工会",
    "89": "其他",
    "91": "企业",
    "92": "个体工商户",
    "93": "农民专业合作社",
    "A1": "军队事业单位",
    "A9": "其他",
    "N1": "组级集体经济组织",
    "N2": "村级集体经济组织",
    "N3": "乡镇级集体经济组织",
    "N9": "其他",
    "Y1": "其他",
}


def _random_code(rng: random.Random, prefix: str | None = None) -> str:
    prefix = prefix or rng.choice(list(STANDARD_CATEGORIES))
    return build_uscc(
        prefix, rng.choice(["410882", "350100", "110105"]), "".join(rng.choice(USCC_ALPHABET) for _ in range(8))
    )


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_valid_codes(code):
    check = uscc.validate(code)
    assert check.valid and check.errors == [] and check.warnings == []
    assert check.normalized == code
    assert uscc.is_valid(code)
    assert uscc.calc_check_digit(code[:17]) == code[17]


def test_gb32100_sample_details():
    d = uscc.validate("91350100M000100Y43").details
    assert d["authority_code"] == "9" and d["category_code"] == "91" and d["category_name"] == "企业"
    assert d["subject_type"] == "enterprise"
    assert d["region_code"] == "350100" and d["region_name"] == "福建省福州市"
    assert d["org_code"] == "M000100Y4"


def test_bad_check_digit_is_an_error_or_a_flagged_warning():
    code = "91350211M00013FA1N"
    strict = uscc.validate(code)
    assert not strict.valid and not uscc.is_valid(code)
    assert [e.code for e in strict.errors] == ["uscc_check_digit"]
    assert "第18位" in strict.errors[0].message and "'N'" in strict.errors[0].message

    tolerant = uscc.validate(code, allow_bad_check=True)
    assert tolerant.valid and tolerant.errors == []
    assert [w.code for w in tolerant.warnings] == ["uscc_check_digit"]
    assert tolerant.normalized == code


def test_allow_bad_check_does_not_excuse_other_faults():
    body = "MA40XK3B"
    first17 = "91410882" + body + ("0" if org_check(body) != "0" else "1")  # wrong org-code check
    code = first17 + ("0" if uscc_check(first17) != "0" else "1")  # and a wrong USCC check
    check = uscc.validate(code, allow_bad_check=True)
    assert not check.valid
    assert [e.code for e in check.errors] == ["uscc_org_code_check"]
    assert [w.code for w in check.warnings] == ["uscc_check_digit"]


@pytest.mark.parametrize("prefix", sorted(STANDARD_CATEGORIES))
def test_every_authority_and_category(prefix):
    code = uscc.make(authority=prefix[0], category=prefix[1], region="410882", org_body="MA40XK3B")
    assert code == build_uscc(prefix, "410882", "MA40XK3B")
    check = uscc.validate(code)
    assert check.valid, check.errors
    assert check.details["authority_code"] == prefix[0]
    assert check.details["category_code"] == prefix
    assert check.details["category_name"].startswith(STANDARD_CATEGORIES[prefix][:2])
    assert check.details["subject_type"] in uscc.SUBJECT_TYPES
    assert uscc.is_valid(code)


@pytest.mark.parametrize(
    ("prefix", "subject_type"),
    [
        ("91", "enterprise"),
        ("92", "individual_business"),
        ("93", "farmers_cooperative"),
        ("51", "social_organisation"),
        ("52", "social_organisation"),
        ("53", "social_organisation"),
        ("11", "government"),
        ("12", "public_institution"),
        ("A1", "public_institution"),
        ("N2", "other"),
        ("Y1", "other"),
    ],
)
def test_subject_types(prefix, subject_type):
    code = uscc.make(authority=prefix[0], category=prefix[1], region="410882", org_body="12345678")
    assert uscc.validate(code).details["subject_type"] == subject_type


@pytest.mark.parametrize("prefix", ["N2", "N1", "Y1", "A1", "A9"])
def test_letter_authorities_accepted_where_stdnum_rejects(prefix):
    code = uscc.make(authority=prefix[0], category=prefix[1], region="410882", org_body="MA40XK3B")
    assert uscc.is_valid(code)
    assert not stdnum_uscc.is_valid(code)  # the gap this module closes


@pytest.mark.parametrize(
    ("prefix", "fault"),
    [
        ("94", "uscc_category"),
        ("1A", "uscc_category"),
        ("N4", "uscc_category"),
        ("Y2", "uscc_category"),
        ("B1", "uscc_authority"),
        ("01", "uscc_authority"),
        ("H1", "uscc_authority"),
    ],
)
def test_codes_outside_the_tables(prefix, fault):
    code = build_uscc(prefix, "410882", "MA40XK3B")  # check digits right: only the table is wrong
    check = uscc.validate(code)
    assert not check.valid and not uscc.is_valid(code)
    assert [e.code for e in check.errors] == [fault]
    assert "第1位" in check.errors[0].message or "第2位" in check.errors[0].message


def test_category_message_lists_the_allowed_codes():
    check = uscc.validate(build_uscc("94", "410882", "MA40XK3B"))
    assert "第2位机构类别码 '4'" in check.errors[0].message
    assert "91、92、93" in check.errors[0].message


def test_character_outside_the_alphabet_is_named_with_its_position():
    check = uscc.validate("9135I100M000100Y43")
    assert not check.valid and check.normalized is None
    assert check.errors[0].code == "uscc_charset"
    assert check.errors[0].message.startswith("第5位字符 'I' 不在统一社会信用代码字符集中")
    messages = [e.message for e in uscc.validate("91350100O0001S0Y43").errors]
    assert any(m.startswith("第9位字符 'O'") for m in messages)
    assert any(m.startswith("第14位字符 'S'") for m in messages)


def test_region_must_be_digits():
    check = uscc.validate(build_uscc("91", "3501A0", "M000100Y"))
    assert [e.code for e in check.errors] == ["uscc_region_format"]
    assert "第7位字符 'A' 应为数字" in check.errors[0].message
    assert not uscc.is_valid(build_uscc("91", "3501A0", "M000100Y"))


@pytest.mark.parametrize("code", ["91350100M000100Y4", "91350100M000100Y433", "9"])
def test_wrong_length(code):
    check = uscc.validate(code)
    assert not check.valid and check.errors[0].code == "uscc_length"
    assert f"实为{len(code)}位" in check.errors[0].message
    assert not uscc.is_valid(code)


@pytest.mark.parametrize("code", ["", "  ", None, " - "])
def test_empty(code):
    check = uscc.validate(code)
    assert not check.valid and [e.code for e in check.errors] == ["uscc_empty"]
    assert not uscc.is_valid(code)


def test_embedded_org_code_is_checked():
    body = "MA40XK3B"
    wrong = "0" if org_check(body) != "0" else "1"
    first17 = "91410882" + body + wrong
    code = first17 + uscc_check(first17)  # USCC check right, org-code check wrong
    assert stdnum_uscc.is_valid(code)  # stdnum does not look at it
    check = uscc.validate(code)
    assert not check.valid and not uscc.is_valid(code)
    assert [e.code for e in check.errors] == ["uscc_org_code_check"]
    assert f"应为 '{org_check(body)}'" in check.errors[0].message


def test_org_check_position_letter_other_than_x():
    first17 = "91410882MA40XK3BA"
    code = first17 + uscc_check(first17)
    assert not uscc.is_valid(code)
    assert "uscc_org_code_check" in [e.code for e in uscc.validate(code).errors]


def test_unknown_region_is_a_warning():
    code = uscc.make(authority="9", category="1", region="999999", org_body="MA40XK3B")
    check = uscc.validate(code)
    assert check.valid and uscc.is_valid(code)
    assert [w.code for w in check.warnings] == ["uscc_region_unknown"]
    assert check.details["region_name"] is None


def test_region_retired_before_uscc_existed_is_a_warning_later_retirement_is_not():
    old = uscc.validate(uscc.make(authority="9", category="1", region="110103", org_body="MA40XK3B"))  # 崇文区 -2010
    assert old.valid and [w.code for w in old.warnings] == ["uscc_region_unknown"]
    assert "崇文区" in old.warnings[0].message
    later = uscc.validate("91512081MA62K0260E")  # 简阳市 512081 retired in 2016, after USCCs began
    assert later.warnings == [] and later.details["region_name"] == "四川省资阳市简阳市"


def test_central_registration_region():
    check = uscc.validate(uscc.make(authority="1", category="1", region="100000", org_body="00001312"))
    assert check.valid and check.warnings == [] and check.details["region_name"] == "中央（国家级）"


@pytest.mark.parametrize(
    "raw",
    [
        " 9135 0100-m000100y43 ",
        "９１３５０１００Ｍ０００１００Ｙ４３",
        "91350100\u3000M000100Y43",
        "91350100－M000100Y43",
    ],
)
def test_compaction(raw):
    assert uscc.compact(raw) == "91350100M000100Y43"
    assert uscc.is_valid(raw)
    check = uscc.validate(raw)
    assert check.valid and check.input == raw and check.normalized == "91350100M000100Y43"


def test_non_strings():
    assert not uscc.is_valid(None)  # type: ignore[arg-type]
    assert not uscc.is_valid(91350100)  # type: ignore[arg-type]


def test_check_digits_match_independent_and_stdnum_computations():
    rng = random.Random(7)
    for _ in range(3000):
        code = _random_code(rng)
        assert uscc.calc_check_digit(code[:17]) == uscc_check(code[:17])
        assert uscc.is_valid(code), code
        if code[:8].isdigit():
            assert stdnum_uscc.is_valid(code)
        for other in rng.sample(USCC_ALPHABET.replace(code[17], ""), 3):
            assert not uscc.is_valid(code[:17] + other)


def test_fast_path_agrees_with_explained_path_on_mutations():
    rng = random.Random(11)
    chars = USCC_ALPHABET + "IOSVZ-x "
    seen = {True: 0, False: 0}
    for _ in range(4000):
        code = _random_code(rng)
        if rng.random() < 0.7:
            i = rng.randrange(18)
            code = code[:i] + rng.choice(chars) + code[i + 1 :]
        if rng.random() < 0.1:
            code = code[: rng.randrange(18)]
        fast = uscc.is_valid(code)
        assert fast == uscc.validate(code).valid, code
        seen[fast] += 1
    assert seen[True] > 500 and seen[False] > 500


def test_make_accepts_one_or_two_character_category():
    a = uscc.make(authority="9", category="1", region="410882", org_body="MA40XK3B")
    b = uscc.make(authority="9", category="91", region="410882", org_body="ma40xk3b")
    assert a == b == build_uscc("91", "410882", "MA40XK3B")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"authority": "9", "category": "4", "region": "410882", "org_body": "MA40XK3B"},
        {"authority": "9", "category": "51", "region": "410882", "org_body": "MA40XK3B"},
        {"authority": "B", "category": "1", "region": "410882", "org_body": "MA40XK3B"},
        {"authority": "9", "category": "1", "region": "41088", "org_body": "MA40XK3B"},
        {"authority": "9", "category": "1", "region": "41088A", "org_body": "MA40XK3B"},
        {"authority": "9", "category": "1", "region": "410882", "org_body": "MA40XK3"},
        {"authority": "9", "category": "1", "region": "410882", "org_body": "MA40XK3I"},
    ],
)
def test_make_rejects_bad_parts(kwargs):
    with pytest.raises(ValueError):
        uscc.make(**kwargs)


def test_calc_check_digit_rejects_bad_input():
    with pytest.raises(ValueError):
        uscc.calc_check_digit("91350100M000100Y")
    with pytest.raises(ValueError):
        uscc.calc_check_digit("91350100M000100YI")
