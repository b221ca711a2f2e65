"""Credit records (双公示): the state-changing operations on records that already exist, each audited.

Withdrawal (:func:`withdraw`), the daily publicity-transition job (:func:`record_transitions`) and the due-process
changes ``cases`` makes (:func:`end_publicity_early`, :func:`restore_publicity`, :func:`correct_record`). Writing
rows in bulk is ``records.upsert`` (:func:`~xinyong.records.upsert.upsert_records`); reading is ``records.queries``
(:func:`~xinyong.records.queries.list_records`, :func:`~xinyong.records.queries.public_status`,
:func:`~xinyong.records.queries.record_history`); the dictionaries pages and APIs show are ``records.views``.
Publicity is evaluated at query time from the record's stored inputs and the catalog's rules of the day
(``records.publicity``), never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, clock
from xinyong.core.db import utcnow
from xinyong.core.errors import Conflict, ValidationFailed
from xinyong.ingest.values import AmountError, yuan_to_fen
from xinyong.records import packing, publicity, versions
from xinyong.records.models import (
    CreditRecord,
    PublicityRun,
    PublicityTransition,
    RecordVersion,
    dictionary_loader,
)
from xinyong.records.queries import _evaluated, _status_clause, facts, get_record, rules
from xinyong.records.upsert import CHUNK, ENTITY, _canonical
from xinyong.subjects.models import Subject

# Withdrawal -----------------------------------------------------------------------------------------------------


def withdraw(session: Session, *, actor: Principal, record_id: int, reason: str) -> CreditRecord:
    """Withdraw a record from public view now (decision revoked or changed: 行政处罚法 Art. 48). Audited.

    Only the owning department (or the platform admin; others get 404); a reason is required; a record already
    withdrawn is a :class:`Conflict` (``already_withdrawn``).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("撤回必须说明原因", code="reason_required")
    record = get_record(session, record_id, actor=actor, for_update=True)
    if record.withdrawn_at is not None:
        raise Conflict(f"记录 {record_id} 已于 {clock.local_date(record.withdrawn_at)} 撤回", code="already_withdrawn")
    record.withdrawn_at = utcnow()
    record.withdrawn_reason = reason
    record.updated_at = record.withdrawn_at
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="records.withdraw",
        entity_type=ENTITY,
        entity_id=record.id,
        reason=reason,
        before={"withdrawn_at": None},
        after={"withdrawn_at": record.withdrawn_at, "withdrawn_reason": reason},
    )
    return record


# The daily job -----------------------------------------------------------------------------------------------


