"""A demo-like subject for the report tests: a company with a licence, a public penalty, a penalty whose window is
over, a black-list and a red-list entry, a public commitment; a natural person with a registered contact and a
penalty of their own. Everything goes through the real services and is committed (the app under test sees it)."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.commitments.helpers import accepted_by
from tests.commitments.helpers import row as commitment_row
from tests.factories import make_department
from tests.records.helpers import (
    ADMIN,
    PERSON_ID,
    company_uscc,
    licence,
    make_batch,
    penalty,
    seed_catalog,
)
from xinyong.auth.roles import Principal, Role
from xinyong.cases import verification
from xinyong.cases.models import Notification
from xinyong.catalog.rules import PartyKind
from xinyong.commitments import importer
from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.lists import service as lists
from xinyong.lists import types as lists_types
from xinyong.records import upsert as records_upsert
from xinyong.subjects import service as subjects

COMPANY = "沁阳市宏达机械有限公司"
PERSON = "王小明"


@dataclass
class Env:
    uscc: str
    company_id: int
    person_id: int
    today: dt.date


def build(session: Session) -> Env:
    seed_catalog(session)
    lists_types.seed_list_types(session, actor=ADMIN)
    dept = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    today = clock.today()
    code = company_uscc(1)
    batch = make_batch(session, dept.id)
    rows = [
        licence(
            code=code,
            party=COMPANY,
            doc="沁市监许〔报告〕1号",
            decided=today - dt.timedelta(days=100),
            valid_to=today + dt.timedelta(days=700),
        ),
        penalty(
            code=code,
            party=COMPANY,
            doc="沁市监罚〔报告〕1号",
            decided=today - dt.timedelta(days=30),
            types=["罚款"],
            fine_wan="2",
        ),
        # General penalty decided 2 years ago: its window (at most 1 year) is over — never in a public report.
        penalty(
            code=code,
            party=COMPANY,
            doc="沁市监罚〔报告〕旧号",
            decided=today - dt.timedelta(days=800),
            types=["罚款"],
            fine_wan="2",
        ),
        penalty(
            party=PERSON,
            kind=PartyKind.NATURAL_PERSON,
            id_number=PERSON_ID,
            doc="沁市监罚〔报告〕9号",
            decided=today - dt.timedelta(days=20),
            types=["罚款"],
            fine_wan="0.5",
        ),
    ]
    result = records_upsert.upsert_records(
        session, actor=ADMIN, department_id=dept.id, batch_id=batch, received_at=utcnow(), rows=rows
    )
    assert result.created == 4, result.to_dict()
    company = subjects.get_subject(session, code)
    person = subjects.get_subject(session, PERSON_ID)
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="food_drug_dishonest",
        subject_code=code,
        reason="生产经营不符合食品安全标准的食品",
        decision_no="沁市监失信〔报告〕1号",
        notice_given_on=today - dt.timedelta(days=60),
        listed_on=today - dt.timedelta(days=20),
    )
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="contract_credit_enterprise",
        subject_code=code,
        reason="守合同重信用企业公示",
        decision_no="沁市监守〔报告〕1号",
        listed_on=today - dt.timedelta(days=10),
    )
    op = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=dept.id, user_id=1)
    made = today - dt.timedelta(days=40)
    summary = importer.import_rows(
        session,
        actor=op,
        department_id=dept.id,
        rows=[commitment_row(1, made_on=made, **{"承诺人名称": COMPANY, "承诺人代码": code}, **accepted_by(dept))],
        today=today,
    )
    assert summary["accepted"] == 1, summary
    verification.set_contact(
        session, actor=ADMIN, subject_id=person.id, channel="sms", address="13812345678", source="tests"
    )
    session.commit()
    return Env(uscc=code, company_id=company.id, person_id=person.id, today=today)


def last_code(session: Session) -> str:
    session.commit()
    body = session.scalar(
        select(Notification.body).where(Notification.sensitive.is_(True)).order_by(Notification.id.desc()).limit(1)
    )
    found = re.search(r"验证码 (\d{6})", body or "")
    assert found, body
    return found.group(1)


def pdf_text(data: bytes) -> str:
    """The PDF's text as pdfium extracts it, without any whitespace (table cells wrap long names)."""
    doc = pdfium.PdfDocument(io.BytesIO(data))
    try:
        return "".join("".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).split())
    finally:
        doc.close()
