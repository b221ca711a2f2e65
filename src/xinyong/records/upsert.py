"""Credit records, write side: store validated rows in bulk as records and versions (双公示 ingest).

:func:`upsert_records` takes validated rows (:class:`~xinyong.records.inputs.RecordInput`), resolves or creates
their subjects, and creates records, appends versions or recognises identical resubmissions, with one audit
event per call. Each row is prepared here (identifiers checked and hashed, personal numbers scrubbed from the
free-form data, timeliness against 7 working days, the canonical content hash) and applied in chunks; the
result is an :class:`UpsertResult` with one :class:`RowOutcome` per row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.catalog.rules import PartyKind, PublicityRule, parse_party_kind
from xinyong.core import clock, workdays
from xinyong.core.batches import Deferred, Tally
from xinyong.core.bulk import Dumped, allocate_ids, dumps, insert_missing, insert_rows
from xinyong.core.db import BULK_OPTION, WRITE_OPTION, lock_keys, utcnow, writer_of
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import resident_id, uscc
from xinyong.identifiers.masking import mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.records import packing, publicity
from xinyong.records import versions as record_versions
from xinyong.records.inputs import RecordInput, RecordKind
from xinyong.records.models import CreditRecord, RecordVersion, dictionary_loader
from xinyong.records.queries import rules
from xinyong.subjects import related
from xinyong.subjects.models import AliasScheme, Subject, SubjectAlias
from xinyong.subjects.service import SubjectHit, create_subjects, new_subject_values, resolve_code_hits

CHUNK = 2_000


#: The writer that stores a chunk of prepared rows (after their subjects are resolved): ``"row"`` — the row writer
#: (:meth:`_Context.write_records`: a dict per record and per version, looked up by document number);
#: ``"bulk"`` — the set-based writer (``records.setwrite``: the chunk in a staging table, the existing-record check
#: one join, records and versions written by ``INSERT … SELECT``); ``"auto"`` — bulk on PostgreSQL for chunks of
#: ``BULK_MIN`` rows or more, the row writer otherwise: on SQLite the set-based writer measured ≈ 15 % more CPU
#: than the row writer, on PostgreSQL ≈ 8 % less (docs/performance.md, "Set-based write"). Both store the same
#: rows (tests/records/test_setwrite.py). ``XINYONG_RECORD_WRITER`` sets it (the test suites can so be run on
#: either writer).
ENGINE = os.environ.get("XINYONG_RECORD_WRITER", "auto")


BULK_MIN = 50


ENTITY = "credit_record"


_ALIAS_SCHEMES = {s.value for s in AliasScheme}


_ID_KEY = re.compile(r"id_?(number|no)|zjhm|sfz|证件号|身份证", re.IGNORECASE)


_EMBEDDED_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


@dataclass
class RowOutcome:
    """What happened to one row: ``created`` / ``updated`` / ``unchanged`` / ``rejected``."""

    row: int
    outcome: str
    record_id: int | None = None
    version_no: int | None = None
    withdrawn: bool = False  # this row withdrew the record (当前状态 = 无效)
    late: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)  # {"code", "message"}


@dataclass
class UpsertResult(Tally):
    withdrawn: int = 0
    late: int = 0
    name_mismatches: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)


_PLAIN = (str, int, float, bool, type(None))


def _json_safe(value: Any) -> Any:
    """JSON-safe copy: dates ISO, decimals and enums as text. Called for every row: plain values go first."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): (v if type(v) in _PLAIN else _json_safe(v)) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):  # StrEnum
        return str(value.value) if hasattr(value, "value") else str(value)
    return str(getattr(value, "value", value))


def _scrub(value: Any, *, key: str, secrets: frozenset[str], keep: frozenset[str]) -> Any:
    """Mask ID numbers in a JSON document: any value under an ID-number key, the party's own number wherever it
    appears, and any valid 18-digit resident ID inside text (organisation codes of the row are kept)."""
    if isinstance(value, dict):
        return {k: _scrub(v, key=str(k), secrets=secrets, keep=keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key=key, secrets=secrets, keep=keep) for v in value]
    if not isinstance(value, str):
        return value
    return _scrub_text(value, key, secrets, keep)


class _IdKeys(dict[str, bool]):
    """key → whether it names an ID number (memoised: documents repeat the same few dozen keys)."""

    def __missing__(self, key: str) -> bool:
        hit = _ID_KEY.search(key) is not None
        if len(self) < 10_000:
            self[key] = hit
        return hit


_ID_KEYS = _IdKeys()


_is_id_key = _ID_KEYS.__getitem__


def _scrub_text(value: str, key: str, secrets: frozenset[str], keep: frozenset[str]) -> str:
    if not value.strip():
        return value
    if _is_id_key(key):
        return mask_resident_id(value)
    if _EMBEDDED_ID.search(value) is None:  # the common case, in C: no run of 15+ digits
        return value

    def repl(m: re.Match[str]) -> str:
        found = m.group(1).upper()
        if found in keep:
            return m.group(1)
        if found in secrets or (len(found) == 18 and resident_id.is_valid(found)):
            return mask_resident_id(found)
        return m.group(1)

    return _EMBEDDED_ID.sub(repl, value)


