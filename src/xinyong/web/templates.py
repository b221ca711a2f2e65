"""The Jinja2 templates of the portal, the console and the error pages (one environment, its filters)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.templating import Jinja2Templates

from xinyong.core import clock

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _local_time(value: object) -> str:
    """A timestamp as people in the city read it: China Standard Time, to the second."""
    if isinstance(value, str):
        text = value
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


TEMPLATES.env.filters["local_time"] = _local_time
