"""Context builders for the public pages (the portal proper is a later issue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.core.settings import get_settings


def home_context(session: Session) -> dict[str, Any]:
    from xinyong.subjects.models import Subject

    counts = dict(session.execute(select(Subject.kind, func.count()).group_by(Subject.kind)).all())
    return {"city": get_settings().city_name, "counts": counts, "total": sum(counts.values())}
