"""The check's first half: from the codes and names a caller gives to subjects, and their list entries in force.

:func:`_parse` turns each :class:`~xinyong.measures.check.SubjectQuery` into an item (a malformed code makes it
``invalid``, with the reason from ``identifiers.explain``); :func:`_resolve_codes` finds subjects in bulk by USCC
(with their entries in force in the same statement: the fast path), then the other codes through the one resolver,
``subjects.service.resolve_code_ids`` (resident ID by its keyed hash, legacy codes as aliases); :func:`_resolve_names` gives only ``candidates`` with scores for a name without
a code. :func:`_entries_in_force` reads the entries that count on the day, each with its open-objection marker.
The statements are prepared once (``measures._sql.Prepared``): this is the check's hottest path.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from xinyong.cases.models import Case
from xinyong.core.db import IN_CHUNK
from xinyong.evaluation.models import EvaluationResult
from xinyong.identifiers import explain, resident_id, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_name
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.lists.matching import SUBJECT_COLS, find_candidates
from xinyong.lists.models import ListEntry
from xinyong.lists.rules import in_force_clause
from xinyong.measures._sql import Prepared
from xinyong.measures.models import CheckOutcome
from xinyong.measures.service import fingerprint_columns
from xinyong.measures.spec import PARTY_KINDS
from xinyong.subjects.models import Subject
from xinyong.subjects.service import resolve_code_ids

if TYPE_CHECKING:  # the check's request; the check imports this module
    from xinyong.measures.check import SubjectQuery


CANDIDATE_LIMIT = 5


_CHUNK = IN_CHUNK


PERSON = "natural_person"


@dataclass
class _Item:
    position: int
    query: SubjectQuery
    outcome: CheckOutcome = CheckOutcome.NOT_FOUND
    reason: str | None = None
    subject: Any = None  # a row of _SUBJECT_COLS
    candidates: list[dict[str, Any]] | None = None
    warnings: list[str] | None = None
    looks_personal: bool = False


#: Whether the subject has any evaluation result: the grades are looked up only for those that have.
_GRADED = exists().where(EvaluationResult.subject_id == Subject.id).label("graded")


_SUBJECT_COLS = (*SUBJECT_COLS, _GRADED)


def _values(n: int) -> list[Any]:
    return [bindparam(f"v{i}") for i in range(n)]


_SubjectRow = namedtuple("_SubjectRow", "id kind name name_norm uscc resident_id_masked region_code graded")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A list entry in force, as the check shows it (dates as ISO text)."""

    id: int
    subject_id: int
    list_type_id: int
    authority: str
    decision_no: str | None
    listed_on: str | None
    term_end: str | None
    reason: str
    legal_basis: str
    objected: bool


