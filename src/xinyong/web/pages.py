"""Context builders for the public pages (the portal proper is a later issue)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.core.settings import get_settings

#: Headline figures are counts over whole tables: computed at most once per this many seconds per database,
#: not on every page view (a province's registry holds millions of subjects).
HEADLINE_TTL_SECONDS = 300.0
_headline_cache: dict[str, tuple[float, dict[str, int]]] = {}


def _subject_counts(session: Session) -> dict[str, int]:
    from xinyong.subjects.models import Subject

    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    cached = _headline_cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    counts = dict(session.execute(select(Subject.kind, func.count()).group_by(Subject.kind)).all())
    _headline_cache[key] = (now + HEADLINE_TTL_SECONDS, counts)
    return counts


def home_context(session: Session) -> dict[str, Any]:
    counts = _subject_counts(session)
    return {"city": get_settings().city_name, "counts": counts, "total": sum(counts.values())}
