"""The batch runner every bulk import shares (``core.batches``): keep_good vs reject_all, refusals by the store,
rows held or read again, and one summary shape. No database."""

from __future__ import annotations

from typing import Any

import pytest

from xinyong.core import batches
from xinyong.core.batches import BatchSummary, RowError

KEYS = {"importer", "batch", "mode", "status", "rows", "accepted", "rejected", "skipped", "errors", "error_counts"}


def source(*cells: str) -> list[tuple[int, list[Any]]]:
    return [(n + 2, [c]) for n, c in enumerate(cells)]  # row 1 is the header


def validate(number: int, values: list[Any]) -> tuple[Any, list[RowError]]:
    value = values[0]
    if value == "bad":
        return None, [RowError(number, "值", "bad_value", "值无效")]
    if value == "same":
        return batches.SKIP, []
    return value, []


class Store:
    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.written: list[Any] = []
        self.kept: list[int] = []
        self.calls = 0
        self.refuse = refuse

    def write(self, good: list[batches.Good[Any]], bad: list[batches.Rejected]) -> list[batches.Rejected]:
        self.calls += 1
        self.kept += [r.number for r in bad]
        refused = [
            batches.Rejected(g.number, g.values, [RowError(g.number, "值", "refused", "库中已有冲突")])
            for g in good
            if g.item in self.refuse
        ]
        self.written += [g.item for g in good if g.item not in self.refuse]
        return refused


class Savepoint:
    def __init__(self, store: Store) -> None:
        self.store, self.mark, self.state = store, len(store.written), "open"

    def rollback(self) -> None:
        del self.store.written[self.mark :]
        self.state = "rolled back"

    def commit(self) -> None:
        self.state = "committed"


class FakeSession:
    def __init__(self, store: Store) -> None:
        self.store, self.savepoints = store, []  # type: ignore[var-annotated]

    def begin_nested(self) -> Savepoint:
        sp = Savepoint(self.store)
        self.savepoints.append(sp)
        return sp


def test_keep_good_writes_the_good_rows_and_reports_the_bad_ones() -> None:
    store = Store()
    s = batches.run(source("a", "bad", "b", "same", "c"), importer="t", validate=validate, write=store.write, chunk=2)
    assert s is not None
    assert store.written == ["a", "b", "c"] and store.kept == [3]
    assert (s.rows, s.accepted, s.rejected, s.skipped, s.status, s.written) == (5, 3, 1, 1, "partially_accepted", True)
    assert s.as_dict()["errors"] == [{"row": 3, "column": "值", "code": "bad_value", "message": "值无效"}]
    assert s.as_dict()["error_counts"] == {"bad_value": 1} and set(s.as_dict()) == KEYS


def test_reject_all_writes_nothing_when_a_row_is_bad_but_keeps_the_rejected_rows() -> None:
    store = Store()
    s = batches.run(
        source("a", "b", "bad"), importer="t", validate=validate, write=store.write, mode="reject_all", chunk=2
    )
    assert s is not None and store.written == [] and store.kept == [4]
    assert (s.rows, s.accepted, s.rejected, s.status, s.written) == (3, 0, 1, "rejected", False)
    clean = Store()
    s = batches.run(
        source("a", "b", "c"), importer="t", validate=validate, write=clean.write, mode="reject_all", chunk=2
    )
    assert s is not None and clean.written == ["a", "b", "c"] and (s.accepted, s.status) == (3, "accepted")


def test_a_row_the_store_refuses_is_a_rejected_row_and_in_reject_all_rolls_the_batch_back() -> None:
    store = Store(refuse={"b"})
    s = batches.run(source("a", "b", "c"), importer="t", validate=validate, write=store.write)
    assert s is not None and store.written == ["a", "c"] and store.kept == [3]
    assert (s.accepted, s.rejected, s.status, s.error_counts["refused"]) == (2, 1, "partially_accepted", 1)
    store = Store(refuse={"c"})
    session = FakeSession(store)
    s = batches.run(
        source("a", "b", "c"),
        importer="t",
        validate=validate,
        write=store.write,
        mode="reject_all",
        session=session,
        chunk=2,
    )
    assert s is not None and store.written == [] and session.savepoints[0].state == "rolled back"
    assert (s.accepted, s.rejected, s.status, s.written) == (0, 1, "rejected", False) and store.kept == [4]