def _iso(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else value.isoformat()


_E = ListEntry.__table__


# An open objection (异议处理中) is the same predicate as ``cases.service.open_objection_targets``; asked here in the
# entries' own query instead of a second one (tests/cases check that the check marks such entries).
_OBJECTED = (
    exists()
    .where(
        Case.target_type == "list_entry", Case.target_id == _E.c.id, Case.kind == "objection", Case.closed_at.is_(None)
    )
    .label("objected")
)


#: An entry's columns after its id (and subject id), in :class:`_Entry`'s order.
_ENTRY_COLS = (
    _E.c.list_type_id,
    _E.c.authority,
    _E.c.decision_no,
    _E.c.listed_on,
    _E.c.term_end,
    _E.c.reason,
    _E.c.legal_basis,
    _OBJECTED,
)


# Each row also carries the catalogue's fingerprint (``measures.service.fingerprint_columns``): the catalogue is
# needed only when some entry is in force, and then it is known whether the cached one is current without a
# statement (a round trip on PostgreSQL) of its own.
_ENTRIES_IN_FORCE = Prepared(
    lambda n: (
        select(_E.c.id, _E.c.subject_id, *_ENTRY_COLS, *fingerprint_columns())
        .where(_E.c.subject_id.in_(_values(n)), in_force_clause(_E.c, bindparam("on")))
        .order_by(_E.c.subject_id, _E.c.listed_on, _E.c.id)
    ),
    lambda r: (_Entry(r[0], r[1], r[2], r[3], r[4], _iso(r[5]), _iso(r[6]), r[7], r[8], bool(r[9])), r[10:]),
)


# The commonest check names subjects by USCC: they come with their entries in force (LEFT JOIN on the same
# predicate; a subject without any has one row with no entry) and the fingerprint, in one statement.
_SUBJECTS_BY_USCC = Prepared(
    lambda n: (
        select(*_SUBJECT_COLS, _E.c.id, *_ENTRY_COLS, *fingerprint_columns())
        .select_from(
            Subject.__table__.outerjoin(_E, and_(_E.c.subject_id == Subject.id, in_force_clause(_E.c, bindparam("on"))))
        )
        .where(Subject.uscc.in_(_values(n)))
        .order_by(Subject.id, _E.c.listed_on, _E.c.id)
    ),
    lambda r: (
        _SubjectRow(*r[:8]),
        None
        if r[8] is None
        else _Entry(r[8], r[0], r[9], r[10], r[11], _iso(r[12]), _iso(r[13]), r[14], r[15], bool(r[16])),
        r[17:],
    ),
)


def _entries_in_force(
    session: Session, subject_ids: Iterable[int], on: dt.date
) -> tuple[dict[int, list[_Entry]], tuple[Any, ...] | None]:
    """Entries that count on ``on`` for each subject (the predicate of ``lists.rules.in_force_clause``), each with
    whether an objection against it is open; and the catalogue's fingerprint as of that read (None without
    entries)."""
    conn = session.connection()
    day: Any = on.isoformat() if conn.dialect.name == "sqlite" else on
    out: dict[int, list[_Entry]] = defaultdict(list)
    fingerprint = None
    for chunk in _chunks(sorted(set(subject_ids))):
        for entry, fp in _ENTRIES_IN_FORCE.rows(conn, chunk, on=day):
            out[entry.subject_id].append(entry)
            fingerprint = fingerprint or fp
    return dict(out), fingerprint


def _personal_shape(c: str) -> bool:
    return (len(c) == 18 and c[:17].isdigit()) or (len(c) == 15 and c.isdigit())


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


@dataclass(frozen=True)
class _ValidUscc:
    """What :func:`explain` says of a valid USCC that is not also a valid resident ID (the fast path of the
    check's commonest input; ``tests/measures/test_check_paths.py`` holds the two equal)."""

    normalized: str
    kind: str = "uscc"
    valid: bool = True
    errors: tuple[Any, ...] = ()


def _explain(raw: str, c: str, looks_personal: bool) -> Any:
    # explain() reads an 18-digit code as a resident ID when that reading is valid, else as a USCC; the fast
    # checks (no region look-up, which only ever warns) decide the same.
    if len(c) == 18 and uscc.is_valid(c) and not (looks_personal and resident_id.is_valid(c)):
        return _ValidUscc(c)
    return explain(raw)


def _plan(item: _Item) -> tuple[str, Any]:
    """(compact code, what ``identifiers.explain`` says of it); marks an item that looks like a person's."""
    raw = (item.query.code or "").strip()
    c = compact(raw)  # as uscc.compact would make it: the keys below use it as it is
    item.looks_personal = _personal_shape(c)
    check = _explain(raw, c, item.looks_personal)
    if check.kind == "resident_id":
        item.looks_personal = True
    return c, check


def _by_uscc(
    session: Session, codes: set[str], on: dt.date
) -> tuple[dict[str, Any], dict[int, list[_Entry]], tuple[Any, ...] | None]:
    """The check's fast path: subjects by USCC with their entries in force on ``on`` and the catalogue's
    fingerprint, in one prepared statement per chunk."""
    found: dict[str, Any] = {}
    prefetched: dict[int, list[_Entry]] = {}
    fingerprint = None
    if not codes:
        return found, prefetched, fingerprint
    conn = session.connection()
    day: Any = on.isoformat() if conn.dialect.name == "sqlite" else on
    for chunk in _chunks(sorted(codes)):
        for row, entry, fp in _SUBJECTS_BY_USCC.rows(conn, chunk, on=day):
            found[row.uscc] = row
            entries = prefetched.setdefault(row.id, [])
            if entry is not None:
                entries.append(entry)
            fingerprint = fp
    return found, prefetched, fingerprint


def _by_resolver(session: Session, codes: set[str]) -> dict[str, Any]:
    """The other codes through the one resolver (``subjects.service.resolve_code_ids``: resident ID by its keyed
    hash, legacy codes as aliases); code -> subject row (:data:`_SUBJECT_COLS`) for the codes it finds."""
    if not codes:
        return {}
    ids = {code: sid for code, sid in resolve_code_ids(session, codes).items() if sid is not None}
    rows: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(ids.values()))):
        rows.update((row.id, row) for row in session.execute(select(*_SUBJECT_COLS).where(Subject.id.in_(chunk))))
    return {code: rows[sid] for code, sid in ids.items()}


