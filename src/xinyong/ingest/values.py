"""Cell value parsing shared by every import: dates and amounts as departments actually write them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

EXCEL_EPOCH = dt.date(1899, 12, 30)  # Excel's 1900 date system (with its 1900-02-29 quirk absorbed)
_SEPARATORS = re.compile(r"[年月/.]")


def parse_date(value: Any) -> dt.date | None:
    """A date from ISO, slashes, dots, 年月日, compact YYYYMMDD, Excel serial numbers or a datetime cell.

    Returns None for an empty cell; raises ValueError for anything else it cannot read as a real date.
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
    return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