@dataclass
class TransitionCounts:
    run_date: dt.date
    started: int
    ended: int
    public: int
    already_ran: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_transitions(session: Session, *, today: dt.date, actor: Principal | None = None) -> TransitionCounts:
    """Record which records entered or left the public view since the last run (one run per date).

    The job compares the records public on ``today`` (same evaluation as the public list) with those the
    transitions table last saw public: new ones get ``started``, vanished ones ``ended`` (with the reason of the
    day). Running it again for a date already done changes nothing and returns that run's counts; a date before
    the latest run is refused (the trail only moves forward).
    """
    done = session.scalar(select(PublicityRun).where(PublicityRun.run_date == today))
    if done is not None:
        return TransitionCounts(today, done.started, done.ended, done.public, already_ran=True)
    latest = session.scalar(select(func.max(PublicityRun.run_date)))
    if latest is not None and latest > today:
        raise ValidationFailed(
            f"公示变化已记录到 {latest}，不能补记更早的日期 {today}", code="transitions_out_of_order"
        )
    kind_rules = rules(session)
    stmt = (
        select(CreditRecord, Subject)
        .join(Subject, Subject.id == CreditRecord.subject_id)
        .where(_status_clause(publicity.STATUS_PUBLIC, kind_rules, today))
        .order_by(CreditRecord.id)
    )
    public_now: dict[int, str] = {
        row.record.id: row.reason for row in _evaluated(session, stmt, kind_rules, today) if row.public
    }
    last = (
        select(PublicityTransition.record_id, func.max(PublicityTransition.id).label("last_id"))
        .group_by(PublicityTransition.record_id)
        .subquery()
    )
    seen_public = set(
        session.scalars(
            select(PublicityTransition.record_id)
            .join(last, PublicityTransition.id == last.c.last_id)
            .where(PublicityTransition.transition == "started")
        )
    )
    now = utcnow()
    started = [rid for rid in public_now if rid not in seen_public]
    ended_ids = sorted(seen_public - set(public_now))
    rows = [
        {"record_id": rid, "run_date": today, "transition": "started", "reason": public_now[rid], "created_at": now}
        for rid in started
    ]
    if ended_ids:
        reasons: dict[int, str] = {}
        for i in range(0, len(ended_ids), CHUNK):
            for record in session.scalars(select(CreditRecord).where(CreditRecord.id.in_(ended_ids[i : i + CHUNK]))):
                reasons[record.id] = publicity.status_label(kind_rules[record.kind], facts(record), today)[1]
        rows += [
            {
                "record_id": rid,
                "run_date": today,
                "transition": "ended",
                "reason": reasons.get(rid, ""),
                "created_at": now,
            }
            for rid in ended_ids
        ]
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(PublicityTransition), rows[i : i + CHUNK])
    run = PublicityRun(run_date=today, started=len(started), ended=len(ended_ids), public=len(public_now), ran_at=now)
    session.add(run)
    session.flush()
    who = actor.actor if actor is not None else "system:records.transitions"
    audit.record(
        session,
        actor=who,
        action="records.transitions",
        entity_type="publicity_run",
        entity_id=run.id,
        reason=f"记录 {today} 的公示变化",
        after={"run_date": today, "started": run.started, "ended": run.ended, "public": run.public},
    )
    return TransitionCounts(today, run.started, run.ended, run.public)


# Due process (credit repair, objections) -----------------------------------------------------------------------
# Called by ``cases`` (the only writer of these changes), each audited in the caller's transaction.


def end_publicity_early(
    session: Session, *, actor: Principal, record_id: int, on: dt.date, reason: str
) -> CreditRecord:
    """Credit repair approved: the record is no longer public from ``on`` (``ended_on``, its first day off the
    public view). The catalog's evaluation honours it everywhere at once (public list, check, reports)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("终止公示必须说明原因", code="reason_required")
    record = get_record(session, record_id, for_update=True)
    if record.ended_on is not None and record.ended_on <= on:
        raise Conflict(f"记录 {record_id} 已于 {record.ended_on} 终止公示", code="already_ended")
    return _set_ended_on(
        session, actor=actor, record=record, ended_on=on, action="records.end_publicity", reason=reason
    )


def restore_publicity(session: Session, *, actor: Principal, record_id: int, reason: str) -> CreditRecord:
    """A repair revoked (false materials, broken commitment): the early end is cleared, so the record is public
    again up to the end of its maximum window (NDRC Order 58: 按最长公示期重新公示)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("恢复公示必须说明原因", code="reason_required")
    record = get_record(session, record_id, for_update=True)
    if record.ended_on is None:
        raise Conflict(f"记录 {record_id} 未被提前终止公示，无需恢复", code="not_ended")
    return _set_ended_on(
        session, actor=actor, record=record, ended_on=None, action="records.restore_publicity", reason=reason
    )


def _set_ended_on(
    session: Session, *, actor: Principal, record: CreditRecord, ended_on: dt.date | None, action: str, reason: str
) -> CreditRecord:
    """Set (repair) or clear (repair revoked) the record's early end of publicity, audited."""
    before = record.ended_on
    record.ended_on = ended_on
    record.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        entity_type=ENTITY,
        entity_id=record.id,
        reason=reason,
        before={"ended_on": before},
        after={"ended_on": ended_on},
    )
    return record


