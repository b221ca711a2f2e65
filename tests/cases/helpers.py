"""Shared set-up for the cases tests: catalog and list types seeded, a source department with an operator, a
company with a public serious penalty, a registered contact, and a watching business system."""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import auth_headers, make_department, make_token
from tests.records.helpers import ADMIN, company_uscc, penalty, seed_catalog
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.cases import verification
from xinyong.cases.models import Notification
from xinyong.core import clock
from xinyong.ingest.models import IngestBatch
from xinyong.records import upsert as records_upsert
from xinyong.subjects.models import Subject

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = zlib.compress(b"\x00\x00\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


@dataclass
class Env:
    dept: Department
    other: Department
    operator: dict[str, str]
    other_operator: dict[str, str]
    viewer: dict[str, str]
    admin: dict[str, str]
    uscc: str
    subject_id: int
    record_id: int
    young_record_id: int
    today: dt.date

    def principal(self, dept: Department | None = None) -> Principal:
        d = dept or self.dept
        return Principal(kind="user", name="tester", role=Role.DEPT_OPERATOR, department_id=d.id, user_id=99)

    webhook_secret: str | None = None


def build(session: Session, *, watch: bool = True) -> Env:
    seed_catalog(session)
    from xinyong.lists import types as lists_types

    lists_types.seed_list_types(session, actor=ADMIN)
    dept = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    other = make_department(session, code="swj", name="沁阳市税务局")
    today = clock.today()
    batch = IngestBatch(
        department_id=dept.id,
        kind="penalty",
        channel="api",
        sha256="0" * 64,
        mode="keep_good",
        status="accepted",
        actor="tests",
        received_at=dt.datetime.now(dt.UTC),
    )
    session.add(batch)
    session.flush()
    code = company_uscc(1)
    old = penalty(
        code=code,
        doc="沁市监罚〔修复〕1号",
        decided=today - dt.timedelta(days=400),
        severity="严重",
        types=["罚款"],
        fine_wan="5",
    )
    young = penalty(
        code=code, doc="沁市监罚〔修复〕2号", decided=today - dt.timedelta(days=20), types=["罚款"], fine_wan="5"
    )
    result = records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=dept.id,
        batch_id=batch.id,
        received_at=dt.datetime.now(dt.UTC),
        rows=[old, young],
    )
    assert result.created == 2, result.to_dict()
    subject = session.scalar(select(Subject).where(Subject.uscc == code))
    verification.set_contact(
        session, actor=ADMIN, subject_id=subject.id, channel="sms", address="13812345678", source="tests"
    )
    session.commit()
    if watch:
        from xinyong.watches import service as watches

        receiver, secret = watches.create_receiver(
            session, actor=ADMIN, name="审批系统", url="https://approval.example.test/hook", department_id=other.id
        )
        watches.subscribe(session, actor=ADMIN, receiver_id=receiver.id, codes=[code])
        session.commit()
    return Env(
        dept=dept,
        other=other,
        operator=auth_headers(make_token(session, Role.DEPT_OPERATOR, dept)),
        other_operator=auth_headers(make_token(session, Role.DEPT_OPERATOR, other)),
        viewer=auth_headers(make_token(session, Role.DEPT_VIEWER, dept)),
        admin=auth_headers(make_token(session, Role.ADMIN)),
        uscc=code,
        subject_id=subject.id,
        record_id=result.outcomes[0].record_id,
        young_record_id=result.outcomes[1].record_id,
        today=today,
        webhook_secret=secret if watch else None,
    )


def last_code(session: Session) -> str:
    """The code in the newest queued verification message (the demo's log channel would print it)."""
    session.commit()  # end the read snapshot: see what the app committed
    body = session.scalar(
        select(Notification.body).where(Notification.sensitive.is_(True)).order_by(Notification.id.desc()).limit(1)
    )
    found = re.search(r"验证码 (\d{6})", body or "")
    assert found, body
    return found.group(1)


def verify(client, session: Session, code: str, purpose: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    resp = client.post("/api/v1/cases/public/verifications", json={"subject": code, "purpose": purpose})
    assert resp.status_code == 201, resp.text
    return {"challenge": resp.json()["challenge"], "code": last_code(session)}
