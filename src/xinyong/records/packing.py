"""Packed versions in the database (issue #19): the dictionary to pack with, reading packed versions, training a
dictionary from the city's versions, and packing the versions stored plain.

``records.versions`` defines the packed form (zlib with a preset dictionary, named by its checksum inside the
bytes). Here:

- :func:`packer` — the newest dictionary (``version_dictionaries``; the built-in one while none is trained), as
  both record writers pack new versions with it;
- :func:`full` — a version's full form from the columns a query selected, packed or plain;
- :func:`train` — a dictionary from recent versions of legal persons (never of natural persons or individual
  businesses, and without legal representatives' names: a person's name is personal data, and a dictionary is
  kept for ever, whatever happens to the versions it came from), stored only if it packs held-out versions
  smaller than the current one; :func:`train_if_due` is the weekly job's decision;
- :func:`pack_versions` — packs plain versions (stored before 0025, or by ``xinyong demo --size``) and, with
  ``repack``, versions packed with another dictionary, a batch per transaction: resumable, safe beside the
  writers (a version is never changed otherwise).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.catalog.fields import standards
from xinyong.catalog.rules import PartyKind
from xinyong.core import audit
from xinyong.core.db import Database, utcnow
from xinyong.core.errors import ValidationFailed
from xinyong.records import versions
from xinyong.records.models import CreditRecord, RecordVersion, VersionDictionary, dictionary_loader

#: The built-in dictionary's packer (id 0: not a row of ``version_dictionaries``).
BUILTIN = versions.Packer(0, versions.BUILTIN_DICTIONARY)
_PACKERS: dict[tuple[int, int], versions.Packer] = {}

#: Content fields that name or number a natural person, left out of the text a dictionary is trained from; with them
#: the data columns the catalog's standards mark personal (``catalog.fields``: ID numbers, stored masked).
_PERSON_FIELDS = frozenset({"legal_rep", "legal_rep_id_masked", "party_id_masked"})


@cache
def _personal() -> frozenset[str]:
    return _PERSON_FIELDS | {f.key for s in standards().values() for f in s.fields if f.personal}


#: Versions read to train a dictionary (the newest of legal persons), and how many of them are held out to measure.
TRAIN_POOL = 5_000
TRAIN_HOLDOUT = 500
#: The fewest versions a dictionary is trained from (with those held out).
MIN_VERSIONS = 40
#: A trained dictionary replaces the current one only if it packs the held-out versions at least this much smaller.
MIN_GAIN = 0.02


def packer(session: Session) -> versions.Packer:
    """The packer of the newest dictionary in ``session``'s database (the built-in one while none is trained)."""
    newest = session.execute(
        select(VersionDictionary.id, VersionDictionary.checksum).order_by(VersionDictionary.id.desc()).limit(1)
    ).first()
    if newest is None:
        return BUILTIN
    key = (newest.id, newest.checksum)
    found = _PACKERS.get(key)
    if found is None:
        body = session.execute(select(VersionDictionary.body).where(VersionDictionary.id == newest.id)).scalar_one()
        found = _PACKERS[key] = versions.Packer(newest.id, body)
        versions.remember(body)
    return found


def stored_columns(session: Session, content: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The columns of a new version's stored documents (the ORM writer's): packed with the newest dictionary."""
    return {"packed": packer(session).pack(content, data)}


def full(
    session: Session,
    version_no: int,
    content: dict[str, Any] | None,
    data: dict[str, Any] | None,
    changed_fields: list[str],
    packed: bytes | None,
) -> versions.Full:
    """A version's full form from its selected columns, packed or plain (``records.versions.full``)."""
    return versions.full(version_no, content, data, changed_fields, packed, dictionary_loader(session))


@dataclass
class Training:
    """What :func:`train` did: ``stored`` is False when the new dictionary was not better (nothing written)."""

    stored: bool
    dictionary_id: int | None
    checksum: int
    bytes: int
    trained_on: int
    held_out: int
    mean_bytes_current: float
    mean_bytes_new: float
    current_dictionary_id: int
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _of_legal_persons(*columns: Any) -> Any:
    """``columns`` of the versions of legal persons' records: what a dictionary is trained from."""
    return (
        select(*columns)
        .join(CreditRecord, CreditRecord.id == RecordVersion.record_id)
        .where(CreditRecord.party_kind == PartyKind.LEGAL_PERSON.value)
    )


def _documents(session: Session, limit: int) -> list[bytes]:
    """The newest ``limit`` versions of legal persons' records, each as the JSON text :class:`versions.Packer`
    compresses (their stored documents)."""
    v = RecordVersion
    rows = session.execute(_of_legal_persons(v.content, v.data, v.packed).order_by(v.id.desc()).limit(limit))
    load = dictionary_loader(session)
    out = []
    for c, d, p in rows:
        content, data = versions.documents(c, d, p, load)
        # No person's name or number in a dictionary: a legal person's representative is one.
        personal = _personal()
        content = {k: v for k, v in content.items() if k not in personal}
        data = {k: v for k, v in data.items() if k not in personal}
        out.append(versions.dumps_documents(content, data))
    return out


