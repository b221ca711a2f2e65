"""A subject's whole profile for ``xinyong subjects show``: its 双公示 records, list entries and evaluations.

``subjects`` sits below the domains that hold them, so its command receives this function through
``core.hooks.subject_profile`` (filled by ``xinyong.wiring``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from xinyong.evaluation.service import subject_results
from xinyong.lists.queries import subject_entries_view
from xinyong.records.views import subject_records_view
from xinyong.subjects.models import Subject


def subject_profile(session: Session, subject: Subject, today: dt.date) -> dict[str, Any]:
    """``records``, ``list_entries`` and ``evaluations`` (as the platform admin sees them, without history)."""
    return {"records": subject_records_view(session, subject, today),
            "list_entries": subject_entries_view(session, subject, today),
            "evaluations": subject_results(session, subject, role="admin", history=False)}
