"""Public name search over the registry: partial Chinese names in milliseconds, on both databases.

One function, :func:`search_subjects`, over two indexes per database, chosen by the length of the normalised query:

- **3+ characters, trigrams.** SQLite: an FTS5 table ``subjects_fts`` with the ``trigram`` tokenizer, external
  content (the text stays in ``subjects``; the index holds trigrams only). PostgreSQL: a GIN ``gin_trgm_ops`` index
  on ``subjects.name_norm`` (extension ``pg_trgm``), used by ``name_norm LIKE '%q%'``.
- **2 characters, bigrams** (a company's 字号 such as 宏达 is often searched alone, and a trigram index cannot serve
  it). SQLite: a contentless FTS5 table ``subjects_bigram`` (``detail=none``: document ids only) whose document is
  the name's overlapping character bigrams, each written as the hex of its UTF-8 bytes so that the ``ascii``
  tokenizer keeps it one token whatever it contains (brackets, Latin letters); a two-character query is then one
  term look-up. PostgreSQL: a partial GIN index on ``xinyong_name_bigrams(name_norm)`` (an immutable SQL function
  giving the bigram array, core PostgreSQL only), queried with ``@> ARRAY[q]``.
- **1 character: refused** (``mode="too_short"`` with a message asking for two characters). One character matches
  a large part of any registry (every name with 市 or 公) and tells nothing about which subject is meant.

Triggers keep both SQLite tables in step with every write, including the registry import's bulk ``executemany``
(a trigger fires per row inside SQLite, with no Python round trip); PostgreSQL maintains its indexes itself.
Natural persons are never indexed (the triggers, the fills and the partial index skip them) and never returned.

Matches are capped at :data:`MATCH_CAP` candidates (taken in index order). When more match, the names equal to or
starting with the query are fetched too (a B-tree range on ``name_norm``), so they are never lost to the cap; then
all candidates are ranked: exact name, names starting with the query, then shorter names. A query matching more
than the cap (``有限公司``) says so and asks for a narrower query instead of paging through the registry.

Codes: a query that is a valid USCC, an organisation code or a legacy registration number is looked up exactly
(organisations only). A resident ID number is never looked up: the answer is the same "no result" whether or
not such a person exists, so the search confirms nothing about people.

Migrations 0008 (trigrams: :data:`SQLITE_DDL`, :data:`SQLITE_FILL`, :data:`POSTGRES_DDL`) and 0009 (bigrams:
:data:`SQLITE_BIGRAM_DDL`, :data:`SQLITE_BIGRAM_FILL`, :data:`POSTGRES_BIGRAM_DDL`) run these constants; change
them only together with a new migration. :func:`ensure_search_index` creates whatever is missing on databases built
with ``create_all`` (tests, benchmarks).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Engine,
    Select,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Session

from xinyong.core.db import primary_of, writer_of
from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.identifiers.detect import looks_like_code
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
SQLITE_FILL = (
    "INSERT INTO subjects_fts(rowid, name_norm) SELECT id, name_norm FROM subjects WHERE kind <> 'natural_person'"
)
POSTGRES_DDL: tuple[str, ...] = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_subjects_name_norm_trgm ON subjects USING gin (name_norm gin_trgm_ops)",
)


def _sqlite_bigrams(name: str) -> str:
    """SQL giving the overlapping bigrams of ``name`` as space-separated hex tokens (NULL below two characters).

    Built-in functions only (the triggers must work on every connection, the sqlite3 shell included, so no Python
    function), and no CTE (not allowed in a trigger): ``json_each`` over an array of ``length - 1`` zeros numbers
    the start positions. Must equal :func:`bigram_token` for the same pair of characters.
    """
    return (
        f"(SELECT group_concat(hex(substr({name}, key + 1, 2)), ' ') FROM json_each("
        f"'[' || substr(replace(hex(zeroblob(length({name}) - 1)), '00', ',0'), 2) || ']'))"
    )


SQLITE_BIGRAM_DDL: tuple[str, ...] = (
    # Contentless (the bigram text exists nowhere else) and detail=none: the index holds document ids only.
    "CREATE VIRTUAL TABLE IF NOT EXISTS subjects_bigram USING fts5("
    "grams, content='', detail='none', columnsize=0, tokenize='ascii')",
    "CREATE TRIGGER IF NOT EXISTS subjects_bigram_ai AFTER INSERT ON subjects "
    "WHEN new.kind <> 'natural_person' BEGIN "
    f"INSERT INTO subjects_bigram(rowid, grams) VALUES (new.id, {_sqlite_bigrams('new.name_norm')}); END",
    # A contentless table forgets a document only when given the very tokens it was indexed with.
    "CREATE TRIGGER IF NOT EXISTS subjects_bigram_ad AFTER DELETE ON subjects "
    "WHEN old.kind <> 'natural_person' BEGIN "
    "INSERT INTO subjects_bigram(subjects_bigram, rowid, grams) "
    f"VALUES ('delete', old.id, {_sqlite_bigrams('old.name_norm')}); END",
    "CREATE TRIGGER IF NOT EXISTS subjects_bigram_au AFTER UPDATE OF name_norm, kind ON subjects BEGIN "
    "INSERT INTO subjects_bigram(subjects_bigram, rowid, grams) "
    f"SELECT 'delete', old.id, {_sqlite_bigrams('old.name_norm')} WHERE old.kind <> 'natural_person'; "
    f"INSERT INTO subjects_bigram(rowid, grams) SELECT new.id, {_sqlite_bigrams('new.name_norm')} "
    "WHERE new.kind <> 'natural_person'; END",
)
#: Fills the bigram table from existing rows (run once after creating it on a populated database).
SQLITE_BIGRAM_FILL = (
    "INSERT INTO subjects_bigram(rowid, grams) "
    f"SELECT id, {_sqlite_bigrams('name_norm')} FROM subjects WHERE kind <> 'natural_person'"
)
POSTGRES_BIGRAM_DDL: tuple[str, ...] = (
    # Not inlinable (it has a FROM), about 5 µs a name; IMMUTABLE so that it can be indexed. GIN removes the
    # duplicate keys itself.
    "CREATE OR REPLACE FUNCTION xinyong_name_bigrams(name text) RETURNS text[] "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
    "$$ SELECT ARRAY(SELECT substr(name, i, 2) FROM generate_series(1, length(name) - 1) AS i) $$",
    # Partial: natural persons are not in the index. Queries must repeat the predicate literally (see _PG_ORGS).
    "CREATE INDEX IF NOT EXISTS ix_subjects_name_norm_bigram ON subjects "
    "USING gin (xinyong_name_bigrams(name_norm)) WHERE kind <> 'natural_person'",
)
#: (table or index whose absence means "create", its DDL[, its fill]); SQLite triggers are named <table>_ai/ad/au.
_SQLITE_INDEXES = (
    ("subjects_fts", SQLITE_DDL, SQLITE_FILL),
    ("subjects_bigram", SQLITE_BIGRAM_DDL, SQLITE_BIGRAM_FILL),
)
_POSTGRES_INDEXES = (
    ("ix_subjects_name_norm_trgm", POSTGRES_DDL),
    ("ix_subjects_name_norm_bigram", POSTGRES_BIGRAM_DDL),
)

_ensured: set[str] = set()
_ensure_lock = threading.Lock()


def ensure_search_index(bind: Engine | Session) -> bool:
    """Create the search indexes that are missing (idempotent, cheap after the first call per database).

    Returns True when it created something. On SQLite a newly created table is filled from existing subjects (on
    a large registry that takes a while: about a minute for a million subjects).
    """
    engine = bind.get_bind().engine if isinstance(bind, Session) else bind
    replica_key = str(engine.url)
    if replica_key in _ensured:
        return False
    engine = primary_of(engine)  # a read replica's session: the indexes are made on its primary (and replicated)
    key = str(engine.url)
    if key in _ensured:
        return False
    with _ensure_lock:
        if key in _ensured:
            return False
        created = False
        with writer_of(engine).begin() as conn:  # reads the schema, then creates: a write transaction
            if engine.dialect.name == "sqlite":
                for table, ddl, fill in _SQLITE_INDEXES:
                    exists = conn.execute(
                        text("SELECT 1 FROM sqlite_master WHERE type='table' AND name=:t"), {"t": table}
                    ).first()
                    triggers = conn.execute(
                        text("SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name IN (:a, :d, :u)"),
                        {"a": f"{table}_ai", "d": f"{table}_ad", "u": f"{table}_au"},
                    ).scalar_one()
                    if not exists or triggers < 3:
                        for statement in ddl:
                            conn.execute(text(statement))
                        if not exists:
                            conn.execute(text(fill))
                        created = True
            elif engine.dialect.name == "postgresql":
                for index, ddl in _POSTGRES_INDEXES:
                    exists = conn.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :i"), {"i": index}).first()
                    if not exists:
                        for statement in ddl:
                            conn.execute(text(statement))
                        created = True
        _ensured.add(key)
        _ensured.add(replica_key)
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
    query: str  # the query as searched (trimmed, cut to MAX_QUERY_LENGTH)
    #: "code" | "name" | "person_id" (a resident ID: never looked up) | "too_short" (one character) | "empty"
    mode: str
    items: list[SearchHit] = field(default_factory=list)
    total: int = 0  # matches found, at most MATCH_CAP
    capped: bool = False  # more than MATCH_CAP matched: the query should be narrower
    offset: int = 0
    limit: int = 20
    message: str | None = None  # why nothing was searched, in Chinese (mode "too_short")

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


#: Shortest normalised query searched by name.
MIN_NAME_QUERY = 2
TOO_SHORT_MESSAGE = "请至少输入两个字：单个字会与大量主体名称相符，无法据此查询。"
#: The partial index's predicate, literally (a bound parameter would not let PostgreSQL prove the index usable).
_PG_ORGS = text("subjects.kind <> 'natural_person'")
_COLUMNS = (
    Subject.id,
    Subject.name,
    Subject.kind,
    Subject.uscc,
    Subject.status,
    Subject.region_code,
    Subject.registered_on,
)


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
        ids = list(
            session.scalars(
                select(SubjectAlias.subject_id)
                .join(Subject, Subject.id == SubjectAlias.subject_id)
                .where(SubjectAlias.value.in_(values), _public_kinds(kind))
                .limit(MATCH_CAP)
            )
        )
    return ids


def _fts_phrase(norm: str) -> str:
    return '"' + norm.replace('"', '""') + '"'


def bigram_token(pair: str) -> str:
    """The ``subjects_bigram`` term of a two-character string: its UTF-8 bytes in hex, like SQLite's ``hex()``."""
    return pair.encode("utf-8").hex().upper()


