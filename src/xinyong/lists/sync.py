"""Sync and comparison (比对) of external lists: the court's 失信被执行人 and the market regulator's 经营异常名录.

A sync reads a file (CSV in any encoding, XLSX or JSON; ``ingest.readers``) in the list's ``sync_format``
(:data:`FORMATS`; documented in ``docs/list-sync.md``), compares it with the entries already held and applies the
difference in the caller's transaction — all or nothing:

- **snapshot** — the file is the whole current list: new keys are *added*, keys whose content hash differs are
  *changed*, keys held but absent from the file are *removed* (status ``removed``, ``removal_reason =
  sync_removed``, ``removed_on`` = the sync date; the entry and its history stay), the rest are *unchanged*.
- **delta** — each row carries ``操作类型`` (新增 / 变更 / 删除); deleting a key that is not on the list is refused
  (422 ``unknown_entry``) and nothing is written.

The same file twice gives all unchanged (idempotent). Every row is validated before anything is written: a file of
another list's format (422 ``wrong_list_format``), a malformed code or date (422 ``sync_rows_invalid``, with row
numbers) change nothing, unless the operator asks to skip invalid rows (``skip_invalid``: they are counted as
*rejected* and, in a snapshot, their entries are kept rather than removed).

Linking an entry to a subject (``match_status``): a clear code first (USCC, organisation code or registration
number through the aliases, a clear resident ID through its keyed hash — looked up in bulk); then a stored
reviewer judgement for the party (``same`` links: ``judged``; ``not_same`` excludes that subject); then name
matching (``lists.matching``): one candidate at or above the threshold and no rival → ``matched`` with its
evidence; otherwise ``pending`` with the candidates (the review queue), or ``unmatched``. Entries still pending or
unmatched are matched again by every later sync, so new registry subjects and new judgements take effect.

Not held to the authority rule (``auth.authorities``): a sync copies another system's list as that system keeps it
— the court's list names any 执行法院 of the country, the national 经营异常名录 the 作出决定机关 of each entry — so
its authorities are the source's, not decisions the platform's departments take and submit as their own. Who may
run a sync is governed instead: the platform admin or an operator of the list's managing department
(:func:`require_manager`), for an external list only (``ListType.external``), whose entries no one can create or
change by hand (``lists.service._check_manual``). The rule guards what a department submits as its own or its
subordinate units' decisions.

The seams: ``lists.sync_formats`` (the formats and reading a file), ``lists.sync_linking`` (entries to subjects),
``lists.sync_apply`` (writing the changes and announcing them), ``lists.sync_review`` (the review queue, verdicts,
who may manage a list). This module compares a file with the entries held and drives the rest.

Person data: the court publishes masked ID numbers. A clear resident ID in a file is used only to find the
subject (keyed hash) and stored masked; list tables never hold a clear ID.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, batches, clock, gcpause
from xinyong.core.db import utcnow
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.ingest.readers import Source, as_source
from xinyong.lists import matching
from xinyong.lists.models import EntryStatus, ListEntry, ListSync, ListType, MatchStatus
from xinyong.lists.sync_apply import Announcer, Applier, announce
from xinyong.lists.sync_formats import COURT, FORMATS, SAMR, Problems, Row, SyncFormat, detect_format, read_rows
from xinyong.lists.sync_linking import Link, entry_party_key, link_entries, party_key, stored_lookup
from xinyong.lists.sync_review import (
    department_code,
    get_entry,
    judge,
    managed_types,
    require_manager,
    review_queue,
    review_view,
)

__all__ = [
    "COURT",
    "FORMATS",
    "SAMR",
    "Announcer",
    "Link",
    "Row",
    "SyncFormat",
    "announce",
    "department_code",
    "detect_format",
    "entry_party_key",
    "get_entry",
    "get_list_type",
    "get_sync",
    "judge",
    "link_entries",
    "list_type_by_id",
    "party_key",
    "read_rows",
    "require_manager",
    "review_queue",
    "review_view",
    "sync_list",
    "sync_view",
    "syncs_of",
]


def get_list_type(session: Session, code: str) -> ListType:
    lt = session.scalar(select(ListType).where(ListType.code == code))
    if lt is None:
        raise NotFound(f"名单类型 {code} 不存在", code="list_type_not_found")
    return lt


def _syncable(session: Session, list_code: str) -> ListType:
    lt = get_list_type(session, list_code)
    if not lt.sync_format or lt.sync_format not in FORMATS:
        raise ValidationFailed(f"名单「{lt.name}」不是可同步的外部名单", code="list_not_syncable")
    return lt


def _threshold(lt: ListType, threshold: float | None) -> float:
    value = threshold if threshold is not None else (lt.params or {}).get("match_threshold", matching.DEFAULT_THRESHOLD)
    value = float(value)
    if not 0 < value <= 1:
        raise ValidationFailed("匹配阈值应在 0 到 1 之间", code="threshold_invalid")
    return value


_EXISTING_COLS = (
    "id",
    "entry_key",
    "content_hash",
    "status",
    "subject_id",
    "match_status",
    "listed_on",
    "term_end",
    "removed_on",
    "party_name",
    "party_code",
    "party_kind",
    "region_code",
    "data",
    "revision",
)


def _existing(session: Session, list_type_id: int) -> dict[str, SimpleNamespace]:
    cols = [ListEntry.__table__.c[c] for c in _EXISTING_COLS]
    stmt = select(*cols).where(ListEntry.list_type_id == list_type_id).execution_options(yield_per=10_000)
    return {r.entry_key: SimpleNamespace(**r._mapping) for r in session.execute(stmt)}


@dataclass
class _Plan:
    """What a file changes: entries to add, change, re-link (unchanged, still waiting for a subject) and remove."""

    insert: list[Row] = field(default_factory=list)
    change: list[tuple[Row, SimpleNamespace]] = field(default_factory=list)
    remove: list[tuple[SimpleNamespace, dict[str, Any]]] = field(default_factory=list)
    relink: list[SimpleNamespace] = field(default_factory=list)
    unchanged: int = 0


def _compare(
    rows: list[Row], existing: dict[str, SimpleNamespace], protected: set[str], mode: str, today: Any
) -> _Plan:
    """比对: the file's rows against the entries held. ``protected``: keys of rows skipped as invalid, which a
    snapshot keeps (an unreadable row is not evidence of removal)."""
    plan = _Plan()
    for row in rows:
        old = existing.get(row.key)
        if row.operation == "delete":
            assert old is not None
            if old.status == EntryStatus.REMOVED:
                plan.unchanged += 1
            else:
                note = row.values.get("removal_note")
                plan.remove.append((old, {"removed_on": row.values.get("removed_on") or today, "removal_note": note}))
        elif old is None:
            plan.insert.append(row)
        elif old.content_hash == row.content_hash and old.status != EntryStatus.REMOVED:
            plan.unchanged += 1
            if old.match_status in (MatchStatus.PENDING, MatchStatus.UNMATCHED):
                plan.relink.append(old)
        else:
            plan.change.append((row, old))
    if mode == "snapshot":
        present = {r.key for r in rows}
        for key, old in existing.items():
            if key not in present and key not in protected and old.status != EntryStatus.REMOVED:
                plan.remove.append((old, {"removed_on": today, "removal_note": None}))
    return plan


def _link(session: Session, plan: _Plan, threshold: float) -> tuple[list[Link], list[Link], list[Link]]:
    """Link new and changed rows, and re-try entries still waiting for a subject: (new, changed, re-linked)."""
    stored = [
        {k: getattr(o, k) for k in ("party_name", "party_kind", "party_code", "region_code", "data")}
        for o in plan.relink
    ]
    items = [r.values for r in plan.insert] + [r.values for r, _ in plan.change] + stored
    codes = (
        [r.lookup_code for r in plan.insert]
        + [r.lookup_code for r, _ in plan.change]
        + [stored_lookup(o.party_code) for o in plan.relink]
    )
    links = link_entries(session, items, codes, threshold=threshold)
    added, changed = len(plan.insert), len(plan.insert) + len(plan.change)
    return links[:added], links[added:changed], links[changed:]


def _read(
    session: Session, lt: ListType, source: Source, mode: str, skip_invalid: bool
) -> tuple[list[Row], Problems, dict[str, Any], dict[str, SimpleNamespace]]:
    """The file's rows, its problems and facts, and the entries held; refused when the file does not fit."""
    rows, problems, facts = read_rows(source, lt, mode=mode)
    if problems.items and not skip_invalid:
        raise ValidationFailed(
            f"文件有 {len(problems.rows)} 行数据无效，未做任何更改",
            code="sync_rows_invalid",
            details={"problem_counts": dict(problems.counts), "problems": problems.items[:100]},
        )
    existing = _existing(session, lt.id)
    unknown = [r.key for r in rows if r.operation == "delete" and r.key not in existing]
    if unknown:
        raise ValidationFailed(
            f"增量文件删除了名单中不存在的 {len(unknown)} 个条目，未做任何更改",
            code="unknown_entry",
            details={"keys": unknown[:100]},
        )
    return rows, problems, facts, existing


