"""Feed producers: the platform's changes turned into feed messages, in the transaction of the change.

Every change already writes an audit event there (``core.audit.record``); :func:`on_audit_event` is registered in
``core.hooks.audit_listeners`` by the start-up wiring and looks the event's action up in :data:`AUDIT_PRODUCERS`.
Bulk writes audit one event per batch, which does not name the rows: they report their changed rows through
``core.hooks.batch_written`` instead, handled set-based by :func:`on_batch_written`.

Natural persons' data are produced only where the catalog class's ``natural_person_attribute`` allows sharing
(anything but ``restricted``): a record's class (``licence`` / ``penalty``), a list entry's list type's
``info_class``, the ``commitment`` class for commitments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.auth.service import external_department_ids
from xinyong.catalog.models import InfoClass
from xinyong.commitments.models import Commitment
from xinyong.core.audit import AuditChainHead, AuditEvent
from xinyong.exchange import feed, render
from xinyong.lists.models import ListEntry, ListType
from xinyong.records.models import CreditRecord

NATURAL_PERSON = "natural_person"

#: Audit action of a single record's change → feed op.
RECORD_OPS = {
    "records.correct": "corrected",
    "records.withdraw": "withdrawn",
    "records.end_publicity": "publicity_ended",
    "records.restore_publicity": "publicity_restored",
}

#: List-entry history action (``lists.service._log``) → feed op.
LIST_OPS = {
    "create": "listed",
    "list": "listed",
    "notice": "noticed",
    "withdraw_notice": "notice_withdrawn",
    "extend": "changed",
    "correct": "changed",
    "match_judged": "changed",
    "expired": "expired",
    "remove": "removed",
    "restore": "restored",
    # lists.sync (external lists: 失信被执行人, 经营异常名录 …), reported as a batch
    "sync_add": "listed",
    "sync_change": "changed",
    "sync_remove": "removed",
    "match": "changed",
}

#: Commitment batch outcome / audit action → feed op.
COMMITMENT_OPS = {"created": "created", "updated": "changed", "commitments.fulfil": "fulfilment_changed"}


def _shareable(session: Session, kind: str) -> bool:
    """May natural persons' records of catalog class ``kind`` be shared with the provincial platform?"""
    attr = session.scalar(select(InfoClass.natural_person_attribute).where(InfoClass.code == kind))
    return attr != "restricted"


def record_message(record: CreditRecord, op: str, *, reason: str | None = None) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "op": op,
        "entity_id": record.id,
        "subject_id": record.subject_id,
        "department_id": record.department_id,
        "payload": render.record_state(record, reason=reason),
    }


def _record_event(session: Session, ev: AuditEvent) -> list[dict[str, Any]]:
    record = session.get(CreditRecord, int(ev.entity_id or 0))
    if record is None:
        return []
    if record.party_kind == NATURAL_PERSON and not _shareable(session, record.kind):
        return []
    return [record_message(record, RECORD_OPS[ev.action], reason=ev.reason)]


COMMITMENT_CLASS = "commitment"


def _entry_shareable(session: Session, entry: ListEntry, cache: dict[int, bool] | None = None) -> bool:
    """A natural person's list entry only where its list type's catalog class allows sharing."""
    if entry.party_kind != NATURAL_PERSON:
        return True
    cache = {} if cache is None else cache
    if entry.list_type_id not in cache:
        info_class = session.scalar(select(ListType.info_class).where(ListType.id == entry.list_type_id))
        cache[entry.list_type_id] = info_class is not None and _shareable(session, info_class)
    return cache[entry.list_type_id]


def _commitment_shareable(session: Session, c: Commitment) -> bool:
    return c.promisor_kind != NATURAL_PERSON or _shareable(session, COMMITMENT_CLASS)


def _list_event(session: Session, ev: AuditEvent) -> list[dict[str, Any]]:
    op = "changed" if ev.action == "lists.match_judge" else LIST_OPS.get(ev.action.removeprefix("lists.entry."))
    entry = session.get(ListEntry, int(ev.entity_id)) if ev.entity_id and op else None
    if entry is None or op is None or not _entry_shareable(session, entry):
        return []
    return [list_message(session, entry, op)]


def list_message(session: Session, entry: ListEntry, op: str) -> dict[str, Any]:
    return {
        "kind": "list_entry",
        "op": op,
        "entity_id": entry.id,
        "subject_id": entry.subject_id,
        "department_id": entry.department_id,
        "payload": render.list_entry_row(session, entry),
    }


def commitment_message(commitment: Commitment, op: str) -> dict[str, Any]:
    return {
        "kind": "commitment",
        "op": op,
        "entity_id": commitment.id,
        "subject_id": commitment.subject_id,
        "department_id": commitment.department_id,
        "payload": render.commitment_row(commitment),
    }


