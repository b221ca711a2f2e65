import random

import pytest

from tests.identifiers.reference import org_check
from xinyong.identifiers import orgcode


@pytest.mark.parametrize("raw", ["59467239-9", "594672399", " 59467239 - 9 ", "５９４６７２３９－９"])
def test_worked_example(raw):
    check = orgcode.validate(raw)
    assert check.valid and check.kind == "org_code"
    assert check.normalized == "594672399"
    assert check.details["formatted"] == "59467239-9"
    assert orgcode.is_valid(raw)


def test_calc_check_digit_matches_the_standard_formula():
    rng = random.Random(3)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    outcomes = set()
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(8))
        expected = org_check(body)
        outcomes.add(expected)
        assert orgcode.calc_check_digit(body) == expected
        assert orgcode.is_valid(body + expected)
        assert not orgcode.is_valid(body + ("1" if expected != "1" else "2"))
    assert {"X", "0"} <= outcomes  # the two special cases (10 and 11) occurred


def test_wrong_check_character_is_explained():
    check = orgcode.validate("59467239-8")
    assert not check.valid
    assert [e.code for e in check.errors] == ["org_code_check_digit"]
    assert check.errors[0].message == "第9位校验码应为 '9'，实为 '8'"


def test_charset_and_length_errors_name_the_position():
    check = orgcode.validate("5946?239-9")
    assert [e.code for e in check.errors] == ["org_code_charset"]
    assert check.errors[0].message.startswith("第5位字符 '?'")
    check = orgcode.validate("59467239-A")
    assert check.errors[0].message.startswith("第9位校验码 'A' 无效")
    check = orgcode.validate("5946723")
    assert check.errors[0].code == "org_code_length" and "实为7位" in check.errors[0].message
    assert orgcode.validate("").errors[0].code == "org_code_empty"
    assert not orgcode.is_valid("5946723") and not orgcode.is_valid(None)  # type: ignore[arg-type]


def test_format():
    assert orgcode.format("594672399") == "59467239-9"
    assert orgcode.format("5946") == "5946"


def test_calc_check_digit_rejects_bad_bodies():
    with pytest.raises(ValueError):
        orgcode.calc_check_digit("5946723")
    with pytest.raises(ValueError):
        orgcode.calc_check_digit("5946723?")
