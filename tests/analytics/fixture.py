"""A small, exactly known city month for the dashboard and assessment tests (March 2024, "today" 2024-04-15).

Three departments: 市场监管局 (``scjgj``) with some of everything, 税务局 (``swj``) doing well, 住建局 (``zjj``) with
nothing at all. Records go through ``records.upsert.upsert_records`` (which decides timeliness by the catalog's
7-working-day rule); batches, checks, cases and list entries are written as rows, with the numbers the tests
assert on stated here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_department
from tests.records.helpers import ADMIN, company_uscc, licence, penalty, seed_catalog
from xinyong.analytics.dashboards import Period
from xinyong.auth.models import Department
from xinyong.cases.models import Case
from xinyong.ingest.models import IngestBatch, RejectedRow
from xinyong.lists import types as lists_types
from xinyong.lists.models import ListEntry, ListType
from xinyong.measures.models import Check, CheckFeedback, CheckItem
from xinyong.records import upsert as records_upsert

MARCH = Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
TODAY = dt.date(2024, 4, 15)
CST = dt.timezone(dt.timedelta(hours=8))


@dataclass
class City:
    a: Department  # scjgj
    b: Department  # swj
    c: Department  # zjj (no data)


def _batch(
    session: Session,
    dept: Department,
    *,
    rows: int,
    rejected: int,
    at: dt.datetime,
    errors: dict[str, int] | None = None,
) -> IngestBatch:
    batch = IngestBatch(
        department_id=dept.id,
        kind="penalty",
        channel="file",
        filename="t.csv",
        sha256="0" * 64,
        mode="keep_good",
        status="partial" if rejected else "accepted",
        actor="tests",
        received_at=at,
        rows=rows,
        accepted=rows - rejected,
        rejected=rejected,
        error_counts=errors,
    )
    session.add(batch)
    session.flush()
    return batch


def _check(session: Session, dept: Department, *, day: dt.date, with_measures: bool, feedback: bool) -> None:
    check = Check(
        checked_on=day,
        actor="tests",
        role="business_system",
        department_id=dept.id,
        system="审批系统",
        scenario="approval",
        subject_count=1,
        with_measures=with_measures,
        summary={},
    )
    session.add(check)
    session.flush()
    item = CheckItem(
        check_id=check.id,
        position=0,
        query={"code": "x"},
        outcome="matched",
        entry_ids=[],
        measure_codes=["m"] if with_measures else [],
    )
    session.add(item)
    session.flush()
    if feedback:
        session.add(
            CheckFeedback(
                check_id=check.id, item_id=item.id, measure_code="m", applied=True, actor="tests", department_id=dept.id
            )
        )


def _case(
    session: Session,
    dept: Department,
    n: int,
    *,
    opened: dt.date,
    due: dt.date | None,
    closed: dt.date | None = None,
    late: bool | None = None,
) -> None:
    session.add(
        Case(
            case_no=f"YY-T-{n}",
            kind="objection",
            state="decided" if closed else "accepted",
            version=1,
            target_type="record",
            target_id=n,
            department_id=dept.id,
            filed_via="department",
            filed_by="tests",
            facts="",
            data={},
            opened_on=opened,
            due_on=None if closed else due,
            closed_on=closed,
            closed_late=late,
            closed_at=dt.datetime.combine(closed, dt.time(12), tzinfo=CST) if closed else None,
        )
    )


def build(session: Session) -> City:
    seed_catalog(session)
    lists_types.seed_list_types(session, actor=ADMIN)
    a = make_department(session, code="scjgj", name="沁阳市市场监督管理局", short_name="市场监管局")
    b = make_department(session, code="swj", name="沁阳市税务局", short_name="税务局")
    c = make_department(session, code="zjj", name="沁阳市住房和城乡建设局", short_name="住建局")

    # Records. scjgj: 4 received 2024-03-05 (3 decided 2024-03-01: on time; 1 decided 2024-01-02: late), and 1
    # received in February. swj: 2 received 2024-03-11, on time.
    march5 = dt.datetime(2024, 3, 5, 10, tzinfo=CST)
    rows = [
        penalty(code=company_uscc(1), decided=dt.date(2024, 3, 1)),
        penalty(code=company_uscc(2), decided=dt.date(2024, 3, 1)),
        licence(code=company_uscc(3), decided=dt.date(2024, 3, 1)),
        penalty(code=company_uscc(4), decided=dt.date(2024, 1, 2)),
    ]
    batch_a = _batch(session, a, rows=10, rejected=2, at=march5, errors={"required_missing": 1, "invalid_uscc": 1})
    records_upsert.upsert_records(
        session, actor=ADMIN, department_id=a.id, batch_id=batch_a.id, received_at=march5, rows=rows
    )
    feb = dt.datetime(2024, 2, 20, 10, tzinfo=CST)
    records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=a.id,
        batch_id=_batch(session, a, rows=1, rejected=0, at=feb).id,
        received_at=feb,
        rows=[penalty(code=company_uscc(5), decided=dt.date(2024, 2, 19))],
    )
    march11 = dt.datetime(2024, 3, 11, 9, tzinfo=CST)
    batch_b = _batch(session, b, rows=5, rejected=0, at=march11)
    records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=b.id,
        batch_id=batch_b.id,
        received_at=march11,
        rows=[
            penalty(code=company_uscc(6), decided=dt.date(2024, 3, 7), doc="沁税罚〔2024〕1号"),
            penalty(code=company_uscc(7), decided=dt.date(2024, 3, 8), doc="沁税罚〔2024〕2号"),
        ],
    )
    # scjgj's 2 rejected rows: one missing a required field, one with a bad code.
    session.add_all(
        [
            RejectedRow(
                batch_id=batch_a.id,
                row=3,
                values_enc="x",
                issues=[
                    {
                        "row": 3,
                        "column": "行政相对人名称",
                        "value": None,
                        "code": "required_missing",
                        "message": "为必填项",
                    }
                ],
            ),
            RejectedRow(
                batch_id=batch_a.id,
                row=4,
                values_enc="x",
                issues=[
                    {"row": 4, "column": "统一社会信用代码", "value": "1", "code": "invalid_uscc", "message": "无效"}
                ],
            ),
        ]
    )

    # Checks in March. scjgj: 2 with measures (1 answered), 1 without. swj: 1 without measures.
    _check(session, a, day=dt.date(2024, 3, 4), with_measures=True, feedback=True)
    _check(session, a, day=dt.date(2024, 3, 6), with_measures=True, feedback=False)
    _check(session, a, day=dt.date(2024, 3, 7), with_measures=False, feedback=False)
    _check(session, b, day=dt.date(2024, 3, 7), with_measures=False, feedback=False)
    _check(session, a, day=dt.date(2024, 4, 2), with_measures=True, feedback=False)  # April: outside

    # Cases. scjgj: closed 2024-03-08 on time (opened 03-01, Fri → 5 working days), closed 2024-03-20 late
    # (opened 03-04 → 12 working days), open since 03-01 due 03-20 (overdue). swj: closed on time 03-12 (opened
    # 03-11, 1 working day).
    _case(session, a, 1, opened=dt.date(2024, 3, 1), due=None, closed=dt.date(2024, 3, 8), late=False)
    _case(session, a, 2, opened=dt.date(2024, 3, 4), due=None, closed=dt.date(2024, 3, 20), late=True)
    _case(session, a, 3, opened=dt.date(2024, 3, 1), due=dt.date(2024, 3, 20))
    _case(session, b, 4, opened=dt.date(2024, 3, 11), due=None, closed=dt.date(2024, 3, 12), late=False)

    # List entries of scjgj in March on a list that requires notice: 2 listed (1 told first), 1 removed.
    lt = session.scalar(
        select(ListType)
        .where(ListType.requires_notice.is_(True), ListType.external.is_(False))
        .order_by(ListType.id)
        .limit(1)
    )
    assert lt is not None
    for n, notice in ((1, dt.date(2024, 3, 1)), (2, None)):
        session.add(
            ListEntry(
                list_type_id=lt.id,
                entry_key=f"k{n}",
                party_name=f"公司{n}",
                reason="r",
                legal_basis="b",
                authority="a",
                department_id=a.id,
                status="active",
                notice_given_on=notice,
                listed_on=dt.date(2024, 3, 15),
                term_end=dt.date(2027, 3, 14),
                revision=1,
                data={},
            )
        )
    session.add(
        ListEntry(
            list_type_id=lt.id,
            entry_key="k3",
            party_name="公司3",
            reason="r",
            legal_basis="b",
            authority="a",
            department_id=a.id,
            status="removed",
            notice_given_on=dt.date(2023, 1, 3),
            listed_on=dt.date(2023, 2, 1),
            removed_on=dt.date(2024, 3, 25),
            removal_reason="repaired",
            revision=1,
            data={},
        )
    )
    session.commit()
    return City(a, b, c)
