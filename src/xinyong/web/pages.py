"""Context builders for the home page: headline figures, cached.

The figures are counts over whole tables: computed at most once per :data:`HEADLINE_TTL_SECONDS` per database,
not on every page view (a province's registry holds millions of subjects).

What the subject figures count (issue #17 point 5; the demo's "20,000 legal persons" showed as 19,9xx with no
word why): every subject in the registry (主体库) of each kind — the registry import's rows that were accepted
(rows with unusable codes and duplicates are not subjects) and the parties the departments' records and lists
named — split into those registered and operating (status 存续, 在业 or unknown) and those whose registration
is cancelled or revoked (注销, 吊销: still searchable, their history stays public while its windows last). The page
shows the first as the headline and says how many of the second it leaves out.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from xinyong.core import clock
from xinyong.core.settings import get_settings
from xinyong.lists.queries import list_sizes, public_type_ids
from xinyong.lists.types import list_types
from xinyong.subjects.models import Subject

HEADLINE_TTL_SECONDS = 300.0


def closed_status(status: Any) -> Any:
    """Registration cancelled or revoked (注销, 吊销, 已注销, 吊销未注销 …) as the registry writes it."""
    return or_(status.like("%注销%"), status.like("%吊销%"))


_headline_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _compute(session: Session) -> dict[str, Any]:
    counts = dict(session.execute(select(Subject.kind, func.count()).group_by(Subject.kind)).all())
    closed = dict(
        session.execute(
            select(Subject.kind, func.count()).where(closed_status(Subject.status)).group_by(Subject.kind)
        ).all()
    )
    public_ids = set(public_type_ids(session))
    codes = {t.code for t in list_types(session) if t.id in public_ids and t.active}
    lists = [s for s in list_sizes(session, clock.today()) if s["list_code"] in codes and s["active"]]
    operating = {kind: n - closed.get(kind, 0) for kind, n in counts.items()}
    return {"counts": counts, "closed": closed, "operating": operating, "lists": lists}


def headline(session: Session) -> dict[str, Any]:
    key = str(session.get_bind().engine.url)
    now = time.monotonic()
    cached = _headline_cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    figures = _compute(session)
    _headline_cache[key] = (now + HEADLINE_TTL_SECONDS, figures)
    return figures


def home_context(session: Session) -> dict[str, Any]:
    figures = headline(session)
    return {
        "city": get_settings().city_name,
        "counts": figures["counts"],
        "closed": figures["closed"],
        "operating": figures["operating"],
        "lists": figures["lists"],
        "total": sum(figures["counts"].values()),
    }