def _clean(value: Any, key: str, secrets: frozenset[str], keep: frozenset[str]) -> Any:
    """``_scrub(_json_safe(value))`` in one pass (called for ``data`` and ``extra`` of every row)."""
    kind = type(value)
    if kind is str:
        return _scrub_text(value, key, secrets, keep)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {
            (k if type(k) is str else str(k)): _clean(v, k if type(k) is str else str(k), secrets, keep)
            for k, v in value.items()
        }
    if kind is list or kind is tuple:
        return [_clean(v, key, secrets, keep) for v in value]
    return _scrub(_json_safe(value), key=key, secrets=secrets, keep=keep)


#: Texts known to hold no run of 15+ digits (so nothing to mask whatever the row): authorities, legal bases and
#: template wording recur in every row of a file. Bounded; emptied when full.
_SAFE_TEXT: set[str] = set()


_SAFE_TEXT_MAX = 10_000


def _text_is_clean(v: str, keep: frozenset[str]) -> bool:
    """No ID number to mask in ``v`` (under a key that is not an ID-number key)."""
    if v in _SAFE_TEXT or v in keep:
        return True
    if _EMBEDDED_ID.search(v) is None:
        if len(_SAFE_TEXT) >= _SAFE_TEXT_MAX:
            _SAFE_TEXT.clear()
        _SAFE_TEXT.add(v)
        return True
    return all(m.group(1).upper() in keep for m in _EMBEDDED_ID.finditer(v))  # the row's own codes are kept


