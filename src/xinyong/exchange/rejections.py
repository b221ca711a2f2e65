"""The province's per-row rejections as work for the departments (docs/exchange.md §4.1).

A receipt's rejected rows are kept twice: as received in the receipt (``exchange_receipts.rejections``) and, per
row, as a :class:`~xinyong.exchange.models.Rejection` of the department that owns the row — what the department
must correct, with the province's reason. :func:`on_receipt` runs in the transaction that commits the receipt:

- each rejected sequence number becomes an ``open`` rejection (once: a replayed batch rejected again updates the
  reason);
- a later message of the same entity settles the earlier open rejections when it is acknowledged: ``resolved``
  when the receiver accepted it (the department's correction reached the province), ``superseded`` when it was
  rejected again (the new rejection is the open one). A replayed message accepted this time resolves its own.

The correction itself goes the ordinary way: the department uploads the corrected row (a new version through the
ingest, or ``records.service.correct_record``), the feed gets a ``corrected`` message, the pusher sends it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.commitments.models import Commitment
from xinyong.core.db import utcnow
from xinyong.core.errors import Forbidden, ValidationFailed
from xinyong.exchange.ids import scrub
from xinyong.exchange.models import FeedMessage, Rejection
from xinyong.lists.models import ListEntry
from xinyong.records.models import CreditRecord

STATUSES = ("open", "resolved", "superseded")


class _Message(NamedTuple):
    seq: int
    kind: str
    op: str
    entity_id: int
    subject_id: int | None
    department_id: int | None


def on_receipt(
    session: Session,
    *,
    receipt_id: int | None,
    first: int,
    last: int,
    accepted: list[int],
    rejected: list[dict[str, Any]],
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, int]:
    """Record a receipt's rejections and settle the open ones its rows answer; counts of what changed.
    ``messages``: the batch's envelopes when the caller has them (the pusher), else they are read."""
    rejected_by_seq = {int(r["seq"]): r for r in rejected}
    accepted_set = set(accepted)
    counts = {"rejected": 0, "resolved": 0, "superseded": 0}
    if not rejected_by_seq and not session.scalar(
        select(func.count()).select_from(select(Rejection.id).where(Rejection.status == "open").limit(1).subquery())
    ):
        return counts  # nothing rejected now, nothing waiting to be settled
    batch: list[Any]
    if messages is not None:  # the batch the pusher just sent (its envelopes): no need to read it again
        batch = [_Message(**{k: m[k] for k in _Message._fields}) for m in messages]
    else:
        batch = list(
            session.execute(
                select(
                    FeedMessage.seq,
                    FeedMessage.kind,
                    FeedMessage.op,
                    FeedMessage.entity_id,
                    FeedMessage.subject_id,
                    FeedMessage.department_id,
                )
                .where(FeedMessage.seq >= first, FeedMessage.seq <= last)
                .order_by(FeedMessage.seq)
            )
        )
    entity_ids = sorted({m.entity_id for m in batch})
    open_by_entity: dict[tuple[str, int], list[Rejection]] = defaultdict(list)
    existing: dict[int, Rejection] = {}
    for start in range(0, len(entity_ids), 900):
        for r in session.scalars(select(Rejection).where(Rejection.entity_id.in_(entity_ids[start : start + 900]))):
            existing[r.seq] = r
            if r.status == "open":
                open_by_entity[(r.kind, r.entity_id)].append(r)
    now = utcnow()
    for m in batch:
        key = (m.kind, m.entity_id)
        if m.seq in rejected_by_seq:
            item = rejected_by_seq[m.seq]
            for r in open_by_entity.get(key, []):
                if r.seq < m.seq:
                    r.status, r.resolved_seq, r.resolved_at = "superseded", m.seq, now
                    counts["superseded"] += 1
            code, message = scrub(str(item.get("code") or ""))[:100], scrub(str(item.get("message") or ""))
            row = existing.get(m.seq)
            if row is None:
                row = Rejection(
                    seq=m.seq,
                    kind=m.kind,
                    op=m.op,
                    entity_id=m.entity_id,
                    subject_id=m.subject_id,
                    department_id=m.department_id,
                    code=code,
                    message=message,
                    receipt_id=receipt_id,
                    status="open",
                    rejected_at=now,
                )
                session.add(row)
                existing[m.seq] = row
            else:  # rejected again on a replay: the latest reason, open again
                row.code, row.message, row.receipt_id = code, message, receipt_id
                row.status, row.resolved_seq, row.resolved_at = "open", None, None
            open_by_entity[key] = [row]
            counts["rejected"] += 1
        elif m.seq in accepted_set:
            settled = [r for r in open_by_entity.get(key, []) if r.seq <= m.seq]
            for r in settled:
                r.status, r.resolved_seq, r.resolved_at = "resolved", m.seq, now
                counts["resolved"] += 1
            if settled:
                open_by_entity[key] = [r for r in open_by_entity[key] if r not in settled]
    session.flush()
    return counts


