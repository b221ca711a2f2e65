"""The append-only, hash-chained audit log.

Every state change of the platform writes one :class:`AuditEvent` in the same transaction as the change: who
(actor), what (action, entity), when, why (reason) and the state before and after. Each event carries the hash
of the previous one, so editing or deleting any event (or cutting off the tail) breaks the chain;
``verify_chain`` (CLI ``xinyong audit verify``) finds the first break. The database refuses UPDATE and DELETE
on the table by trigger; the chain catches what a superuser could still do by hand.

Appends are serialised by the single-row ``audit_chain_head`` table: the writer first updates it (which takes
a row lock on PostgreSQL and the write lock on SQLite), then reads the previous hash. Audited transactions
therefore commit one after another; bulk operations write one event per batch, not per row. The head row is
created by the first append (``INSERT … ON CONFLICT DO NOTHING``, so that two first appends do not collide).

What the chain alone cannot see: an intruder who deletes the tail *and* rewrites the head to match, or who
empties both tables (``TRUNCATE``), leaves a chain that verifies. :func:`anchor` closes that gap: it signs the
current head (count, hash, time) with a key derived from the master key, for the operator to keep outside the
database (``xinyong audit anchor --out FILE``, every few minutes); :func:`verify_anchors` then proves that every
anchored event is still there, unchanged. Someone with the database but not the master key can neither forge an
anchor nor make a shortened chain match one.

What anchors cannot see either: events written after the newest anchor. Deleting them and fixing the head leaves
a chain that verifies and matches every anchor. That window is made small and visible instead: anchoring is
cheap (it re-hashes only the events since the previous anchor, and refuses to sign a chain that is broken there),
so it runs every few minutes, and :func:`verify_anchors` reports how many events lie after the newest anchor and
how old that anchor is, ``stale`` when it is older than ``XINYONG_AUDIT_ANCHOR_MAX_AGE``.

Never put a full personal ID number into ``before``/``after``: pass masked values (``identifiers.masking.mask_resident_id``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import DDL, ForeignKey, Integer, String, Text, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

# pydantic (API answers) needs typing_extensions.TypedDict on Python < 3.12
from typing_extensions import TypedDict

from xinyong.core import hooks
from xinyong.core.columns import pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime, utcnow
from xinyong.core.errors import ValidationFailed
from xinyong.core.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = pk_column()
    seq: Mapped[int] = mapped_column(BigId, nullable=False, unique=True)  # position in the chain, from 1
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(60), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[Any] = mapped_column(Json, nullable=True)
    after: Mapped[Any] = mapped_column(Json, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditChainHead(Base):
    """One row: the last event's id and hash. Updating it serialises appends."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("audit_events.id"))
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS_HASH)
    count: Mapped[int] = mapped_column(BigId, nullable=False, default=0)


# Append-only enforcement, created with the table (create_all) and by the migration (same statements).
APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _stmt in _statements:
        event.listen(AuditEvent.__table__, "after_create", DDL(_stmt).execute_if(dialect=_dialect))