def test_rows_are_validated_ahead_of_begin_and_a_long_reject_all_batch_is_read_twice() -> None:
    events: list[str] = []

    def checking(number: int, values: list[Any]) -> tuple[Any, list[RowError]]:
        events.append(f"validate {number}")
        return validate(number, values)

    def write(good: list[batches.Good[Any]], bad: list[batches.Rejected]) -> None:
        events.append(f"write {[g.item for g in good]}")

    rows = source("a", "b", "c", "d")
    s = batches.run(
        rows, importer="t", validate=checking, write=write, begin=lambda: events.append("begin"), ahead=2, chunk=10
    )
    assert s is not None and events[:3] == ["validate 2", "validate 3", "begin"]
    assert events[-1] == "write ['a', 'b', 'c', 'd']"
    events.clear()
    passes: list[int] = []

    def fresh() -> batches.Validate:
        passes.append(1)
        return checking

    s = batches.run(
        rows,
        importer="t",
        validate=fresh,
        fresh_validator=True,
        write=write,
        mode="reject_all",
        ahead=1,
        hold=2,
        reopen=lambda: rows,
        chunk=10,
    )
    assert s is not None and len(passes) == 2 and s.accepted == 4
    assert events.count("validate 5") == 2 and events[-1] == "write ['a', 'b', 'c', 'd']"


def test_begin_can_stop_the_batch() -> None:
    store = Store()
    assert (
        batches.run(source("a"), importer="t", validate=validate, write=store.write, begin=lambda: False, ahead=10)
        is None
    )
    assert store.calls == 0


def test_the_summary_shape_is_one_for_every_importer() -> None:
    assert set(BatchSummary("x").as_dict()) == KEYS
    stored = BatchSummary.from_counts(
        "list_sync",
        mode="keep_good",
        rows=4,
        accepted=2,
        rejected=1,
        skipped=1,
        errors=[{"row": 3, "column": "案号", "code": "key_missing", "message": "无"}],
    )
    assert set(stored.as_dict()) == KEYS and stored.status == "partially_accepted"
    assert stored.as_dict()["errors"] == [{"row": 3, "column": "案号", "code": "key_missing", "message": "无"}]
    with pytest.raises(ValueError):
        batches.run([], importer="t", validate=validate, write=Store().write, mode="half")


def test_deferred_keeps_a_batchs_changes_compactly_and_gives_them_back_as_they_were():
    d = batches.Deferred()
    event = {
        "actor": "a",
        "action": "records.upsert",
        "entity_type": "credit_record",
        "batch_entity_type": "record_batch",
        "department_id": 3,
        "batch_id": 7,
    }
    first = [{"id": 10**12 + i, "op": "created", "version_no": 1, "withdrawn": False} for i in range(3)]
    second = [{"id": 5, "op": "updated", "version_no": None, "withdrawn": True}]  # a None: that column becomes a list
    d.add(first, {"created": 3, "updated": 0, "unchanged": 1}, **event)
    d.add(second, {"created": 0, "updated": 1, "unchanged": 0}, **event)
    assert d.rows == 4 and d.changes(0, 10) == first + second and d.changes(1, 2) == first[1:2]
    assert d.counts == {"created": 3, "updated": 1, "unchanged": 1}
    assert type(d.columns[0]).__name__ == "array" and isinstance(d.columns[2], list)  # ids as 8-byte integers
    with pytest.raises(ValueError, match="one kind of write"):
        d.add([], {}, **{**event, "batch_id": 8})
    with pytest.raises(ValueError, match="same fields"):
        d.add([{"id": 1}], {}, **event)
