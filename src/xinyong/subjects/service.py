"""The subject registry: resolve codes to subjects, register persons, import the market regulator's registry.

Resolution is code first: a USCC, then a resident ID (through its keyed hash), then a legacy alias. Names only
help where no code is known (list comparison does that, with explainable scores, in ``lists``).
"""

from __future__ import annotations

import contextlib
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, NotRequired

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.orm import Bundle, Session

# pydantic (API answers) needs typing_extensions.TypedDict on Python < 3.12
from typing_extensions import TypedDict

from xinyong.auth.roles import Principal
from xinyong.core import audit, batches, gcpause
from xinyong.core.bulk import allocate_ids, insert_missing, insert_rows
from xinyong.core.db import IN_CHUNK, mark_bulk, reading_apart, utcnow
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.identifiers import explain, resident_id, uscc
from xinyong.identifiers.check import CodeKind
from xinyong.identifiers.masking import mask_name
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.ingest.readers import Source, as_source, open_table, row_issues
from xinyong.subjects import access_log, registry
from xinyong.subjects.models import (
    KIND_LABELS,
    ORG_TYPE_LABELS,
    AliasScheme,
    RegistryImport,
    Subject,
    SubjectAlias,
    SubjectKind,
    SubjectName,
)

#: Problems kept in full in the stored report; counts are always exact.
REPORT_PROBLEM_LIMIT = 10_000
CHUNK = 5_000
#: Rows of a registry file parsed before the import's write transaction begins.
AHEAD_ROWS = 20_000


# Look-ups ----------------------------------------------------------------------------------------------------


def find_subject(session: Session, code: str) -> Subject | None:
    """The subject a code names: USCC, resident ID (18 or 15 digits), organisation code or another alias."""
    return resolve_codes(session, [code])[code]


def resolve_codes(session: Session, codes: Iterable[str]) -> dict[str, Subject | None]:
    """Each code (as given) -> the subject it names, or None: every code form the platform accepts, in bulk.

    Order of precedence, per code: its USCC (any 18-character code, check digit or not: a flagged USCC was kept
    on an operator's word), then a resident ID (18 or 15 digits, valid) by its keyed hash — the number itself
    goes into no statement and no log —, then the legacy codes (aliases, by the compact code, which is also the
    normalised form of an organisation code; the lowest subject id when two subjects share a value). A valid 18-digit
    resident ID is asked as a USCC only when it is a valid USCC too, and never as an alias. A few statements
    per :data:`~xinyong.core.db.IN_CHUNK` codes of each form, never one per code. The resolver only finds:
    creating the missing subjects, or telling an invalid code from an unknown one, stays with its caller.
    """
    return _resolve(session, codes, Subject)


def resolve_code_ids(session: Session, codes: Iterable[str]) -> dict[str, int | None]:
    """:func:`resolve_codes` answering subject ids, for callers that need no more (no subject row is loaded)."""
    return _resolve(session, codes, Subject.id)


class SubjectHit(NamedTuple):
    """What :func:`resolve_code_hits` answers of a subject: enough to tell a renamed or a conflicting subject."""

    id: int
    name_norm: str
    uscc: str | None


class _HitBundle(Bundle[SubjectHit]):
    def create_row_processor(self, query: Any, procs: Any, labels: Any) -> Any:
        ident, name_norm, code = procs
        return lambda row: SubjectHit(ident(row), name_norm(row), code(row))


_HIT = _HitBundle("hit", Subject.id, Subject.name_norm, Subject.uscc)


def resolve_code_hits(session: Session, codes: Iterable[str]) -> dict[str, SubjectHit | None]:
    """:func:`resolve_codes` answering id, normalised name and USCC (no subject row is loaded): for the record
    upload, which flags a subject known under another name and a legacy code that belongs to another USCC."""
    return _resolve(session, codes, _HIT)