def _canonical(value: Any) -> Any:
    """JSON-safe form of a value for before/after snapshots."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        # The hash is checked against what the database gives back. PostgreSQL's JSONB has no NaN/Infinity and
        # returns 1e16 as the integer 10000000000000000 and -0.0 as 0: store such values in a form that reads
        # back identically on every backend.
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "value") and isinstance(value.value, str | int):  # enums
        return value.value
    return str(value)


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | None,
    reason: str | None,
    before: Any,
    after: Any,
) -> str:
    payload = json.dumps(
        [
            prev_hash,
            seq,
            at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            entity_type,
            entity_id,
            reason,
            before,
            after,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    reason: str | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    take_head = (
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(count=AuditChainHead.count + 1)
        .execution_options(synchronize_session=False)
    )
    if not cast("CursorResult[Any]", session.execute(take_head)).rowcount:  # an UPDATE: a CursorResult
        # The very first append. A concurrent first append may be creating the row too: with ON CONFLICT the
        # second writer waits for the first to commit and then takes the existing row instead of failing.
        session.execute(_insert_ignoring_conflict(session).values(id=1, last_hash=GENESIS_HASH, count=0))
        session.execute(take_head)
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    ev = AuditEvent(
        seq=head.count,
        at=utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        reason=reason,
        before=_canonical(before),
        after=_canonical(after),
        prev_hash=head.last_hash,
    )
    ev.hash = _hash_of(ev)
    session.add(ev)
    session.flush()
    head.last_event_id = ev.id
    head.last_hash = ev.hash
    session.flush()
    for listener in hooks.audit_listeners:  # feed producers (exchange), in this transaction
        listener(session, ev)
    return ev


def record_added(session: Session, obj: Any, *, actor: str, action: str, entity_type: str, **event: Any) -> AuditEvent:
    """Add ``obj`` (a new row), flush it so that it has its id, and append its event (:func:`record`'s arguments)."""
    session.add(obj)
    session.flush()
    return record(session, actor=actor, action=action, entity_type=entity_type, **event)


def _insert_ignoring_conflict(session: Session) -> Any:
    dialect = session.get_bind(AuditChainHead).dialect.name
    module = {"postgresql": postgresql, "sqlite": sqlite}.get(dialect)
    if module is None:
        raise NotImplementedError(f"audit chain head on unsupported database {dialect}")
    return module.insert(AuditChainHead).on_conflict_do_nothing(index_elements=[AuditChainHead.id])


def _hash_of(ev: Any) -> str:
    return event_hash(
        prev_hash=ev.prev_hash,
        seq=ev.seq,
        at=ev.at,
        actor=ev.actor,
        action=ev.action,
        entity_type=ev.entity_type,
        entity_id=ev.entity_id,
        reason=ev.reason,
        before=ev.before,
        after=ev.after,
    )


@dataclass
class ChainReport:
    ok: bool
    events: int
    first_bad_id: int | None = None
    problem: str | None = None
    #: The hash of the last verified event (the head's when ``ok``), and how many events this run re-hashed
    #: (fewer than ``events`` when it started from an anchor). Not part of ``to_dict``: callers that need them
    #: (anchoring) read them here.
    last_hash: str = GENESIS_HASH
    checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_id": self.first_bad_id, "problem": self.problem}


#: What verification reads: plain rows, never ORM objects, so that an object the session already holds (and would
#: not reload) cannot hide a change made in the database.
_CHAIN_COLUMNS = (
    AuditEvent.id,
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.entity_type,
    AuditEvent.entity_id,
    AuditEvent.reason,
    AuditEvent.before,
    AuditEvent.after,
    AuditEvent.prev_hash,
    AuditEvent.hash,
)


def verify_chain(session: Session, *, batch: int = 5000, since: tuple[int, str] | None = None) -> ChainReport:
    """Recompute the chain; report the first event that was edited, deleted or inserted out of order.

    ``since=(seq, hash)`` starts from a trusted point (an anchor) instead of the first event: event ``seq`` must
    still be there with that hash and its content, and everything after it must link on from it up to the head.
    Events before it are not read, so the cost is that of the events since the anchor (the full verification,
    without ``since``, reads them all).

    Runs while the platform keeps appending: events committed between reading the events and reading the head
    are read in a further round instead of being mistaken for a cut-off tail (PostgreSQL reads each statement
    at its own snapshot; SQLite's transaction sees one snapshot throughout).
    """
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    checked = 0
    if since is not None and since[0] > 0:
        start_seq, start_hash = since
        ev = session.execute(select(*_CHAIN_COLUMNS).where(AuditEvent.seq == start_seq)).first()
        if ev is None:
            return ChainReport(False, 0, None, f"锚定的第 {start_seq} 条事件不存在：审计日志被截断或清空")
        if ev.hash != start_hash:
            return ChainReport(False, 0, ev.id, f"第 {start_seq} 条事件的哈希与锚点不符：审计链被重写")
        if _hash_of(ev) != ev.hash:
            return ChainReport(False, 0, ev.id, f"事件 {ev.id} 的内容与其哈希不符，已被修改")
        expected_seq, prev, count, checked = start_seq + 1, start_hash, start_seq, 1
    seen_head: tuple[int, str] | None = None
    while True:
        stmt = (
            select(*_CHAIN_COLUMNS)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .execution_options(yield_per=batch)
        )
        with session.execute(stmt) as rows:
            for ev in rows:
                if ev.seq != expected_seq:
                    return ChainReport(
                        False,
                        count,
                        ev.id,
                        f"第 {expected_seq} 条事件缺失（链序号跳到 {ev.seq}），疑似被删除",
                        prev,
                        checked,
                    )
                if ev.prev_hash != prev:
                    return ChainReport(
                        False, count, ev.id, f"事件 {ev.id} 的前序哈希与上一条不符，链被篡改", prev, checked
                    )
                if _hash_of(ev) != ev.hash:
                    return ChainReport(False, count, ev.id, f"事件 {ev.id} 的内容与其哈希不符，已被修改", prev, checked)
                prev = ev.hash
                expected_seq += 1
                count += 1
                checked += 1
        row = session.execute(
            select(AuditChainHead.count, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
        ).first()
        head = (row[0], row[1]) if row else (0, GENESIS_HASH)  # row.count would name the tuple method for mypy
        if head == (count, prev):
            return ChainReport(True, count, last_hash=prev, checked=checked)
        if head[0] > count and head != seen_head:
            seen_head = head  # appended meanwhile (or the tail is gone): read on from where we stopped
            continue
        if head[0] == count:
            return ChainReport(False, count, None, "链头哈希与最后一条事件不符：链头被改", prev, checked)
        return ChainReport(
            False, count, None, f"链头记录 {head[0]} 条，实际 {count} 条：末尾事件被删除或链头被改", prev, checked
        )


def events_for(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: Any = None,
    actor: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[AuditEvent]:
    """Newest first: the history of one entity, or of one actor."""
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == str(entity_id))
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if before_seq:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    return list(session.scalars(stmt))


class AuditEventView(TypedDict):
    seq: int
    at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str | None
    reason: str | None
    before: Any
    after: Any
    hash: str


def event_dict(e: AuditEvent) -> AuditEventView:
    """One event as the API and ``xinyong audit log --json`` show it."""
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "reason": e.reason,
        "before": e.before,
        "after": e.after,
        "hash": e.hash,
    }


# Anchors: the head, signed, kept outside the database ------------------------------------------------------------
#
# An anchor is one JSON object ``{"seq", "hash", "at", "mac"}``; an anchors file holds one per line, newest last
# (``xinyong audit anchor --out FILE`` appends). The format is the same since the first anchors were written.

ANCHOR_PURPOSE = b"xinyong/audit-anchor/v1"


def _anchor_key() -> bytes:
    return hmac.new(get_settings().master_key, ANCHOR_PURPOSE, hashlib.sha256).digest()


def _anchor_mac(seq: int, hash_: str, at: str, key: bytes | None = None) -> str:
    # hmac.digest: the one-shot form (the same MAC), about twice as fast over a year of anchors
    return hmac.digest(key or _anchor_key(), f"{seq}\x1f{hash_}\x1f{at}".encode(), "sha256").hex()


def _parse(a: Any) -> tuple[int, str, str, str, dt.datetime] | None:
    """``(seq, hash, at, mac, at as a datetime)`` of a well-formed anchor, else None."""
    try:
        seq, hash_, at, mac = int(a["seq"]), str(a["hash"]), str(a["at"]), str(a["mac"])
        when = dt.datetime.fromisoformat(at)
    except (KeyError, TypeError, ValueError):
        return None
    return seq, hash_, at, mac, when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _signed(a: Any, key: bytes | None = None) -> tuple[int, str, dt.datetime] | None:
    """``(seq, hash, at)`` of a well-formed anchor with a valid signature, else None."""
    parsed = _parse(a)
    if parsed is None:
        return None
    seq, hash_, at, mac, when = parsed
    return (seq, hash_, when) if hmac.compare_digest(mac, _anchor_mac(seq, hash_, at, key)) else None


def sign_head(seq: int, hash_: str) -> dict[str, Any]:
    """An anchor for the head ``(seq, hash)``, dated now. Only for a head that was verified (:func:`anchor`)."""
    at = utcnow().isoformat()
    return {"seq": seq, "hash": hash_, "at": at, "mac": _anchor_mac(seq, hash_, at)}


@dataclass
class AnchorResult:
    """What :func:`anchor` did: the signed head, or why it refused to sign."""

    anchor: dict[str, Any] | None
    chain: ChainReport
    verified_from: int  # the previous anchor's seq the verification started from (0: the first event)

    @property
    def ok(self) -> bool:
        return self.anchor is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            **(self.anchor or {}),
            "ok": self.ok,
            "verified_from": self.verified_from,
            "verified_events": self.chain.checked,
            "problem": self.chain.problem,
            "first_bad_id": self.chain.first_bad_id,
        }