def _reference(session: Session, rows: list[Rejection]) -> dict[tuple[str, int], dict[str, Any]]:
    """What the department knows the row by: 文书号 and party of a record, the list entry's decision, the
    commitment's code."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    records = [r.entity_id for r in rows if r.kind in ("licence", "penalty")]
    entries = [r.entity_id for r in rows if r.kind == "list_entry"]
    commitments = [r.entity_id for r in rows if r.kind == "commitment"]
    if records:
        for rid, kind, doc_no, party, decided, versions in session.execute(
            select(
                CreditRecord.id,
                CreditRecord.kind,
                CreditRecord.doc_no,
                CreditRecord.party_name,
                CreditRecord.decision_date,
                CreditRecord.version_count,
            ).where(CreditRecord.id.in_(records))
        ):
            out[(kind, rid)] = {
                "reference": doc_no,
                "party_name": party,
                "decision_date": decided.isoformat(),
                "current_version": versions,
            }
    if entries:
        for eid, decision_no, key, party in session.execute(
            select(ListEntry.id, ListEntry.decision_no, ListEntry.entry_key, ListEntry.party_name).where(
                ListEntry.id.in_(entries)
            )
        ):
            out[("list_entry", eid)] = {"reference": decision_no or key, "party_name": party}
    if commitments:
        for cid, code, party in session.execute(
            select(Commitment.id, Commitment.code, Commitment.promisor_name).where(Commitment.id.in_(commitments))
        ):
            out[("commitment", cid)] = {"reference": code, "party_name": party}
    return out


def list_rejections(
    session: Session,
    *,
    actor: Principal,
    department: str | None = None,
    status: str | None = "open",
    limit: int = 200,
    offset: int = 0,
) -> dict[str, Any]:
    """The rejected rows a department has to correct (``status``: open — the default —, resolved, superseded, or
    None for all), newest first. A department user sees only its own department's rows, whatever it asks for;
    the admin sees all, or one department's (``department``: code)."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"状态应为 {'、'.join(STATUSES)} 之一：{status!r}", code="bad_status")
    dept_id: int | None = None
    if not actor.is_admin:
        if actor.department_id is None:
            raise Forbidden("当前账号不属于任何部门", code="forbidden")
        dept_id = actor.department_id
        if department:
            own = session.scalar(select(Department.code).where(Department.id == dept_id))
            if department != own:
                raise Forbidden("只能查看本部门被省平台退回的数据", code="forbidden")
    elif department:
        dept_id = session.scalar(select(Department.id).where(Department.code == department))
        if dept_id is None:
            raise ValidationFailed(f"没有代码为 {department} 的部门", code="unknown_department")
    q = select(Rejection)
    if dept_id is not None:
        q = q.where(Rejection.department_id == dept_id)
    if status is not None:
        q = q.where(Rejection.status == status)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(session.scalars(q.order_by(Rejection.seq.desc()).limit(limit).offset(offset)))
    refs = _reference(session, rows)
    names = dict(session.execute(select(Department.id, Department.name)).all()) if rows else {}
    items = [
        {
            "seq": r.seq,
            "kind": r.kind,
            "op": r.op,
            "entity_id": r.entity_id,
            "department_id": r.department_id,
            "department_name": names.get(r.department_id) if r.department_id is not None else None,
            "code": r.code,
            "message": r.message,
            "status": r.status,
            "rejected_at": r.rejected_at.isoformat(),
            "resolved_seq": r.resolved_seq,
            "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
            **refs.get((r.kind, r.entity_id), {"reference": None, "party_name": None}),
        }
        for r in rows
    ]
    return {"status": status or "all", "total": total, "limit": limit, "offset": offset, "rejections": items}