#: Fields an upheld objection may correct directly (other corrections come as a new submission of the row).
CORRECTABLE_FIELDS = ("party_name", "decision_date", "severity", "penalty_types", "fine_yuan")


def correct_record(
    session: Session, *, actor: Principal, record_id: int, changes: dict[str, Any], reason: str
) -> CreditRecord:
    """Correct a record after an upheld objection: a new version (provenance: the actor, no batch) with the
    corrected fields, and the record's current values updated. Only :data:`CORRECTABLE_FIELDS`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("更正必须说明原因", code="reason_required")
    unknown = sorted(set(changes) - set(CORRECTABLE_FIELDS))
    if unknown or not changes:
        raise ValidationFailed(
            f"可更正的字段：{'、'.join(CORRECTABLE_FIELDS)}", code="field_not_correctable", details={"fields": unknown}
        )
    record = get_record(session, record_id, for_update=True)
    rule = rules(session)[record.kind]
    content_changes: dict[str, Any] = {}
    if "party_name" in changes:
        name = str(changes["party_name"] or "").strip()
        if not name:
            raise ValidationFailed("行政相对人名称不能为空", code="party_name_missing")
        record.party_name = content_changes["party_name"] = name
    if "decision_date" in changes:
        value = changes["decision_date"]
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed(
                f"决定日期「{str(value)[:40]}」不是有效日期（应为 2024-03-15 格式）", code="date_invalid"
            ) from None
        record.decision_date = day
        content_changes["decision_date"] = day.isoformat()
    if "severity" in changes:
        key = str(changes["severity"])
        if key not in rule.publicity.windows:
            raise ValidationFailed(f"失信严重程度只能是 {' / '.join(rule.publicity.windows)}", code="unknown_severity")
        record.severity = content_changes["severity"] = key
    if "penalty_types" in changes:
        types = publicity.normalise_types(changes["penalty_types"] or [])
        record.penalty_types, record.penalty_types_key = types, publicity.types_key(types)
        content_changes["penalty_types"] = types
    if "fine_yuan" in changes:
        try:  # the import's amount rules (finite, not negative, not above the ceiling), in yuan
            fen = yuan_to_fen(changes["fine_yuan"])
        except AmountError as exc:
            raise ValidationFailed(f"罚款金额（元）{exc.message}", code=exc.code) from None
        record.fine_fen = fen
        content_changes["fine_wan"] = None if fen is None else str(Decimal(fen) / 1_000_000)
    current = session.get(RecordVersion, record.current_version_id) if record.current_version_id else None
    if current is not None:  # full, even if it was written in this session (not loaded)
        versions.expand(current, dictionary_loader(session))
    base = dict(current.content or {}) if current else {}
    before = {k: base.get(k) for k in content_changes}
    content = {**base, **content_changes}
    digest = hashlib.sha256(_canonical({**content, "corrected": reason})).hexdigest()
    now = utcnow()
    number = record.version_count + 1
    stored_content, stored_data, changed = versions.compact(
        number, content, (current.data or {}) if current else {}, sorted(content_changes)
    )
    version = RecordVersion(
        record_id=record.id,
        version_no=number,
        content_hash=digest,
        **packing.stored_columns(session, stored_content, stored_data),
        extra=current.extra if current else {},
        flags=[{"code": "corrected", "message": f"依异议核查结果更正：{reason[:200]}"}],
        changed_fields=changed,
        batch_id=None,
        source_row=None,
        department_id=record.department_id,
        received_at=now,
        actor=actor.actor,
        created_at=now,
    )
    session.add(version)
    session.flush()
    versions.expand(version, dictionary_loader(session))  # what readers of this object see, as if loaded
    record.current_version_id, record.version_count = version.id, version.version_no
    record.content_hash, record.updated_at = digest, now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="records.correct",
        entity_type=ENTITY,
        entity_id=record.id,
        reason=reason,
        before=before,
        after=content_changes,
    )
    return record
