"""Builders of RecordInput rows for the records tests (no dependency on the ingest validator)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tests.factories import make_uscc
from xinyong.auth.roles import system_principal
from xinyong.catalog import service as catalog_service
from xinyong.catalog.rules import PartyKind
from xinyong.identifiers import resident_id, uscc
from xinyong.records.inputs import RecordInput, RecordKind

ADMIN = system_principal("tests")
AUTHORITY = make_uscc(9001)
_doc = itertools.count(1)


def company_uscc(n: int) -> str:
    """A valid enterprise USCC (91…) in the city."""
    return uscc.make(authority="9", category="1", region="410882", org_body=f"MA{n:06d}")


PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 9), sequence=77)


def seed_catalog(session: Session) -> None:
    catalog_service.seed_catalog(session, actor=ADMIN)
    session.commit()


def penalty(
    *,
    party: str = "沁阳市宏达机械有限公司",
    code: str | None = None,
    doc: str | None = None,
    decided: dt.date = dt.date(2024, 3, 15),
    types: list[str] | None = None,
    fine_wan: str | None = "1.5",
    severity: str | None = None,
    row: int = 2,
    kind: PartyKind = PartyKind.LEGAL_PERSON,
    id_number: str | None = None,
    data: dict[str, Any] | None = None,
    **kw: Any,
) -> RecordInput:
    doc = doc or f"沁市监罚〔2024〕{next(_doc)}号"
    payload = {"违法事实": "销售不合格产品", **(data or {})}
    extra = {"失信严重程度": severity} if severity else {}
    return RecordInput(
        kind=RecordKind.PENALTY,
        row=row,
        party_name=party,
        party_kind=kind,
        party_uscc=None if kind is PartyKind.NATURAL_PERSON else (code or company_uscc(1)),
        party_id_type="身份证" if kind is PartyKind.NATURAL_PERSON else None,
        party_id_number=id_number if kind is PartyKind.NATURAL_PERSON else None,
        doc_no=doc,
        doc_no_norm=doc.replace("〔", "[").replace("〕", "]"),
        decision_date=decided,
        authority="沁阳市市场监督管理局",
        authority_uscc=AUTHORITY,
        source_unit="沁阳市市场监督管理局",
        source_unit_uscc=AUTHORITY,
        penalty_types=types if types is not None else ["罚款"],
        fine_wan=Decimal(fine_wan) if fine_wan is not None else None,
        data=payload,
        extra=extra,
        **kw,
    )


def licence(
    *,
    party: str = "沁阳市宏达机械有限公司",
    code: str | None = None,
    doc: str | None = None,
    decided: dt.date = dt.date(2024, 3, 15),
    valid_to: dt.date | None = dt.date(2026, 3, 14),
    valid: bool = True,
    row: int = 2,
) -> RecordInput:
    doc = doc or f"沁市监许〔2024〕{next(_doc)}号"
    return RecordInput(
        kind=RecordKind.LICENCE,
        row=row,
        party_name=party,
        party_kind=PartyKind.LEGAL_PERSON,
        party_uscc=code or company_uscc(1),
        doc_no=doc,
        doc_no_norm=doc,
        decision_date=decided,
        authority="沁阳市市场监督管理局",
        authority_uscc=AUTHORITY,
        source_unit="沁阳市市场监督管理局",
        source_unit_uscc=AUTHORITY,
        licence_valid_from=decided,
        licence_valid_to=valid_to,
        licence_category="普通",
        current_status_valid=valid,
        data={"许可内容": "食品经营"},
    )


def make_batch(session: Session, department_id: int, *, batch_id: int | None = None) -> int:
    """An ingest batch row for records to point at (the records tests don't go through the loader)."""
    from xinyong.core.db import utcnow
    from xinyong.ingest.models import IngestBatch

    batch = IngestBatch(
        id=batch_id,
        department_id=department_id,
        kind="penalty",
        channel="api",
        sha256="0" * 64,
        mode="keep_good",
        status="accepted",
        actor="tests",
        received_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    return batch.id


def contract(*, row: int = 2) -> RecordInput:
    """A record of another information class (守合同重信用, issue #18) about the same company as :func:`penalty`."""
    return RecordInput(
        kind="contract",
        row=row,
        party_name="沁阳市宏达机械有限公司",
        party_kind=PartyKind.LEGAL_PERSON,
        party_uscc=company_uscc(1),
        doc_no="合同1",
        doc_no_norm="合同1",
        decision_date=dt.date(2024, 3, 15),
        authority="沁阳市市场监督管理局",
        authority_uscc=AUTHORITY,
        domain="守合同重信用",
        data={"domain": "守合同重信用", "party_name": "沁阳市宏达机械有限公司", "honour_name": "守合同重信用企业"},
    )


#: The type of record_versions.packed (0025), for tests that add it to an older schema for today's model.
BLOB = {"sqlite": "BLOB", "postgresql": "bytea"}


def writers_before_0025(mp: Any) -> None:
    """Today's record writers as they wrote before 0025: plain versions (content and data in their columns), no
    dictionary looked up. The row writer's and the ORM writer's (a correction's) versions. (Content hashes:
    :func:`digests_as_bytes`.)"""
    from xinyong.records import packing, upsert, versions

    mp.setattr(packing, "packer", lambda session: packing.BUILTIN)
    mp.setattr(packing, "stored_columns", lambda session, content, data: {"content": content, "data": data})
    original = upsert._Context.version

    def version(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        row = original(self, *args, **kwargs)
        row["content"], row["data"] = versions.unpack(row.pop("packed"), versions.BUILTIN_DICTIONARY)
        return row

    mp.setattr(upsert._Context, "version", version)


@contextmanager
def digests_as_bytes(engine: Any) -> Iterator[None]:
    """Before 0026 the content hashes were hex text; today's writers (``core.db.Digest``) write their bytes. In the
    block the columns take bytes (PostgreSQL: ``bytea``); after it the stored hashes are hex text again, as the
    writers stored them then."""
    tables = ("credit_records", "record_versions")
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for t in tables:
            if pg:
                conn.exec_driver_sql(
                    f"ALTER TABLE {t} ALTER COLUMN content_hash TYPE bytea USING decode(content_hash, 'hex')"
                )
    yield
    with engine.begin() as conn:
        for t in tables:
            if pg:
                conn.exec_driver_sql(
                    f"ALTER TABLE {t} ALTER COLUMN content_hash TYPE varchar(64) USING encode(content_hash, 'hex')"
                )
            else:
                conn.exec_driver_sql(
                    f"UPDATE {t} SET content_hash = lower(hex(content_hash)) WHERE typeof(content_hash) = 'blob'"
                )
