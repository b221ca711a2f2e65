"""Applying a sync's changes to the list entries: added, changed, re-linked and removed entries, in bulk.

Each applier writes its rows with one executemany per set of columns (``core.bulk``), records one
``ListEntryEvent`` per entry and tells the :class:`Announcer` which subjects enter or leave a list in force
(``list.entered`` / ``list.left`` for the subjects someone watches, emitted at the end).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.core import clock, hooks
from xinyong.core.bulk import allocate_ids, insert_rows
from xinyong.core.db import IN_CHUNK
from xinyong.lists.models import (
    EntrySource,
    EntryStatus,
    ListEntry,
    ListEntryEvent,
    ListSync,
    ListType,
    MatchStatus,
    RemovalReason,
)
from xinyong.lists.rules import in_force
from xinyong.lists.sync_formats import Row, _text
from xinyong.lists.sync_linking import Link
from xinyong.subjects import related

CHUNK = IN_CHUNK  # subjects per IN (...) look-up of the watched ones


def _counts_today(facts: Any, subject_id: int | None, today: dt.date) -> bool:
    return subject_id is not None and in_force(facts, today)


_SUMMARY_FIELDS = ("party_name", "party_code", "reason", "listed_on", "term_end", "removed_on", "status")


def _summary(values: dict[str, Any], link: Link | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in _SUMMARY_FIELDS:
        v = values.get(k)
        if v is not None:
            out[k] = v.isoformat() if isinstance(v, dt.date) else v
    if link is not None:
        out["subject_id"] = link.subject_id
        out["match_status"] = link.status
    return out


def _facts(status: str, values: dict[str, Any]) -> SimpleNamespace:
    """What decides whether an entry counts on a day (``lists.rules.in_force``)."""
    return SimpleNamespace(
        status=status,
        listed_on=values.get("listed_on"),
        term_end=values.get("term_end"),
        removed_on=values.get("removed_on"),
    )


def _managing_department_id(session: Session, lt: ListType) -> int | None:
    codes = lt.managing_departments or []
    if not codes:
        return None
    return session.scalar(select(Department.id).where(Department.code == codes[0]))


def _bulk_update(session: Session, rows: list[dict[str, Any]]) -> None:
    """UPDATE list_entries by id, grouped by the set of columns changed (one executemany per group)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(k for k in r if k != "_id")), []).append(r)
    table = ListEntry.__table__
    for names, items in groups.items():
        stmt = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names})
        for start in range(0, len(items), 5000):
            session.execute(stmt, items[start : start + 5000])


class Announcer:
    """Collects list.entered / list.left for subjects someone watches and emits them at the end (bulk check)."""

    def __init__(self, session: Session, lt: ListType, today: dt.date) -> None:
        self.session, self.lt, self.today = session, lt, today
        self.pending: list[tuple[int, str, dict[str, Any]]] = []
        self.sent = 0

    def _payload(self, entry_id: int, facts: Any, reason: str | None) -> dict[str, Any]:
        return {
            "list_type": self.lt.code,
            "entry_id": entry_id,
            "listed_on": facts.listed_on.isoformat() if facts.listed_on else None,
            "term_end": facts.term_end.isoformat() if facts.term_end else None,
            "reason": reason,
        }

    def after(self, entry_id: int, subject_id: int | None, facts: Any, reason: str | None) -> None:
        if _counts_today(facts, subject_id, self.today):
            assert subject_id is not None
            self.pending.append((subject_id, "list.entered", self._payload(entry_id, facts, reason)))

    def change(
        self,
        entry_id: int,
        before: Any,
        before_subject: int | None,
        after: Any,
        after_subject: int | None,
        reason: str | None,
    ) -> None:
        was = _counts_today(before, before_subject, self.today)
        now = _counts_today(after, after_subject, self.today)
        if was and (not now or before_subject != after_subject):
            assert before_subject is not None
            self.pending.append((before_subject, "list.left", self._payload(entry_id, after, reason)))
        if now and (not was or before_subject != after_subject):
            assert after_subject is not None
            self.pending.append((after_subject, "list.entered", self._payload(entry_id, after, reason)))

    def _watched(self, ids: list[int]) -> set[int]:
        """The subjects among ``ids`` that someone watches (chunked index look-ups)."""
        watched: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            watched.update(hooks.subject_events().watched_among(self.session, chunk))
        return watched

    def flush(self) -> None:
        if not self.pending:
            return
        watches = hooks.subject_events()
        watched = self._watched(sorted({s for s, _, _ in self.pending}))
        for subject_id, event, payload in self.pending:
            if subject_id in watched:
                self.sent += watches.emit_subject_event(
                    self.session, subject_id=subject_id, event=event, payload=payload
                )
        self.pending = []