def anchor(session: Session, *, previous: dict[str, Any] | None = None) -> AnchorResult:
    """Verify the chain from the previous anchor to the head, then sign the head (``seq`` 0 when empty).

    Cheap enough to run every few minutes: with a validly signed ``previous`` only the events after it are read and
    re-hashed; without one (the first anchor, or the key changed) the whole chain is. A chain that does not verify
    there is not signed: an anchor must never vouch for a tampered tail.
    """
    start = _signed(previous) if previous is not None else None
    since = (start[0], start[1]) if start else None
    report = verify_chain(session, since=since)
    signed = sign_head(report.events, report.last_hash) if report.ok else None
    return AnchorResult(signed, report, since[0] if since else 0)


@dataclass
class AnchorReport:
    ok: bool
    anchors: int
    problems: list[dict[str, Any]]
    #: The undetectable window: events after the newest valid anchor and that anchor's age. ``stale`` when no
    #: anchor is valid or the newest is older than ``max_age_seconds`` (never, when that is None).
    newest: dict[str, Any] | None = None
    events_after_newest: int | None = None
    newest_age_seconds: float | None = None
    max_age_seconds: float | None = None
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "anchors": self.anchors,
            "problems": self.problems,
            "newest": self.newest,
            "events_after_newest": self.events_after_newest,
            "newest_age_seconds": self.newest_age_seconds,
            "max_age_seconds": self.max_age_seconds,
            "stale": self.stale,
        }


