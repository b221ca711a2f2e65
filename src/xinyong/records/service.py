"""Credit records (双公示): store versioned licences and penalties, answer what is public today.

Writing: :func:`upsert_records` takes validated rows (:class:`~xinyong.records.inputs.RecordInput`) in bulk,
resolves or creates their subjects, and creates records, appends versions or recognises identical
resubmissions, with one audit event per call. Reading: :func:`list_records`, :func:`public_status`,
:func:`record_history`, :func:`subject_records_view`. Publicity is evaluated at query time from the record's
stored inputs and the catalog's rules of the day (``records.publicity``), never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Select,
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.catalog.rules import PartyKind, PublicityRule, Verdict, parse_party_kind
from xinyong.catalog.service import publicity_rule
from xinyong.core import audit, clock, hooks, workdays
from xinyong.core.bulk import allocate_ids, insert_missing, insert_rows
from xinyong.core.db import lock_keys, utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import resident_id, uscc
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.ingest.values import AmountError, yuan_to_fen
from xinyong.records import publicity
from xinyong.records.inputs import RecordInput, RecordKind
from xinyong.records.models import (
    CreditRecord,
    PublicityRun,
    PublicityTransition,
    RecordVersion,
)
from xinyong.subjects.models import AliasScheme, Subject, SubjectAlias, SubjectName
from xinyong.subjects.service import upsert_subjects

CHUNK = 2_000
ENTITY = "credit_record"
_ALIAS_SCHEMES = {s.value for s in AliasScheme}
_ID_KEY = re.compile(r"id_?(number|no)|zjhm|sfz|证件号|身份证", re.IGNORECASE)
_EMBEDDED_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


# Results -----------------------------------------------------------------------------------------------------


@dataclass
class RowOutcome:
    """What happened to one row: ``created`` / ``updated`` / ``unchanged`` / ``rejected``."""

    row: int
    outcome: str
    record_id: int | None = None
    version_no: int | None = None
    withdrawn: bool = False            # this row withdrew the record (当前状态 = 无效)
    late: bool = False
    warnings: list[dict[str, Any]] = field(default_factory=list)  # {"code", "message"}


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0
    late: int = 0
    subjects_created: int = 0
    name_mismatches: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in ("created", "updated", "unchanged", "rejected", "withdrawn", "late",
                                              "subjects_created", "name_mismatches")}

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts(), "outcomes": [asdict(o) for o in self.outcomes]}


# Helpers -----------------------------------------------------------------------------------------------------


def rules(session: Session) -> dict[str, PublicityRule]:
    """The catalog rule of each record kind (cached by the catalog for the transaction)."""
    return {kind.value: publicity_rule(session, code) for kind, code in publicity.CLASS_CODES.items()}


def facts(record: CreditRecord) -> publicity.RecordFacts:
    return publicity.facts_of(record, local_date=clock.local_date)


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
        return {(k if type(k) is str else str(k)): _clean(v, k if type(k) is str else str(k), secrets, keep)
                for k, v in value.items()}
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
                if type(k) is not str or _ID_KEYS[k] or not all(
                        type(x) is str and _text_is_clean(x, keep) for x in v):
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
    id_number: str | None = None        # normalised resident ID, encrypted only if a subject is created
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

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.row.authority_uscc, self.row.doc_no_norm)


def _reject(result: UpsertResult, outcomes: list[RowOutcome | None], index: int, row: RecordInput, code: str,
            message: str) -> None:
    result.rejected += 1
    outcomes[index] = RowOutcome(row.row, "rejected", warnings=[{"code": code, "message": message}])


_NO_SECRETS: frozenset[str] = frozenset()
_CHECK_CHARS = frozenset("0123456789X")


def _prepare(index: int, row: RecordInput, rule: PublicityRule, vault: Any) -> tuple[_Prepared | None, str, str]:
    """Check the row is storable and build its content; ``(None, code, message)`` when it is not."""
    kind = RecordKind(row.kind).value
    if not row.doc_no_norm or not row.authority_uscc:
        return None, "record_identity_missing", "缺少决定文书号或决定机关统一社会信用代码，无法识别记录"
    if row.decision_date is None:
        return None, "decision_date_missing", "缺少决定日期"
    if not (row.party_name or "").strip():
        return None, "party_name_missing", "缺少行政相对人名称"
    party_kind = parse_party_kind(row.party_kind)
    person = party_kind is PartyKind.NATURAL_PERSON
    p = _Prepared(index, row, kind, rule, person,
                  normalize_person_name(row.party_name) if person else normalize_org_name(row.party_name))
    secrets = _NO_SECRETS
    if person:
        number = row.party_id_number or ""
        if (len(number) == 18 and number.isascii() and number[:17].isdigit() and number[17] in _CHECK_CHARS
                and resident_id.is_valid(number)):  # ingest gives the normalised 18-digit number
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
    keep = frozenset(c.upper() for c in codes if c)
    if secrets:
        keep -= secrets
    p.data = _clean_doc(row.data, secrets, keep)
    p.extra = _clean_doc(row.extra, secrets, keep) if row.extra else {}
    if kind == RecordKind.PENALTY:
        severity, problem = publicity.severity_of(rule, row.data, row.extra)
        p.severity = severity
        if problem:
            p.flags.append({"code": "severity_unknown", "message": problem})
    p.types = publicity.normalise_types(row.penalty_types)
    p.fine_fen = _fen(row.fine_wan)
    if row.warnings:
        p.flags.extend({"code": w.code, "message": w.message, "column": w.column} for w in row.warnings)
    # Built JSON-safe (dates ISO, amounts as text): stored as is and hashed.
    p.content = {
        "kind": kind, "party_name": row.party_name.strip(), "party_kind": party_kind.value,
        "party_uscc": row.party_uscc, "party_codes": dict(sorted(row.party_codes.items())),
        "party_id_type": row.party_id_type, "party_id_masked": p.id_masked, "legal_rep": row.legal_rep,
        "legal_rep_id_masked": mask_resident_id(rep_id) if rep_id else None,
        "doc_no": row.doc_no, "doc_no_norm": row.doc_no_norm, "decision_date": row.decision_date.isoformat(),
        "authority": row.authority, "authority_uscc": row.authority_uscc, "source_unit": row.source_unit,
        "source_unit_uscc": row.source_unit_uscc, "licence_valid_from": _iso(row.licence_valid_from),
        "licence_valid_to": _iso(row.licence_valid_to), "licence_category": row.licence_category,
        "current_status_valid": row.current_status_valid, "penalty_types": p.types,
        "fine_wan": None if row.fine_wan is None else str(row.fine_wan),
        "confiscated_wan": None if row.confiscated_wan is None else str(row.confiscated_wan),
        "penalty_valid_to": _iso(row.penalty_valid_to), "publicity_end": _iso(row.publicity_end),
        "severity": p.severity,
    }
    hashed = {**p.content, "party_id_hash": p.id_hash, "data": p.data, "extra": p.extra,
              "legal_rep_id_hash": vault.lookup_hash(rep_id) if rep_id else None}
    p.content_hash = hashlib.sha256(_canonical(hashed)).hexdigest()
    return p, "", ""


# Writing -----------------------------------------------------------------------------------------------------


def upsert_records(session: Session, *, actor: Principal, department_id: int, batch_id: int | None,
                   received_at: dt.datetime, rows: list[RecordInput], create_subjects: bool = True) -> UpsertResult:
    """Store validated 双公示 rows of one department: create, version or recognise each record. Bulk, set-based.

    Per row: the subject is found by code (USCC, then legacy codes and former USCCs through aliases, natural
    persons by the keyed hash of their ID) or created (``create_subjects``; else the row is rejected). A subject
    known under another normalised name is never renamed: the row is flagged ``name_mismatch`` (in the outcome
    and on the stored version). A record is ``(kind, authority_uscc, doc_no_norm)``: new → ``created``
    (version 1, timeliness measured from the decision date to ``received_at``); same content hash →
    ``unchanged`` (nothing written); otherwise → ``updated`` (a new version, with the fields that changed).
    当前状态 = 无效 withdraws the record at once (``withdrawn_at = received_at``). A record owned by another
    department is refused for this one. One audit event for the whole call.
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
        p, code, message = _prepare(index, row, kind_rules[RecordKind(row.kind).value], vault)
        if p is None:
            _reject(result, outcomes, index, row, code, message)
        else:
            prepared.append(p)
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
    for group in passes:
        for start in range(0, len(group), CHUNK):
            ctx.apply(group[start:start + CHUNK])
    result.outcomes = [o for o in outcomes if o is not None]
    audit.record(session, actor=actor.actor, action="records.upsert", entity_type="record_batch",
                 entity_id=batch_id, reason=f"报送信用记录 {len(rows)} 行",
                 after={"department_id": department_id, "batch_id": batch_id, **result.counts()})
    return result


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

    def reject(self, p: _Prepared, code: str, message: str) -> None:
        _reject(self.result, self.outcomes, p.index, p.row, code, message)

    def apply(self, chunk: list[_Prepared]) -> None:
        chunk = self.resolve_subjects(chunk)
        if chunk:
            self.write_records(chunk)

    # Subjects ------------------------------------------------------------------------------------------------

    def resolve_subjects(self, chunk: list[_Prepared]) -> list[_Prepared]:
        session = self.session
        known: dict[tuple[str, str], tuple[int, str, str | None]] = {}  # key → (id, name_norm, uscc)
        codes = {p.row.party_uscc for p in chunk if not p.person and p.row.party_uscc}
        for sid, code, norm in session.execute(
                select(Subject.id, Subject.uscc, Subject.name_norm).where(Subject.uscc.in_(codes))) if codes else ():
            known[("uscc", code)] = (sid, norm, code)
        hashes = {p.id_hash for p in chunk if p.person and p.id_hash}
        for sid, digest, norm in session.execute(
                select(Subject.id, Subject.resident_id_hash, Subject.name_norm)
                .where(Subject.resident_id_hash.in_(hashes))) if hashes else ():
            known[("person", digest)] = (sid, norm, None)
        alias_values: set[str] = set()
        for p in chunk:
            if not p.person and ("uscc", p.row.party_uscc) not in known:
                alias_values.update(v for _, v in _alias_keys(p.row))
        if alias_values:
            q = (select(SubjectAlias.scheme, SubjectAlias.value, Subject.id, Subject.name_norm, Subject.uscc)
                 .join(Subject, Subject.id == SubjectAlias.subject_id).where(SubjectAlias.value.in_(alias_values)))
            for scheme, value, sid, norm, code in session.execute(q):
                known[(scheme, value)] = (sid, norm, code)

        kept: list[_Prepared] = []
        new: dict[tuple[str, str], list[_Prepared]] = {}
        for p in chunk:
            found = self.lookup(p, known)
            if found == "conflict":
                continue
            if found is None:
                if not self.create_subjects:
                    self.reject(p, "subject_not_found", "信用主体库中没有该行政相对人，且本次报送不新建主体")
                    continue
                new.setdefault(_new_key(p), []).append(p)
            else:
                sid, norm = found
                p.subject_id = sid
                self.found(p, norm)
            kept.append(p)
        if new:
            self.create(new)
        return kept

    def found(self, p: _Prepared, name_norm: str) -> None:
        """``p`` names a subject the registry has: flag it when the registry knows it under another name."""
        if name_norm != p.name_norm:
            self.result.name_mismatches += 1
            p.flags.append({"code": "name_mismatch",
                            "message": "行政相对人名称与信用主体库中的名称不一致（未更名，请核实）"})

    def lookup(self, p: _Prepared, known: dict[tuple[str, str], tuple[int, str, str | None]]) -> Any:
        if p.person:
            hit = known.get(("person", p.id_hash or ""))
            return None if hit is None else (hit[0], hit[1])
        if p.row.party_uscc and ("uscc", p.row.party_uscc) in known:
            hit = known[("uscc", p.row.party_uscc)]
            return hit[0], hit[1]
        for key in _alias_keys(p.row):
            hit = known.get(key)
            if hit is None:
                continue
            if p.row.party_uscc and hit[2] and hit[2] != p.row.party_uscc:
                self.reject(p, "party_code_conflict",
                            f"行政相对人的登记代码属于统一社会信用代码为 {hit[2]} 的主体，与所报代码不符")
                return "conflict"
            return hit[0], hit[1]
        return None

    def create(self, new: dict[tuple[str, str], list[_Prepared]]) -> None:
        now = utcnow()
        source = f"records:batch:{self.batch_id}" if self.batch_id is not None else f"records:{self.actor.actor}"
        vault = get_vault()
        params, groups, aliases = [], [], []
        for group in new.values():
            p = group[0]
            row = p.row
            values: dict[str, Any] = {
                "kind": parse_party_kind(row.party_kind).value, "org_type": None, "name": row.party_name.strip(),
                "name_norm": p.name_norm, "uscc": None, "uscc_flagged": False, "resident_id_hash": None,
                "resident_id_enc": None, "resident_id_masked": None, "region_code": None,
                "legal_rep": None if p.person else row.legal_rep, "source": source, "created_at": now,
                "updated_at": now,
            }
            if p.person:
                values.update(resident_id_hash=p.id_hash, resident_id_enc=vault.encrypt(p.id_number or ""),
                              resident_id_masked=p.id_masked, region_code=p.id_region)
            elif row.party_uscc:
                if uscc.is_valid(row.party_uscc) and uscc.compact(row.party_uscc) == row.party_uscc:  # as ingest gives it
                    values.update(uscc=row.party_uscc, org_type=uscc.subject_type_of(row.party_uscc),
                                  region_code=row.party_uscc[2:8])
                else:
                    check = uscc.validate(row.party_uscc, allow_bad_check=True)
                    if not check.valid:
                        for q in group:
                            self.reject(q, "party_uscc_invalid", "行政相对人统一社会信用代码无效，无法新建主体")
                        continue
                    values.update(uscc=check.normalized, org_type=check.details.get("subject_type"),
                                  region_code=check.details.get("region_code"),
                                  uscc_flagged=any(w.code == "uscc_check_digit" for w in check.warnings))
            params.append(values)
            groups.append(group)
        if not params:
            return
        session = self.session
        ids = allocate_ids(session, Subject.__table__, len(params))
        for sid, values in zip(ids, params, strict=True):
            values["id"] = sid
        # Another upload may be creating the same subjects: persons by their ID's hash, organisations by USCC, each
        # inserted unless it exists, in key order (subjects.service.upsert_subjects).
        people = [v for v in params if v["resident_id_hash"]]
        found = upsert_subjects(session, people, key="resident_id_hash") if people else {}
        found.update(upsert_subjects(session, [v for v in params if not v["resident_id_hash"]], key="uscc"))
        created = []
        for values, group in zip(params, groups, strict=True):
            sid = found.get(values["resident_id_hash"] or values["uscc"] or "", values["id"])
            for q in group:
                q.subject_id = sid
            if sid != values["id"]:  # created by another transaction since this one looked: found after all
                existing = session.execute(select(Subject.name_norm).where(Subject.id == sid)).scalar_one()
                for q in group:
                    self.found(q, existing)
                continue
            created.append(values)
            for scheme, value in group[0].row.party_codes.items():
                if scheme in _ALIAS_SCHEMES and value:
                    aliases.append({"subject_id": sid, "scheme": scheme, "value": value, "source": source,
                                    "created_at": now})
        insert_rows(session, SubjectName.__table__, [
            {"subject_id": v["id"], "name": v["name"], "name_norm": v["name_norm"], "valid_from": now,
             "source": source} for v in created])
        if aliases:
            taken = {(scheme, value) for scheme, value in session.execute(
                select(SubjectAlias.scheme, SubjectAlias.value).where(SubjectAlias.value.in_({a["value"] for a in aliases})))}
            fresh, seen = [], set()
            for a in aliases:
                key = (a["scheme"], a["value"])
                if key not in taken and key not in seen:
                    seen.add(key)
                    fresh.append(a)
            insert_missing(session, SubjectAlias.__table__, sorted(fresh, key=lambda a: (a["scheme"], a["value"])))
        self.result.subjects_created += len(created)

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
        cols = [t.c[n] for n in ("id", "kind", "authority_uscc", "doc_no_norm", "department_id", "content_hash",
                                 "current_version_id", "version_count", "withdrawn_at", "withdrawn_reason")]
        for rec in session.execute(select(*cols).where(t.c.doc_no_norm.in_(docs))).mappings():
            existing[(rec["kind"], rec["authority_uscc"], rec["doc_no_norm"])] = dict(rec)
        previous_ids = [existing[p.key]["current_version_id"] for p in chunk
                        if p.key in existing and existing[p.key]["content_hash"] != p.content_hash]
        previous: dict[int, dict[str, Any]] = {}
        if previous_ids:
            for vid, content, data, extra in session.execute(
                    select(RecordVersion.id, RecordVersion.content, RecordVersion.data, RecordVersion.extra)
                    .where(RecordVersion.id.in_(previous_ids))):
                previous[vid] = {**content, "data": data, "extra": extra}

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
                self.outcomes[p.index] = RowOutcome(p.row.row, "unchanged", rec["id"], rec["version_count"],
                                                    warnings=_public_flags(p.flags))
            else:
                changed.append((p, rec))

        def record_values(p: _Prepared) -> dict[str, Any]:
            return {"subject_id": p.subject_id, "party_kind": p.content["party_kind"],
                    "party_name": p.content["party_name"], "doc_no": p.row.doc_no or p.row.doc_no_norm,
                    "authority": p.row.authority or "", "decision_date": p.row.decision_date,
                    "severity": p.severity, "penalty_types": p.types,
                    "penalty_types_key": publicity.types_key(p.types), "fine_fen": p.fine_fen,
                    "licence_valid_from": p.row.licence_valid_from, "licence_valid_to": p.row.licence_valid_to,
                    "content_hash": p.content_hash, "updated_at": now}

        withdraw_reason = "报送数据当前状态为无效（撤销、注销或失效），即时撤回公示"
        version_ids = allocate_ids(session, RecordVersion.__table__, len(fresh) + len(changed))
        versions: list[dict[str, Any]] = []
        if fresh:
            received_on = clock.local_date(received_at)
            timely: dict[tuple[str, dt.date], tuple[int, bool]] = {}  # decision dates repeat within a chunk
            record_ids = allocate_ids(session, t, len(fresh))
            params = []
            for rid, vid, p in zip(record_ids, version_ids, fresh, strict=False):
                decided = p.row.decision_date
                late_days, late = timely.get((p.kind, decided)) or timely.setdefault(
                    (p.kind, decided), publicity.timeliness(
                        p.rule.publicity.timeliness, decision_date=decided, received_on=received_on,
                        workdays_between=workdays.workdays_between))
                withdrawn = not p.row.current_status_valid
                params.append({**record_values(p), "id": rid, "kind": p.kind, "authority_uscc": p.row.authority_uscc,
                               "doc_no_norm": p.row.doc_no_norm, "department_id": self.department_id,
                               "current_version_id": vid, "version_count": 1, "received_at": received_at,
                               "workdays_late": late_days, "late": late,
                               "withdrawn_at": received_at if withdrawn else None,
                               "withdrawn_reason": withdraw_reason if withdrawn else None, "ended_on": None,
                               "created_at": now})
                versions.append(self.version(p, vid, rid, 1, sorted(p.content), now))
                self.result.created += 1
                self.result.withdrawn += withdrawn
                self.result.late += late
                self.outcomes[p.index] = RowOutcome(p.row.row, "created", rid, 1, withdrawn=withdrawn, late=late,
                                                    warnings=_public_flags(p.flags))
            insert_rows(session, t, params)
        updates = []
        for (p, rec), vid in zip(changed, version_ids[len(fresh):], strict=True):
            number = rec["version_count"] + 1
            before = previous.get(rec["current_version_id"], {})
            after = {**p.content, "data": p.data, "extra": p.extra}
            diff = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
            withdrawn = rec["withdrawn_at"] is None and not p.row.current_status_valid
            if rec["withdrawn_at"] is not None and p.row.current_status_valid:
                p.flags.append({"code": "record_withdrawn", "message": "该记录已撤回，新版本不恢复公示"})
            versions.append(self.version(p, vid, rec["id"], number, diff, now))
            updates.append({**record_values(p), "_id": rec["id"], "version_count": number, "current_version_id": vid,
                            "withdrawn_at": received_at if withdrawn else rec["withdrawn_at"],
                            "withdrawn_reason": withdraw_reason if withdrawn else rec["withdrawn_reason"]})
            self.result.updated += 1
            self.result.withdrawn += withdrawn
            self.outcomes[p.index] = RowOutcome(p.row.row, "updated", rec["id"], number, withdrawn=withdrawn,
                                                warnings=_public_flags(p.flags))
        if not versions:
            return
        insert_rows(session, RecordVersion.__table__, versions)
        if updates:
            keys = [k for k in updates[0] if k != "_id"]
            session.execute(update(t).where(t.c.id == bindparam("_id")).values({k: bindparam(k) for k in keys}),
                            updates)

    def version(self, p: _Prepared, version_id: int, record_id: int, number: int, diff: list[str],
                now: dt.datetime) -> dict[str, Any]:
        return {"id": version_id, "record_id": record_id, "version_no": number, "content_hash": p.content_hash,
                "content": p.content, "data": p.data, "extra": p.extra, "flags": p.flags, "changed_fields": diff,
                "batch_id": self.batch_id, "source_row": p.row.row, "department_id": self.department_id,
                "received_at": self.received_at, "actor": self.actor.actor, "created_at": now}