def _in_chunks(values: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


def _resolve(session: Session, codes: Iterable[str], what: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plans: dict[str, tuple[str, str | None, bool]] = {}  # code -> (compact, keyed hash of a resident ID, as a USCC)
    vault = None
    for code in codes:
        if code in plans:
            continue
        out[code] = None
        raw = code.strip() if isinstance(code, str) else ""
        if not raw:
            continue
        c = uscc.compact(raw)
        digest = None
        if (len(c) == 18 and c[:17].isdigit()) or (len(c) == 15 and c.isdigit()):
            if len(c) == 18 and resident_id.is_valid(c):  # the fast path: a valid 18-digit number is its own form
                number: str | None = c
            else:
                rid = resident_id.validate(raw)
                number = rid.normalized if rid.valid else None
            if number:
                vault = vault or get_vault()
                digest = vault.lookup_hash(number)
        # a person's number goes into no statement: asked as a USCC only when it is a valid one too
        as_uscc = len(c) == 18 and (digest is None or uscc.is_valid(c))
        plans[code] = (c, digest, as_uscc)
    if not plans:
        return out
    found_uscc: dict[str, Any] = {}
    for chunk in _in_chunks(c for c, _d, as_uscc in plans.values() if as_uscc):
        found_uscc.update(session.execute(select(Subject.uscc, what).where(Subject.uscc.in_(chunk))).all())
    found_hash: dict[str, Any] = {}
    for chunk in _in_chunks(d for c, d, u in plans.values() if d is not None and not (u and c in found_uscc)):
        found_hash.update(
            session.execute(select(Subject.resident_id_hash, what).where(Subject.resident_id_hash.in_(chunk))).all()
        )
    wanted: dict[str, str] = {}  # code -> its compact form, asked as a legacy code (an organisation code's too)
    for code, (c, digest, as_uscc) in plans.items():
        hit = found_uscc.get(c) if as_uscc else None
        if hit is None and digest is not None:
            hit = found_hash.get(digest)
        if hit is not None:
            out[code] = hit
            continue
        if not as_uscc and digest is not None and len(c) == 18:
            continue  # an unknown person's 18-digit number is no legacy code (a 15-digit one may be a 注册号)
        wanted[code] = c
    found_alias: dict[str, Any] = {}
    for chunk in _in_chunks(wanted.values()):
        rows = session.execute(
            select(SubjectAlias.value, what)
            .join(Subject, Subject.id == SubjectAlias.subject_id)
            .where(SubjectAlias.value.in_(chunk))
            .order_by(SubjectAlias.value, Subject.id)
        )
        for value, hit in rows:
            found_alias.setdefault(value, hit)
    for code, c in wanted.items():
        out[code] = found_alias.get(c)
    return out


def get_subject(session: Session, code: str) -> Subject:
    subject = find_subject(session, code)
    if subject is None:
        raise NotFound(f"未找到代码为 {_safe_code(code)} 的信用主体", code="subject_not_found")
    return subject


def _safe_code(code: str) -> str:
    """A code as it may appear in a message: resident IDs masked."""
    check = explain(code)
    if check.kind is CodeKind.RESIDENT_ID:
        return check.to_dict(mask=True)["input"]
    return code[:40]


class SubjectAliasView(TypedDict):
    scheme: str
    value: str


class SubjectView(TypedDict):
    """A subject as the API, the CLI and the console show it (:func:`subject_view`, :func:`public_view`)."""

    id: int
    kind: str
    kind_label: str
    org_type: str | None
    org_type_label: str | None
    name: str
    uscc: str | None
    uscc_flagged: bool
    resident_id: str | None  # masked, never in clear
    region_code: str | None
    legal_rep: str | None
    registered_on: str | None
    status: str | None
    address: str | None
    registration_authority: str | None
    profession: str | None
    source: str | None
    aliases: NotRequired[list[SubjectAliasView]]
    names: NotRequired[list[dict[str, str | None]]]  # {"name", "from", "to"}: "from" is no identifier


def subject_view(subject: Subject, *, include_history: bool = True) -> SubjectView:
    """What may be shown about a subject. A person's ID is only ever masked here."""
    person = subject.kind == SubjectKind.NATURAL_PERSON
    view: SubjectView = {
        "id": subject.id,
        "kind": subject.kind,
        "kind_label": KIND_LABELS[SubjectKind(subject.kind)],
        "org_type": subject.org_type,
        "org_type_label": ORG_TYPE_LABELS.get(subject.org_type or ""),
        "name": subject.name,
        "uscc": subject.uscc,
        "uscc_flagged": subject.uscc_flagged,
        "resident_id": subject.resident_id_masked if person else None,
        "region_code": subject.region_code,
        "legal_rep": subject.legal_rep,
        "registered_on": subject.registered_on.isoformat() if subject.registered_on else None,
        "status": subject.status,
        "address": None if person else subject.address,
        "registration_authority": subject.registration_authority,
        "profession": subject.profession,
        "source": subject.source,
    }
    if include_history:
        view["aliases"] = [SubjectAliasView(scheme=a.scheme, value=a.value) for a in subject.aliases]
        view["names"] = [
            {"name": n.name, "from": n.valid_from.isoformat(), "to": n.valid_to.isoformat() if n.valid_to else None}
            for n in subject.names
        ]
    return view


def public_view(subject: Subject) -> SubjectView:
    """The public form: natural persons' names masked as well."""
    view = subject_view(subject)
    if subject.kind == SubjectKind.NATURAL_PERSON:
        view["name"] = mask_name(subject.name)
        view["names"] = []
        view["legal_rep"] = None
    return view


def search_organisations(session: Session, *, q: str, kind: str | None = None, limit: int = 20) -> list[Subject]:
    """Organisations whose code equals ``q`` or whose normalised name contains it (persons are never listed)."""
    q = (q or "").strip()
    if not q:
        raise ValidationFailed("请输入名称或代码", code="query_empty")
    stmt = select(Subject).where(Subject.kind != SubjectKind.NATURAL_PERSON)
    if kind:
        stmt = stmt.where(Subject.kind == kind)
    code = uscc.compact(q)
    if len(code) == 18:
        stmt = stmt.where(Subject.uscc == code)
    else:
        norm = normalize_org_name(q)
        stmt = stmt.where(Subject.name_norm.contains(norm, autoescape=True)).order_by(func.length(Subject.name))
    return list(session.scalars(stmt.limit(limit)))


# Registering single subjects -----------------------------------------------------------------------------------


def register_organisation(
    session: Session,
    *,
    actor: Principal,
    name: str,
    code: str,
    kind: str | None = None,
    legal_rep: str | None = None,
    source: str | None = None,
    allow_bad_check: bool = False,
    reason: str | None = None,
) -> Subject:
    check = uscc.validate(code, allow_bad_check=allow_bad_check)
    if not check.valid:
        raise ValidationFailed(
            "统一社会信用代码无效：" + "；".join(e.message for e in check.errors), code=check.errors[0].code
        )
    if not name or not name.strip():
        raise ValidationFailed("主体名称不能为空", code="name_missing")
    if session.scalar(select(Subject.id).where(Subject.uscc == check.normalized)):
        raise Conflict(f"统一社会信用代码 {check.normalized} 已登记", code="subject_exists")
    org_type = check.details.get("subject_type")
    if kind is None:
        kind = SubjectKind.INDIVIDUAL_BUSINESS if org_type == "individual_business" else SubjectKind.LEGAL_PERSON
    name = name.strip()
    subject = Subject(
        kind=kind,
        org_type=org_type,
        name=name,
        name_norm=normalize_org_name(name),
        uscc=check.normalized,
        uscc_flagged=any(w.code == "uscc_check_digit" for w in check.warnings),
        region_code=check.details.get("region_code"),
        legal_rep=legal_rep,
        source=source,
    )
    return _add_registered(
        session, subject, actor=actor, reason=reason, after=lambda s: subject_view(s, include_history=False)
    )


def register_person(
    session: Session,
    *,
    actor: Principal,
    name: str,
    id_number: str,
    profession: str | None = None,
    source: str | None = None,
    reason: str | None = None,
) -> Subject:
    """A natural person: the ID is stored encrypted, found by keyed hash, shown masked."""
    check = resident_id.validate(id_number)
    if not check.valid or not check.normalized:
        raise ValidationFailed(
            "居民身份证号码无效：" + "；".join(e.message for e in check.errors),
            code=check.errors[0].code if check.errors else "resident_id_invalid",
        )
    if not name or not name.strip():
        raise ValidationFailed("姓名不能为空", code="name_missing")
    vault = get_vault()
    digest = vault.lookup_hash(check.normalized)
    if session.scalar(select(Subject.id).where(Subject.resident_id_hash == digest)):
        raise Conflict("该身份证号码对应的自然人已登记", code="subject_exists")
    name = name.strip()
    masked = check.to_dict(mask=True)["normalized"]
    subject = Subject(
        kind=SubjectKind.NATURAL_PERSON,
        name=name,
        name_norm=normalize_person_name(name),
        resident_id_hash=digest,
        resident_id_enc=vault.encrypt(check.normalized),
        resident_id_masked=masked,
        region_code=check.details.get("region_code"),
        profession=profession,
        source=source,
    )
    after = {"kind": subject.kind, "name": mask_name(name), "resident_id": masked, "profession": profession}
    return _add_registered(session, subject, actor=actor, reason=reason, after=lambda _s: after)


def _add_registered(
    session: Session,
    subject: Subject,
    *,
    actor: Principal,
    reason: str | None,
    after: Callable[[Subject], Mapping[str, Any]],
) -> Subject:
    """Store a subject registered by hand with its first name, and its audit event (``after``: what it keeps)."""
    subject.names.append(SubjectName(name=subject.name, name_norm=subject.name_norm, source=subject.source))
    session.add(subject)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.register",
        entity_type="subject",
        entity_id=subject.id,
        reason=reason,
        after=after(subject),
    )
    if subject.resident_id_hash:  # a person: the related-person rows that named this number now point to them
        from xinyong.subjects import related  # cycle: subjects.related imports this module

        related.link_person(session, subject_id=subject.id, id_hash=subject.resident_id_hash)
    return subject


def reveal_resident_id(session: Session, *, actor: Principal, subject: Subject, purpose: str) -> str:
    """The full ID number, for an authorised government use only; every reveal is in the audit log."""
    if subject.kind != SubjectKind.NATURAL_PERSON or not subject.resident_id_enc:
        raise ValidationFailed("该主体不是自然人", code="not_a_person")
    if not purpose or not purpose.strip():
        raise ValidationFailed("查看完整身份证号码必须说明用途", code="purpose_required")
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.reveal_resident_id",
        entity_type="subject",
        entity_id=subject.id,
        reason=purpose,
        after={"resident_id": subject.resident_id_masked},
    )
    return get_vault().decrypt(subject.resident_id_enc)


