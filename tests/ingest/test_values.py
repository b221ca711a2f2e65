"""Cell parsers: dates, amounts in 万元, formula errors, document-number identity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from xinyong.core.settings import AMOUNT_STORABLE_MAX_WAN, Settings, reset_settings
from xinyong.ingest.values import (
    AmountError,
    amount_ceiling_wan,
    is_formula_error,
    normalize_doc_no,
    parse_amount_wan,
    parse_date,
    yuan_to_fen,
)


@pytest.mark.parametrize(
    "value",
    [
        "2019-10-10",
        "2019/10/10",
        "2019/10/10 00:00:00",
        "2019.10.10",
        "2019年10月10日",
        "20191010",
        " 2019-10-10 ",
        "2019-10-10T08:00:00",
        43748,
        43748.0,
        "43748",
        dt.datetime(2019, 10, 10, 15, 30),
        dt.date(2019, 10, 10),
    ],
)
def test_every_date_form(value):
    assert parse_date(value) == dt.date(2019, 10, 10)


@pytest.mark.parametrize(
    "value",
    [
        "2019-02-30",
        "2019/13/01",
        "2019年2月30日",
        "20190230",
        "昨天",
        "2019-10",
        True,
        "99999999999999999999-1-1",
        "2024/1/99999999999999999999",
        1e30,
        float("nan"),
        -1,
        10**30,
    ],
)
def test_impossible_dates_raise(value):
    with pytest.raises(ValueError):
        parse_date(value)


def test_empty_date_is_none():
    assert parse_date(None) is None and parse_date("  ") is None


@pytest.mark.parametrize(
    ("value", "amount", "converted"),
    [
        ("1.5", "1.5", False),
        (1.5, "1.5", False),
        (2, "2", False),
        (Decimal("0.25"), "0.25", False),
        ("1.5万元", "1.5", False),
        ("1.5万", "1.5", False),
        ("人民币1.5万元", "1.5", False),
        ("￥1.5万元", "1.5", False),
        ("1,500", "1500", False),
        ("15,000元", "1.5", True),
        ("15000.00元", "1.5", True),
        ("0.01元", "0.000001", True),
        ("1.5000000", "1.5", False),
        ("0.000001", "0.000001", False),
        (0.1, "0.1", False),
    ],
)
def test_amounts_in_wan(value, amount, converted):
    assert parse_amount_wan(value) == (Decimal(amount), converted)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-1", "amount_negative"),
        (-0.5, "amount_negative"),
        ("-1500元", "amount_negative"),
        ("1.0000001", "amount_precision"),
        ("0.001元", "amount_precision"),
        ("壹万元", "amount_invalid"),
        ("NaN", "amount_invalid"),
        ("Infinity", "amount_invalid"),
        (True, "amount_invalid"),
        ("1.5美元", "amount_invalid"),
        (float("nan"), "amount_invalid"),
        (float("-inf"), "amount_invalid"),
        ("-Infinity", "amount_invalid"),
        ("sNaN", "amount_invalid"),
        (Decimal("NaN"), "amount_invalid"),
        ("1e30", "amount_too_large"),
        (1e30, "amount_too_large"),
        ("1e309", "amount_too_large"),
        ("99999999999999999999", "amount_too_large"),
        (10**20, "amount_too_large"),
        ("1E+400000000", "amount_too_large"),
        ("1E+400000000元", "amount_too_large"),
        ("100000000.000001", "amount_too_large"),
        ("1000000000001元", "amount_too_large"),
        ("-1e30", "amount_negative"),
    ],
)
def test_bad_amounts(value, code):
    with pytest.raises(AmountError) as exc:
        parse_amount_wan(value)
    assert exc.value.code == code and exc.value.message


def test_the_ceiling_is_inclusive_and_written_out():
    assert parse_amount_wan("100000000") == (Decimal(100_000_000), False)
    assert parse_amount_wan("1e8") == (Decimal(100_000_000), False) and str(parse_amount_wan("1e2")[0]) == "100"
    assert parse_amount_wan("1000000000000元") == (Decimal(100_000_000), True)
    with pytest.raises(AmountError) as exc:
        parse_amount_wan("1e30")
    assert exc.value.message == "金额 1e30 超过上限 100,000,000 万元，请核对金额和单位"


def test_the_ceiling_is_configured(monkeypatch):
    monkeypatch.setenv("XINYONG_AMOUNT_MAX_WAN", "500")
    reset_settings()
    assert amount_ceiling_wan() == 500
    assert parse_amount_wan("500")[0] == 500
    with pytest.raises(AmountError, match="超过上限 500 万元"):
        parse_amount_wan("500.01")
    with pytest.raises(AmountError, match="超过上限 5,000,000 元"):
        yuan_to_fen("5000000.01")


@pytest.mark.parametrize("value", ["0", "-1", "1e14", "abc", "inf"])
def test_a_ceiling_no_column_can_store_is_refused(value):
    """Fines are kept in fen in a 64-bit integer: a ceiling above 2^63-1 fen would let an overflow through."""
    with pytest.raises(ValidationError):
        Settings(amount_max_wan=value)
    assert Settings(amount_max_wan=AMOUNT_STORABLE_MAX_WAN).amount_max_wan * 1_000_000 <= 2**63 - 1


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        ("1,200,000", 120_000_000),
        ("1200000.50元", 120_000_050),
        (300000, 30_000_000),
        (0.005, 1),
        ("￥1.5", 150),
        (None, None),
        (" ", None),
        ("1000000000000", 100_000_000_000_000),
    ],
)
def test_yuan_to_fen(value, fen):
    assert yuan_to_fen(value) == fen


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1e30", "amount_too_large"),
        (1e30, "amount_too_large"),
        ("1000000000000.01", "amount_too_large"),
        ("NaN", "amount_invalid"),
        (float("inf"), "amount_invalid"),
        ("1.5万元", "amount_invalid"),
        (True, "amount_invalid"),
        ("-1", "amount_negative"),
        ("1E+400000000", "amount_too_large"),
    ],
)
def test_bad_yuan(value, code):
    with pytest.raises(AmountError) as exc:
        yuan_to_fen(value)
    assert exc.value.code == code


def test_empty_amount():
    assert parse_amount_wan(None) == (None, False) and parse_amount_wan(" ") == (None, False)


def test_formula_errors():
    assert is_formula_error("#VALUE!") and is_formula_error("#N/A") and is_formula_error(" #ref! ")
    assert not is_formula_error("#1号") and not is_formula_error('=HYPERLINK("x")') and not is_formula_error(5)


@pytest.mark.parametrize(
    "doc_no",
    [
        "市场【2019】1号",
        "市场[2019]1号",
        "市场〔2019〕1号",
        "市场（2019）1号",
        "市场(2019)1号",
        "市场［2019］1号",
        "市场 〔2019〕 1号",
        "市场〖2019〗1号",
        "市场\u3000[2019]1号",
        "市场\u200b[2019]1号",
    ],
)
def test_doc_no_normalisation_identity(doc_no):
    assert normalize_doc_no(doc_no) == "市场〔2019〕1号"


def test_doc_no_normalisation_keeps_real_differences():
    assert normalize_doc_no("市场〔2019〕第1号") != normalize_doc_no("市场〔2019〕1号")
    assert normalize_doc_no("市场〔2019〕1号") != normalize_doc_no("市场〔2019〕11号")
    assert normalize_doc_no("ｘｋ(2019)1号") == normalize_doc_no("XK〔2019〕1号") == "XK〔2019〕1号"
