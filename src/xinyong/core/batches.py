"""One batch runner for every bulk import (issue #13): collection (归集), the subject registry, list entries,
commitments and trading data share this loop and its summary.

A batch is a stream of parsed rows (``(row number, cells)`` from ``ingest.readers``). Each row goes through the
importer's *validate* function — no database writes — which returns the normalised item or the row's errors; good
rows are handed to the importer's *write* function a chunk at a time. Two modes:

- ``keep_good``: the good rows are written, the bad ones are reported (and handed to ``write`` as rejected rows,
  so an importer that keeps them for an error report does so);
- ``reject_all``: any bad row rejects the whole batch: every row is validated before a good row is written, and
  nothing is written when one is bad. A row the store refuses while writing (a record of another department, a
  code conflict) rejects the batch too: with a ``session`` the writing runs in a savepoint that is rolled back.

The store may refuse a valid row (``write`` returns those rows as :class:`Rejected`): it is counted and reported
as a rejected row like one that failed validation.

``ahead``: rows validated before ``begin`` is called — the importer begins its write transaction in ``begin``, so
reading and validating (pure Python) does not hold SQLite's write lock (docs/architecture.md §7). A ``reject_all``
batch longer than ``hold`` good rows is validated once, then — when clean — read again (``reopen``) and written,
so memory stays flat.

The result is one :class:`BatchSummary` whatever the importer: each importer adds it to its own output under the key
``summary`` (:meth:`BatchSummary.as_dict`), beside the fields its API and CLI always had.

This module is in ``core`` because ``subjects`` (the registry import) sits below ``ingest``.
"""

from __future__ import annotations

import itertools
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel

from xinyong.core import audit, hooks

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

KEEP_GOOD = "keep_good"
REJECT_ALL = "reject_all"
Mode = Literal["keep_good", "reject_all"]
MODES = (KEEP_GOOD, REJECT_ALL)
#: Rows written at once.
CHUNK = 2_000
#: Row errors kept in a summary (the counts by code are complete).
ERROR_LIMIT = 1_000

RowSource = Iterable[tuple[int, list[Any]]]
#: What ``validate`` returns as the item of a valid row that needs no writing (the entry is already stored as
#: given): counted as ``skipped``, neither accepted nor rejected.
SKIP: Any = object()


@dataclass(frozen=True)
class RowError:
    """One reason a row was refused: the sender's row number, the column (as the sender named it, may be empty),
    a stable code and a Chinese message."""

    row: int
    column: str
    code: str
    message: str
    #: The importer's own fuller form of the error (its API's shape), when it has one.
    detail: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass
class Good(Generic[T]):
    """A valid row: its number, the importer's item and the row's cells."""

    number: int
    item: T
    values: list[Any]


@dataclass
class Rejected:
    """A refused row: its number, its cells (for an error report) and why."""

    number: int
    values: list[Any]
    errors: list[RowError]


Validate = Callable[[int, list[Any]], tuple[Any, list[RowError]]]
Write = Callable[[list[Good[Any]], list[Rejected]], "list[Rejected] | None"]


@dataclass
class Tally:
    """A batch writer's per-outcome counters (``int`` fields: these, and a writer's own in its subclass) and its
    ``outcomes`` (a dataclass a row): :meth:`counts` and :meth:`to_dict`, the same for every writer (records,
    commitments)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    subjects_created: int = 0
    outcomes: list[Any] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counters, in field order."""
        return {f.name: getattr(self, f.name) for f in fields(cast(Any, self)) if f.type in (int, "int")}

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts(), "outcomes": [asdict(o) for o in self.outcomes]}

    def finish(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        entity_type: str,
        batch_entity_type: str,
        department_id: int,
        batch_id: int | None,
        reason: str,
        change: Callable[[Any], dict[str, Any]],
        deferred: Deferred | None = None,
    ) -> None:
        """What a batch writer does last, in its transaction: tell the exchange feed (``core.hooks.batch_written``)
        which rows it created or updated (``change(outcome)`` a row), and write the batch's audit event with the
        counts (entity ``batch_entity_type``). With ``deferred`` (a chunk of a longer batch) both wait for the
        batch's end (:class:`Deferred`)."""
        changes = [change(o) for o in self.outcomes if o.outcome in ("created", "updated")]
        if deferred is not None:
            deferred.add(
                changes,
                self.counts(),
                actor=actor,
                action=action,
                entity_type=entity_type,
                batch_entity_type=batch_entity_type,
                department_id=department_id,
                batch_id=batch_id,
            )
            return
        if hooks.batch_listeners:
            hooks.batch_written(session, entity_type=entity_type, department_id=department_id, changes=changes)
        audit.record(
            session,
            actor=actor,
            action=action,
            entity_type=batch_entity_type,
            entity_id=batch_id,
            reason=reason,
            after={"department_id": department_id, "batch_id": batch_id, **self.counts()},
        )