def contains_statement(dialect: str, norm: str, kind: str | None) -> Select[Any]:
    """The index query for the ids (at most MATCH_CAP + 1, in index order) of public subjects whose normalised name
    contains ``norm`` (two characters or more): bigrams for two characters, trigrams for more."""
    cap = MATCH_CAP + 1
    if dialect == "sqlite":
        table, term = ("subjects_bigram", bigram_token(norm)) if len(norm) == 2 else ("subjects_fts", norm)
        fts: Select[Any] = (
            select(literal_column("rowid").label("id"))
            .select_from(text(table))
            .where(text(f"{table} MATCH :term").bindparams(term=_fts_phrase(term)))
        )
        if not kind:
            return fts.limit(cap)
        ids = fts.subquery()
        return select(Subject.id).join(ids, ids.c.id == Subject.id).where(Subject.kind == kind).limit(cap)
    if dialect == "postgresql":
        if len(norm) == 2:
            match: Any = text("xinyong_name_bigrams(subjects.name_norm) @> ARRAY[CAST(:gram AS text)]").bindparams(
                gram=norm
            )
        else:
            match = Subject.name_norm.contains(norm, autoescape=True)
        stmt = select(Subject.id).where(match, _PG_ORGS)
        return (stmt.where(Subject.kind == kind) if kind else stmt).limit(cap)
    return select(Subject.id).where(Subject.name_norm.contains(norm, autoescape=True), _public_kinds(kind)).limit(cap)


