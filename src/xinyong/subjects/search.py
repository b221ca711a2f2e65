"""Public name search over the registry: partial Chinese names in milliseconds, on both databases.

One function, :func:`search_subjects`, over one index per database:

- **SQLite**: an FTS5 table ``subjects_fts`` with the ``trigram`` tokenizer, external content (the text stays in
  ``subjects``; the index holds trigrams only). Triggers keep it in step with every write, including the
  registry import's bulk ``executemany`` (a trigger fires per row inside SQLite, with no Python round trip).
  Natural persons are never indexed: they cannot be found by name, whatever the query.
- **PostgreSQL**: a GIN ``gin_trgm_ops`` index on ``subjects.name_norm`` (extension ``pg_trgm``), used by
  ``name_norm LIKE '%q%'``; PostgreSQL maintains it itself.

Both index trigrams, so a query needs three characters to use the index; one- and two-character queries scan
(bounded by the result cap, still correct). Matches are capped at :data:`MATCH_CAP` candidates (taken in index
order), then ranked: exact name, then names starting with the query, then shorter names. A query matching more
than the cap (``有限公司``) says so and asks for a narrower query instead of paging through the registry.

Codes: a query that is a valid USCC, an organisation code or a legacy registration number is looked up exactly
(organisations only). A resident ID number is never looked up: the answer is the same "no result" whether or
not such a person exists, so the search confirms nothing about people.

The migration must run :data:`SQLITE_DDL` / :data:`POSTGRES_DDL` (see :func:`ensure_search_index`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, case, func, literal_column, select, text
from sqlalchemy.orm import Session

from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.identifiers.names import normalize_org_name
from xinyong.subjects.models import Subject, SubjectAlias, SubjectKind

#: Longest query accepted (a full organisation name is rarely longer than 60 characters).
MAX_QUERY_LENGTH = 100
#: Candidates considered per query, so the cost of a query is bounded whatever it matches.
MATCH_CAP = 1000
MAX_LIMIT = 100

SQLITE_DDL: tuple[str, ...] = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS subjects_fts USING fts5("
    "name_norm, content='subjects', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS subjects_fts_ai AFTER INSERT ON subjects "
    "WHEN new.kind <> 'natural_person' BEGIN "
    "INSERT INTO subjects_fts(rowid, name_norm) VALUES (new.id, new.name_norm); END",
    "CREATE TRIGGER IF NOT EXISTS subjects_fts_ad AFTER DELETE ON subjects "
    "WHEN old.kind <> 'natural_person' BEGIN "
    "INSERT INTO subjects_fts(subjects_fts, rowid, name_norm) VALUES ('delete', old.id, old.name_norm); END",
    "CREATE TRIGGER IF NOT EXISTS subjects_fts_au AFTER UPDATE OF name_norm, kind ON subjects BEGIN "
    "INSERT INTO subjects_fts(subjects_fts, rowid, name_norm) "
    "SELECT 'delete', old.id, old.name_norm WHERE old.kind <> 'natural_person'; "
    "INSERT INTO subjects_fts(rowid, name_norm) SELECT new.id, new.name_norm WHERE new.kind <> 'natural_person'; "
    "END",
)
#: Fills the index from existing rows (run once after creating it on a populated database).
SQLITE_FILL = ("INSERT INTO subjects_fts(rowid, name_norm) "
               "SELECT id, name_norm FROM subjects WHERE kind <> 'natural_person'")
POSTGRES_DDL: tuple[str, ...] = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_subjects_name_norm_trgm ON subjects USING gin (name_norm gin_trgm_ops)",
)

_ensured: set[str] = set()
_ensure_lock = threading.Lock()


def ensure_search_index(bind: Engine | Session) -> bool:
    """Create the search index if it is missing (idempotent, cheap after the first call per database).

    Returns True when it created something. On SQLite a newly created index is filled from existing subjects.
    """
    engine = bind.get_bind().engine if isinstance(bind, Session) else bind
    key = str(engine.url)
    if key in _ensured:
        return False
    with _ensure_lock:
        if key in _ensured:
            return False
        created = False
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                exists = conn.execute(text(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='subjects_fts'")).first()
                triggers = conn.execute(text(
                    "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name LIKE 'subjects_fts_%'"
                )).scalar_one()
                if not exists or triggers < 3:
                    for ddl in SQLITE_DDL:
                        conn.execute(text(ddl))
                    if not exists:
                        conn.execute(text(SQLITE_FILL))
                    created = True
            elif engine.dialect.name == "postgresql":
                exists = conn.execute(text(
                    "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_subjects_name_norm_trgm'")).first()
                if not exists:
                    for ddl in POSTGRES_DDL:
                        conn.execute(text(ddl))
                    created = True
        _ensured.add(key)
        return created


def forget_ensured() -> None:
    """Tests recreate databases under the same URL."""
    _ensured.clear()


@dataclass
class SearchHit:
    id: int
    name: str
    kind: str
    uscc: str | None
    status: str | None
    region_code: str | None
    registered_on: Any


@dataclass
class SearchResults:
    query: str                       # the query as searched (trimmed, cut to MAX_QUERY_LENGTH)
    mode: str                        # "code" | "name" | "person_id" (a resident ID: never looked up) | "empty"
    items: list[SearchHit] = field(default_factory=list)
    total: int = 0                   # matches found, at most MATCH_CAP
    capped: bool = False             # more than MATCH_CAP matched: the query should be narrower
    offset: int = 0
    limit: int = 20

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


_CODE_LIKE = re.compile(r"^[0-9A-Za-z\-]{8,20}$")
_COLUMNS = (Subject.id, Subject.name, Subject.kind, Subject.uscc, Subject.status, Subject.region_code,
            Subject.registered_on)


def _hits(rows: Any) -> list[SearchHit]:
    return [SearchHit(*row) for row in rows]


def _public_kinds(kind: str | None) -> Any:
    if kind:
        return Subject.kind == kind
    return Subject.kind != SubjectKind.NATURAL_PERSON.value


def _code_lookup(session: Session, q: str, kind: str | None) -> list[int]:
    compact = uscc.compact(q)
    ids: list[int] = []
    if len(compact) == 18:
        ids = list(session.scalars(select(Subject.id).where(Subject.uscc == compact, _public_kinds(kind))))
    if not ids:
        values = {compact}
        oc = orgcode.validate(q)
        if oc.valid and oc.normalized:
            values.add(oc.normalized)
        ids = list(session.scalars(
            select(SubjectAlias.subject_id).join(Subject, Subject.id == SubjectAlias.subject_id)
            .where(SubjectAlias.value.in_(values), _public_kinds(kind)).limit(MATCH_CAP)))
    return ids


def _fts_phrase(norm: str) -> str:
    return '"' + norm.replace('"', '""') + '"'


def _name_candidates(session: Session, norm: str, kind: str | None) -> Any:
    """A subquery of candidate ids (at most MATCH_CAP + 1) whose normalised name contains ``norm``."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and len(norm) >= 3:
        ensure_search_index(session)
        fts = select(literal_column("rowid").label("id")).select_from(text("subjects_fts")).where(
            text("subjects_fts MATCH :phrase").bindparams(phrase=_fts_phrase(norm)))
        if kind:
            ids = fts.subquery()
            return (select(Subject.id).join(ids, ids.c.id == Subject.id).where(Subject.kind == kind)
                    .limit(MATCH_CAP + 1).subquery())
        return fts.limit(MATCH_CAP + 1).subquery()
    if dialect == "postgresql":
        ensure_search_index(session)
    return (select(Subject.id).where(Subject.name_norm.contains(norm, autoescape=True), _public_kinds(kind))
            .limit(MATCH_CAP + 1).subquery())


