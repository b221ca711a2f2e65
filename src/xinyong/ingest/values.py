"""Cell value parsing shared by every import: dates, amounts, document numbers as departments actually write them.

Every parser here is pure and cheap on the common case (bulk ingest calls them millions of times): the usual
spelling is tried first with C-level str/Decimal/date methods, the messy spellings only after that.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from xinyong.core.settings import get_settings

EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 date system (with its 1900-02-29 quirk absorbed)
_SEPARATORS = re.compile(r"[年月/.]")


def parse_date(value: Any) -> dt.date | None:
    """A date from ISO, slashes, dots, 年月日, compact YYYYMMDD, Excel serial numbers or a datetime cell.

    Returns None for an empty cell; raises ValueError for anything else it cannot read as a real date, including
    a year, month or day too large for a C long (``99999999999999999999-1-1``), so an importer's ``except
    ValueError`` holds.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + dt.timedelta(days=int(value))
        raise ValueError(value)
    text = str(value).strip()
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return dt.date.fromisoformat(text)  # the usual spelling, in C; raises ValueError for 2019-02-30
    if text.isdigit():
        if len(text) == 8:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if len(text) <= 5:
            return EXCEL_EPOCH + dt.timedelta(days=int(text))
        raise ValueError(value)
    text = _SEPARATORS.sub("-", text).replace("日", "").strip()
    text = text.split(" ")[0].split("T")[0]
    parts = text.split("-")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(value)
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except OverflowError:
        raise ValueError(value) from None


#: Results of a failed spreadsheet formula as Excel/WPS/LibreOffice export them: the cell has no value.
FORMULA_ERRORS = frozenset(
    {
        "#VALUE!",
        "#REF!",
        "#N/A",
        "#NAME?",
        "#DIV/0!",
        "#NUM!",
        "#NULL!",
        "#SPILL!",
        "#CALC!",
        "#GETTING_DATA",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#N/A!",
        "#ERR!",
    }
)


def is_formula_error(value: Any) -> bool:
    """True for a cell holding a formula error such as ``#VALUE!``; a formula's text (``=HYPERLINK(…)``) is not one."""
    if type(value) is not str:
        return False
    text = value.strip()
    return text[:1] == "#" and text.upper() in FORMULA_ERRORS