def _prefix_candidates(session: Session, norm: str, kind: str | None) -> list[int]:
    """Ids (at most MATCH_CAP + 1) of public subjects whose normalised name is or starts with ``norm``: a range on
    the B-tree index of ``name_norm`` (the LIKE makes it exact whatever the collation)."""
    return list(
        session.scalars(
            select(Subject.id)
            .where(
                Subject.name_norm >= norm,
                Subject.name_norm < norm + "\U0010ffff",
                Subject.name_norm.startswith(norm, autoescape=True),
                _public_kinds(kind),
            )
            .limit(MATCH_CAP + 1)
        )
    )


def clean_query(q: str | None) -> str:
    """The query as searched: control and other non-printable characters dropped (a NUL would end the string
    for SQLite and is refused by PostgreSQL), trimmed, cut to :data:`MAX_QUERY_LENGTH`."""
    text_ = (q or "")[: MAX_QUERY_LENGTH * 4]
    return "".join(ch if ch.isprintable() else " " for ch in text_).strip()[:MAX_QUERY_LENGTH]


def search_subjects(
    session: Session, *, q: str, kind: str | None = None, limit: int = 20, offset: int = 0
) -> SearchResults:
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
    if looks_like_code(query):
        rid = resident_id.validate(query)
        if rid.valid:
            result.mode = "person_id"
            return result
        ids = _code_lookup(session, query, kind)
        if ids:
            result.mode = "code"
            result.total = len(ids)
            rows = session.execute(
                select(*_COLUMNS).where(Subject.id.in_(ids)).order_by(Subject.id).offset(offset).limit(limit)
            ).all()
            result.items = _hits(rows)
            return result
    if len(norm) < MIN_NAME_QUERY:
        result.mode = "too_short"
        result.message = TOO_SHORT_MESSAGE
        return result
    result.mode = "name"
    ensure_search_index(session)
    ids = list(session.scalars(contains_statement(session.get_bind().dialect.name, norm, kind)))
    result.capped = len(ids) > MATCH_CAP
    if result.capped:
        # The cap took the first matches in index order: add the exact and prefix matches, which rank first.
        ids = list(dict.fromkeys(_prefix_candidates(session, norm, kind) + ids))
    result.total = min(len(ids), MATCH_CAP)
    if offset >= result.total:
        return result
    rank = case((Subject.name_norm == norm, 0), (Subject.name_norm.startswith(norm, autoescape=True), 1), else_=2)
    if session.get_bind().dialect.name == "postgresql":  # one array parameter instead of up to 2,002
        among: Any = Subject.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    else:
        among = Subject.id.in_(ids)
    stmt = (
        select(*_COLUMNS)
        .where(among, _public_kinds(kind))
        .order_by(rank, func.length(Subject.name_norm), Subject.name_norm, Subject.id)
        .offset(offset)
        .limit(min(limit, result.total - offset))
    )  # the best MATCH_CAP of the candidates
    result.items = _hits(session.execute(stmt).all())
    return result