class Deferred:
    """A long batch's feed changes and audit counts, told once at its end (:meth:`flush`) instead of after each
    chunk (:meth:`Tally.finish`).

    Both take a single-row head that the transaction then holds until it commits: the audit chain's and the feed's
    (``core.audit``, ``exchange.feed``; docs/architecture.md §7). Taken with a batch's first chunk, they made every
    other upload and every other audited change — a logged read of personal data among them — wait for the whole
    batch on PostgreSQL. Taken at its end, they are held only from there to the commit. (Bulk transactions still
    take turns among themselves: ``core.db.mark_bulk``.) The changes are kept column by column (integers in
    ``array('q')``: ≈ 20 bytes per changed row), so a batch of millions of rows stays within its memory budget.
    Collection uses it; the other bulk writers (commitments, list syncs) could pass one to :meth:`Tally.finish`
    the same way."""

    def __init__(self) -> None:
        self.event: dict[str, Any] | None = None
        self.keys: tuple[str, ...] = ()
        self.columns: list[Any] = []
        self.counts: Counter[str] = Counter()
        self.rows = 0

    def add(self, changes: list[dict[str, Any]], counts: dict[str, int], **event: Any) -> None:
        if self.event is None:
            self.event = event
        elif event != self.event:
            raise ValueError(f"one batch, one kind of write: {event} after {self.event}")
        self.counts.update(counts)
        for c in changes:
            if not self.keys:
                self.keys = tuple(c)
                self.columns = [array("q") if type(v) is int else [] for v in c.values()]
            if tuple(c) != self.keys:
                raise ValueError(f"changes of one batch name the same fields: {tuple(c)} after {self.keys}")
            for i, v in enumerate(c.values()):
                col = self.columns[i]
                if type(col) is array and type(v) is not int:
                    col = self.columns[i] = list(col)  # a value that is not an integer: kept as it is
                col.append(v)
            self.rows += 1

    def changes(self, start: int, stop: int) -> list[dict[str, Any]]:
        keys, columns = self.keys, self.columns
        return [dict(zip(keys, (col[i] for col in columns), strict=True)) for i in range(start, min(stop, self.rows))]

    def flush(self, session: Session, *, reason: str) -> None:
        """Tell the feed the batch's changes (a chunk at a time) and append its audit event with the counts of all
        its chunks. Call once, at the batch's end, only if the batch was written (not for a ``reject_all`` batch
        that was refused: its writes were rolled back)."""
        if self.event is None:
            return
        e = self.event
        if hooks.batch_listeners:
            for start in range(0, self.rows, CHUNK * 5):
                hooks.batch_written(
                    session,
                    entity_type=e["entity_type"],
                    department_id=e["department_id"],
                    changes=self.changes(start, start + CHUNK * 5),
                )
        audit.record(
            session,
            actor=e["actor"],
            action=e["action"],
            entity_type=e["batch_entity_type"],
            entity_id=e["batch_id"],
            reason=reason,
            after={"department_id": e["department_id"], "batch_id": e["batch_id"], **self.counts},
        )
        self.event = None


