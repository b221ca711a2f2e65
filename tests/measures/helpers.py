"""Helpers for the measures tests: a seeded catalogue, subjects and list entries written directly (the entries'
own rules are tested in tests/lists; here only their dates and list type matter)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import ACTOR
from xinyong.identifiers import resident_id, uscc
from xinyong.lists.models import ListEntry, ListType
from xinyong.subjects import service as subjects

_serial = itertools.count(1)
TODAY = dt.date(2025, 6, 16)


def seed_all(session: Session) -> None:
    from xinyong.catalog.service import seed_catalog
    from xinyong.lists.types import seed_list_types
    from xinyong.measures.service import seed_measures

    seed_catalog(session, actor=ACTOR)
    seed_list_types(session, actor=ACTOR)
    seed_measures(session, actor=ACTOR)
    session.commit()


def org(session: Session, name: str, *, region: str = "410882") -> str:
    """Register a company; returns its USCC."""
    code = uscc.make(authority="9", category="1", region=region, org_body=f"{next(_serial) + 10_000_000:08d}")
    subjects.register_organisation(session, actor=ACTOR, name=name, code=code)
    session.commit()
    return code


def person(session: Session, name: str) -> str:
    number = resident_id.make(region="410882", birth_date=dt.date(1980, 1, 2), sequence=next(_serial) % 1000)
    subjects.register_person(session, actor=ACTOR, name=name, id_number=number)
    session.commit()
    return number


def entry(
    session: Session,
    code: str,
    list_code: str,
    *,
    listed_on: dt.date = dt.date(2025, 1, 10),
    term_end: dt.date | None = dt.date(2027, 1, 9),
    status: str = "active",
    removed_on: dt.date | None = None,
) -> ListEntry:
    subject = subjects.get_subject(session, code)
    lt = session.scalar(select(ListType).where(ListType.code == list_code))
    n = next(_serial)
    e = ListEntry(
        list_type_id=lt.id,
        entry_key=f"K{n}",
        subject_id=subject.id,
        party_name=subject.name,
        party_code=subject.uscc or subject.resident_id_masked,
        party_kind=subject.kind,
        reason="有履行能力而拒不履行生效法律文书确定义务" if list_code == "court_dishonest_debtor" else "测试列入事由",
        legal_basis="测试认定依据",
        decision_no=f"（2025）豫0882执{n}号",
        authority=lt.authority,
        status=status,
        listed_on=listed_on,
        term_end=term_end,
        removed_on=removed_on,
        removal_reason="repaired" if removed_on else None,
        data={},
        match_status="code",
        source="department",
        revision=1,
    )
    session.add(e)
    session.commit()
    return e