def log_person_view(
    session: Session,
    *,
    actor: Principal,
    subject: Subject,
    purpose: str | None,
    endpoint: str = "GET /api/v1/subjects/{code}",
    scope: tuple[str, ...] = ("registration",),
    action: str = "subjects.person_viewed",
) -> None:
    """Every query of personal data by a department or bank is recorded: in the audit chain and in the person's
    access log (``subjects.access_log``: the 查询记录 the person sees)."""

    access_log.record(
        session,
        actor=actor,
        subject_id=subject.id,
        purpose=purpose,
        endpoint=endpoint,
        scope=scope,
        action=action,
        extra={"resident_id": subject.resident_id_masked},
    )


# Registry import ---------------------------------------------------------------------------------------------

_TRACKED = (
    "name",
    "kind",
    "org_type",
    "legal_rep",
    "registered_on",
    "status",
    "address",
    "registration_authority",
    "region_code",
    "uscc_flagged",
)


class _ImportState:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.problem_counts: Counter[str] = Counter()
        self.problems: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, Any]] = []
        # code -> first row << 32 | CRC-32 of the normalised name: one int per code keeps memory small for
        # a province-sized file (a tuple of row and name costs several times more).
        self.seen: dict[str, int] = {}
        self.without_uscc: list[dict[str, Any]] = []
        self.rejected_rows: list[int] = []
        self.refused: list[batches.Rejected] = []  # rows of the chunk being written that the store refused

    def problem(self, p: registry.Problem, *, warning: bool = False) -> None:
        self.problem_counts[p.code] += 1
        target = self.warnings if warning else self.problems
        if len(target) < REPORT_PROBLEM_LIMIT:
            target.append(p.to_dict())