@dataclass
class BatchSummary:
    """What every import answers, in the same shape (``as_dict``): the batch's id when the importer keeps one, the
    rows read, accepted (written — 0 when ``reject_all`` refused the batch), rejected, the mode, the status
    (``accepted`` / ``partially_accepted`` / ``rejected``), the errors (row, column, code, message; at most
    ``ERROR_LIMIT``) and the error counts by code."""

    importer: str
    mode: str = KEEP_GOOD
    batch: int | None = None
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    status: str = "accepted"
    errors: list[RowError] = field(default_factory=list)
    error_counts: Counter[str] = field(default_factory=Counter)
    written: bool = True
    #: The numbers of the rejected rows (at most ``ERROR_LIMIT``; not in ``as_dict``).
    rejected_rows: list[int] = field(default_factory=list)

    def reject(self, rejected: Rejected) -> None:
        self.rejected += 1
        if len(self.rejected_rows) < ERROR_LIMIT:
            self.rejected_rows.append(rejected.number)
        for e in rejected.errors:
            self.error_counts[e.code] += 1
            if len(self.errors) < ERROR_LIMIT:
                self.errors.append(e)

    def finish(self) -> BatchSummary:
        if self.mode == REJECT_ALL and self.rejected:
            self.written, self.accepted = False, 0
        if self.rejected and not (self.accepted or self.skipped):
            self.status = "rejected"
        elif self.rejected:
            self.status = "partially_accepted"
        else:
            self.status = "accepted"
        self.errors.sort(key=lambda e: e.row)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "importer": self.importer,
            "batch": self.batch,
            "mode": self.mode,
            "status": self.status,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "errors": [e.as_dict() for e in self.errors],
            "error_counts": dict(self.error_counts),
        }

    @classmethod
    def from_counts(
        cls,
        importer: str,
        *,
        mode: str,
        rows: int,
        accepted: int,
        rejected: int,
        skipped: int = 0,
        errors: Iterable[dict[str, Any]] = (),
        batch: int | None = None,
    ) -> BatchSummary:
        """The summary of a batch from what was stored of it (a list sync's record): the same shape."""
        summary = cls(importer, mode=mode, batch=batch, rows=rows, accepted=accepted, skipped=skipped)
        for e in errors:
            summary.reject(
                Rejected(
                    int(e.get("row") or 0),
                    [],
                    [
                        RowError(
                            int(e.get("row") or 0),
                            str(e.get("column") or ""),
                            str(e.get("code") or "invalid"),
                            str(e.get("message") or ""),
                        )
                    ],
                )
            )
        summary.rejected = rejected
        summary.finish()
        summary.accepted = accepted  # as stored (a rejected reject_all batch is never stored)
        return summary


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown batch mode {mode!r}")
    return mode


class _Chunker:
    def __init__(self, size: int) -> None:
        self.size = size
        self.good: list[Good[Any]] = []
        self.bad: list[Rejected] = []

    def full(self) -> bool:
        return len(self.good) >= self.size or len(self.bad) >= self.size

    def take(self) -> tuple[list[Good[Any]], list[Rejected]]:
        out = self.good, self.bad
        self.good, self.bad = [], []
        return out