def announce(session: Session, *, lt: ListType, entry: ListEntry, before_subject: int | None, before: Any) -> None:
    """list.entered / list.left for one entry whose link or status a reviewer changed."""
    a = Announcer(session, lt, clock.today())
    a.change(entry.id, before, before_subject, entry, entry.subject_id, entry.reason)
    a.flush()


class Applier:
    """Writes one sync's changes (:meth:`add`, :meth:`change`, :meth:`relink`, :meth:`remove`), then :meth:`finish`
    records the entries' events and announces the subjects that entered or left the list."""

    def __init__(self, session: Session, *, lt: ListType, record: ListSync, now: dt.datetime, today: dt.date) -> None:
        self.session, self.lt, self.record, self.now, self.today = session, lt, record, now, today
        self.watch = Announcer(session, lt, today)
        self.events: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.base = {"actor": record.actor, "sync_id": record.id, "at": now}

    def _event(self, entry_id: int, action: str, reason: str | None, before: Any, after: dict[str, Any]) -> None:
        self.events.append(
            {**self.base, "entry_id": entry_id, "action": action, "reason": reason, "before": before, "after": after}
        )

    def _columns(self, row: Row, link: Link, status: str) -> dict[str, Any]:
        """The columns an added or changed row sets from the file and its link."""
        values = row.values
        return {
            "subject_id": link.subject_id,
            "party_name": values["party_name"][:200],
            "party_code": values.get("party_code"),
            "party_kind": values.get("party_kind"),
            "region_code": values.get("region_code"),
            "reason": values["reason"],
            "facts": values.get("facts") or "",
            "decision_no": values.get("decision_no"),
            "authority": values["authority"][:200],
            "status": status,
            "listed_on": values["listed_on"],
            "term_end": values.get("term_end"),
            "removed_on": values.get("removed_on"),
            "removal_reason": RemovalReason.SYNC_REMOVED if status == EntryStatus.REMOVED else None,
            "removal_note": values.get("removal_note"),
            "data": values.get("data") or {},
            **self._link_columns(link),
            "last_sync_id": self.record.id,
            "content_hash": row.content_hash,
            "updated_at": self.now,
        }

    @staticmethod
    def _link_columns(link: Link) -> dict[str, Any]:
        return {
            "match_status": link.status,
            "match_score": link.score,
            "match_evidence": link.evidence,
            "match_candidates": link.candidates,
        }

    def _count_link(self, link: Link) -> None:
        if link.status == MatchStatus.PENDING:
            self.counts["review_queued"] += 1

    def add(self, rows: list[Row], links: list[Link]) -> None:
        """New entries."""
        lt = self.lt
        ids = allocate_ids(self.session, ListEntry.__table__, len(rows))
        department_id = _managing_department_id(self.session, lt)
        legal_basis = "；".join(b.get("title", "") for b in (lt.legal_basis or []) if b.get("title"))
        inserts = []
        for entry_id, row, link in zip(ids, rows, links, strict=True):
            values = row.values
            status = EntryStatus.REMOVED if values.get("removed_on") else EntryStatus.ACTIVE
            inserts.append(
                {
                    "id": entry_id,
                    "list_type_id": lt.id,
                    "entry_key": row.key,
                    "legal_basis": legal_basis,
                    "department_id": department_id,
                    **self._columns(row, link, status),
                    "source": EntrySource.SYNC,
                    "revision": 1,
                    "created_at": self.now,
                }
            )
            self._event(entry_id, "sync_add", None, None, _summary(values, link))
            self.counts["added"] += 1
            self._count_link(link)
            self.watch.after(entry_id, link.subject_id, _facts(status, values), values["reason"])
        insert_rows(self.session, ListEntry.__table__, inserts)
        self._note_legal_reps(ids, rows, links)

    def _note_legal_reps(self, ids: list[int], rows: list[Row], links: list[Link]) -> None:
        """The legal representatives the added entries name (法定代表人 columns) into the related persons of their
        subjects (``subjects.related.note_legal_reps``: added where none is current, never replacing another)."""
        items = [
            related.RelatedInput(
                subject_id=link.subject_id,
                name=rep,
                provenance={"list_type": self.lt.code, "entry_id": entry_id, "sync_id": self.record.id},
            )
            for entry_id, row, link in zip(ids, rows, links, strict=True)
            if link.subject_id is not None
            and not row.values.get("removed_on")
            and (rep := _text((row.values.get("data") or {}).get("legal_rep")))
        ]
        if items:
            related.note_legal_reps(
                self.session, items, source=related.RelatedSource.LIST_ENTRY, actor=self.record.actor
            )

    def change(self, pairs: list[tuple[Row, SimpleNamespace]], links: list[Link]) -> None:
        """Changed entries, including those the source lists again after a removal."""
        updates = []
        for (row, old), link in zip(pairs, links, strict=True):
            values = row.values
            status = EntryStatus.REMOVED if values.get("removed_on") else EntryStatus.ACTIVE
            updates.append({"_id": old.id, **self._columns(row, link, status), "revision": old.revision + 1})
            relisted = old.status == EntryStatus.REMOVED and status != EntryStatus.REMOVED
            self._event(
                old.id,
                "sync_add" if relisted else "sync_change",
                "来源名单重新列入" if relisted else None,
                _summary(vars(old)),
                _summary(values, link),
            )
            self.counts["added" if relisted else "changed"] += 1
            self._count_link(link)
            after = _facts(status, values)
            self.watch.change(old.id, old, old.subject_id, after, link.subject_id, values["reason"])
        _bulk_update(self.session, updates)

    def relink(self, olds: list[SimpleNamespace], links: list[Link]) -> None:
        """Unchanged entries still waiting for a subject: new candidates, or a subject found now."""
        updates = []
        for old, link in zip(olds, links, strict=True):
            if link.status == old.match_status and link.subject_id is None:
                if link.status == MatchStatus.PENDING:
                    updates.append({"_id": old.id, "match_candidates": link.candidates, "match_score": link.score})
                continue
            updates.append(
                {
                    "_id": old.id,
                    "subject_id": link.subject_id,
                    **self._link_columns(link),
                    "updated_at": self.now,
                    "revision": old.revision + 1,
                }
            )
            if link.subject_id is not None:
                self.counts["relinked"] += 1
                after = {"subject_id": link.subject_id, "match_status": link.status}
                self._event(old.id, "match", "同步时重新比对", {"match_status": old.match_status}, after)
                self.watch.change(old.id, old, None, old, link.subject_id, None)
        _bulk_update(self.session, updates)

    def remove(self, removals: list[tuple[SimpleNamespace, dict[str, Any]]]) -> None:
        """Entries the source no longer lists (snapshot) or deletes (delta): status ``removed``, history kept."""
        updates = []
        for old, change in removals:
            removed_on = change["removed_on"]
            if old.listed_on and removed_on < old.listed_on:
                removed_on = old.listed_on
            updates.append(
                {
                    "_id": old.id,
                    "status": EntryStatus.REMOVED,
                    "removed_on": removed_on,
                    "removal_reason": RemovalReason.SYNC_REMOVED,
                    "removal_note": change["removal_note"],
                    "last_sync_id": self.record.id,
                    "revision": old.revision + 1,
                    "updated_at": self.now,
                }
            )
            after = {"status": EntryStatus.REMOVED, "removed_on": removed_on.isoformat()}
            self._event(old.id, "sync_remove", change["removal_note"], {"status": old.status}, after)
            self.counts["removed"] += 1
            facts = _facts(EntryStatus.REMOVED, {**vars(old), "removed_on": removed_on})
            self.watch.change(old.id, old, old.subject_id, facts, old.subject_id, None)
        _bulk_update(self.session, updates)

    def finish(self) -> None:
        insert_rows(self.session, ListEntryEvent.__table__, self.events)
        if hooks.batch_listeners:  # the exchange feed (core.hooks.batch_written): the entries this sync changed
            changes = [{"id": e["entry_id"], "op": e["action"]} for e in self.events]
            hooks.batch_written(self.session, entity_type="list_entry", department_id=0, changes=changes)
        self.watch.flush()