def _row_error(p: registry.Problem) -> batches.RowError:
    return batches.RowError(p.row, p.column, p.code, p.message, detail=p.to_dict())


@gcpause.bulk()
def import_registry(
    session: Session,
    *,
    actor: Principal,
    path: str | Path | Source,
    allow_bad_check: bool = False,
    source: str = "市场监管局登记注册数据",
    mode: str = batches.KEEP_GOOD,
) -> dict[str, Any]:
    """Import a registry export in the caller's transaction (all or nothing); return the data-quality report.

    Valid rows create or update subjects (a new name is added to the name history; a subject known only by its
    registration number gets its USCC: 赋码转换). Invalid rows are reported, row by row, and not written.
    The same code twice in the file with different names (重码) keeps the first row and reports the others.
    """
    file = as_source(path)
    table = open_table(file, known_headers=registry.KNOWN_HEADERS)
    cols = registry.column_map(table.headers)
    if "name" not in cols or not ({"uscc", "registration_no", "org_code"} & set(cols)):
        raise ValidationFailed(
            "登记数据缺少必需的列：主体名称，以及统一社会信用代码/注册号/组织机构代码之一",
            code="registry_columns_missing",
            details={"headers": table.headers},
        )
    record = RegistryImport(filename=file.name[:300], sha256=file.sha256(), actor=actor.actor)
    tag = ""
    state = _ImportState()
    # The first AHEAD_ROWS rows are parsed before the write transaction begins (``begin``), on the side of a write
    # lock the caller's session may hold (core.db.reading_apart): on SQLite parsing does not keep writers waiting.
    aside = contextlib.ExitStack()
    aside.enter_context(reading_apart(session))

    def begin() -> None:
        nonlocal tag
        aside.close()
        mark_bulk(session)
        session.add(record)
        session.flush()
        tag = f"registry_import:{record.id}"

    def validate(number: int, values: list[Any]) -> tuple[Any, list[batches.RowError]]:
        refused = row_issues(values)  # over-long cell or row, formula without a value: never parsed
        row, problems = (
            (None, [registry.Problem(i.row, i.column, i.value, i.code, i.message) for i in refused])
            if refused
            else registry.parse_row(number, values, cols, allow_bad_check=allow_bad_check)
        )
        if row is None:
            return None, [_row_error(p) for p in problems]
        for w in row.warnings:
            state.problem(w, warning=True)
        key = row.uscc or (f"reg:{row.registration_no}" if row.registration_no else f"org:{row.org_code}")
        first = state.seen.get(key)
        name_crc = zlib.crc32(row.name_norm.encode())
        if first is not None:
            first_row = first >> 32
            if first & 0xFFFFFFFF == name_crc:
                return batches.SKIP, []  # the same subject twice: a duplicate row, not an error
            if len(state.duplicates) < REPORT_PROBLEM_LIMIT:
                state.duplicates.append({"code": row.uscc or key, "rows": [first_row, number], "name": row.name})
            return None, [
                _row_error(
                    registry.Problem(
                        number,
                        "统一社会信用代码",
                        row.uscc or key,
                        "duplicate_code",
                        f"重码：与第 {first_row} 行代码相同但名称不同",
                    )
                )
            ]
        state.seen[key] = number << 32 | name_crc
        if row.uscc is None and row.kind != SubjectKind.INDIVIDUAL_BUSINESS:
            state.counts["without_uscc"] += 1
            if len(state.without_uscc) < 1000:
                state.without_uscc.append(
                    {"row": number, "name": row.name, "registration_no": row.registration_no, "org_code": row.org_code}
                )
        if row.kind != SubjectKind.INDIVIDUAL_BUSINESS:
            state.counts["organisations"] += 1
        return row, []

    def write(good: list[batches.Good[registry.RegistryRow]], _bad: list[batches.Rejected]) -> list[batches.Rejected]:
        if not good:
            return []
        state.refused = []
        _apply_chunk(session, [g.item for g in good], state, tag)
        _note_legal_reps(session, [g.item for g in good], actor=actor, tag=tag, filename=file.name)
        return state.refused

    with aside:
        summary = batches.run(
            table.rows,
            importer="registry",
            validate=validate,
            write=write,
            mode=mode,
            session=session,
            chunk=CHUNK,
            begin=begin,
            ahead=AHEAD_ROWS,
        )
    assert summary is not None
    summary.batch = record.id
    state.counts["rows"], state.counts["rejected"] = summary.rows, summary.rejected
    state.counts["duplicate_rows"] = summary.skipped
    state.rejected_rows = summary.rejected_rows
    state.problem_counts.update(summary.error_counts)
    state.problems = [e.detail or e.as_dict() for e in summary.errors][:REPORT_PROBLEM_LIMIT]
    if not summary.written:
        for key in ("created", "updated", "renamed", "converted", "unchanged"):
            state.counts[key] = 0

    c = state.counts
    orgs = c["organisations"]
    report = {
        "import_id": record.id,
        "file": file.name,
        "sha256": record.sha256,
        "format": table.format,
        "encoding": table.encoding,
        "rows": c["rows"],
        "created": c["created"],
        "updated": c["updated"],
        "renamed": c["renamed"],
        "converted": c["converted"],
        "unchanged": c["unchanged"],
        "rejected": c["rejected"],
        "duplicate_rows": c["duplicate_rows"],
        "problem_counts": dict(state.problem_counts),
        "problems": state.problems,
        "warnings": state.warnings,
        "duplicates": state.duplicates,
        "rejected_rows": state.rejected_rows[:REPORT_PROBLEM_LIMIT],
        "without_uscc": {"count": c["without_uscc"], "examples": state.without_uscc[:100]},
        "uscc_conversion_rate": round((orgs - c["without_uscc"]) / orgs, 6) if orgs else None,
        "unknown_columns": [h for i, h in enumerate(table.headers) if h and i not in cols.values()],
        "mode": mode,
        "summary": summary.as_dict(),
    }
    record.rows, record.created, record.updated = c["rows"], c["created"], c["updated"]
    record.unchanged, record.rejected = c["unchanged"], c["rejected"]
    record.finished_at = utcnow()
    record.report = report
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.registry_import",
        entity_type="registry_import",
        entity_id=record.id,
        reason=f"导入登记数据 {file.name}",
        after={
            k: report[k]
            for k in ("file", "sha256", "rows", "created", "updated", "renamed", "converted", "unchanged", "rejected")
        },
    )
    return report


