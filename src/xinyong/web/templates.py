"""The Jinja2 templates of the portal, the console and the error pages (one environment, its filters)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from fastapi.templating import Jinja2Templates

from xinyong.core import clock
from xinyong.ingest import labels as ingest_labels

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
#: The templates ship with the package and change only with a new release (a restart): without this, Jinja2 asks
#: the file system for every template's modification time on every page (the base, the page, its includes), ≈ 8 %
#: of a subject page's time over HTTP (docs/performance.md, the portal). ``XINYONG_TEMPLATES_AUTO_RELOAD=true``
#: for a developer editing templates under a running server.
TEMPLATES.env.auto_reload = os.environ.get("XINYONG_TEMPLATES_AUTO_RELOAD", "").strip().lower() in ("1", "true", "yes")


def _local_time(value: object, seconds: bool = True) -> str:
    """A timestamp as people in the city read it: China Standard Time, to the second (``clock.local_text``)."""
    if isinstance(value, str | dt.datetime):
        return clock.local_text(value, seconds=seconds)
    return "" if value is None else str(value)


TEMPLATES.env.filters["local_time"] = _local_time
TEMPLATES.env.filters["issue_label"] = ingest_labels.issue_label
TEMPLATES.env.globals["BATCH_STATUS"] = ingest_labels.STATUS_LABELS
TEMPLATES.env.globals["RECORD_KIND"] = ingest_labels.KIND_LABELS