def verify_anchors(
    session: Session,
    anchors: list[dict[str, Any]],
    *,
    max_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AnchorReport:
    """Check each anchor: its signature, and that the event it names is still in the chain with the same hash.

    A chain cut back below an anchor, rebuilt, or emptied fails here even when it verifies on its own (``ok``
    False, one problem per anchor). Events after the newest anchor cannot be checked: the report says how many
    there are and how old the newest anchor is, and marks the window ``stale`` when it is older than ``max_age``
    (None or zero: no limit) or when there is no valid anchor at all.
    """
    key = _anchor_key()
    problems: list[dict[str, Any]] = []
    wanted: dict[int, list[dict[str, Any]]] = {}
    newest: tuple[int, str, dt.datetime] | None = None
    for i, a in enumerate(anchors, 1):
        parsed = _parse(a)
        if parsed is None:
            problems.append({"anchor": i, "problem": "锚点格式不正确"})
            continue
        seq, hash_, at, mac, when = parsed
        if not hmac.compare_digest(mac, _anchor_mac(seq, hash_, at, key)):
            problems.append({"anchor": i, "seq": seq, "problem": "锚点签名无效（不是本平台的密钥签发，或被修改）"})
            continue
        if newest is None or when >= newest[2]:
            newest = (seq, hash_, when)
        if seq == 0:
            continue
        wanted.setdefault(seq, []).append({"anchor": i, "hash": hash_, "at": at})
    found: dict[int, str] = {}
    seqs = sorted(wanted)
    for start in range(0, len(seqs), 1000):
        part = seqs[start : start + 1000]
        for seq, hash_ in session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(part))):
            found[seq] = hash_
    for seq in seqs:
        for w in wanted[seq]:
            if seq not in found:
                problems.append(
                    {
                        "anchor": w["anchor"],
                        "seq": seq,
                        "problem": f"{w['at'][:19]} 时链上已有第 {seq} 条事件，现在没有了：审计日志被截断或清空",
                    }
                )
            elif found[seq] != w["hash"]:
                problems.append(
                    {
                        "anchor": w["anchor"],
                        "seq": seq,
                        "problem": f"第 {seq} 条事件的哈希与 {w['at'][:19]} 的锚点不符：审计链被重写",
                    }
                )
    problems.sort(key=lambda p: p["anchor"])

    head = session.scalar(select(AuditChainHead.count).where(AuditChainHead.id == 1)) or 0
    limit = max_age.total_seconds() if max_age else None
    report = AnchorReport(not problems, len(anchors), problems, max_age_seconds=limit)
    if newest is None:
        report.events_after_newest = head
        report.stale = limit is not None
    else:
        age = ((now or utcnow()) - newest[2]).total_seconds()
        report.newest = {"seq": newest[0], "at": newest[2].isoformat()}
        report.events_after_newest = max(head - newest[0], 0)
        report.newest_age_seconds = round(age, 1)
        report.stale = limit is not None and age > limit
    return report


# The anchors file -------------------------------------------------------------------------------------------------


def read_anchor_file(path: Path) -> list[dict[str, Any]]:
    """Every anchor in the file, in file order (a line that is not JSON is an input error, with its number)."""
    if not path.is_file():
        raise ValidationFailed(f"锚点文件不存在：{path}", code="file_not_found")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValidationFailed(f"锚点文件第 {number} 行不是 JSON", code="anchor_file_invalid") from None
    return out


def last_anchor_in_file(path: Path, *, block: int = 65536) -> dict[str, Any] | None:
    """The last validly signed anchor of the file, read from its end (the file grows by a line per anchor, so
    this stays cheap however long it gets). None when the file is missing or holds no valid anchor."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    key = _anchor_key()
    with fh:
        end = fh.seek(0, os.SEEK_END)
        tail = b""
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            tail = fh.read(end - start) + tail
            end = start
            lines = tail.split(b"\n")
            tail = lines.pop(0) if end > 0 else b""  # the first line is possibly cut: kept for the next block
            for line in reversed(lines):
                try:
                    a = json.loads(line)
                except ValueError:
                    continue
                if isinstance(a, dict) and _signed(a, key) is not None:
                    return a
    return None


def append_anchor(path: Path, a: dict[str, Any]) -> None:
    """Append one anchor as one line, in a single write, flushed to disk (several writers do not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(a, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a write cut short before (disk full, crash): start on a line of our own
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
