import random
from datetime import date, timedelta

import pytest
from stdnum.cn import ric as stdnum_ric

from tests.identifiers.reference import rid_check
from xinyong.identifiers import resident_id


def test_known_valid_number():
    check = resident_id.validate("11010519491231002X")
    assert check.valid and check.errors == [] and check.warnings == []
    assert check.normalized == "11010519491231002X"
    assert check.details["birth_date"] == "1949-12-31"
    assert check.details["sex"] == "女"
    assert check.details["region_code"] == "110105"
    assert check.details["region_name"] == "北京市朝阳区"
    assert resident_id.is_valid("11010519491231002X")


def test_lower_case_x_and_separators():
    for raw in ("11010519491231002x", "110105 19491231 002x", "１１０１０５１９４９１２３１００２Ｘ"):
        assert resident_id.is_valid(raw)
        assert resident_id.validate(raw).normalized == "11010519491231002X"


def test_placeholder_is_invalid():
    check = resident_id.validate("00000000000000000X")
    assert not check.valid and not resident_id.is_valid("00000000000000000X")
    codes = [e.code for e in check.errors]
    assert "resident_id_birth_date" in codes and "resident_id_check_digit" in codes


def test_check_digit_matches_standard_formula_and_stdnum():
    rng = random.Random(5)
    for _ in range(3000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        expected = rid_check(first17)
        assert resident_id.calc_check_digit(first17) == expected
        assert stdnum_ric.calc_check_digit(first17 + "0") == expected


def test_agrees_with_stdnum_where_stdnum_applies():
    rng = random.Random(6)
    for _ in range(2000):
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(50 * 365))
        number = resident_id.make(region="110105", birth_date=born, sequence=rng.randrange(1000))
        if rng.random() < 0.5:
            number = number[:17] + rng.choice("0123456789X")
        assert resident_id.is_valid(number) == stdnum_ric.is_valid(number), number
        assert resident_id.validate(number).valid == resident_id.is_valid(number)


def test_wrong_check_digit_message():
    check = resident_id.validate("110105194912310021")
    assert [e.code for e in check.errors] == ["resident_id_check_digit"]
    assert check.errors[0].message == "第18位校验码应为 'X'，实为 '1'"


@pytest.mark.parametrize(
    ("birth", "ok"),
    [
        ("20000229", True),
        ("20040229", True),
        ("19000229", False),
        ("19490230", False),
        ("19491301", False),
        ("19490001", False),
        ("19490100", False),
        ("19000101", True),
        ("18991231", False),
    ],
)
def test_birth_dates(birth, ok):
    first17 = "110105" + birth + "002"
    number = first17 + rid_check(first17)
    check = resident_id.validate(number)
    assert check.valid is ok
    assert resident_id.is_valid(number) is ok
    if not ok:
        assert [e.code for e in check.errors] == ["resident_id_birth_date"]
        assert "第7-14位出生日期" in check.errors[0].message
        assert check.details["birth_date"] is None


def test_birth_date_in_the_future():
    today = resident_id.make(region="110105", birth_date=date.today(), sequence=1)
    tomorrow = resident_id.make(region="110105", birth_date=date.today() + timedelta(days=1), sequence=1)
    assert resident_id.is_valid(today) and resident_id.validate(today).valid
    assert not resident_id.is_valid(tomorrow)
    check = resident_id.validate(tomorrow)
    assert "晚于今天" in check.errors[0].message


def test_sex_from_sequence():
    assert (
        resident_id.validate(resident_id.make(region="410882", birth_date=date(1990, 1, 1), sequence=123)).details[
            "sex"
        ]
        == "男"
    )
    assert (
        resident_id.validate(resident_id.make(region="410882", birth_date=date(1990, 1, 1), sequence=124)).details[
            "sex"
        ]
        == "女"
    )


def test_legacy_15_digit_numbers_are_converted():
    check = resident_id.validate("110105491231002")
    assert check.valid and resident_id.is_valid("110105491231002")
    assert check.normalized == "11010519491231002X"
    assert check.details["legacy_15"] is True and check.details["birth_date"] == "1949-12-31"
    assert [w.code for w in check.warnings] == ["resident_id_legacy_15"]
    assert resident_id.to_18("110105491231002") == "11010519491231002X"
    bad = resident_id.validate("110105491331002")
    assert not bad.valid and bad.errors[0].code == "resident_id_birth_date"
    assert not resident_id.is_valid("110105491331002")


def test_unknown_region_is_a_warning_not_an_error():
    number = resident_id.make(region="999999", birth_date=date(1980, 5, 1), sequence=11)
    check = resident_id.validate(number)
    assert check.valid and resident_id.is_valid(number)
    assert [w.code for w in check.warnings] == ["resident_id_region_unknown"]
    assert check.details["region_name"] is None
    assert not stdnum_ric.is_valid(number)  # stdnum rejects it


def test_regions_retired_before_ids_existed_warn_later_ones_do_not():
    ancient = resident_id.validate(resident_id.make(region="110201", birth_date=date(1950, 1, 1), sequence=1))
    assert ancient.valid and [w.code for w in ancient.warnings] == ["resident_id_region_unknown"]  # 昌平县 -1982
    chongwen = resident_id.validate(resident_id.make(region="110103", birth_date=date(1970, 1, 1), sequence=1))
    assert chongwen.valid and chongwen.warnings == []  # 崇文区, merged 2010: its numbers are still in use
    assert chongwen.details["region_name"] == "北京市崇文区" and chongwen.details["region_current"] is False


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("1101051949123100", "resident_id_length", "实为16位"),
        ("1101051949123100AX", "resident_id_charset", "第17位字符 'A' 应为数字"),
        ("11010519491231002A", "resident_id_charset", "第18位字符 'A' 应为数字或 X"),
        ("11010549123100X", "resident_id_charset", "第15位字符 'X' 应为数字"),
        ("", "resident_id_empty", "为空"),
    ],
)
def test_shape_errors(raw, code, fragment):
    check = resident_id.validate(raw)
    assert not check.valid and check.normalized is None
    assert check.errors[0].code == code and fragment in check.errors[0].message
    assert not resident_id.is_valid(raw)


def test_fast_path_agrees_with_explained_path_on_mutations():
    rng = random.Random(12)
    seen = {True: 0, False: 0}
    for _ in range(4000):
        born = date(1900, 1, 1) + timedelta(days=rng.randrange(125 * 365))
        region = rng.choice(["410882", "999999"])
        number = resident_id.make(region=region, birth_date=born, sequence=rng.randrange(1000))
        roll = rng.random()
        if roll < 0.4:
            i = rng.randrange(18)
            number = number[:i] + rng.choice("0123456789Xx -") + number[i + 1 :]
        elif roll < 0.5:
            number = number[:6] + number[8:17]
        fast = resident_id.is_valid(number)
        assert fast == resident_id.validate(number).valid, number
        seen[fast] += 1
    assert seen[True] > 500 and seen[False] > 500


def test_make_rejects_bad_parts():
    with pytest.raises(ValueError):
        resident_id.make(region="41088", birth_date=date(1990, 1, 1), sequence=1)
    with pytest.raises(ValueError):
        resident_id.make(region="410882", birth_date=date(1990, 1, 1), sequence=1000)
    with pytest.raises(ValueError):
        resident_id.to_18("11010549123100")