def _note_legal_reps(
    session: Session, rows: list[registry.RegistryRow], *, actor: Principal, tag: str, filename: str
) -> None:
    """The rows' legal representatives into the related persons (``subjects.related``; the registry is
    authoritative for them: a different one ends the previous)."""
    from xinyong.subjects import related

    named = [r for r in rows if r.legal_rep and r.uscc]
    if not named:
        return
    # Not resolve_codes: these are the rows this import has just written, keyed by their USCC as stored (a code
    # with a wrong check digit included, allow_bad_check). Reading them back by that key is exact; the resolver
    # answers a *query* code (legacy codes, masked IDs) and would treat an all-digit code with a bad USCC check
    # digit that passes as a resident ID as a person's number.
    ids: dict[str, int] = {}
    for chunk in _in_chunks(r.uscc for r in named if r.uscc):
        ids.update(
            {str(u): i for u, i in session.execute(select(Subject.uscc, Subject.id).where(Subject.uscc.in_(chunk)))}
        )
    items = [
        related.RelatedInput(
            subject_id=ids[r.uscc],
            name=r.legal_rep,
            role=related.RelatedRole.LEGAL_REP,
            id_number=r.legal_rep_id,
            provenance={"import": tag, "file": filename[:200], "row": r.row},
        )
        for r in named
        if r.uscc in ids and r.legal_rep
    ]
    related.note_legal_reps(
        session, items, source=related.RelatedSource.REGISTRY, actor=actor.actor, authoritative=True
    )