@gcpause.bulk()
def sync_list(
    session: Session,
    *,
    actor: Principal,
    list_code: str,
    path: str | Path | Source,
    mode: str = "snapshot",
    threshold: float | None = None,
    skip_invalid: bool = False,
    filename: str | None = None,
) -> ListSync:
    """Apply a snapshot or delta file of an external list in the caller's transaction; the :class:`ListSync`.

    Nothing is written when the file does not fit (wrong format, invalid rows unless ``skip_invalid``, a delete
    of an unknown key). ``threshold``: name-match score needed to link without review (default: the list type's
    ``params.match_threshold`` or :data:`matching.DEFAULT_THRESHOLD`).
    """
    if mode not in ("snapshot", "delta"):
        raise ValidationFailed("同步方式应为 snapshot（全量）或 delta（增量）", code="mode_invalid")
    lt = _syncable(session, list_code)
    require_manager(session, actor, lt)
    limit = _threshold(lt, threshold)
    # One sync of a list at a time (PostgreSQL row lock until commit; SQLite has a single writer anyway).
    session.execute(select(ListType.id).where(ListType.id == lt.id).with_for_update())
    source = as_source(path)
    rows, problems, facts, existing = _read(session, lt, source, mode, skip_invalid)

    today = clock.today()
    now = utcnow()
    record = ListSync(
        list_type_id=lt.id,
        mode=mode,
        filename=(filename or source.name)[:300],
        sha256=source.sha256(),
        actor=actor.actor,
        started_at=now,
    )
    session.add(record)
    session.flush()

    plan = _compare(rows, existing, problems.keys, mode, today)
    new_links, change_links, relinks = _link(session, plan, limit)
    apply = Applier(session, lt=lt, record=record, now=now, today=today)
    apply.add(plan.insert, new_links)
    apply.change(plan.change, change_links)
    apply.relink(plan.relink, relinks)
    apply.remove(plan.remove)
    apply.finish()
    counts = apply.counts
    counts["unchanged"] += plan.unchanged

    record.rows = len(rows) + len(problems.rows) + facts["duplicate_rows"]
    record.added, record.changed, record.removed = counts["added"], counts["changed"], counts["removed"]
    record.unchanged, record.rejected = counts["unchanged"], len(problems.rows)
    record.review_queued = counts["review_queued"]
    record.finished_at = utcnow()
    record.report = {
        "list": lt.code,
        "mode": mode,
        "threshold": limit,
        **facts,
        "relinked": counts["relinked"],
        "review_queue_size": _queue_size(session, lt),
        "link_status": dict(Counter(link.status for link in new_links + change_links)),
        "events_announced": apply.watch.sent,
        "problem_counts": dict(problems.counts),
        "problems": problems.items,
        "batch_mode": batches.KEEP_GOOD if skip_invalid else batches.REJECT_ALL,
    }
    _audit(session, actor, lt, record, mode)
    session.flush()
    return record