def _resolve_codes(
    session: Session, items: list[_Item], on: dt.date
) -> tuple[dict[int, list[_Entry]], tuple[Any, ...] | None]:
    """Resolve every item with a code in bulk: USCCs first, with their entries in force (the fast path); the
    codes still unresolved through ``subjects.service.resolve_code_ids``. Returns the entries in force on ``on``
    of the subjects found by USCC (every one of them a key, maybe with no entry) and the catalogue's
    fingerprint, which come with them."""
    plans = [(item, *_plan(item)) for item in items]
    found_uscc, prefetched, fingerprint = _by_uscc(session, {c for _i, c, _k in plans if len(c) == 18}, on)
    rest = {(item.query.code or "").strip() for item, c, _k in plans if c not in found_uscc}
    found = _by_resolver(session, rest)
    for item, c, check in plans:
        row = found_uscc.get(c) or found.get((item.query.code or "").strip())
        if row is not None:
            item.outcome, item.subject = CheckOutcome.MATCHED, row
            if row.kind == PERSON:
                item.looks_personal = True
            _name_warning(item)
        elif check.valid:
            item.outcome, item.reason = CheckOutcome.NOT_FOUND, "平台未登记该代码对应的信用主体，未发现红黑名单记录"
        else:
            problems = "；".join(e.message for e in check.errors) or "代码格式无效"
            item.outcome, item.reason = CheckOutcome.INVALID, f"代码无效：{problems}"
    return prefetched, fingerprint


def _name_warning(item: _Item) -> None:
    name = (item.query.name or "").strip()
    if not name:
        return
    row = item.subject
    norm = normalize_person_name(name) if row.kind == PERSON else normalize_org_name(name)
    if norm != row.name_norm:
        item.warnings = ["查询所给名称与登记名称不一致，已按代码匹配，请核对"]


def _resolve_names(session: Session, items: list[_Item]) -> None:
    found: list[tuple[_Item, list[Any]]] = []
    ids: set[int] = set()
    for item in items:
        q = item.query
        cands = find_candidates(
            session, name=q.name or "", region_code=q.region, party_kind=q.kind, limit=CANDIDATE_LIMIT
        )
        found.append((item, cands))
        ids.update(c.subject_id for c in cands)
    rows = {}
    for chunk in _chunks(sorted(ids)):
        for row in session.execute(select(*_SUBJECT_COLS).where(Subject.id.in_(chunk))):
            rows[row.id] = row
    for item, cands in found:
        if not cands:
            item.outcome, item.reason = CheckOutcome.NOT_FOUND, "未找到名称相符的信用主体"
            continue
        item.outcome = CheckOutcome.CANDIDATES
        item.reason = "仅按名称查询不实施联合奖惩措施：请确认主体后以统一社会信用代码或身份证号码重新核查"
        item.candidates = [_candidate_view(c, rows.get(c.subject_id)) for c in cands]
        if any(c.kind == PERSON for c in cands):
            item.looks_personal = True


def _candidate_view(c: Any, row: Any) -> dict[str, Any]:
    person = c.kind == PERSON
    return {
        "subject_id": c.subject_id,
        "kind": c.kind,
        "name": mask_name(c.name) if person else c.name,
        "uscc": None if person or row is None else row.uscc,
        "resident_id": row.resident_id_masked if person and row is not None else None,
        "region_code": None if person or row is None else row.region_code,
        "score": round(float(c.score), 4),
        "match": bool(c.match),
        "evidence": c.evidence,
    }


def _parse(position: int, q: SubjectQuery) -> _Item:
    item = _Item(position=position, query=q)
    code, name, region = (q.code or "").strip(), (q.name or "").strip(), (q.region or "").strip()
    if q.kind is not None and q.kind not in PARTY_KINDS:
        item.outcome, item.reason = CheckOutcome.INVALID, f"主体类别应为 {', '.join(PARTY_KINDS)} 之一"
    elif not code and not name:
        item.outcome, item.reason = (
            CheckOutcome.INVALID,
            "缺少代码或名称：请提供统一社会信用代码、身份证号码，或名称与地区",
        )
    elif not code and region and not (len(region) == 6 and region.isdigit()):
        item.outcome, item.reason = CheckOutcome.INVALID, "地区应为6位行政区划代码"
    return item
