"""Cell parsers: dates, amounts in 万元, formula errors, document-number identity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xinyong.ingest.values import (
    AmountError,
    is_formula_error,
    normalize_doc_no,
    parse_amount_wan,
    parse_date,
)


@pytest.mark.parametrize("value", [
    "2019-10-10", "2019/10/10", "2019/10/10 00:00:00", "2019.10.10", "2019年10月10日", "20191010", " 2019-10-10 ",
    "2019-10-10T08:00:00", 43748, 43748.0, "43748", dt.datetime(2019, 10, 10, 15, 30), dt.date(2019, 10, 10),
])
def test_every_date_form(value):
    assert parse_date(value) == dt.date(2019, 10, 10)


@pytest.mark.parametrize("value", ["2019-02-30", "2019/13/01", "2019年2月30日", "20190230", "昨天", "2019-10", True])
def test_impossible_dates_raise(value):
    with pytest.raises(ValueError):
        parse_date(value)


def test_empty_date_is_none():
    assert parse_date(None) is None and parse_date("  ") is None


@pytest.mark.parametrize(("value", "amount", "converted"), [
    ("1.5", "1.5", False), (1.5, "1.5", False), (2, "2", False), (Decimal("0.25"), "0.25", False),
    ("1.5万元", "1.5", False), ("1.5万", "1.5", False), ("人民币1.5万元", "1.5", False), ("￥1.5万元", "1.5", False),
    ("1,500", "1500", False), ("15,000元", "1.5", True), ("15000.00元", "1.5", True), ("0.01元", "0.000001", True),
    ("1.5000000", "1.5", False), ("0.000001", "0.000001", False), (0.1, "0.1", False),
])
def test_amounts_in_wan(value, amount, converted):
    assert parse_amount_wan(value) == (Decimal(amount), converted)


@pytest.mark.parametrize(("value", "code"), [
    ("-1", "amount_negative"), (-0.5, "amount_negative"), ("-1500元", "amount_negative"),
    ("1.0000001", "amount_precision"), ("0.001元", "amount_precision"),
    ("壹万元", "amount_invalid"), ("NaN", "amount_invalid"), ("Infinity", "amount_invalid"), (True, "amount_invalid"),
    ("1.5美元", "amount_invalid"),
])
def test_bad_amounts(value, code):
    with pytest.raises(AmountError) as exc:
        parse_amount_wan(value)
    assert exc.value.code == code


def test_empty_amount():
    assert parse_amount_wan(None) == (None, False) and parse_amount_wan(" ") == (None, False)


def test_formula_errors():
    assert is_formula_error("#VALUE!") and is_formula_error("#N/A") and is_formula_error(" #ref! ")
    assert not is_formula_error("#1号") and not is_formula_error("=HYPERLINK(\"x\")") and not is_formula_error(5)


@pytest.mark.parametrize("doc_no", [
    "市场【2019】1号", "市场[2019]1号", "市场〔2019〕1号", "市场（2019）1号", "市场(2019)1号", "市场［2019］1号",
    "市场 〔2019〕 1号", "市场〖2019〗1号", "市场\u3000[2019]1号", "市场\u200b[2019]1号",
])
def test_doc_no_normalisation_identity(doc_no):
    assert normalize_doc_no(doc_no) == "市场〔2019〕1号"


def test_doc_no_normalisation_keeps_real_differences():
    assert normalize_doc_no("市场〔2019〕第1号") != normalize_doc_no("市场〔2019〕1号")
    assert normalize_doc_no("市场〔2019〕1号") != normalize_doc_no("市场〔2019〕11号")
    assert normalize_doc_no("ｘｋ(2019)1号") == normalize_doc_no("XK〔2019〕1号") == "XK〔2019〕1号"