def _queue_size(session: Session, lt: ListType) -> int:
    """Entries of the list waiting for a reviewer."""
    return (
        session.scalar(
            select(func.count())
            .select_from(ListEntry)
            .where(
                ListEntry.list_type_id == lt.id,
                ListEntry.match_status == MatchStatus.PENDING,
                ListEntry.status != EntryStatus.REMOVED,
            )
        )
        or 0
    )


_COUNTS = ("rows", "added", "changed", "removed", "unchanged", "rejected", "review_queued")


def _counts(record: ListSync) -> dict[str, int]:
    """A sync's row counts, as its view and its audit event show them."""
    return {name: getattr(record, name) for name in _COUNTS}


def _audit(session: Session, actor: Principal, lt: ListType, record: ListSync, mode: str) -> None:
    audit.record(
        session,
        actor=actor.actor,
        action="lists.sync",
        entity_type="list_sync",
        entity_id=record.id,
        reason=f"同步外部名单「{lt.name}」：{record.filename}",
        after={
            "list": lt.code,
            "mode": mode,
            "file": record.filename,
            "sha256": record.sha256,
            **_counts(record),
        },
    )


def syncs_of(
    session: Session,
    *,
    list_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
    department_code: str | None = None,
) -> tuple[int, list[tuple[ListSync, str]]]:
    """Syncs, newest first, with their list code; ``department_code``: only lists that department manages."""
    types, allowed = managed_types(session, list_code, department_code)
    where = ListSync.list_type_id.in_(allowed)
    total = session.scalar(select(func.count()).select_from(ListSync).where(where)) or 0
    found = session.scalars(select(ListSync).where(where).order_by(ListSync.id.desc()).limit(limit).offset(offset))
    return total, [(r, types[r.list_type_id].code) for r in found]


def list_type_by_id(session: Session, list_type_id: int) -> ListType:
    found = session.get(ListType, list_type_id)
    if found is None:
        raise NotFound(f"名单类型 {list_type_id} 不存在", code="list_type_not_found")
    return found


def get_sync(session: Session, sync_id: int) -> ListSync:
    found = session.get(ListSync, sync_id)
    if found is None:
        raise NotFound(f"同步记录 {sync_id} 不存在", code="list_sync_not_found")
    return found


def sync_view(record: ListSync, lt_code: str | None = None, *, with_report: bool = True) -> dict[str, Any]:
    report = record.report or {}
    view = {
        "id": record.id,
        "list": lt_code or report.get("list"),
        "mode": record.mode,
        "filename": record.filename,
        "sha256": record.sha256,
        "actor": record.actor,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        **_counts(record),
        "review_queue_size": report.get("review_queue_size", 0),
        "relinked": report.get("relinked", 0),
        "summary": batches.BatchSummary.from_counts(
            "list_sync",
            mode=report.get("batch_mode", batches.REJECT_ALL),
            batch=record.id,
            rows=record.rows,
            accepted=record.rows - record.rejected - report.get("duplicate_rows", 0),
            rejected=record.rejected,
            skipped=report.get("duplicate_rows", 0),
            errors=report.get("problems", []),
        ).as_dict(),
    }
    if with_report:
        view["report"] = report
    return view
