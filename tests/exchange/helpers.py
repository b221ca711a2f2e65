"""Shared set-up of the exchange tests: a department and 双公示 rows read by the platform's own validator."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_department
from tests.ingest.helpers import LICENCE, PENALTY, licence_row, penalty_row, valid
from tests.records.helpers import ADMIN, make_batch, seed_catalog
from xinyong.records import upsert as records_upsert
from xinyong.records.inputs import RecordInput

RECEIVED = dt.datetime(2024, 3, 20, 9, 0, tzinfo=dt.UTC)


def setup(session: Session) -> Any:
    seed_catalog(session)
    dept = make_department(session, code="scjgj")
    session.commit()
    return dept


def penalty(**changes: Any) -> RecordInput:
    return valid(PENALTY, penalty_row(**changes))


def licence(**changes: Any) -> RecordInput:
    return valid(LICENCE, licence_row(**changes))


def upsert(session: Session, dept: Any, rows: list[RecordInput]) -> records_upsert.UpsertResult:
    batch = make_batch(session, dept.id)
    return records_upsert.upsert_records(
        session, actor=ADMIN, department_id=dept.id, batch_id=batch, received_at=RECEIVED, rows=rows
    )