def _clean_doc(doc: Any, secrets: frozenset[str], keep: frozenset[str]) -> Any:
    """:func:`_clean` of a row's ``data`` / ``extra``. Usually flat text with nothing to mask: then it is copied
    as it is, each text checked once (and recurring texts not again)."""
    if type(doc) is dict:
        safe, id_keys = _SAFE_TEXT, _ID_KEYS
        for k, v in doc.items():
            t = type(v)
            if t is str:
                if type(k) is not str or id_keys[k]:
                    break
                if v in safe or v in keep or _text_is_clean(v, keep):
                    continue
                break
            elif t is list:
                if type(k) is not str or _ID_KEYS[k] or not all(type(x) is str and _text_is_clean(x, keep) for x in v):
                    break
            elif t is not bool and t is not int and v is not None:
                break
        else:
            return {k: (list(v) if type(v) is list else v) for k, v in doc.items()}
    return _clean(doc, "", secrets, keep)


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _canonical(doc: dict[str, Any]) -> bytes:
    """Sorted, compact JSON with non-ASCII kept: the bytes the content hash is taken of."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits
        return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _fen(wan: Decimal | None) -> int | None:
    """万元 → fen (1/100 yuan), rounded half up."""
    if wan is None:
        return None
    return int((Decimal(wan) * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(slots=True)
class _Prepared:
    index: int
    row: RecordInput
    kind: str
    rule: PublicityRule
    person: bool
    name_norm: str
    id_hash: str | None = None
    id_number: str | None = None  # normalised resident ID, encrypted only if a subject is created
    id_masked: str | None = None
    id_region: str | None = None
    content: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    severity: str = publicity.DEFAULT_SEVERITY
    types: list[str] = field(default_factory=list)
    fine_fen: int | None = None
    flags: list[dict[str, Any]] = field(default_factory=list)
    subject_id: int | None = None
    subject_created: bool = False  # this row's subject was created for it (ahead: see StagedRows)
    types_key: str = ""
    # content and data as stored (records.versions: the compact form of the full content and data above)
    stored_content: dict[str, Any] = field(default_factory=dict)
    stored_data: dict[str, Any] = field(default_factory=dict)
    # made ahead (StagedRows): content and data packed (records.versions), extra as JSON
    packed: bytes | None = None
    dumped_extra: Dumped | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.row.authority_uscc, self.row.doc_no_norm)


#: A first version's changed fields (all its fields, sorted) by the content's keys in order: the rows of a file share
#: one key list. Stored compactly (``records.versions.compact_changed_fields``: ``[]`` stands for all of them).
_FIRST_FIELDS: dict[tuple[str, ...], list[str]] = {}


def version_payload(
    p: _Prepared, before: dict[str, Any] | None, packer: record_versions.Packer
) -> tuple[bytes, Any, list[str]]:
    """What the version ``p`` makes stores: ``(packed, extra, changed_fields)`` — its content and data packed
    (``records.versions``; made ahead by ``StagedRows``, otherwise with ``packer``), extra (as JSON text when made
    ahead) and the fields that changed since ``before``, the current version in full as :func:`previous_payloads`
    reads it (``None``: a first version, whose changed fields are stored as ``[]``, "all"). The one place both
    record writers (the row writer here, the set-based ``records.setwrite``) build a version's payload. A version
    packed ahead with another dictionary (a load trained the first one meanwhile, ``records.packing.train_first``)
    is packed again with ``packer``'s."""
    packed = p.packed
    if packed is None or not packer.packed_it(packed):
        packed = packer.pack(p.stored_content, p.stored_data)
    extra = p.dumped_extra if p.dumped_extra is not None else p.extra
    if before is None:
        keys = tuple(p.content)
        fields = _FIRST_FIELDS.get(keys)
        if fields is None:
            if len(_FIRST_FIELDS) >= 1_000:
                _FIRST_FIELDS.clear()
            fields = _FIRST_FIELDS[keys] = sorted(keys)
        return packed, extra, record_versions.compact_changed_fields(1, fields, p.content)
    after = {**p.content, "data": p.data, "extra": p.extra}
    return packed, extra, [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def previous_payloads(session: Session, version_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The current versions a chunk's changed rows replace, by id, in full (rebuilt from their compact stored form)
    as :func:`version_payload` compares them."""
    previous: dict[int, dict[str, Any]] = {}
    if version_ids:
        v = RecordVersion
        load = dictionary_loader(session)
        for vid, number, content, data, packed, extra in session.execute(
            select(v.id, v.version_no, v.content, v.data, v.packed, v.extra).where(v.id.in_(version_ids))
        ):
            whole = record_versions.full(number, content, data, [], packed, load)
            previous[vid] = {**whole.content, "data": whole.data, "extra": extra}
    return previous


WITHDRAW_REASON = "报送数据当前状态为无效（撤销、注销或失效），即时撤回公示"


def timeliness_of(
    p: _Prepared, received_on: dt.date, memo: dict[tuple[str, dt.date], tuple[int, bool]]
) -> tuple[int, bool]:
    """``(working days late, late)`` of a new record (decision dates repeat within a chunk: ``memo``)."""
    decided = p.row.decision_date
    assert decided is not None  # a row without one is refused by _prepare
    key = (p.kind, decided)
    found = memo.get(key)
    if found is None:
        found = memo[key] = publicity.timeliness(
            p.rule.publicity.timeliness,
            decision_date=decided,
            received_on=received_on,
            workdays_between=workdays.workdays_between,
        )
    return found


def _reject(
    result: UpsertResult, outcomes: list[RowOutcome | None], index: int, row: RecordInput, code: str, message: str
) -> None:
    result.rejected += 1
    outcomes[index] = RowOutcome(row.row, "rejected", warnings=[{"code": code, "message": message}])


_NO_SECRETS: frozenset[str] = frozenset()


_CHECK_CHARS = frozenset("0123456789X")


def _kind_of(row: RecordInput) -> str:
    return row.kind.value if isinstance(row.kind, RecordKind) else str(row.kind)


class _Memo(dict[Any, Any]):
    """A bounded memo of a pure function of hashable values that recur across a file's rows (a subject's name on
    each of its records, the same few penalty types): emptied when full."""

    def __init__(self, fn: Any, size: int = 50_000) -> None:
        super().__init__()
        self.fn, self.size = fn, size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.fn(key)
        return value


_ORG_NAME = _Memo(normalize_org_name)
_PERSON_NAME = _Memo(normalize_person_name)
_TYPES = _Memo(lambda types: (tuple(publicity.normalise_types(types)), publicity.types_key(types)), 1_000)


def _prepare(index: int, row: RecordInput, rule: PublicityRule, vault: Any) -> tuple[_Prepared | None, str, str]:
    """Check the row is storable and build its content; ``(None, code, message)`` when it is not."""
    kind = rule.code
    if not row.doc_no_norm or not row.authority_uscc:
        return None, "record_identity_missing", "缺少决定文书号或决定机关统一社会信用代码，无法识别记录"
    if row.decision_date is None:
        return None, "decision_date_missing", "缺少决定日期"
    if not (row.party_name or "").strip():
        return None, "party_name_missing", "缺少行政相对人名称"
    party_kind = parse_party_kind(row.party_kind)
    person = party_kind is PartyKind.NATURAL_PERSON
    p = _Prepared(
        index,
        row,
        kind,
        rule,
        person,
        _PERSON_NAME[row.party_name] if person else _ORG_NAME[row.party_name],
    )
    secrets = _NO_SECRETS
    if person:
        number = row.party_id_number or ""
        if (
            len(number) == 18
            and number.isascii()
            and number[:17].isdigit()
            and number[17] in _CHECK_CHARS
            and resident_id.is_valid(number)
        ):  # ingest gives the normalised 18-digit number
            normalized: str | None = number
        else:
            check = resident_id.validate(number)
            normalized = check.normalized if check.valid else None
        if not normalized:
            return None, "party_id_invalid", "自然人的证件号码缺失或无效"
        p.id_number = normalized
        p.id_hash = vault.lookup_hash(normalized)
        p.id_masked = mask_resident_id(normalized)
        p.id_region = normalized[:6]
        secrets = frozenset({normalized, resident_id.compact(number).upper()})
    elif not row.party_uscc and not any(v for s, v in row.party_codes.items() if s in _ALIAS_SCHEMES):
        return None, "party_code_missing", "法人及非法人组织、个体工商户须有统一社会信用代码或其他登记代码"
    rep_id = getattr(row, "legal_rep_id_number", None)
    if rep_id:
        secrets = secrets | {rep_id.strip().upper(), resident_id.compact(rep_id).upper()}
    codes = [row.party_uscc, row.authority_uscc, row.source_unit_uscc]
    if row.party_codes:
        codes.extend(row.party_codes.values())
    keep = frozenset(map(str.upper, filter(None, codes)))
    if secrets:
        keep -= secrets
    p.data = _clean_doc(row.data, secrets, keep)
    p.extra = _clean_doc(row.extra, secrets, keep) if row.extra else {}
    if rule.publicity.mode == "fixed_period":  # penalties, and the other classes with fixed windows
        severity, problem = publicity.severity_of(rule, row.data, row.extra)
        p.severity = severity
        if problem:
            p.flags.append({"code": "severity_unknown", "message": problem})
    types, p.types_key = _TYPES[tuple(row.penalty_types)]
    p.types = list(types)
    p.fine_fen = _fen(row.fine_wan)
    if row.warnings:
        p.flags.extend({"code": w.code, "message": w.message, "column": w.column} for w in row.warnings)
    # Built JSON-safe (dates ISO, amounts as text): stored as is and hashed.
    p.content = {
        "kind": kind,
        "party_name": row.party_name.strip(),
        "party_kind": party_kind.value,
        "party_uscc": row.party_uscc,
        "party_codes": dict(sorted(row.party_codes.items())),
        "party_id_type": row.party_id_type,
        "party_id_masked": p.id_masked,
        "legal_rep": row.legal_rep,
        "legal_rep_id_masked": mask_resident_id(rep_id) if rep_id else None,
        "doc_no": row.doc_no,
        "doc_no_norm": row.doc_no_norm,
        "decision_date": row.decision_date.isoformat(),
        "authority": row.authority,
        "authority_uscc": row.authority_uscc,
        "source_unit": row.source_unit,
        "source_unit_uscc": row.source_unit_uscc,
        "licence_valid_from": _iso(row.licence_valid_from),
        "licence_valid_to": _iso(row.licence_valid_to),
        "licence_category": row.licence_category,
        "current_status_valid": row.current_status_valid,
        "penalty_types": p.types,
        "fine_wan": None if row.fine_wan is None else str(row.fine_wan),
        "confiscated_wan": None if row.confiscated_wan is None else str(row.confiscated_wan),
        "penalty_valid_to": _iso(row.penalty_valid_to),
        "publicity_end": _iso(row.publicity_end),
        "severity": p.severity,
    }
    if row.domain is not None:  # other classes only: the 双公示 content (and its hash) is unchanged
        p.content["domain"] = row.domain
    hashed = {
        **p.content,
        "party_id_hash": p.id_hash,
        "data": p.data,
        "extra": p.extra,
        "legal_rep_id_hash": vault.lookup_hash(rep_id) if rep_id else None,
    }
    p.content_hash = hashlib.sha256(_canonical(hashed)).hexdigest()
    # Stored once, compactly (issue #19): the hash above stays that of the full content.
    p.stored_content = record_versions.compact_content(p.content)
    p.stored_data = record_versions.compact_data(p.content, p.data)
    return p, "", ""


def upsert_records(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    batch_id: int | None,
    received_at: dt.datetime,
    rows: list[RecordInput],
    create_subjects: bool = True,
    staged: StagedRows | None = None,
    engine: str | None = None,
    deferred: Deferred | None = None,
) -> UpsertResult:
    """Store validated 双公示 rows of one department: create, version or recognise each record. Bulk, set-based.

    Per row: the subject is found by code (USCC, then legacy codes and former USCCs through aliases, natural
    persons by the keyed hash of their ID) or created (``create_subjects``; else the row is rejected). A subject
    known under another normalised name is never renamed: the row is flagged ``name_mismatch`` (in the outcome
    and on the stored version). A record is ``(kind, authority_uscc, doc_no_norm)``: new → ``created``
    (version 1, timeliness measured from the decision date to ``received_at``); same content hash →
    ``unchanged`` (nothing written); otherwise → ``updated`` (a new version, with the fields that changed).
    当前状态 = 无效 withdraws the record at once (``withdrawn_at = received_at``). A record owned by another
    department is refused for this one. One audit event for the whole call.

    ``staged``: rows of ``rows`` that :func:`stage_records` prepared and resolved ahead (outside this transaction)
    are not prepared or resolved again; the records themselves are looked up and written here as always.
    ``engine``: the record writer, ``"row"``, ``"bulk"`` or ``"auto"`` (default :data:`ENGINE`).
    ``deferred``: a chunk of a longer batch — its feed changes and audit counts are told at the batch's end
    (``core.batches.Deferred``), so the batch does not hold the audit and feed heads while it writes.
    """
    if received_at.tzinfo is None:
        raise ValidationFailed("received_at 必须带时区", code="naive_datetime")
    if not actor.can_see_department(department_id):
        raise Forbidden("只能为本部门报送信用记录", code="department_mismatch")
    if session.get(Department, department_id) is None:
        raise NotFound(f"部门 {department_id} 不存在", code="department_not_found")
    kind_rules = rules(session)
    result = UpsertResult()
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    prepared: list[_Prepared] = []
    vault = get_vault()
    for index, row in enumerate(rows):
        ahead = staged.entries.get(id(row)) if staged is not None else None
        if type(ahead) is tuple:  # refused ahead: the same refusal
            _reject(result, outcomes, index, row, ahead[0], ahead[1])
            continue
        if ahead is not None:
            assert isinstance(ahead, _Prepared)
            ahead.index = index  # used once: this call owns it now
            result.subjects_created += ahead.subject_created
            result.name_mismatches += any(f["code"] == "name_mismatch" for f in ahead.flags)
            prepared.append(ahead)
            continue
        rule = kind_rules.get(_kind_of(row))
        if rule is None:
            _reject(result, outcomes, index, row, "unknown_kind", f"未知的信息类别 {_kind_of(row)!r}")
            continue
        made, code, message = _prepare(index, row, rule, vault)
        if made is None:
            _reject(result, outcomes, index, row, code, message)
        else:
            prepared.append(made)
    # Rows naming the same record twice are applied in order, one pass per repetition.
    passes: list[list[_Prepared]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for p in prepared:
        n = seen.get(p.key, 0)
        seen[p.key] = n + 1
        if n == len(passes):
            passes.append([])
        passes[n].append(p)
    ctx = _Context(session, actor, department_id, batch_id, received_at, create_subjects, result, outcomes)
    ctx.engine = engine or ENGINE
    for group in passes:
        for start in range(0, len(group), CHUNK):
            ctx.apply(group[start : start + CHUNK])
    result.outcomes = [o for o in outcomes if o is not None]
    result.finish(
        session,
        actor=actor.actor,
        action="records.upsert",
        entity_type=ENTITY,
        batch_entity_type="record_batch",
        department_id=department_id,
        batch_id=batch_id,
        reason=f"报送信用记录 {len(rows)} 行",
        change=lambda o: {"id": o.record_id, "op": o.outcome, "version_no": o.version_no, "withdrawn": o.withdrawn},
        deferred=deferred,
    )
    return result


@dataclass
class StagedRows:
    """Rows of one upload prepared, and their subjects resolved or created, ahead of the write transaction that
    stores their records (:func:`stage_records`): by ``id`` of the row object, its :class:`_Prepared` — or the
    refusal ``(code, message)`` of a row that cannot be stored. ``rows`` keeps the row objects alive."""

    rows: list[RecordInput]
    entries: dict[int, _Prepared | tuple[str, str]] = field(default_factory=dict)


def stage_records(
    bind: Any,
    *,
    actor: Principal,
    department_id: int,
    rows: list[RecordInput],
    create_subjects: bool = True,
    subjects: bool = True,
    chunk: int = CHUNK,
) -> StagedRows:
    """The part of :func:`upsert_records` that need not hold the write transaction storing the records (issue #13):
    every row prepared (identifiers checked and hashed, personal numbers scrubbed, the content hash — pure Python,
    in no transaction) and its subject found or created — in short write transactions of ``chunk`` rows on
    ``bind``, each committed (on SQLite the write turn goes to other writers between them).

    Subjects so created are visible before the records that name them, and stay if the upload never stores its
    records (a crash, a refusal): a subject is a fact of the registry (one per code or ID), found by the next
    upload that names it, not part of any batch — which is why this is safe to show early. The records, versions
    and the batch are written by :func:`upsert_records` with ``staged=`` in one transaction, so readers see all
    of a batch's records or none. ``subjects=False``: the rows are only prepared (a ``reject_all`` batch, which
    writes nothing — subjects neither — unless every row is stored); their subjects are resolved with the records."""

    staged = StagedRows(rows)
    if not rows:
        return staged
    sqlite = bind.dialect.name == "sqlite"
    reader_bind = bind.execution_options(**{WRITE_OPTION: False}) if sqlite else bind
    with Session(reader_bind) as reader, reader.begin():
        kind_rules = rules(reader)
        packer = packing.packer(reader)
    vault = get_vault()
    result = UpsertResult()
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    prepared: list[_Prepared] = []
    for index, row in enumerate(rows):
        rule = kind_rules.get(_kind_of(row))
        if rule is None:
            staged.entries[id(row)] = ("unknown_kind", f"未知的信息类别 {_kind_of(row)!r}")
            continue
        p, code, message = _prepare(index, row, rule, vault)
        if p is None:
            staged.entries[id(row)] = (code, message)
        else:
            p.packed = packer.pack(p.stored_content, p.stored_data)
            p.dumped_extra = Dumped(dumps(p.extra))
            prepared.append(p)
    if not subjects:
        staged.entries.update((id(p.row), p) for p in prepared)
        return staged
    writer = writer_of(bind)
    for start in range(0, len(prepared), chunk):
        part = prepared[start : start + chunk]
        with Session(writer) as session, session.begin():
            session.connection(execution_options={BULK_OPTION: True})  # short writers go first (core.db._Turn)
            ctx = _Context(session, actor, department_id, None, utcnow(), create_subjects, result, outcomes)
            ctx.resolve_subjects(part)
        for p in part:
            refused = outcomes[p.index]
            if refused is not None:
                warning = refused.warnings[0]
                staged.entries[id(p.row)] = (warning["code"], warning["message"])
            elif p.subject_id is not None:
                staged.entries[id(p.row)] = p
    return staged


@dataclass
class _Context:
    session: Session
    actor: Principal
    department_id: int
    batch_id: int | None
    received_at: dt.datetime
    create_subjects: bool
    result: UpsertResult
    outcomes: list[RowOutcome | None]
    engine: str = "row"
    _packer: record_versions.Packer | None = None

    @property
    def packer(self) -> record_versions.Packer:
        """The dictionary this context packs versions with (the newest when first asked: one query)."""
        if self._packer is None:
            self._packer = packing.packer(self.session)
        return self._packer

    def reject(self, p: _Prepared, code: str, message: str) -> None:
        _reject(self.result, self.outcomes, p.index, p.row, code, message)

    def apply(self, chunk: list[_Prepared]) -> None:
        ahead = {p.subject_id for p in chunk if p.subject_id is not None}  # resolved ahead (stage_records)
        if ahead:  # subjects are never deleted; should one be gone, its rows are resolved again here
            there = set(self.session.scalars(select(Subject.id).where(Subject.id.in_(ahead))))
            for p in chunk:
                if p.subject_id is not None and p.subject_id not in there:
                    p.subject_id, p.subject_created = None, False
        todo = [p for p in chunk if p.subject_id is None]
        if todo:
            asked = {id(p) for p in todo}
            kept = {id(p) for p in self.resolve_subjects(todo)}
            chunk = [p for p in chunk if id(p) in kept or id(p) not in asked]
        if chunk:
            if self.engine == "bulk" or (
                self.engine == "auto"
                and len(chunk) >= BULK_MIN
                and self.session.get_bind().dialect.name == "postgresql"
            ):
                from xinyong.records import setwrite  # it builds on this module's prepared rows

                setwrite.write_records(self, chunk)
            else:
                self.write_records(chunk)
            self.note_legal_reps(chunk)

    def note_legal_reps(self, chunk: list[_Prepared]) -> None:
        """The legal representatives the records name (with their ID when given) into the organisations' related
        persons (``subjects.related.note_legal_reps``: added where none is current, never replacing another)."""
        items = [
            related.RelatedInput(
                subject_id=p.subject_id,
                name=p.row.legal_rep,
                id_number=getattr(p.row, "legal_rep_id_number", None),
                valid_from=p.row.decision_date,
                provenance={"record_kind": p.kind, "authority_uscc": p.row.authority_uscc, "doc_no": p.row.doc_no_norm},
            )
            for p in chunk
            if p.subject_id is not None and not p.person and p.row.legal_rep and p.row.legal_rep.strip()
        ]
        if items:
            related.note_legal_reps(self.session, items, source=related.RelatedSource.RECORD, actor=self.actor.actor)

    # Subjects ------------------------------------------------------------------------------------------------

    def resolve_subjects(self, chunk: list[_Prepared]) -> list[_Prepared]:
        # The one resolver (subjects.service): a person by the keyed hash of the number, an organisation by its
        # USCC, then by its legacy codes (the organisation code inside the USCC among them).
        hits = resolve_code_hits(
            self.session, (c for p in chunk if (c := p.id_number if p.person else p.row.party_uscc))
        )
        legacy = [
            c for p in chunk if not p.person and hits.get(p.row.party_uscc or "") is None for c in _legacy_codes(p.row)
        ]
        if legacy:  # asked only for the organisations their USCC did not find
            hits.update(resolve_code_hits(self.session, legacy))
        kept: list[_Prepared] = []
        new: dict[tuple[str, str], list[_Prepared]] = {}
        for p in chunk:
            found = self.lookup(p, hits)
            if found == "conflict":
                continue
            if found is None:
                if not self.create_subjects:
                    self.reject(p, "subject_not_found", "信用主体库中没有该行政相对人，且本次报送不新建主体")
                    continue
                new.setdefault(_new_key(p), []).append(p)
            else:
                p.subject_id = found.id
                self.found(p, found.name_norm)
            kept.append(p)
        if new:
            self.create(new)
        return kept

    def found(self, p: _Prepared, name_norm: str) -> None:
        """``p`` names a subject the registry has: flag it when the registry knows it under another name."""
        if name_norm != p.name_norm:
            self.result.name_mismatches += 1
            p.flags.append(
                {"code": "name_mismatch", "message": "行政相对人名称与信用主体库中的名称不一致（未更名，请核实）"}
            )

    def lookup(self, p: _Prepared, hits: dict[str, SubjectHit | None]) -> SubjectHit | Literal["conflict"] | None:
        if p.person:
            return hits.get(p.id_number or "")
        if p.row.party_uscc and (hit := hits.get(p.row.party_uscc)) is not None:
            return hit
        for code in _legacy_codes(p.row):
            hit = hits.get(code)
            if hit is None:
                continue
            if p.row.party_uscc and hit.uscc and hit.uscc != p.row.party_uscc:
                self.reject(
                    p,
                    "party_code_conflict",
                    f"行政相对人的登记代码属于统一社会信用代码为 {hit.uscc} 的主体，与所报代码不符",
                )
                return "conflict"
            return hit
        return None

    def create(self, new: dict[tuple[str, str], list[_Prepared]]) -> None:
        now = utcnow()
        source = f"records:batch:{self.batch_id}" if self.batch_id is not None else f"records:{self.actor.actor}"
        vault = get_vault()
        params, groups, aliases = [], [], []
        for group in new.values():
            p = group[0]
            row = p.row
            values = new_subject_values(
                kind=parse_party_kind(row.party_kind).value,
                name=row.party_name.strip(),
                name_norm=p.name_norm,
                source=source,
                now=now,
                legal_rep=None if p.person else row.legal_rep,
            )
            if p.person:
                values.update(
                    resident_id_hash=p.id_hash,
                    resident_id_enc=vault.encrypt(p.id_number or ""),
                    resident_id_masked=p.id_masked,
                    region_code=p.id_region,
                )
            elif row.party_uscc:
                if (
                    uscc.is_valid(row.party_uscc) and uscc.compact(row.party_uscc) == row.party_uscc
                ):  # as ingest gives it
                    values.update(
                        uscc=row.party_uscc,
                        org_type=uscc.subject_type_of(row.party_uscc),
                        region_code=row.party_uscc[2:8],
                    )
                else:
                    check = uscc.validate(row.party_uscc, allow_bad_check=True)
                    if not check.valid:
                        for q in group:
                            self.reject(q, "party_uscc_invalid", "行政相对人统一社会信用代码无效，无法新建主体")
                        continue
                    values.update(
                        uscc=check.normalized,
                        org_type=check.details.get("subject_type"),
                        region_code=check.details.get("region_code"),
                        uscc_flagged=any(w.code == "uscc_check_digit" for w in check.warnings),
                    )
            params.append(values)
            groups.append(group)
        if not params:
            return
        session = self.session
        # Another upload may be creating the same subjects: persons by their ID's hash, organisations by USCC, each
        # inserted unless it exists, in key order (subjects.service.create_subjects).
        own = create_subjects(session, params, source=source, now=now)
        for values, group in zip(params, groups, strict=True):
            sid = own[values["id"]]
            for q in group:
                q.subject_id = sid
            if sid != values["id"]:  # created by another transaction since this one looked: found after all
                existing = session.execute(select(Subject.name_norm).where(Subject.id == sid)).scalar_one()
                for q in group:
                    self.found(q, existing)
                continue
            group[0].subject_created = True
            for scheme, value in group[0].row.party_codes.items():
                if scheme in _ALIAS_SCHEMES and value:
                    aliases.append(
                        {"subject_id": sid, "scheme": scheme, "value": value, "source": source, "created_at": now}
                    )
        if aliases:
            taken = {
                (scheme, value)
                for scheme, value in session.execute(
                    select(SubjectAlias.scheme, SubjectAlias.value).where(
                        SubjectAlias.value.in_({a["value"] for a in aliases})
                    )
                )
            }
            fresh, seen = [], set()
            for a in aliases:
                key = (a["scheme"], a["value"])
                if key not in taken and key not in seen:
                    seen.add(key)
                    fresh.append(a)
            insert_missing(session, SubjectAlias.__table__, sorted(fresh, key=lambda a: (a["scheme"], a["value"])))
        self.result.subjects_created += sum(1 for row_id, sid in own.items() if row_id == sid)

    # Records -------------------------------------------------------------------------------------------------

    def write_records(self, chunk: list[_Prepared]) -> None:
        chunk = [p for p in chunk if p.subject_id is not None]
        session, now, received_at = self.session, utcnow(), self.received_at
        t = CreditRecord.__table__
        # Two uploads naming decisions of the same authority queue here, in one order (PostgreSQL; SQLite's write
        # transaction holds the write lock already): the second then finds the first's records instead of
        # inserting them again. By authority, not by decision: a batch takes few locks however long it is.
        lock_keys(session, "record", (f"{p.kind}\x1f{p.row.authority_uscc}" for p in chunk))
        existing: dict[tuple[str, str, str], dict[str, Any]] = {}
        docs = {p.row.doc_no_norm for p in chunk}
        cols = [
            t.c[n]
            for n in (
                "id",
                "kind",
                "authority_uscc",
                "doc_no_norm",
                "department_id",
                "content_hash",
                "current_version_id",
                "version_count",
                "withdrawn_at",
                "withdrawn_reason",
            )
        ]
        for found in session.execute(select(*cols).where(t.c.doc_no_norm.in_(docs))).mappings():
            existing[(found["kind"], found["authority_uscc"], found["doc_no_norm"])] = dict(found)
        previous = previous_payloads(
            session,
            [
                existing[p.key]["current_version_id"]
                for p in chunk
                if p.key in existing and existing[p.key]["content_hash"] != p.content_hash
            ],
        )

        fresh: list[_Prepared] = []
        changed: list[tuple[_Prepared, dict[str, Any]]] = []
        for p in chunk:
            rec = existing.get(p.key)
            if rec is None:
                fresh.append(p)
            elif rec["department_id"] != self.department_id:
                self.reject(p, "record_of_other_department", "该决定已由其他部门报送，本部门不能修改")
            elif rec["content_hash"] == p.content_hash:
                self.result.unchanged += 1
                self.outcomes[p.index] = RowOutcome(
                    p.row.row, "unchanged", rec["id"], rec["version_count"], warnings=_public_flags(p.flags)
                )
            else:
                changed.append((p, rec))

        def record_values(p: _Prepared) -> dict[str, Any]:
            return {
                "subject_id": p.subject_id,
                "party_kind": p.content["party_kind"],
                "party_name": p.content["party_name"],
                "doc_no": p.row.doc_no or p.row.doc_no_norm,
                "authority": p.row.authority or "",
                "decision_date": p.row.decision_date,
                "severity": p.severity,
                "penalty_types": p.types,
                "penalty_types_key": p.types_key,
                "fine_fen": p.fine_fen,
                "licence_valid_from": p.row.licence_valid_from,
                "licence_valid_to": p.row.licence_valid_to,
                "domain": p.row.domain,
                "content_hash": p.content_hash,
                "updated_at": now,
            }

        withdraw_reason = WITHDRAW_REASON
        version_ids = allocate_ids(session, RecordVersion.__table__, len(fresh) + len(changed))
        versions: list[dict[str, Any]] = []
        if fresh:
            received_on = clock.local_date(received_at)
            timely: dict[tuple[str, dt.date], tuple[int, bool]] = {}  # decision dates repeat within a chunk
            record_ids = allocate_ids(session, t, len(fresh))
            params = []
            for rid, vid, p in zip(record_ids, version_ids, fresh, strict=False):
                late_days, late = timeliness_of(p, received_on, timely)
                withdrawn = not p.row.current_status_valid
                params.append(
                    {
                        **record_values(p),
                        "id": rid,
                        "kind": p.kind,
                        "authority_uscc": p.row.authority_uscc,
                        "doc_no_norm": p.row.doc_no_norm,
                        "department_id": self.department_id,
                        "current_version_id": vid,
                        "version_count": 1,
                        "received_at": received_at,
                        "workdays_late": late_days,
                        "late": late,
                        "withdrawn_at": received_at if withdrawn else None,
                        "withdrawn_reason": withdraw_reason if withdrawn else None,
                        "ended_on": None,
                        "created_at": now,
                    }
                )
                versions.append(self.version(p, vid, rid, 1, None, now))
                self.result.created += 1
                self.result.withdrawn += withdrawn
                self.result.late += late
                self.outcomes[p.index] = RowOutcome(
                    p.row.row, "created", rid, 1, withdrawn=withdrawn, late=late, warnings=_public_flags(p.flags)
                )
            insert_rows(session, t, params)
        updates = []
        for (p, rec), vid in zip(changed, version_ids[len(fresh) :], strict=True):
            number = rec["version_count"] + 1
            before = previous.get(rec["current_version_id"], {})
            withdrawn = rec["withdrawn_at"] is None and not p.row.current_status_valid
            if rec["withdrawn_at"] is not None and p.row.current_status_valid:
                p.flags.append({"code": "record_withdrawn", "message": "该记录已撤回，新版本不恢复公示"})
            versions.append(self.version(p, vid, rec["id"], number, before, now))
            updates.append(
                {
                    **record_values(p),
                    "_id": rec["id"],
                    "version_count": number,
                    "current_version_id": vid,
                    "withdrawn_at": received_at if withdrawn else rec["withdrawn_at"],
                    "withdrawn_reason": withdraw_reason if withdrawn else rec["withdrawn_reason"],
                }
            )
            self.result.updated += 1
            self.result.withdrawn += withdrawn
            self.outcomes[p.index] = RowOutcome(
                p.row.row, "updated", rec["id"], number, withdrawn=withdrawn, warnings=_public_flags(p.flags)
            )
        if not versions:
            return
        insert_rows(session, RecordVersion.__table__, versions)
        if updates:
            keys = [k for k in updates[0] if k != "_id"]
            session.execute(
                update(t).where(t.c.id == bindparam("_id")).values({k: bindparam(k) for k in keys}), updates
            )

    def version(
        self,
        p: _Prepared,
        version_id: int,
        record_id: int,
        number: int,
        before: dict[str, Any] | None,
        now: dt.datetime,
    ) -> dict[str, Any]:
        packed, extra, changed = version_payload(p, before, self.packer)
        return {
            "id": version_id,
            "record_id": record_id,
            "version_no": number,
            "content_hash": p.content_hash,
            "content": None,
            "data": None,
            "packed": packed,
            "extra": extra,
            "flags": p.flags,
            "changed_fields": changed,
            "batch_id": self.batch_id,
            "source_row": p.row.row,
            "department_id": self.department_id,
            "received_at": self.received_at,
            "actor": self.actor.actor,
            "created_at": now,
        }


def _public_flags(flags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The platform's own flags of a row for its outcome (the ingest warnings the sender already has)."""
    if not flags:
        return []
    return [f for f in flags if f["code"] in ("name_mismatch", "severity_unknown", "record_withdrawn")]


def _legacy_codes(row: RecordInput) -> list[str]:
    """An organisation's codes other than its USCC, in the order they are tried: the organisation code inside the
    USCC, then the registration codes the row names."""
    codes = [row.party_uscc[8:17]] if row.party_uscc else []
    codes.extend(v for s, v in sorted(row.party_codes.items()) if s in _ALIAS_SCHEMES and v)
    return codes


def _new_key(p: _Prepared) -> tuple[str, str]:
    if p.person:
        return ("person", p.id_hash or "")
    if p.row.party_uscc:
        return ("uscc", p.row.party_uscc)
    scheme, value = next((s, v) for s, v in sorted(p.row.party_codes.items()) if s in _ALIAS_SCHEMES and v)
    return (scheme, value)