def _body(session: Session, key: int) -> bytes | None:
    return session.scalar(select(VersionDictionary.body).where(VersionDictionary.checksum == key))


def _mean_packed(p: versions.Packer, docs: list[bytes]) -> float:
    return statistics.fmean(len(p.pack_text(d)) for d in docs) if docs else 0.0


def train(
    session: Session,
    *,
    actor: str,
    pool: int = TRAIN_POOL,
    holdout: int = TRAIN_HOLDOUT,
    force: bool = False,
    seed: int = 0,
    note: dict[str, Any] | None = None,
    audited: bool = True,
) -> Training:
    """Train a dictionary from the newest ``pool`` versions of legal persons: ``holdout`` of them (at random) measure
    it against the current one, the rest fill it (the built-in dictionary's text first, then the versions, the last
    32 KB kept: zlib finds the nearest text first). Stored, with an audit event, only if it packs the held-out
    versions :data:`MIN_GAIN` smaller — or ``force``. ``note``: added to what the dictionary says it was trained from
    (the batch whose load trained it, :func:`train_first`). ``audited=False``: the caller appends the audit event
    later in the transaction (:func:`audit_training`) — a batch at its end, since an audit event takes the chain's
    head until the transaction commits (``core.batches.Deferred``)."""
    current = packer(session)
    docs = _documents(session, pool)
    if len(docs) < MIN_VERSIONS:
        raise ValidationFailed(
            f"训练字典至少需要 {MIN_VERSIONS} 个法人版本，现有 {len(docs)} 个", code="too_few_versions"
        )
    random.Random(seed).shuffle(docs)
    held = max(10, min(holdout, len(docs) // 5))  # at most a fifth held out: the rest fills the dictionary
    test, fill = docs[:held], docs[held:]
    body = (versions.BUILTIN_DICTIONARY + b"".join(fill))[-versions.MAX_DICTIONARY :]
    taken: dict[int, int] = {k: i for k, i in session.execute(select(VersionDictionary.checksum, VersionDictionary.id))}
    taken[BUILTIN.checksum] = 0
    same = None
    while versions.checksum(body) in taken:  # the checksum names it: one dictionary per checksum
        key = versions.checksum(body)
        if key != BUILTIN.checksum and _body(session, key) == body:
            same = taken[key]  # made already (another run on the same versions)
            break
        body = body[1:]  # another dictionary has its checksum (a 1 in 2^32 chance): this one a byte shorter
    candidate = versions.Packer(0, body)
    before, after = _mean_packed(current, test), _mean_packed(candidate, test)
    result = Training(
        stored=False,
        dictionary_id=None,
        checksum=candidate.checksum,
        bytes=len(body),
        trained_on=len(fill),
        held_out=len(test),
        mean_bytes_current=round(before, 1),
        mean_bytes_new=round(after, 1),
        current_dictionary_id=current.id,
    )
    if same is not None:
        result.reason = f"同一字典已保存为字典 {same}"
        return result
    if not force and after > before * (1 - MIN_GAIN):
        result.reason = f"新字典未使压缩结果减小 {MIN_GAIN:.0%} 以上，未保存"
        return result
    row = VersionDictionary(
        checksum=candidate.checksum,
        body=body,
        trained_from={
            "versions": len(fill),
            "held_out": len(test),
            "newest_of": pool,
            "party_kind": PartyKind.LEGAL_PERSON.value,
            "mean_bytes_current": result.mean_bytes_current,
            "mean_bytes_new": result.mean_bytes_new,
            "replaces": current.id,
            **(note or {}),
        },
        actor=actor,
    )
    try:
        with session.begin_nested():  # another process training on the same versions at once makes the same one
            session.add(row)
            session.flush()
    except IntegrityError:
        result.reason = "同一字典已由另一进程同时保存"  # both read the versions before either stored it
        return result
    versions.remember(body)
    result.stored, result.dictionary_id = True, row.id
    if audited:
        audit_training(session, row.id)
    return result


def audit_training(session: Session, dictionary_id: int) -> None:
    """The audit event of a stored dictionary, by the actor who trained it."""
    row = session.get(VersionDictionary, dictionary_id)
    assert row is not None, dictionary_id
    audit.record(
        session,
        actor=row.actor,
        action="records.dictionary_trained",
        entity_type="version_dictionary",
        entity_id=row.id,
        after=dict(row.trained_from) | {"checksum": row.checksum, "bytes": len(row.body)},
    )


def train_if_due(session: Session, *, actor: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The weekly job's decision (``records.dictionary``): train when no dictionary is trained yet and the city has
    :data:`TRAIN_POOL` versions of legal persons, or when the newest is older than ``XINYONG_DICTIONARY_DAYS``
    (365 by default) — stored only if better, as :func:`train`. Versions already packed stay as they are
    (``xinyong records pack-versions --repack`` rewrites them, an operator's decision)."""
    now = now or utcnow()
    newest = session.execute(
        select(VersionDictionary.id, VersionDictionary.created_at).order_by(VersionDictionary.id.desc()).limit(1)
    ).first()
    days = int(os.environ.get("XINYONG_DICTIONARY_DAYS", "365"))
    if newest is not None and now - newest.created_at < dt.timedelta(days=days):
        return {"trained": False, "reason": f"字典 {newest.id} 训练不足 {days} 天"}
    have = _legal_person_versions(session)
    if have < TRAIN_POOL:
        return {"trained": False, "reason": f"法人记录版本 {have} 个，不足 {TRAIN_POOL} 个"}
    result = train(session, actor=actor)
    return {"trained": result.stored, "reason": result.reason, **result.as_dict()}


def _legal_person_versions(session: Session) -> int:
    """How many versions of legal persons there are, counted up to :data:`TRAIN_POOL` (all a training reads)."""
    return (
        session.scalar(
            select(func.count()).select_from(_of_legal_persons(RecordVersion.id).limit(TRAIN_POOL).subquery())
        )
        or 0
    )


def train_first(session: Session, *, actor: str, note: dict[str, Any] | None = None) -> Training | None:
    """The city's first dictionary, trained in the middle of a large load (``ingest``: every :data:`TRAIN_POOL`
    versions a batch writes) once :data:`TRAIN_POOL` versions of legal persons are stored, so that the rest of the
    load is packed with it: ≈ 20 % fewer bytes per record than the built-in dictionary, and packing is faster (less
    output). ``None`` when a dictionary is trained already (later ones are the weekly job's, :func:`train_if_due`)
    or there are too few versions. In the caller's transaction: if the load is rolled back, so is the dictionary,
    with the versions packed with it. Not audited here: the load appends the event at its end
    (:func:`audit_training`), when it takes the audit chain's head."""
    if session.scalar(select(VersionDictionary.id).limit(1)) is not None:
        return None
    if _legal_person_versions(session) < TRAIN_POOL:
        return None
    return train(session, actor=actor, note=note, audited=False)


@dataclass
class Packing:
    """What :func:`pack_versions` did."""

    dictionary_id: int
    scanned: int = 0
    packed: int = 0
    repacked: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pack_versions(db: Database, *, repack: bool = False, batch: int = 2_000, limit: int | None = None) -> Packing:
    """Pack the plain versions (and, with ``repack``, those packed with an older dictionary) with the newest
    dictionary, ``batch`` versions per write transaction (each one retried after a transient conflict), in id
    order, at most ``limit``. ``bytes_before`` / ``bytes_after``: the documents' JSON text or packed bytes."""
    with db.session(write=False) as session:
        current = packer(session)
    result = Packing(current.id)
    last = 0
    v = RecordVersion
    table = v.__table__
    write = (
        update(table).where(table.c.id == bindparam("_id")).values(packed=bindparam("new"), content=null(), data=null())
    )
    while limit is None or result.scanned < limit:
        size = batch if limit is None else min(batch, limit - result.scanned)
        stmt = select(v.id, v.content, v.data, v.packed).where(v.id > last).order_by(v.id).limit(size)
        if not repack:
            stmt = stmt.where(v.packed.is_(None))

        def step(session: Session, stmt: Any = stmt) -> tuple[int, int, list[int]]:
            rows = session.execute(stmt).all()
            if not rows:
                return 0, 0, [0, 0, 0, 0]
            load = dictionary_loader(session)
            changes = []
            counts = [0, 0, 0, 0]  # packed, repacked, bytes before, bytes after
            for vid, content, data, packed in rows:
                if packed is not None and versions.dictionary_of(packed) == current.checksum:
                    continue
                text = versions.dumps_documents(*versions.documents(content, data, packed, load))
                new = current.pack_text(text)
                counts[0 if packed is None else 1] += 1
                counts[2] += len(text) if packed is None else len(packed)
                counts[3] += len(new)
                changes.append({"_id": vid, "new": new})
            if changes:
                session.execute(write, changes)
            return len(rows), rows[-1][0], counts

        scanned, last, (packed, repacked, before, after) = db.run(step)
        if not scanned:
            break
        result.scanned += scanned
        result.packed += packed
        result.repacked += repacked
        result.bytes_before += before
        result.bytes_after += after
    return result


def list_dictionaries(session: Session) -> list[dict[str, Any]]:
    """Every dictionary, the built-in one first (id 0), the newest (the one new versions are packed with) last."""
    out: list[dict[str, Any]] = [
        {
            "id": 0,
            "checksum": BUILTIN.checksum,
            "bytes": len(BUILTIN.dictionary),
            "trained_from": {},
            "created_at": None,
            "actor": None,
        }
    ]
    d = VersionDictionary
    stmt = select(d.id, d.checksum, func.length(d.body).label("bytes"), d.trained_from, d.created_at, d.actor)
    out.extend(row._asdict() for row in session.execute(stmt.order_by(d.id)))
    return out