def _commitment_event(session: Session, ev: AuditEvent) -> list[dict[str, Any]]:
    c = session.get(Commitment, int(ev.entity_id or 0))
    if c is None or not _commitment_shareable(session, c):
        return []
    return [commitment_message(c, COMMITMENT_OPS[ev.action])]


#: ``(entity_type, action)`` of an audit event → producer. List entries match any ``lists.entry.*`` action.
AUDIT_PRODUCERS: dict[tuple[str, str], Callable[[Session, AuditEvent], list[dict[str, Any]]]] = {
    **{("credit_record", action): _record_event for action in RECORD_OPS},
    **{("list_entry", f"lists.entry.{a}"): _list_event for a in LIST_OPS},
    ("list_entry", "lists.match_judge"): _list_event,
    ("commitment", "commitments.fulfil"): _commitment_event,
}


def no_echo(session: Session, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages without those of external sources: what came down from the 省平台 (``Department.external``)
    is the province's own data and never goes back up (docs/exchange.md §7)."""
    if not messages:
        return messages
    external = external_department_ids(session)
    return [m for m in messages if m.get("department_id") not in external] if external else messages


def on_audit_event(session: Session, ev: AuditEvent) -> None:
    """``core.hooks.audit_listeners``: the feed messages of one audited change, in its transaction."""
    producer = AUDIT_PRODUCERS.get((ev.entity_type, ev.action))
    if producer is not None:
        feed.enqueue(session, no_echo(session, producer(session, ev)))


#: Ids per look-up of a batch's rows (a bound parameter each; a large upload is read in chunks).
CHUNK = 900

_RECORD_COLUMNS = (
    CreditRecord.id,
    CreditRecord.kind,
    CreditRecord.subject_id,
    CreditRecord.department_id,
    CreditRecord.party_kind,
    CreditRecord.version_count,
    CreditRecord.withdrawn_at,
    CreditRecord.withdrawn_reason,
    CreditRecord.ended_on,
)


def _record_messages(session: Session, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages of one chunk of a batch's changed records: plain rows, no ORM objects."""
    ids = [c["id"] for c in changes if c.get("id") is not None]
    rows = {r.id: r for r in session.execute(select(*_RECORD_COLUMNS).where(CreditRecord.id.in_(ids)))}
    shareable: dict[str, bool] = {}
    messages = []
    for c in changes:
        r = rows.get(c["id"])
        if r is None:
            continue
        if r.party_kind == NATURAL_PERSON:
            if r.kind not in shareable:
                shareable[r.kind] = _shareable(session, r.kind)
            if not shareable[r.kind]:
                continue
        op = "created" if c["op"] == "created" else "withdrawn" if c.get("withdrawn") else "corrected"
        msg = record_message(r, op)  # type: ignore[arg-type]  # a Row with the record's columns
        msg["payload"]["version_no"] = c.get("version_no") or r.version_count
        messages.append(msg)
    return messages


def on_batch_written(session: Session, *, entity_type: str, department_id: int, changes: list[dict[str, Any]]) -> None:
    """``core.hooks.batch_listeners``: the feed messages of a bulk write's changed rows, chunk by chunk.

    Lock order: a single change takes the audit chain's head (``core.audit.record``) and then the feed's head (its
    listener); a bulk write reports its rows *before* its one audit event. So that two transactions never take the
    two heads in opposite orders (a deadlock on PostgreSQL), the audit head is locked here first, by an UPDATE that
    changes nothing."""
    if changes:
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.id == 1)
            .values(count=AuditChainHead.count)
            .execution_options(synchronize_session=False)
        )
    for start in range(0, len(changes), CHUNK):
        chunk = changes[start : start + CHUNK]
        ids = [c["id"] for c in chunk if c.get("id") is not None]
        messages: list[dict[str, Any]] = []
        if entity_type == "credit_record":
            messages = _record_messages(session, chunk)
        elif entity_type == "commitment":
            found = {x.id: x for x in session.scalars(select(Commitment).where(Commitment.id.in_(ids)))}
            messages = [
                commitment_message(found[c["id"]], COMMITMENT_OPS[c["op"]])
                for c in chunk
                if c["id"] in found and _commitment_shareable(session, found[c["id"]])
            ]
        elif entity_type == "list_entry":
            entries = {e.id: e for e in session.scalars(select(ListEntry).where(ListEntry.id.in_(ids)))}
            allowed: dict[int, bool] = {}
            for c in chunk:
                list_op = LIST_OPS.get(c["op"])
                if list_op and c["id"] in entries and _entry_shareable(session, entries[c["id"]], allowed):
                    messages.append(list_message(session, entries[c["id"]], list_op))
        feed.enqueue(session, no_echo(session, messages))
