"""The Jinja2 templates of the portal, the console and the error pages (one environment, its filters)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.templating import Jinja2Templates

from xinyong.core import clock
from xinyong.ingest import labels as ingest_labels

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _local_time(value: object, seconds: bool = True) -> str:
    """A timestamp as people in the city read it: China Standard Time, to the second (``clock.local_text``)."""
    if isinstance(value, str | dt.datetime):
        return clock.local_text(value, seconds=seconds)
    return "" if value is None else str(value)


TEMPLATES.env.filters["local_time"] = _local_time
TEMPLATES.env.filters["issue_label"] = ingest_labels.issue_label
TEMPLATES.env.globals["BATCH_STATUS"] = ingest_labels.STATUS_LABELS
TEMPLATES.env.globals["RECORD_KIND"] = ingest_labels.KIND_LABELS