def _row_values(row: registry.RegistryRow) -> dict[str, Any]:
    return {f: getattr(row, f) for f in _TRACKED}


def _apply_chunk(session: Session, rows: list[registry.RegistryRow], state: _ImportState, tag: str) -> None:
    now = utcnow()
    codes = [r.uscc for r in rows if r.uscc]
    cols = [Subject.__table__.c[f] for f in ("id", "uscc", *_TRACKED)]
    existing: dict[str, dict[str, Any]] = {}
    if codes:
        for rec in session.execute(select(*cols).where(Subject.uscc.in_(codes))).mappings():
            existing[rec["uscc"]] = dict(rec)
    # Rows not found by USCC may match a legacy alias (a subject registered before it had a USCC).
    alias_keys = {
        (AliasScheme.REGISTRATION_NO.value, r.registration_no)
        for r in rows
        if r.registration_no and (not r.uscc or r.uscc not in existing)
    }
    alias_keys |= {
        (AliasScheme.ORG_CODE.value, r.org_code) for r in rows if r.org_code and (not r.uscc or r.uscc not in existing)
    }
    by_alias: dict[tuple[str, str], dict[str, Any]] = {}
    if alias_keys:
        values = [v for _, v in alias_keys]
        q = (
            select(SubjectAlias.scheme, SubjectAlias.value, *cols)
            .join(Subject, Subject.id == SubjectAlias.subject_id)
            .where(SubjectAlias.value.in_(values))
        )
        for rec in session.execute(q).mappings():
            key = (rec["scheme"], rec["value"])
            if key in alias_keys:
                by_alias[key] = {k: rec[k] for k in ("id", "uscc", *_TRACKED)}

    new_rows: list[registry.RegistryRow] = []
    updates: list[dict[str, Any]] = []
    renames: list[tuple[int, registry.RegistryRow]] = []
    new_aliases: list[dict[str, Any]] = []
    for r in rows:
        current = existing.get(r.uscc) if r.uscc else None
        if current is None:
            for key in (
                (AliasScheme.REGISTRATION_NO.value, r.registration_no),
                (AliasScheme.ORG_CODE.value, r.org_code),
            ):
                if key[1] and key in by_alias:
                    current = by_alias[key]
                    break
            if current is not None and r.uscc and current["uscc"] and current["uscc"] != r.uscc:
                state.refused.append(
                    batches.Rejected(
                        r.row,
                        [],
                        [
                            _row_error(
                                registry.Problem(
                                    r.row,
                                    "统一社会信用代码",
                                    r.uscc,
                                    "code_conflict",
                                    f"注册号/组织机构代码已属于代码为 {current['uscc']} 的主体（错码）",
                                )
                            )
                        ],
                    )
                )
                continue
        if current is None:
            new_rows.append(r)
            continue
        changed = {k: v for k, v in _row_values(r).items() if v is not None and v != current[k]}
        converted = bool(r.uscc and not current["uscc"])
        if converted:
            changed["uscc"] = r.uscc
            state.counts["converted"] += 1
        if not changed:
            state.counts["unchanged"] += 1
            continue
        if "name" in changed:
            changed["name_norm"] = r.name_norm
            renames.append((current["id"], r))
            state.counts["renamed"] += 1
        changed["updated_at"] = now
        changed["source"] = tag
        updates.append({"_id": current["id"], **changed})
        for scheme, value in ((AliasScheme.REGISTRATION_NO, r.registration_no), (AliasScheme.ORG_CODE, r.org_code)):
            if value and (scheme.value, value) not in by_alias:
                new_aliases.append(
                    {
                        "subject_id": current["id"],
                        "scheme": scheme.value,
                        "value": value,
                        "source": tag,
                        "created_at": now,
                    }
                )
        state.counts["updated"] += 1

    if new_rows:
        params = [
            {
                **_row_values(r),
                "name_norm": r.name_norm,
                "uscc": r.uscc,
                "source": tag,
                "created_at": now,
                "updated_at": now,
            }
            for r in new_rows
        ]
        ids = _insert_subjects(session, params, key="uscc")
        name_rows = []
        created = 0
        for sid, r, p in zip(ids, new_rows, params, strict=True):
            if sid != p["id"]:  # created by another transaction meanwhile (see upsert_subjects)
                state.counts["unchanged"] += 1
                continue
            created += 1
            name_rows.append(
                {"subject_id": sid, "name": r.name, "name_norm": r.name_norm, "valid_from": now, "source": tag}
            )
            for scheme, value in ((AliasScheme.REGISTRATION_NO, r.registration_no), (AliasScheme.ORG_CODE, r.org_code)):
                if value:
                    new_aliases.append(
                        {"subject_id": sid, "scheme": scheme.value, "value": value, "source": tag, "created_at": now}
                    )
        insert_rows(session, SubjectName.__table__, name_rows)
        state.counts["created"] += created
    if updates:
        # Group by the set of changed columns so each executemany has one statement shape.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for u in updates:
            groups.setdefault(tuple(sorted(k for k in u if k != "_id")), []).append(u)
        for keys, items in groups.items():
            stmt = (
                update(Subject.__table__)
                .where(Subject.__table__.c.id == bindparam("_id"))
                .values({k: bindparam(k) for k in keys})
            )
            session.execute(stmt, items)
    if renames:
        ids = [sid for sid, _ in renames]
        session.execute(
            update(SubjectName)
            .where(SubjectName.subject_id.in_(ids), SubjectName.valid_to.is_(None))
            .values(valid_to=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            insert(SubjectName.__table__),
            [
                {"subject_id": sid, "name": r.name, "name_norm": r.name_norm, "valid_from": now, "source": tag}
                for sid, r in renames
            ],
        )
    if new_aliases:
        # The same legacy code may already be an alias of another subject: report, don't overwrite.
        values = [a["value"] for a in new_aliases]
        taken = {
            (s, v)
            for s, v in session.execute(
                select(SubjectAlias.scheme, SubjectAlias.value).where(SubjectAlias.value.in_(values))
            )
        }
        fresh, seen = [], set()
        for a in new_aliases:
            key = (a["scheme"], a["value"])
            if key in taken or key in seen:
                continue
            seen.add(key)
            fresh.append(a)
        if fresh:  # in key order, skipping one another import has just added (see upsert_subjects)
            insert_missing(session, SubjectAlias.__table__, sorted(fresh, key=lambda a: (a["scheme"], a["value"])))


def _insert_subjects(session: Session, params: list[dict[str, Any]], *, key: str) -> list[int]:
    """Insert subjects in bulk and return their ids in the order given (see :func:`upsert_subjects`: a subject
    another transaction created meanwhile under the same key is not created again, its id is returned)."""
    ids = allocate_ids(session, Subject.__table__, len(params))
    for sid, p in zip(ids, params, strict=True):
        p["id"] = sid
    found = upsert_subjects(session, params, key=key)
    return [found[p[key]] if p.get(key) else p["id"] for p in params]


def upsert_subjects(session: Session, params: list[dict[str, Any]], *, key: str) -> dict[str, int]:
    """Create the subjects ``params`` describe (dicts of ``subjects`` columns, each with an ``id`` from
    ``core.bulk.allocate_ids``) unless a subject with the same ``key`` (``uscc`` or ``resident_id_hash``) exists;
    returns ``{key value: id}`` of all of them. A row whose id in the answer is not its own was created by another
    transaction: the caller must not write that row's names or aliases.

    Several writers may create the same subject at once (two uploads naming a company new to the registry): the
    rows are inserted with ``ON CONFLICT DO NOTHING`` in key order (``core.bulk.insert_missing``; on PostgreSQL a
    row another transaction is inserting waits for it, then is skipped), then the ids are read back by key. Rows
    without the key (legacy subjects known only by a registration number: few) are inserted as they are.
    """
    table = Subject.__table__
    keyed = sorted((p for p in params if p.get(key)), key=lambda p: p[key])
    plain = [p for p in params if not p.get(key)]
    found: dict[str, int] = {}
    if keyed:
        insert_missing(session, table, keyed)
        codes = [p[key] for p in keyed]
        for start in range(0, len(codes), CHUNK):
            found.update(
                session.execute(
                    select(table.c[key], table.c.id).where(table.c[key].in_(codes[start : start + CHUNK]))
                ).all()
            )
    if plain:
        insert_rows(session, table, plain)
    return found


def new_subject_values(*, kind: str, name: str, name_norm: str, source: str, now: Any, **values: Any) -> dict[str, Any]:
    """A ``subjects`` row for :func:`create_subjects`: every column the bulk insert names, unset ones empty."""
    row: dict[str, Any] = {
        "kind": kind,
        "org_type": None,
        "name": name,
        "name_norm": name_norm,
        "uscc": None,
        "uscc_flagged": False,
        "resident_id_hash": None,
        "resident_id_enc": None,
        "resident_id_masked": None,
        "region_code": None,
        "source": source,
        "created_at": now,
        "updated_at": now,
    }
    row.update(values)
    return row


def create_subjects(session: Session, params: list[dict[str, Any]], *, source: str, now: Any) -> dict[int, int]:
    """Create the subjects ``params`` describe (rows of :func:`new_subject_values`), persons keyed by their ID's
    hash and organisations by USCC, each unless another transaction created it meanwhile (:func:`upsert_subjects`),
    and their first name-history rows. Sets each row's ``id``; returns ``{row id: subject id}``: where the two
    differ, the subject existed after all and nothing of the row was written."""
    for sid, values in zip(allocate_ids(session, Subject.__table__, len(params)), params, strict=True):
        values["id"] = sid
    people = [v for v in params if v["resident_id_hash"]]
    found = upsert_subjects(session, people, key="resident_id_hash") if people else {}
    found.update(upsert_subjects(session, [v for v in params if not v["resident_id_hash"]], key="uscc"))
    own = {v["id"]: found.get(v["resident_id_hash"] or v["uscc"] or "", v["id"]) for v in params}
    insert_rows(
        session,
        SubjectName.__table__,
        [
            {"subject_id": v["id"], "name": v["name"], "name_norm": v["name_norm"], "valid_from": now, "source": source}
            for v in params
            if own[v["id"]] == v["id"]
        ],
    )
    return own


def registry_imports(session: Session, *, limit: int = 50) -> list[RegistryImport]:
    return list(session.scalars(select(RegistryImport).order_by(RegistryImport.id.desc()).limit(limit)))


def get_import(session: Session, import_id: int) -> RegistryImport:
    rec = session.get(RegistryImport, import_id)
    if rec is None:
        raise NotFound(f"导入批次 {import_id} 不存在", code="import_not_found")
    return rec


def quality_summary(session: Session) -> dict[str, Any]:
    """Registry-wide figures the credit office reports: USCC conversion (excluding individual businesses)."""
    rows = session.execute(
        select(
            Subject.kind, func.count(), func.count(Subject.uscc), func.sum(case((Subject.uscc_flagged, 1), else_=0))
        ).group_by(Subject.kind)
    ).all()
    by_kind = {k: {"total": t, "with_uscc": w, "flagged": int(f or 0)} for k, t, w, f in rows}
    orgs = by_kind.get(SubjectKind.LEGAL_PERSON.value, {"total": 0, "with_uscc": 0})
    return {
        "by_kind": by_kind,
        "organisations_without_uscc": orgs["total"] - orgs["with_uscc"],
        "uscc_conversion_rate": round(orgs["with_uscc"] / orgs["total"], 6) if orgs["total"] else None,
    }


def bulk_register_persons(
    session: Session,
    *,
    actor: Principal,
    persons: list[tuple[str, str, str | None]],
    source: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Register many natural persons at once (name, resident ID, profession); one audit event for the batch.

    Invalid IDs are reported by position and not written; a person already registered is left as is.
    """
    vault = get_vault()
    now = utcnow()
    problems: list[dict[str, Any]] = []
    prepared: dict[str, dict[str, Any]] = {}
    for index, (name, number, profession) in enumerate(persons, 1):
        check = resident_id.validate(number)
        if not check.valid or not check.normalized or not (name or "").strip():
            problems.append(
                {
                    "index": index,
                    "resident_id": check.to_dict(mask=True)["input"],
                    "errors": [e.message for e in check.errors] or ["姓名为空"],
                }
            )
            continue
        digest = vault.lookup_hash(check.normalized)
        if digest in prepared:
            continue
        name = name.strip()
        prepared[digest] = {
            "kind": SubjectKind.NATURAL_PERSON.value,
            "name": name,
            "name_norm": normalize_person_name(name),
            "resident_id_hash": digest,
            "resident_id_enc": vault.encrypt(check.normalized),
            "resident_id_masked": check.to_dict(mask=True)["normalized"],
            "region_code": check.details.get("region_code"),
            "profession": profession,
            "source": source,
            "created_at": now,
            "updated_at": now,
            "uscc_flagged": False,
        }
    existing: set[str] = set()
    digests = list(prepared)
    for i in range(0, len(digests), CHUNK):
        existing.update(
            session.scalars(
                select(Subject.resident_id_hash).where(Subject.resident_id_hash.in_(digests[i : i + CHUNK]))
            )
        )
    fresh = [p for d, p in prepared.items() if d not in existing]
    created = 0
    for i in range(0, len(fresh), CHUNK):
        part = fresh[i : i + CHUNK]
        ids = _insert_subjects(session, part, key="resident_id_hash")
        names = [
            {"subject_id": sid, "name": p["name"], "name_norm": p["name_norm"], "valid_from": now, "source": source}
            for sid, p in zip(ids, part, strict=True)
            if sid == p["id"]
        ]
        if names:
            session.execute(insert(SubjectName.__table__), names)
        created += len(names)
    result = {
        "submitted": len(persons),
        "created": created,
        "already_registered": len(prepared) - created,
        "rejected": len(problems),
        "problems": problems[:REPORT_PROBLEM_LIMIT],
    }
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.bulk_register_persons",
        entity_type="subject",
        reason=reason or source,
        after={k: v for k, v in result.items() if k != "problems"},
    )
    return result