def clean_query(q: str | None) -> str:
    """The query as searched: control and other non-printable characters dropped (a NUL would end the string
    for SQLite and is refused by PostgreSQL), trimmed, cut to :data:`MAX_QUERY_LENGTH`."""
    text_ = (q or "")[: MAX_QUERY_LENGTH * 4]
    return "".join(ch if ch.isprintable() else " " for ch in text_).strip()[:MAX_QUERY_LENGTH]


def search_subjects(session: Session, *, q: str, kind: str | None = None, limit: int = 20,
                    offset: int = 0) -> SearchResults:
    """Organisations and individual businesses whose name contains ``q`` or whose code is ``q``.

    Never natural persons (``kind="natural_person"`` gives no results). ``limit`` is clamped to 1..100 and
    ``offset`` to 0..MATCH_CAP, so no input makes a query unbounded.
    """
    query = clean_query(q)
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, min(int(offset), MATCH_CAP))
    result = SearchResults(query=query, mode="empty", offset=offset, limit=limit)
    if kind == SubjectKind.NATURAL_PERSON.value:
        return result
    norm = normalize_org_name(query)
    if not norm:
        return result
    if _CODE_LIKE.match(query):
        rid = resident_id.validate(query)
        if rid.valid:
            result.mode = "person_id"
            return result
        ids = _code_lookup(session, query, kind)
        if ids:
            result.mode = "code"
            result.total = len(ids)
            rows = session.execute(select(*_COLUMNS).where(Subject.id.in_(ids)).order_by(Subject.id)
                                   .offset(offset).limit(limit)).all()
            result.items = _hits(rows)
            return result
    result.mode = "name"
    candidates = _name_candidates(session, norm, kind)
    total = session.scalar(select(func.count()).select_from(candidates)) or 0
    result.capped = total > MATCH_CAP
    result.total = min(total, MATCH_CAP)
    if offset >= result.total:
        return result
    rank = case((Subject.name_norm == norm, 0), (Subject.name_norm.startswith(norm, autoescape=True), 1), else_=2)
    stmt = (select(*_COLUMNS).join(candidates, candidates.c.id == Subject.id)
            .where(_public_kinds(kind))
            .order_by(rank, func.length(Subject.name_norm), Subject.name_norm, Subject.id)
            .offset(offset).limit(limit))
    result.items = _hits(session.execute(stmt).all())
    return result
