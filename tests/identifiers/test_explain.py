import json
from datetime import date

import pytest

from xinyong.identifiers import CodeCheck, Issue, explain, resident_id, uscc


@pytest.mark.parametrize(
    ("raw", "kind", "valid"),
    [
        ("91350100M000100Y43", "uscc", True),
        ("91350211M00013FA1N", "uscc", False),
        ("N2410882MA40XK3B8Y", "uscc", True),
        ("9135I100M000100Y43", "uscc", False),
        ("11010519491231002X", "resident_id", True),
        ("11010519491231002x", "resident_id", True),
        ("00000000000000000X", "resident_id", False),
        ("110105491231002", "resident_id", True),
        ("59467239-9", "org_code", True),
        ("594672399", "org_code", True),
        ("59467239-8", "org_code", False),
        ("12345", "unknown", False),
        ("", "unknown", False),
    ],
)
def test_detects_kind(raw, kind, valid):
    check = explain(raw)
    assert (check.kind, check.valid) == (kind, valid)
    assert check.valid == (check.errors == [])


def test_allow_bad_check_is_passed_on():
    check = explain("91350211M00013FA1N", allow_bad_check=True)
    assert check.valid and [w.code for w in check.warnings] == ["uscc_check_digit"]


def _all_digit_uscc(is_id: bool) -> str:
    """An 18-digit code valid as a USCC that is (or is not) also a valid resident ID number."""
    # USCC pos 7-14 are a resident ID's birth date: region ..19.. and an org body starting 9001.. make 1990-01-0x.
    for n in range(100_000):
        body = f"9001{n:04d}"
        try:
            code = uscc.make(authority="1", category="1", region="011019", org_body=body)
        except ValueError:
            continue
        if code.isdigit() and resident_id.is_valid(code) == is_id:
            return code
    raise AssertionError("no such code")


def test_eighteen_digits_valid_only_as_uscc():
    code = _all_digit_uscc(is_id=False)
    check = explain(code)
    assert check.kind == "uscc" and check.valid


def test_eighteen_digits_valid_as_both_is_treated_as_resident_id():
    code = _all_digit_uscc(is_id=True)
    check = explain(code)
    assert check.kind == "resident_id" and check.valid
    assert "kind_ambiguous" in [w.code for w in check.warnings]


def test_eighteen_digits_invalid_as_both_prefers_the_closer_reading():
    number = resident_id.make(region="410882", birth_date=date(1990, 1, 1), sequence=123)
    mistyped = number[:17] + ("0" if number[17] != "0" else "1")
    assert explain(mistyped).kind == "resident_id"
    assert [e.code for e in explain(mistyped).errors] == ["resident_id_check_digit"]


def test_unknown_kind_message():
    check = explain("ABC")
    assert [e.code for e in check.errors] == ["unknown_kind"] and "3位" in check.errors[0].message
    assert check.details == {"length": 3}


def test_to_dict_is_json_safe_and_complete():
    check = explain("91350100M000100Y43")
    data = json.loads(json.dumps(check.to_dict()))
    assert data["kind"] == "uscc" and data["valid"] is True and data["masked"] is False
    assert data["normalized"] == "91350100M000100Y43"
    assert data["details"]["subject_type"] == "enterprise"
    assert check.to_dict(mask=True) == check.to_dict()  # organisation codes are public


def test_mask_hides_the_resident_id_everywhere():
    number = "11010519491331002X"  # invalid date: its digits appear in the message unmasked
    check = explain(number)
    assert "19491331" in json.dumps(check.to_dict(), ensure_ascii=False)
    masked = check.to_dict(mask=True)
    text = json.dumps(masked, ensure_ascii=False)
    assert number not in text and "19491331" not in text and "1949" not in text
    assert masked["input"] == "110105********002X" and masked["masked"] is True
    assert masked["errors"][0]["code"] == "resident_id_birth_date"


def test_mask_of_valid_and_legacy_numbers():
    for raw in ("11010519491231002X", "110105491231002", "110105 19491231 002x"):
        masked = explain(raw).to_dict(mask=True)
        text = json.dumps(masked, ensure_ascii=False)
        assert "491231" not in text and "1949-12-31" not in text
        assert masked["details"]["birth_date"] is None
        assert masked["details"]["region_name"] == "北京市朝阳区"
    assert explain("110105491231002").to_dict(mask=True)["input"] == "110105******002"


def test_invalid_code_that_may_be_a_mistyped_id_is_masked():
    for raw in ("1101051949123100", "11010519491231002", "110105194912310021234", "11010519491231002A"):
        masked = explain(raw).to_dict(mask=True)
        assert "19491231" not in json.dumps(masked, ensure_ascii=False)
    # Masked as an ID number is (first 6 and last 4 visible), not wholly: the user sees which input it was.
    assert explain("41088219800601357").to_dict(mask=True)["input"] == "410882*******1357"
    assert explain("110105194912310021234").to_dict(mask=True)["input"] == "110105***********1234"
    assert explain("9135").to_dict(mask=True)["input"] == "9135"  # cannot be an ID number: shown as typed
    not_an_id = explain("91350211M00013FA1N").to_dict(mask=True)
    assert not_an_id["input"] == "91350211M00013FA1N" and not_an_id["masked"] is False


def test_mistyped_all_digit_uscc_is_read_as_uscc_but_masked():
    code = next(
        c
        for n in range(1000)
        if (c := uscc.make(authority="1", category="2", region="410882", org_body=f"{n:08d}")).isdigit()
    )
    mistyped = code[:17] + ("0" if code[17] != "0" else "1")
    check = explain(mistyped)
    assert check.kind == "uscc" and [e.code for e in check.errors] == ["uscc_check_digit"]
    masked = check.to_dict(mask=True)  # 18 digits, invalid: it could be someone's ID number
    assert masked["masked"] is True and masked["details"] == {}
    assert mistyped not in json.dumps(masked)


def test_issue_and_codecheck_interface():
    issue = Issue("x_code", "说明")
    with pytest.raises(AttributeError):
        issue.code = "y"  # type: ignore[misc]
    check = CodeCheck(kind="unknown", input="a", normalized=None, valid=False, errors=[issue], warnings=[], details={})
    assert check.to_dict()["errors"] == [{"code": "x_code", "message": "说明"}]
