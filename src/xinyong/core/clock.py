"""The platform's civil time. Deadlines, publicity windows and "today" are China Standard Time dates
(``XINYONG_TIMEZONE``, default Asia/Shanghai); timestamps are stored in UTC."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from xinyong.core.settings import get_settings


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone(get_settings().timezone)


def local_date(ts: dt.datetime) -> dt.date:
    """The civil date of a UTC timestamp (a decision received at 01:00 CST on the 5th was received on the 5th)."""
    return ts.astimezone(zone()).date()


def today() -> dt.date:
    return dt.datetime.now(zone()).date()


def local_text(value: dt.datetime | str | None, *, seconds: bool = True) -> str:
    """A timestamp (or its ISO text, as batch summaries and JSON keep it) as people in the city read it: civil time,
    ``YYYY-MM-DD HH:MM[:SS]``. A naive value is UTC, as stored; text that is no timestamp is returned unchanged."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