class AmountError(ValueError):
    """An amount that cannot be accepted; ``code`` is the stable error code, ``message`` the Chinese reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


AMOUNT_DECIMALS = 6  # 双公示: NUMBER with 6 decimals, unit 万元
_TEN_THOUSAND = Decimal(10000)
_ONE = Decimal(1)
_FEN = Decimal(100)
_AMOUNT_JUNK = str.maketrans({",": None, "，": None, " ": None, "\u3000": None, "¥": None, "￥": None})


def amount_ceiling_wan() -> Decimal:
    """The configured largest acceptable amount in 万元 (``XINYONG_AMOUNT_MAX_WAN``, default 10^8 万元 = 1 万亿元)."""
    return get_settings().amount_max_wan


def _too_large(value: Any, ceiling: Decimal, unit: str) -> AmountError:
    shown = str(value).strip()[:40]
    return AmountError("amount_too_large", f"金额 {shown} 超过上限 {ceiling:,f} {unit}，请核对金额和单位")


def parse_amount_wan(value: Any) -> tuple[Decimal | None, bool]:
    """An amount in 万元 (10,000 CNY) → ``(amount, converted_from_yuan)``; ``(None, False)`` for an empty cell.

    Accepted: numbers (int/float/Decimal cells) and strings ``"1.5"``, ``"1.5万元"``, ``"1.5万"``, ``"人民币1.5万元"``,
    ``"15,000"`` (thousands separators are dropped: they are never decimal commas in Chinese data). A string that
    ends in 元 but not 万元 (``"15,000元"``, ``"15000.00元"``) is an amount in yuan: it is converted (÷ 10,000) and the
    second element is True so the caller can flag the row. Raises :class:`AmountError` for text that is not a
    number or is not finite (``NaN``, ``Infinity``: ``amount_invalid``), a negative amount (``amount_negative``),
    an amount above :func:`amount_ceiling_wan` (``amount_too_large``: ``1e30`` is a typing or unit error, and no
    column could store it) or more than 6 decimals in 万元 (``amount_precision``).
    """
    if value is None:
        return None, False
    converted = False
    if type(value) is str:
        text = value.strip()
        if not text:
            return None, False
        try:
            amount = Decimal(text)  # the usual "1.5"
        except InvalidOperation:
            text = text.translate(_AMOUNT_JUNK)
            if text.startswith("人民币"):
                text = text[3:]
            if text.endswith("万元"):
                text = text[:-2]
            elif text.endswith("万"):
                text = text[:-1]
            elif text.endswith("元"):
                text, converted = text[:-1], True
            try:
                amount = Decimal(text)
            except InvalidOperation:
                raise AmountError("amount_invalid", f"不是有效的金额：{value[:40]}") from None
    elif isinstance(value, bool):
        raise AmountError("amount_invalid", f"不是有效的金额：{value}")
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest decimal that round-trips: 1.1 stays 1.1
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise AmountError("amount_invalid", f"不是有效的金额：{value!r}"[:80])
    if not amount.is_finite():
        raise AmountError("amount_invalid", f"不是有效的金额（须为有限的数值）：{str(value)[:40]}")
    if amount < 0:
        raise AmountError("amount_negative", "金额不能为负数")
    limit = amount_ceiling_wan()
    # Compared before any arithmetic: 1E+400000000 ÷ 10,000 overflows the decimal context.
    if amount > (limit * _TEN_THOUSAND if converted else limit):
        raise _too_large(value, limit, "万元")
    if converted:
        amount = amount / _TEN_THOUSAND
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        amount = amount.quantize(_ONE)  # "1e2" → 100, not "1E+2" in the stored content
    elif isinstance(exponent, int) and exponent < -AMOUNT_DECIMALS:
        amount = amount.normalize()  # 1.5000000 is fine, 1.0000001 is not
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -AMOUNT_DECIMALS:
            raise AmountError("amount_precision", f"金额（万元）最多保留 {AMOUNT_DECIMALS} 位小数")
    return amount, converted


def yuan_to_fen(value: Any) -> int | None:
    """An amount in yuan (``"1,200,000"``, ``"1200000.50元"``, a number cell) → fen, rounded half up; None when empty.

    For the columns kept in yuan (bids and awards of public-resource trading, a fine corrected in yuan). Raises
    :class:`AmountError` as :func:`parse_amount_wan` does (``amount_invalid``, ``amount_negative``,
    ``amount_too_large`` above the same ceiling, expressed in yuan); more than two decimals are rounded to the fen.
    """
    if value is None or (type(value) is str and not value.strip()):
        return None
    if isinstance(value, bool):
        raise AmountError("amount_invalid", f"不是有效的金额：{value}")
    if isinstance(value, float):
        text = repr(value)
    else:
        text = str(value).strip().translate(_AMOUNT_JUNK)
        if text.startswith("人民币"):
            text = text[3:]
        if text.endswith("元") and not text.endswith("万元"):
            text = text[:-1]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise AmountError("amount_invalid", f"不是有效的金额：{str(value)[:40]}") from None
    if not amount.is_finite():
        raise AmountError("amount_invalid", f"不是有效的金额（须为有限的数值）：{str(value)[:40]}")
    if amount < 0:
        raise AmountError("amount_negative", "金额不能为负数")
    limit = amount_ceiling_wan() * _TEN_THOUSAND
    if amount > limit:
        raise _too_large(value, limit, "元")
    return int((amount * _FEN).quantize(_ONE, rounding=ROUND_HALF_UP))


# Document numbers: every bracket form people type around the year -> 〔〕 (GB/T 9704's form for 文号).
# NFKC has already turned （）［］｛｝ into ASCII. str.replace per character present is several times faster than
# str.translate with a dict table on non-ASCII text.
_DOC_REPLACE: tuple[tuple[str, str], ...] = (
    *((ch, "〔") for ch in "([{【〖〘﹝｟"),
    *((ch, "〕") for ch in ")]}】〗〙﹞｠"),
    *((ch, "") for ch in "\u200b\u200c\u200d\ufeff\u00ad"),
)


def normalize_doc_no(doc_no: str) -> str:
    """Identity key of a decision document number (文号), never for display.

    NFKC (full-width → half-width), every bracket form ``【】〔〕［］()（）[]{}〖〗`` → ``〔〕``, all whitespace and
    invisible characters removed, Latin letters upper-cased: ``市场【2019】1号`` = ``市场[2019]1号`` =
    ``市场〔2019〕 1号``. Nothing else changes (``第1号`` and ``1号`` stay different: that is the sender's text).
    """
    text = unicodedata.normalize("NFKC", doc_no)
    for a, b in _DOC_REPLACE:
        if a in text:
            text = text.replace(a, b)
    return "".join(text.split()).upper()