def run(
    rows: RowSource,
    *,
    importer: str,
    validate: Validate | Callable[[], Validate],
    write: Write,
    mode: str = KEEP_GOOD,
    session: Any = None,
    begin: Callable[[], bool | None] | None = None,
    ahead: int = 0,
    hold: int | None = None,
    reopen: Callable[[], RowSource] | None = None,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    fresh_validator: bool = False,
    prepare: Callable[[list[Good[Any]]], None] | None = None,
) -> BatchSummary | None:
    """Run one batch (see the module's doc); None when ``begin`` returned False (the importer stopped it: a file
    already applied).

    ``validate(number, cells)`` returns ``(item, errors)``: the item is None when the row is refused. With
    ``fresh_validator`` ``validate`` is a factory called once per pass (its state — duplicates within the file —
    starts again on the second pass of a long ``reject_all`` batch). ``write(good, rejected)`` writes a chunk and
    returns the good rows the store refused (they are not written). ``hold``: good rows a ``reject_all`` batch
    keeps in memory while it validates the rest (no limit by default; past it, ``reopen`` must be given).
    ``prepare(good)``: when every row was read ahead (and there is something to write), it is given all the good
    rows before ``begin`` — for work the importer can do outside its write transaction (collection's subjects,
    ``records.upsert.stage_records``).
    """
    check_mode(mode)
    summary = BatchSummary(importer, mode=mode)
    # fresh_validator says which of the two ``validate`` is.
    make = cast("Callable[[], Validate]", validate) if fresh_validator else (lambda: cast("Validate", validate))
    check = make()
    source = iter(rows)
    chunker = _Chunker(chunk)
    pending: list[tuple[list[Good[Any]], list[Rejected]]] = []

    def feed(number: int, values: list[Any]) -> None:
        summary.rows += 1
        item, errors = check(number, values)
        if item is None:
            rejected = Rejected(number, values, errors or [RowError(number, "", "invalid", "数据不符合要求")])
            summary.reject(rejected)
            chunker.bad.append(rejected)
        elif item is SKIP:
            summary.skipped += 1
        else:
            chunker.good.append(Good(number, item, values))

    # 1. Ahead of the write transaction: validate without writing.
    exhausted = True
    if ahead > 0:
        for number, values in source:
            feed(number, values)
            if chunker.full():
                pending.append(chunker.take())
            if summary.rows >= ahead:
                following = next(source, None)  # a file of exactly ``ahead`` rows was read whole
                if following is not None:
                    source = itertools.chain([following], source)
                    exhausted = False
                break
        if progress:
            progress(summary.rows)
    else:
        exhausted = False
    if prepare is not None and exhausted and not (mode == REJECT_ALL and summary.rejected):
        prepare([g for good, _ in pending for g in good] + chunker.good)
    if begin is not None and begin() is False:
        return None

    def written(good: list[Good[Any]], bad: list[Rejected]) -> None:
        refused = write(good, bad) or []
        summary.accepted += len(good) - len(refused)
        for r in refused:
            summary.reject(r)
        if refused:
            write([], refused)  # kept like a row that failed validation

    if mode == KEEP_GOOD:
        for good, bad in pending:  # the full chunks read ahead; the last one goes on filling
            written(good, bad)
        pending.clear()
        for number, values in source:
            feed(number, values)
            if chunker.full():
                written(*chunker.take())
                if progress:
                    progress(summary.rows)
        written(*chunker.take())
        if progress:
            progress(summary.rows)
        return summary.finish()

    # reject_all: validate everything first; rejected rows are kept, good ones only held.
    pending.append(chunker.take())
    held: list[Good[Any]] | None = [g for good, _ in pending for g in good]
    for _, bad in pending:
        if bad:
            write([], bad)
    pending.clear()
    limit = hold if hold is not None else (None if reopen is None else 0)
    for number, values in source:
        feed(number, values)
        if chunker.bad and len(chunker.bad) >= chunk:
            write([], chunker.bad)
            chunker.bad = []
        if held is not None:
            held.extend(chunker.good)
            if limit is not None and len(held) > limit and not exhausted:
                held = None
        chunker.good = []
    _, bad = chunker.take()
    if bad:
        write([], bad)
    if progress:
        progress(summary.rows)
    if summary.rejected:
        return summary.finish()

    def clean_rows() -> Iterator[list[Good[Any]]]:
        if held is not None:
            for i in range(0, len(held), chunk):
                yield held[i : i + chunk]
            return
        if reopen is None:
            raise RuntimeError("a reject_all batch too long to hold needs reopen")
        again = make()
        part: list[Good[Any]] = []
        for number, values in reopen():
            item, _errors = again(number, values)
            if item is not None and item is not SKIP:  # the file validated clean on the first pass
                part.append(Good(number, item, values))
            if len(part) >= chunk:
                yield part
                part = []
        if part:
            yield part

    savepoint = session.begin_nested() if session is not None else None
    refused_all: list[Rejected] = []
    accepted = 0
    for part in clean_rows():
        refused = write(part, []) or []
        accepted += len(part) - len(refused)
        refused_all.extend(refused)
    if refused_all and savepoint is not None:
        savepoint.rollback()
    elif savepoint is not None:
        savepoint.commit()
    summary.accepted = accepted
    for r in refused_all:
        summary.reject(r)
    if refused_all:
        write([], refused_all)
    return summary.finish()


class BatchOutBase(BaseModel):
    """The API's answer for a submitted batch: what every importer reports (collection, commitments); each adds its
    own counts and fields."""

    batch: int
    department_id: int
    channel: str
    file: str | None
    sha256: str
    format: str | None
    mode: str
    status: str
    received_at: str | None
    rows: int
    accepted: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    subjects_created: int
    unknown_columns: list[str]
    errors: list[dict[str, Any]]


def batch_out(batch: Any, details: dict[str, Any]) -> dict[str, Any]:
    """The :class:`BatchOutBase` fields of a stored batch (a row with ``id``, ``department_id``, ``channel``,
    ``filename``, ``sha256``, ``format``, ``mode``, ``status``, ``received_at`` and the counters); ``details`` is the
    batch's stored report (``subjects_created``, ``unknown_columns``, ``errors``)."""
    return {
        "batch": batch.id,
        "department_id": batch.department_id,
        "channel": batch.channel,
        "file": batch.filename,
        "sha256": batch.sha256,
        "format": batch.format,
        "mode": batch.mode,
        "status": batch.status,
        "received_at": batch.received_at.isoformat() if batch.received_at else None,
        "rows": batch.rows,
        "accepted": batch.accepted,
        "created": batch.created,
        "updated": batch.updated,
        "unchanged": batch.unchanged,
        "rejected": batch.rejected,
        "subjects_created": details.get("subjects_created", 0),
        "unknown_columns": details.get("unknown_columns", []),
        "errors": details.get("errors", []),
    }
