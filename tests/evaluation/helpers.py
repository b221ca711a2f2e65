"""Builders for the evaluation tests: subjects through the real registry service; records, list entries,
commitments and cases written directly (their own rules are tested in their domains; here only the facts the
indicators read matter)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import ACTOR, make_department, make_uscc
from xinyong.auth.models import Department
from xinyong.commitments.models import Commitment
from xinyong.core.db import utcnow
from xinyong.identifiers import uscc
from xinyong.lists.models import ListEntry, ListType
from xinyong.records.models import CreditRecord
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject

TODAY = dt.date(2026, 6, 15)
_serial = itertools.count(1)


def seed(session: Session) -> dict[str, Department]:
    from xinyong.catalog.service import seed_catalog
    from xinyong.lists.types import seed_list_types

    seed_catalog(session, actor=ACTOR)
    seed_list_types(session, actor=ACTOR)
    session.commit()
    return {
        code: make_department(session, code=code, name=name)
        for code, name in (
            ("scjgj", "沁阳市市场监督管理局"),
            ("wjw", "沁阳市卫生健康委员会"),
            ("sthjj", "焦作市生态环境局沁阳分局"),
        )
    }


def org(
    session: Session,
    name: str | None = None,
    *,
    registered: dt.date | None = dt.date(2010, 1, 1),
    status: str | None = "存续",
) -> Subject:
    n = next(_serial)
    code = uscc.make(authority="9", category="1", region="410882", org_body=f"{n + 20_000_000:08d}")
    s = subjects.register_organisation(session, actor=ACTOR, name=name or f"沁阳市测试{n}有限公司", code=code)
    s.registered_on, s.status = registered, status
    session.commit()
    return s


def record(
    session: Session,
    subject: Subject,
    dept: Department,
    *,
    kind: str = "penalty",
    decided: dt.date = dt.date(2026, 1, 10),
    severity: str = "general",
    types: tuple[str, ...] = ("罚款",),
    valid_to: dt.date | None = None,
    ended_on: dt.date | None = None,
) -> CreditRecord:
    n = next(_serial)
    now = utcnow()
    r = CreditRecord(
        kind=kind,
        authority_uscc=make_uscc(9000 + dept.id),
        doc_no_norm=f"DOC{n}",
        doc_no=f"DOC{n}",
        authority=dept.name,
        subject_id=subject.id,
        department_id=dept.id,
        content_hash="0" * 64,
        party_kind=subject.kind,
        party_name=subject.name,
        decision_date=decided,
        severity=severity,
        penalty_types=list(types) if kind == "penalty" else [],
        penalty_types_key="|" + "|".join(sorted(types)) + "|" if kind == "penalty" else "",
        licence_valid_from=decided if kind == "licence" else None,
        licence_valid_to=valid_to,
        ended_on=ended_on,
        received_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(r)
    session.commit()
    return r


def entry(
    session: Session,
    subject: Subject,
    list_code: str,
    *,
    listed_on: dt.date = dt.date(2026, 1, 10),
    term_end: dt.date | None = dt.date(2028, 1, 9),
) -> ListEntry:
    lt = session.scalar(select(ListType).where(ListType.code == list_code))
    n = next(_serial)
    e = ListEntry(
        list_type_id=lt.id,
        entry_key=f"K{n}",
        subject_id=subject.id,
        party_name=subject.name,
        party_code=subject.uscc,
        party_kind=subject.kind,
        reason="测试列入事由",
        legal_basis="测试依据",
        decision_no=f"测〔2026〕{n}号",
        authority=lt.authority,
        status="active",
        listed_on=listed_on,
        term_end=term_end,
        data={},
        match_status="code",
        source="department",
        revision=1,
    )
    session.add(e)
    session.commit()
    return e


def commitment(
    session: Session,
    subject: Subject,
    dept: Department,
    *,
    broken_on: dt.date | None = None,
    fulfilled: bool = False,
    made_on: dt.date = dt.date(2025, 6, 1),
) -> Commitment:
    n = next(_serial)
    status = "unfulfilled" if broken_on else ("fulfilled" if fulfilled else "pending")
    c = Commitment(
        code=f"410882{made_on:%Y%m%d}{n:06d}",
        subject_id=subject.id,
        department_id=dept.id,
        promisor_name=subject.name,
        promisor_kind=subject.kind,
        promisor_code=subject.uscc,
        commitment_type="approval_substitute",
        reason="测试",
        content="测试承诺",
        liability="测试",
        made_on=made_on,
        fulfilment_status=status,
        determined_on=broken_on or (made_on if fulfilled else None),
        accepting_unit=dept.name,
        accepting_unit_code=dept.uscc,
        public_type="public",
        broken_on=broken_on,
        content_hash="0" * 64,
        actor="tests",
        received_at=utcnow(),
    )
    session.add(c)
    session.commit()
    return c