@dataclass
class SubjectMatch:
    """The public subjects a query names, for narrowing another list to them (``records``' search within 双公示):
    ``ids`` (at most MATCH_CAP), ``capped`` when more matched, ``mode`` as :class:`SearchResults`'s."""

    ids: list[int]
    capped: bool = False
    mode: str = "empty"
    message: str | None = None


def matching_subject_ids(session: Session, q: str, kind: str | None = None) -> SubjectMatch:
    """The ids of the public subjects whose code is ``q`` or whose name contains it, through the same indexes as
    :func:`search_subjects` (code and alias look-ups; FTS5 trigram/bigram on SQLite, pg_trgm/bigram GIN on
    PostgreSQL), the exact and prefix names first when more than MATCH_CAP match. Never natural persons."""
    query = clean_query(q)
    norm = normalize_org_name(query)
    if not norm or kind == SubjectKind.NATURAL_PERSON.value:
        return SubjectMatch([])
    if looks_like_code(query):
        if resident_id.validate(query).valid:
            return SubjectMatch([], mode="person_id")
        ids = _code_lookup(session, query, kind)
        if ids:
            return SubjectMatch(ids[:MATCH_CAP], capped=len(ids) > MATCH_CAP, mode="code")
    if len(norm) < MIN_NAME_QUERY:
        return SubjectMatch([], mode="too_short", message=TOO_SHORT_MESSAGE)
    ensure_search_index(session)
    ids = list(session.scalars(contains_statement(session.get_bind().dialect.name, norm, kind)))
    capped = len(ids) > MATCH_CAP
    if capped:
        ids = list(dict.fromkeys(_prefix_candidates(session, norm, kind) + ids))
    return SubjectMatch(ids[:MATCH_CAP], capped=capped, mode="name")