def _public_flags(flags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The platform's own flags of a row for its outcome (the ingest warnings the sender already has)."""
    if not flags:
        return []
    return [f for f in flags if f["code"] in ("name_mismatch", "severity_unknown", "record_withdrawn")]


def _alias_keys(row: RecordInput) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if row.party_uscc:
        keys.append((AliasScheme.USCC.value, row.party_uscc))
        keys.append((AliasScheme.ORG_CODE.value, row.party_uscc[8:17]))
    keys.extend((s, v) for s, v in sorted(row.party_codes.items()) if s in _ALIAS_SCHEMES and v)
    return keys


def _new_key(p: _Prepared) -> tuple[str, str]:
    if p.person:
        return ("person", p.id_hash or "")
    if p.row.party_uscc:
        return ("uscc", p.row.party_uscc)
    scheme, value = next((s, v) for s, v in sorted(p.row.party_codes.items()) if s in _ALIAS_SCHEMES and v)
    return (scheme, value)


def withdraw(session: Session, *, actor: Principal, record_id: int, reason: str) -> CreditRecord:
    """Withdraw a record from public view now (decision revoked or changed: 行政处罚法 Art. 48). Audited.

    Only the owning department (or the platform admin; others get 404); a reason is required; a record already
    withdrawn is a :class:`Conflict` (``already_withdrawn``).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("撤回必须说明原因", code="reason_required")
    record = get_record(session, record_id, actor=actor, for_update=True)
    if record.withdrawn_at is not None:
        raise Conflict(f"记录 {record_id} 已于 {clock.local_date(record.withdrawn_at)} 撤回", code="already_withdrawn")
    record.withdrawn_at = utcnow()
    record.withdrawn_reason = reason
    record.updated_at = record.withdrawn_at
    session.flush()
    audit.record(session, actor=actor.actor, action="records.withdraw", entity_type=ENTITY, entity_id=record.id,
                 reason=reason, before={"withdrawn_at": None},
                 after={"withdrawn_at": record.withdrawn_at, "withdrawn_reason": reason})
    return record


# Reading -----------------------------------------------------------------------------------------------------


def get_record(session: Session, record_id: int, *, actor: Principal | None = None,
               for_update: bool = False) -> CreditRecord:
    """A record by id; with ``actor``, only when the actor may see the owning department (404 otherwise, so that
    another department's ids are not disclosed)."""
    stmt = select(CreditRecord).where(CreditRecord.id == record_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    record = session.scalars(stmt).one_or_none()
    if record is None or (actor is not None and not actor.can_see_department(record.department_id)):
        raise NotFound(f"信用记录 {record_id} 不存在", code="record_not_found")
    return record


def public_status(session: Session, record: CreditRecord, today: dt.date) -> Verdict:
    """Whether the record is public on ``today`` under the catalog's current rules, with the reason."""
    return publicity.status(rules(session)[record.kind], facts(record), today)


def _day_start(day: dt.date) -> dt.datetime:
    """The UTC instant the civil day ``day`` begins (withdrawals before it are in force on that day)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=clock.zone()).astimezone(dt.UTC)


def _not_stopped(today: dt.date) -> Any:
    c = CreditRecord
    return and_(or_(c.withdrawn_at.is_(None), c.withdrawn_at >= _day_start(today + dt.timedelta(days=1))),
                or_(c.ended_on.is_(None), c.ended_on > today))


def _window_open(rule: PublicityRule, today: dt.date) -> Any:
    """SQL: the record's catalog window covers ``today`` (exact: see ``publicity.earliest_public_decision``)."""
    c = CreditRecord
    mode = rule.publicity.mode
    if mode == "fixed_period":
        return or_(*[and_(c.severity == key, c.decision_date >= publicity.earliest_public_decision(rule, key, today))
                     for key in rule.publicity.windows])
    if mode == "while_valid":
        # Only licences carry a validity end; other kinds are open-ended under this mode.
        return or_(c.licence_valid_to.is_(None), c.licence_valid_to >= today)
    return true()


def _public_clause(kind: str, rule: PublicityRule, today: dt.date) -> Any:
    """SQL narrowing of "public on ``today``" for one kind: exact for the catalog's conditions it can express;
    :func:`publicity.status` re-checks every row."""
    c = CreditRecord
    if not publicity.party_kind_public(rule, PartyKind.LEGAL_PERSON):
        return false()
    parts = [c.kind == kind, c.decision_date <= today, _not_stopped(today), _window_open(rule, today)]
    if not publicity.party_kind_public(rule, PartyKind.NATURAL_PERSON):
        parts.append(c.party_kind != PartyKind.NATURAL_PERSON.value)
    if kind == RecordKind.PENALTY:
        terms = publicity.never_published_sql_terms(rule) or []
        for term in terms:
            cond = c.penalty_types_key.in_(term.keys)
            if term.fine_max_yuan is not None:
                cond = and_(cond, c.party_kind == term.party_kind, c.fine_fen.is_not(None),
                            c.fine_fen <= term.fine_max_yuan * 100)
            parts.append(~cond)
    return and_(*parts)


def _expired_clause(kind: str, rule: PublicityRule, today: dt.date) -> Any:
    c = CreditRecord
    not_withdrawn = or_(c.withdrawn_at.is_(None), c.withdrawn_at >= _day_start(today + dt.timedelta(days=1)))
    ended = and_(c.ended_on.is_not(None), c.ended_on <= today)
    over = and_(c.decision_date <= today, ~_window_open(rule, today))
    return and_(c.kind == kind, not_withdrawn, or_(ended, over))


def _status_clause(status: str, kind_rules: dict[str, PublicityRule], today: dt.date) -> Any:
    c = CreditRecord
    if status == publicity.STATUS_PUBLIC:
        return or_(*[_public_clause(k, r, today) for k, r in kind_rules.items()])
    if status == publicity.STATUS_WITHDRAWN:
        return and_(c.withdrawn_at.is_not(None), c.withdrawn_at < _day_start(today + dt.timedelta(days=1)))
    if status == publicity.STATUS_EXPIRED:
        return or_(*[_expired_clause(k, r, today) for k, r in kind_rules.items()])
    return true()


@dataclass
class RecordRow:
    """A listed record with its publicity of the day (``status`` one of ``publicity.STATUSES``)."""

    record: CreditRecord
    subject: Subject
    public: bool
    status: str
    reason: str


def list_records(session: Session, *, subject_id: int | None = None, department_id: int | None = None,
                 kind: str | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
                 status: str | None = None, public_only: bool, today: dt.date, limit: int = 50,
                 offset: int = 0) -> list[RecordRow]:
    """Records by filters, newest decision first. ``public_only`` (or ``status='public'``) keeps what is public on
    ``today``: narrowed in SQL from the catalog rules (window bounds for today, not withdrawn, natural persons only
    when the catalog's natural-person attribute is public, never-published penalty types and small fines), then
    each row re-checked with ``catalog.rules.publicity_status``; paging counts only rows that pass."""
    if status not in (None, "all", *publicity.STATUSES):
        raise ValidationFailed(f"未知的状态 {status!r}（可选：public / withdrawn / expired / not_public / all）",
                               code="unknown_status")
    if kind is not None and kind not in {k.value for k in RecordKind}:
        raise ValidationFailed(f"未知的记录类别 {kind!r}（licence / penalty）", code="unknown_kind")
    if public_only:
        status = publicity.STATUS_PUBLIC
    kind_rules = rules(session)
    if kind:
        kind_rules = {kind: kind_rules[kind]}
    stmt: Select[Any] = select(CreditRecord, Subject).join(Subject, Subject.id == CreditRecord.subject_id)
    if subject_id is not None:
        stmt = stmt.where(CreditRecord.subject_id == subject_id)
    if department_id is not None:
        stmt = stmt.where(CreditRecord.department_id == department_id)
    if kind:
        stmt = stmt.where(CreditRecord.kind == kind)
    if date_from:
        stmt = stmt.where(CreditRecord.decision_date >= date_from)
    if date_to:
        stmt = stmt.where(CreditRecord.decision_date <= date_to)
    if status and status not in ("all", publicity.STATUS_NOT_PUBLIC):
        stmt = stmt.where(_status_clause(status, kind_rules, today))
    stmt = stmt.order_by(CreditRecord.decision_date.desc(), CreditRecord.id.desc())
    out: list[RecordRow] = []
    skipped = 0
    for row in _evaluated(session, stmt, kind_rules, today):
        if status not in (None, "all") and row.status != status:
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def _evaluated(session: Session, stmt: Select[Any], kind_rules: dict[str, PublicityRule],
               today: dt.date) -> Iterator[RecordRow]:
    """Stream the statement's records with their exact status for ``today``."""
    page = 500
    offset = 0
    while True:
        batch = session.execute(stmt.limit(page).offset(offset).execution_options(populate_existing=True)).all()
        for record, subject in batch:
            rule = kind_rules[record.kind]
            label, reason = publicity.status_label(rule, facts(record), today)
            yield RecordRow(record, subject, label == publicity.STATUS_PUBLIC, label, reason)
        if len(batch) < page:
            return
        offset += page


def record_history(session: Session, record_id: int, *, actor: Principal | None = None) -> list[RecordVersion]:
    """All versions of a record, oldest first (department-scoped with ``actor``)."""
    get_record(session, record_id, actor=actor)
    return list(session.scalars(select(RecordVersion).where(RecordVersion.record_id == record_id)
                                .order_by(RecordVersion.version_no)))


def version_counts(session: Session, record_ids: list[int]) -> dict[int, int]:
    if not record_ids:
        return {}
    return {rid: count for rid, count in session.execute(
        select(CreditRecord.id, CreditRecord.version_count).where(CreditRecord.id.in_(record_ids)))}


# Views -------------------------------------------------------------------------------------------------------


def mark_objections(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``objection`` to "异议处理中" on the views of records with an open objection (``None`` otherwise).

    Asks the open-objection providers (``core.hooks``; the cases domain, one query per 1,000 records); cases
    changes records only through this service.
    """
    open_ids = {i for kind, i in hooks.open_objection_targets(session, record_ids=[v["id"] for v in views])
                if kind == "record"}
    for v in views:
        v["objection"] = hooks.OBJECTION_MARKER if v["id"] in open_ids else None
    return views


def record_view(row: RecordRow) -> dict[str, Any]:
    """The department view of a record (IDs of persons masked; never the clear number)."""
    r, s = row.record, row.subject
    return {
        "id": r.id, "kind": r.kind, "doc_no": r.doc_no, "doc_no_norm": r.doc_no_norm, "authority": r.authority,
        "authority_uscc": r.authority_uscc, "decision_date": r.decision_date, "severity": r.severity,
        "penalty_types": list(r.penalty_types or []),
        "fine_yuan": str(r.fine_yuan) if r.fine_yuan is not None else None,
        "licence_valid_from": r.licence_valid_from, "licence_valid_to": r.licence_valid_to,
        "party_kind": r.party_kind, "party_name": r.party_name,
        "subject": {"id": s.id, "name": s.name, "uscc": s.uscc, "resident_id": s.resident_id_masked},
        "department_id": r.department_id, "current_version_id": r.current_version_id,
        "versions": r.version_count, "received_at": r.received_at, "workdays_late": r.workdays_late,
        "late": r.late, "withdrawn_at": r.withdrawn_at, "withdrawn_reason": r.withdrawn_reason,
        "ended_on": r.ended_on, "public": row.public, "status": row.status, "status_reason": row.reason,
        "created_at": r.created_at, "updated_at": r.updated_at,
    }


def public_record_view(row: RecordRow) -> dict[str, Any]:
    """What the public sees: the decision, and the party with a person's name and ID masked."""
    r, s = row.record, row.subject
    person = r.party_kind == PartyKind.NATURAL_PERSON.value
    return {
        "id": r.id, "kind": r.kind, "doc_no": r.doc_no, "authority": r.authority,
        "decision_date": r.decision_date, "penalty_types": list(r.penalty_types or []),
        "fine_yuan": str(r.fine_yuan) if r.fine_yuan is not None else None,
        "licence_valid_from": r.licence_valid_from, "licence_valid_to": r.licence_valid_to,
        "party_kind": r.party_kind, "party_name": mask_name(r.party_name) if person else r.party_name,
        "party_uscc": None if person else s.uscc, "party_id": s.resident_id_masked if person else None,
        "status_reason": row.reason,
    }


def version_view(v: RecordVersion) -> dict[str, Any]:
    return {"id": v.id, "version_no": v.version_no, "content_hash": v.content_hash, "content": v.content,
            "data": v.data, "extra": v.extra, "flags": v.flags, "changed_fields": v.changed_fields,
            "batch_id": v.batch_id, "source_row": v.source_row, "department_id": v.department_id,
            "received_at": v.received_at, "actor": v.actor}


def subject_records_view(session: Session, subject: Subject, today: dt.date) -> list[dict[str, Any]]:
    """A subject's records, each with its versions and whether it is public on ``today`` (for ``subjects show``)."""
    records = list(session.scalars(select(CreditRecord).where(CreditRecord.subject_id == subject.id)
                                   .order_by(CreditRecord.decision_date.desc(), CreditRecord.id.desc())))
    if not records:
        return []
    kind_rules = rules(session)
    versions: dict[int, list[RecordVersion]] = {}
    if records:
        for v in session.scalars(select(RecordVersion).where(RecordVersion.record_id.in_([r.id for r in records]))
                                 .order_by(RecordVersion.record_id, RecordVersion.version_no)):
            versions.setdefault(v.record_id, []).append(v)
    out = []
    for r in records:
        label, reason = publicity.status_label(kind_rules[r.kind], facts(r), today)
        view = record_view(RecordRow(r, subject, label == publicity.STATUS_PUBLIC, label, reason))
        view["history"] = [version_view(v) for v in versions.get(r.id, [])]
        out.append(view)
    return mark_objections(session, out)


# The daily job -----------------------------------------------------------------------------------------------


@dataclass
class TransitionCounts:
    run_date: dt.date
    started: int
    ended: int
    public: int
    already_ran: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_transitions(session: Session, *, today: dt.date, actor: Principal | None = None) -> TransitionCounts:
    """Record which records entered or left the public view since the last run (one run per date).

    The job compares the records public on ``today`` (same evaluation as the public list) with those the
    transitions table last saw public: new ones get ``started``, vanished ones ``ended`` (with the reason of the
    day). Running it again for a date already done changes nothing and returns that run's counts; a date before
    the latest run is refused (the trail only moves forward).
    """
    done = session.scalar(select(PublicityRun).where(PublicityRun.run_date == today))
    if done is not None:
        return TransitionCounts(today, done.started, done.ended, done.public, already_ran=True)
    latest = session.scalar(select(func.max(PublicityRun.run_date)))
    if latest is not None and latest > today:
        raise ValidationFailed(f"公示变化已记录到 {latest}，不能补记更早的日期 {today}",
                               code="transitions_out_of_order")
    kind_rules = rules(session)
    stmt = (select(CreditRecord, Subject).join(Subject, Subject.id == CreditRecord.subject_id)
            .where(_status_clause(publicity.STATUS_PUBLIC, kind_rules, today)).order_by(CreditRecord.id))
    public_now: dict[int, str] = {row.record.id: row.reason
                                  for row in _evaluated(session, stmt, kind_rules, today) if row.public}
    last = (select(PublicityTransition.record_id, func.max(PublicityTransition.id).label("last_id"))
            .group_by(PublicityTransition.record_id).subquery())
    seen_public = set(session.scalars(
        select(PublicityTransition.record_id).join(last, PublicityTransition.id == last.c.last_id)
        .where(PublicityTransition.transition == "started")))
    now = utcnow()
    started = [rid for rid in public_now if rid not in seen_public]
    ended_ids = sorted(seen_public - set(public_now))
    rows = [{"record_id": rid, "run_date": today, "transition": "started", "reason": public_now[rid],
             "created_at": now} for rid in started]
    if ended_ids:
        reasons: dict[int, str] = {}
        for i in range(0, len(ended_ids), CHUNK):
            for record in session.scalars(select(CreditRecord).where(CreditRecord.id.in_(ended_ids[i:i + CHUNK]))):
                reasons[record.id] = publicity.status_label(kind_rules[record.kind], facts(record), today)[1]
        rows += [{"record_id": rid, "run_date": today, "transition": "ended", "reason": reasons.get(rid, ""),
                  "created_at": now} for rid in ended_ids]
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(PublicityTransition), rows[i:i + CHUNK])
    run = PublicityRun(run_date=today, started=len(started), ended=len(ended_ids), public=len(public_now), ran_at=now)
    session.add(run)
    session.flush()
    who = actor.actor if actor is not None else "system:records.transitions"
    audit.record(session, actor=who, action="records.transitions", entity_type="publicity_run", entity_id=run.id,
                 reason=f"记录 {today} 的公示变化",
                 after={"run_date": today, "started": run.started, "ended": run.ended, "public": run.public})
    return TransitionCounts(today, run.started, run.ended, run.public)


def transitions_on(session: Session, *, run_date: dt.date) -> list[PublicityTransition]:
    return list(session.scalars(select(PublicityTransition).where(PublicityTransition.run_date == run_date)
                                .order_by(PublicityTransition.id)))


def record_row(session: Session, record_id: int, *, actor: Principal | None, today: dt.date) -> RecordRow:
    """One record with its subject and its publicity on ``today`` (department-scoped with ``actor``)."""
    record = get_record(session, record_id, actor=actor)
    subject = session.get(Subject, record.subject_id)
    assert subject is not None  # foreign key
    label, reason = publicity.status_label(rules(session)[record.kind], facts(record), today)
    return RecordRow(record, subject, label == publicity.STATUS_PUBLIC, label, reason)


# Due process (credit repair, objections) -----------------------------------------------------------------------
# Called by ``cases`` (the only writer of these changes), each audited in the caller's transaction.


def end_publicity_early(session: Session, *, actor: Principal, record_id: int, on: dt.date,
                        reason: str) -> CreditRecord:
    """Credit repair approved: the record is no longer public from ``on`` (``ended_on``, its first day off the
    public view). The catalog's evaluation honours it everywhere at once (public list, check, reports)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("终止公示必须说明原因", code="reason_required")
    record = get_record(session, record_id, for_update=True)
    if record.ended_on is not None and record.ended_on <= on:
        raise Conflict(f"记录 {record_id} 已于 {record.ended_on} 终止公示", code="already_ended")
    before = record.ended_on
    record.ended_on = on
    record.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor.actor, action="records.end_publicity", entity_type=ENTITY,
                 entity_id=record.id, reason=reason, before={"ended_on": before}, after={"ended_on": on})
    return record


def restore_publicity(session: Session, *, actor: Principal, record_id: int, reason: str) -> CreditRecord:
    """A repair revoked (false materials, broken commitment): the early end is cleared, so the record is public
    again up to the end of its maximum window (NDRC Order 58: 按最长公示期重新公示)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("恢复公示必须说明原因", code="reason_required")
    record = get_record(session, record_id, for_update=True)
    if record.ended_on is None:
        raise Conflict(f"记录 {record_id} 未被提前终止公示，无需恢复", code="not_ended")
    before = record.ended_on
    record.ended_on = None
    record.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor.actor, action="records.restore_publicity", entity_type=ENTITY,
                 entity_id=record.id, reason=reason, before={"ended_on": before}, after={"ended_on": None})
    return record


#: Fields an upheld objection may correct directly (other corrections come as a new submission of the row).
CORRECTABLE_FIELDS = ("party_name", "decision_date", "severity", "penalty_types", "fine_yuan")


def correct_record(session: Session, *, actor: Principal, record_id: int, changes: dict[str, Any],
                   reason: str) -> CreditRecord:
    """Correct a record after an upheld objection: a new version (provenance: the actor, no batch) with the
    corrected fields, and the record's current values updated. Only :data:`CORRECTABLE_FIELDS`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("更正必须说明原因", code="reason_required")
    unknown = sorted(set(changes) - set(CORRECTABLE_FIELDS))
    if unknown or not changes:
        raise ValidationFailed(f"可更正的字段：{'、'.join(CORRECTABLE_FIELDS)}", code="field_not_correctable",
                               details={"fields": unknown})
    record = get_record(session, record_id, for_update=True)
    rule = rules(session)[record.kind]
    content_changes: dict[str, Any] = {}
    if "party_name" in changes:
        name = str(changes["party_name"] or "").strip()
        if not name:
            raise ValidationFailed("行政相对人名称不能为空", code="party_name_missing")
        record.party_name = content_changes["party_name"] = name
    if "decision_date" in changes:
        value = changes["decision_date"]
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed(f"决定日期「{str(value)[:40]}」不是有效日期（应为 2024-03-15 格式）",
                                   code="date_invalid") from None
        record.decision_date = day
        content_changes["decision_date"] = day.isoformat()
    if "severity" in changes:
        key = str(changes["severity"])
        if key not in rule.publicity.windows:
            raise ValidationFailed(f"失信严重程度只能是 {' / '.join(rule.publicity.windows)}", code="unknown_severity")
        record.severity = content_changes["severity"] = key
    if "penalty_types" in changes:
        types = publicity.normalise_types(changes["penalty_types"] or [])
        record.penalty_types, record.penalty_types_key = types, publicity.types_key(types)
        content_changes["penalty_types"] = types
    if "fine_yuan" in changes:
        try:  # the import's amount rules (finite, not negative, not above the ceiling), in yuan
            fen = yuan_to_fen(changes["fine_yuan"])
        except AmountError as exc:
            raise ValidationFailed(f"罚款金额（元）{exc.message}", code=exc.code) from None
        record.fine_fen = fen
        content_changes["fine_wan"] = None if fen is None else str(Decimal(fen) / 1_000_000)
    current = session.get(RecordVersion, record.current_version_id) if record.current_version_id else None
    base = dict(current.content) if current else {}
    before = {k: base.get(k) for k in content_changes}
    content = {**base, **content_changes}
    digest = hashlib.sha256(_canonical({**content, "corrected": reason})).hexdigest()
    now = utcnow()
    version = RecordVersion(
        record_id=record.id, version_no=record.version_count + 1, content_hash=digest, content=content,
        data=current.data if current else {}, extra=current.extra if current else {},
        flags=[{"code": "corrected", "message": f"依异议核查结果更正：{reason[:200]}"}],
        changed_fields=sorted(content_changes), batch_id=None, source_row=None, department_id=record.department_id,
        received_at=now, actor=actor.actor, created_at=now)
    session.add(version)
    session.flush()
    record.current_version_id, record.version_count = version.id, version.version_no
    record.content_hash, record.updated_at = digest, now
    session.flush()
    audit.record(session, actor=actor.actor, action="records.correct", entity_type=ENTITY, entity_id=record.id,
                 reason=reason, before=before, after=content_changes)
    return record
