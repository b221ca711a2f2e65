"""The demo city's credit evaluation: load the shipped models and run them on the city's data, as the credit
office would after the data has been collected (grades for 分级分类监管, shown by ``xinyong evaluation …``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.evaluation import service


def build(session: Session, *, actor: Principal) -> dict[str, Any]:
    """Run every shipped model over the whole city; returns each run's grade distribution."""

    service.load_models(session, actor=actor)
    runs = service.run_evaluation(session, actor=actor)
    return {r["model"]: {"evaluated": r["evaluated"], "distribution": r["distribution"]} for r in runs}
