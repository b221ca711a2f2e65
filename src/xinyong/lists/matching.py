"""Name matching of list parties against the subject registry: candidates first, then an explainable score.

Modelled on OpenSanctions yente / nomenklatura: two stages.

1. **Candidates** come from the registry by code or name, never by scanning it: a code that resolves (USCC,
   organisation code, clear resident ID) wins outright; otherwise the exact normalised name (current and former
   names, both indexed), then — for organisations — a bounded prefix look-up on the indexed ``name_norm`` (the
   name's core without its legal form, and the same core under the party's region name), ``LIMIT``-ed.
2. **Scoring** (:func:`score_pair`, pure) adds up features, each with its contribution and a Chinese sentence so a
   reviewer sees *why*: name similarity, region (USCC positions 3–8 / resident ID digits 1–6 against the subject's
   region), the unmasked digits of a masked ID (``3208821990****1234``: region, birth year and month, last 4 —
   one disagreeing digit is strong negative evidence), legal representative, party kind, a contradicting code.
   ``match`` is ``score >= threshold`` (default :data:`DEFAULT_THRESHOLD`). A natural person is never linked on
   name and region alone: without agreeing ID digits the score is capped below the threshold.

Human verdicts (``MatchJudgement``) are applied by the callers (``lists.sync``): ``same`` links, ``not_same``
removes the subject from the candidates (``exclude_ids``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Boolean, Integer, String, and_, column, or_, select, true, values
from sqlalchemy.orm import Session

from xinyong.core.db import IN_CHUNK
from xinyong.identifiers import orgcode, regions, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.subjects.models import Subject, SubjectName
from xinyong.subjects.service import find_subject

#: Score at or above which a candidate is linked without review (``ListType.params.match_threshold`` overrides).
DEFAULT_THRESHOLD = 0.9
#: Candidates below this score are not offered to reviewers at all.
MIN_CANDIDATE_SCORE = 0.5
#: Rows fetched by one near-name (prefix) look-up; the look-up is an index range scan, never a table scan.
NEAR_NAME_LIMIT = 50

PERSON = "natural_person"
ORG_KINDS = ("legal_person", "individual_business")
KIND_LABELS = {"natural_person": "自然人", "legal_person": "法人", "individual_business": "个体工商户"}

# Legal forms and generic endings stripped to get a name's distinctive core (after normalize_org_name).
_SUFFIXES = (
    "股份公司",
    "有限公司",
    "集团公司",
    "分公司",
    "公司",
    "专业合作社",
    "合作社",
    "个体户",
    "经营部",
    "门市部",
    "加工厂",
    "厂",
    "店",
    "中心",
    "工作室",
    "部",
    "站",
    "场",
    "所",
)
_ID_SHAPE = re.compile(r"[0-9*]{6}[0-9*]{8}[0-9*]{3}[0-9X*]")


# Pure part ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A registry subject that may be the list party, with the score and the evidence behind it."""

    subject_id: int
    name: str
    kind: str
    score: float
    match: bool
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "name": self.name,
            "kind": self.kind,
            "score": self.score,
            "match": self.match,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Party:
    """A list party as the source describes it. ``code`` may be a USCC, an organisation code or a (masked) ID."""

    name: str
    kind: str | None = None
    region_code: str | None = None
    code: str | None = None
    legal_rep: str | None = None


@dataclass(frozen=True)
class SubjectFacts:
    """What scoring needs to know about a registry subject (``birth_ym``: ``YYYYMM`` of a person, in memory only)."""

    id: int
    kind: str
    name: str
    name_norm: str
    uscc: str | None = None
    resident_id_masked: str | None = None
    region_code: str | None = None
    legal_rep: str | None = None
    former_names: tuple[str, ...] = ()
    birth_ym: str | None = None

    @cached_property
    def id_digits(self) -> dict[int, str]:
        """Known characters of the subject's ID by position: region, the masked form's visible ones, birth YYYYMM."""
        known: dict[int, str] = {}
        if self.region_code and len(self.region_code) == 6:
            known.update(enumerate(self.region_code))
        masked = parse_masked_id(self.resident_id_masked) if self.resident_id_masked else None
        if masked is not None:
            known.update(masked.visible)
        if self.birth_ym:
            known.update((6 + i, ch) for i, ch in enumerate(self.birth_ym[:6]))
        return known


@dataclass(frozen=True)
class MaskedId:
    """The visible characters of a (masked) resident ID: position -> character, positions 0-based."""

    visible: dict[int, str] = field(default_factory=dict)

    def part(self, start: int, end: int) -> str | None:
        positions = range(start, end)
        chars = [c for i in positions if (c := self.visible.get(i)) is not None]
        return "".join(chars) if len(chars) == len(positions) else None

    @property
    def region(self) -> str | None:
        return self.part(0, 6)

    @property
    def birth_year(self) -> str | None:
        return self.part(6, 10)

    @property
    def birth_month(self) -> str | None:
        return self.part(10, 12)

    @property
    def last4(self) -> str | None:
        return self.part(14, 18)


@lru_cache(maxsize=65536)
def parse_masked_id(value: str | None) -> MaskedId | None:
    """The visible digits of an 18-character ID with ``*`` masks (or a clear one); None if it is not ID-shaped.

    ``3208821990****1234`` → region 320882, birth year 1990, last 4 ``1234``; the masked month is unknown.
    """
    n = compact(value)
    if not _ID_SHAPE.fullmatch(n):
        return None
    visible = {i: ch for i, ch in enumerate(n) if ch != "*"}
    if len(visible) < 4:
        return None
    return MaskedId(visible)


def is_masked(value: str | None) -> bool:
    return "*" in (value or "")


@lru_cache(maxsize=65536)
def normalize_name(name: str, kind: str | None) -> str:
    """The matching key of a party name: person rules for natural persons, organisation rules otherwise."""
    return normalize_person_name(name) if kind == PERSON else normalize_org_name(name)


def name_core(norm: str) -> str:
    """An organisation name without its legal form / generic ending (``沁阳市宏达机械有限公司`` → ``沁阳市宏达机械``)."""
    core = norm
    for _ in range(2):  # 有限公司 after 分公司 etc.
        for suffix in _SUFFIXES:
            if core.endswith(suffix) and len(core) > len(suffix) + 1:
                core = core[: -len(suffix)]
                break
    return core


def name_similarity(a: str, b: str) -> float:
    """0..1 similarity of two normalised names: the ratio of their cores, the full names only if higher."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    full = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    ca, cb = name_core(a), name_core(b)
    core = difflib.SequenceMatcher(None, ca, cb, autojunk=False).ratio() if ca != a or cb != b else full
    # Same core, different legal form (宏达机械厂 / 宏达机械有限公司): close, but not the same name.
    if ca == cb:
        return max(full, 0.9)
    return round(min(full, core) * 0.5 + max(full, core) * 0.5, 4)


def region_of_code(code: str | None) -> str | None:
    """The region a code carries: USCC positions 3–8, or the first 6 digits of a (masked) resident ID."""
    n = compact(code)
    if len(n) == 18 and not is_masked(n) and uscc.is_valid(n):
        return n[2:8] if n[2:8].isdigit() else None
    masked = parse_masked_id(n)
    if masked is not None:
        return masked.region
    return None


def _region_feature(party_region: str | None, subject_region: str | None) -> tuple[float, str] | None:
    if not party_region or not subject_region:
        return None
    name_p = _region_name(party_region)
    if party_region == subject_region:
        return 0.1, f"地区一致：{name_p}（{party_region}）"
    if party_region[:4] == subject_region[:4]:
        return 0.05, f"同一地级市：名单 {party_region}，主体 {subject_region}"
    if party_region[:2] == subject_region[:2]:
        return -0.05, f"同省不同市：名单 {party_region}，主体 {subject_region}"
    return (
        -0.15,
        f"地区不一致：名单 {name_p}（{party_region}），主体 {_region_name(subject_region)}（{subject_region}）",
    )


def _region_name(code: str) -> str:
    found = regions.lookup(code)
    return found.name if found else code


_ID_SEGMENTS = ((0, 6, "前6位地区码"), (6, 10, "出生年份"), (10, 12, "出生月份"), (12, 14, "出生日"), (14, 18, "末4位"))


def _id_features(masked: MaskedId, subject: SubjectFacts) -> tuple[float, str, bool]:
    """(contribution, explanation, disagreement) of the visible ID digits against what is known of the subject's
    ID: its masked form (region, last 4), its region code, and its birth year and month. Digit by digit, so a
    partly masked segment still counts."""
    known = subject.id_digits
    agree: list[str] = []
    disagree: list[str] = []
    for start, end, label in _ID_SEGMENTS:
        pairs = [(masked.visible[i], known[i]) for i in range(start, end) if i in masked.visible and i in known]
        if not pairs:
            continue
        (agree if all(a == b for a, b in pairs) else disagree).append(label)
    if disagree:
        return -0.6, "身份证号码可见位不一致（" + "、".join(disagree) + "）：应不是同一人", True
    if not agree:
        return 0.0, "身份证号码可见位无法比对", False
    weight = 0.2 if "末4位" in agree and len(agree) >= 2 else 0.1
    return weight, "身份证号码可见位一致（" + "、".join(agree) + "）", False


def score_pair(
    party: Party, subject: SubjectFacts, *, threshold: float = DEFAULT_THRESHOLD
) -> tuple[float, bool, dict[str, Any]]:
    """Score how likely ``subject`` is the list ``party``: (score 0..1, match flag, evidence by feature).

    Evidence values are ``{"weight": contribution, "text": Chinese explanation}``; the score is their sum,
    clamped to 0..1. Pure: no database.
    """
    evidence: dict[str, Any] = {}
    person = (party.kind or subject.kind) == PERSON or subject.kind == PERSON
    norm = normalize_name(party.name, PERSON if person else party.kind)
    # Name -----------------------------------------------------------------------------------------------------
    if norm == subject.name_norm:
        evidence["name"] = {"weight": 0.8, "text": f"名称规范化后完全一致：{subject.name}"}
    elif norm in subject.former_names:
        evidence["name"] = {"weight": 0.75, "text": "与主体的曾用名完全一致"}
    else:
        sim = max([name_similarity(norm, subject.name_norm)] + [name_similarity(norm, f) for f in subject.former_names])
        evidence["name"] = {
            "weight": round(0.8 * sim, 4),
            "text": f"名称相近（相似度 {sim:.2f}）：名单「{party.name}」，主体「{subject.name}」",
        }
    # Kind -----------------------------------------------------------------------------------------------------
    if party.kind and party.kind != subject.kind:
        both_org = party.kind in ORG_KINDS and subject.kind in ORG_KINDS
        evidence["kind"] = {
            "weight": -0.05 if both_org else -0.3,
            "text": f"主体类别不同：名单为{KIND_LABELS.get(party.kind, party.kind)}，"
            f"主体为{KIND_LABELS.get(subject.kind, subject.kind)}",
        }
    # Codes ----------------------------------------------------------------------------------------------------
    code = compact(party.code)
    org_code = bool(code) and not is_masked(code) and (uscc.is_valid(code) or orgcode.is_valid(code))
    masked = parse_masked_id(code) if code and not org_code else None
    contradiction = False
    if masked is not None:
        weight, text, contradiction = _id_features(masked, subject)
        evidence["resident_id"] = {"weight": weight, "text": text}
    elif code and subject.uscc:
        if code == subject.uscc or (len(code) == 9 and code == subject.uscc[8:17]):
            label = "统一社会信用代码一致" if len(code) == 18 else "组织机构代码与主体统一社会信用代码第9-17位一致"
            evidence["code"] = {"weight": 1.0, "text": f"{label}：{code}（代码一致，直接关联）"}
        elif len(code) == 18 and uscc.is_valid(code):
            evidence["code"] = {"weight": -0.6, "text": f"统一社会信用代码不一致：名单 {code}，主体 {subject.uscc}"}
            contradiction = True
        elif len(code) == 9 and orgcode.is_valid(code):
            evidence["code"] = {
                "weight": -0.6,
                "text": f"组织机构代码不一致：名单 {code}，主体代码第9-17位 {subject.uscc[8:17]}",
            }
            contradiction = True
    # Region ---------------------------------------------------------------------------------------------------
    party_region = party.region_code or region_of_code(code)
    if "resident_id" not in evidence:
        region = _region_feature(party_region, subject.region_code)
        if region is not None:
            evidence["region"] = {"weight": region[0], "text": region[1]}
    # Legal representative -------------------------------------------------------------------------------------
    if party.legal_rep and subject.legal_rep and subject.kind != PERSON:
        if normalize_person_name(party.legal_rep) == normalize_person_name(subject.legal_rep):
            evidence["legal_rep"] = {"weight": 0.1, "text": f"法定代表人一致：{subject.legal_rep}"}
        else:
            evidence["legal_rep"] = {"weight": -0.05, "text": "法定代表人不一致（可能已变更）"}
    raw = sum(f["weight"] for f in evidence.values())
    score = max(0.0, min(1.0, raw))
    id_agrees = "resident_id" in evidence and evidence["resident_id"]["weight"] > 0
    if person and not id_agrees and score >= threshold:
        score = round(threshold - 0.05, 4)
        evidence["person_cap"] = {
            "weight": 0.0,
            "text": "自然人重名常见：身份证号码可见位未能印证时，不自动关联，转人工复核",
        }
    if contradiction:
        score = min(score, MIN_CANDIDATE_SCORE - 0.01)
    score = round(score, 4)
    return score, score >= threshold, evidence


# Database part --------------------------------------------------------------------------------------------------


#: The subject columns a candidate or a check shows.
SUBJECT_COLS = (
    Subject.id,
    Subject.kind,
    Subject.name,
    Subject.name_norm,
    Subject.uscc,
    Subject.resident_id_masked,
    Subject.region_code,
)
#: What scoring needs besides (the encrypted ID only for the birth digits, compared in memory).
_FACT_COLS = (*SUBJECT_COLS, Subject.legal_rep, Subject.resident_id_enc)


def _facts_from_rows(session: Session, rows: Iterable[Any], *, need_birth: bool) -> dict[int, SubjectFacts]:
    """SubjectFacts for the given subject rows, their former names loaded in one query."""
    base = {r.id: r for r in rows}
    if not base:
        return {}
    former: dict[int, list[str]] = {}
    ids = list(base)
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        for sid, norm in session.execute(
            select(SubjectName.subject_id, SubjectName.name_norm).where(SubjectName.subject_id.in_(chunk))
        ):
            if norm != base[sid].name_norm:
                former.setdefault(sid, []).append(norm)
    vault = None
    out: dict[int, SubjectFacts] = {}
    for sid, r in base.items():
        birth = None
        if need_birth and r.kind == PERSON and r.resident_id_enc:
            # Birth year and month are compared in memory only; never stored, logged or returned.
            if vault is None:
                vault = get_vault()
            try:
                birth = vault.decrypt(r.resident_id_enc)[6:12]
            except ValueError:
                birth = None
        out[sid] = SubjectFacts(
            id=sid,
            kind=r.kind,
            name=r.name,
            name_norm=r.name_norm,
            uscc=r.uscc,
            resident_id_masked=r.resident_id_masked,
            region_code=r.region_code,
            legal_rep=r.legal_rep,
            former_names=tuple(former.get(sid, ())),
            birth_ym=birth,
        )
    return out


def _name_keys(party: Party) -> set[str]:
    if party.kind == PERSON:
        return {normalize_person_name(party.name)}
    if party.kind in ORG_KINDS:
        return {normalize_org_name(party.name)}
    return {normalize_person_name(party.name), normalize_org_name(party.name)}


def exact_name_ids(session: Session, names: Collection[str]) -> dict[str, set[int]]:
    """Subjects whose current or former normalised name is one of ``names`` (index look-ups, in chunks)."""
    out: dict[str, set[int]] = {}
    keys = sorted(set(names))
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        for norm, sid in session.execute(select(Subject.name_norm, Subject.id).where(Subject.name_norm.in_(chunk))):
            out.setdefault(norm, set()).add(sid)
        for norm, sid in session.execute(
            select(SubjectName.name_norm, SubjectName.subject_id).where(SubjectName.name_norm.in_(chunk))
        ):
            out.setdefault(norm, set()).add(sid)
    return out


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    """The range of texts that start with ``prefix`` (C collation on PostgreSQL, binary on SQLite)."""
    return prefix, prefix + "\U0010ffff"


def _prefix_clause(column: Any, prefix: str) -> Any:
    # A range on the indexed column: an index range scan.
    lo, hi = _prefix_bounds(prefix)
    return and_(column >= lo, column < hi)


def _near_probes(party: Party, light: bool) -> tuple[set[str], int, bool]:
    """The name prefixes :func:`near_name_ids` looks up for ``party``, how many subjects each may bring, and whether
    only organisations are wanted."""
    if party.kind == PERSON:
        return set(), 0, False
    norm = normalize_org_name(party.name)
    core = name_core(norm)
    if len(core) < 2:
        return set(), 0, False
    prefixes = {core[: max(2, len(core) - 2)] if len(core) > 4 else core}
    region = party.region_code or region_of_code(party.code)
    found = regions.lookup(region) if region and not light else None
    if found:
        local = found.name[-3:] if len(found.name) >= 3 else found.name  # 沁阳市, 中站区 …
        if not core.startswith(local):
            prefixes.add(local + (core[: max(2, len(core) - 2)] if len(core) > 4 else core))
    return prefixes, NEAR_NAME_LIMIT // 5 if light else NEAR_NAME_LIMIT, party.kind in ORG_KINDS


def near_name_ids(session: Session, party: Party, *, light: bool = False) -> set[int]:
    """Subjects whose name starts with the core of an organisation party's name (bounded, index range scans).

    ``light``: the party already has exact-name candidates; one smaller look-up for rivals is enough."""
    prefixes, limit, orgs_only = _near_probes(party, light)
    ids: set[int] = set()
    for prefix in prefixes:
        stmt = select(Subject.id).where(_prefix_clause(Subject.name_norm, prefix))
        if orgs_only:
            stmt = stmt.where(Subject.kind.in_(ORG_KINDS))
        ids.update(session.scalars(stmt.order_by(Subject.name_norm).limit(limit)))
    return ids


#: Near-name probes per statement of :func:`near_name_ids_many` on PostgreSQL.
NEAR_PROBES_PER_STATEMENT = 500


def near_name_ids_many(session: Session, asks: Sequence[tuple[Party, bool]]) -> list[set[int]]:
    """:func:`near_name_ids` for many ``(party, light)`` at once, the same subjects for each.

    On PostgreSQL the probes go as one statement per :data:`NEAR_PROBES_PER_STATEMENT` (a ``VALUES`` list joined
    ``LATERAL`` to the same bounded index range scan): a province's list sync sends thousands of organisations
    without a code, and one statement each cost a round trip and a plan each (issue #19). SQLite, in process,
    runs them one by one."""
    if session.get_bind().dialect.name != "postgresql":
        return [near_name_ids(session, party, light=light) for party, light in asks]
    out: list[set[int]] = [set() for _ in asks]
    rows = [
        (i, *_prefix_bounds(prefix), limit, orgs_only)
        for i, (party, light) in enumerate(asks)
        for prefixes, limit, orgs_only in [_near_probes(party, light)]
        for prefix in sorted(prefixes)
    ]
    for start in range(0, len(rows), NEAR_PROBES_PER_STATEMENT):
        probes = values(
            column("i", Integer),
            column("lo", String),
            column("hi", String),
            column("lim", Integer),
            column("orgs", Boolean),
            name="probe",
        ).data(rows[start : start + NEAR_PROBES_PER_STATEMENT])
        near = (
            select(Subject.id.label("subject_id"))
            .where(
                Subject.name_norm >= probes.c.lo,
                Subject.name_norm < probes.c.hi,
                or_(~probes.c.orgs, Subject.kind.in_(ORG_KINDS)),
            )
            .order_by(Subject.name_norm)
            .limit(probes.c.lim)
            .lateral("near")
        )
        for i, subject_id in session.execute(
            select(probes.c.i, near.c.subject_id).select_from(probes.join(near, true()))
        ):
            out[i].add(subject_id)
    return out


def load_facts(session: Session, subject_ids: Collection[int], *, need_birth: bool = True) -> dict[int, SubjectFacts]:
    """SubjectFacts of these subjects (chunked reads)."""
    ids = sorted(set(subject_ids))
    rows: list[Any] = []
    for start in range(0, len(ids), IN_CHUNK):
        rows.extend(session.execute(select(*_FACT_COLS).where(Subject.id.in_(ids[start : start + IN_CHUNK]))))
    return _facts_from_rows(session, rows, need_birth=need_birth)


def rank(
    party: Party,
    facts: Iterable[SubjectFacts],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    exclude_ids: Collection[int] = (),
    limit: int = 5,
) -> list[Candidate]:
    """Score each subject against the party; the best ``limit`` at or above :data:`MIN_CANDIDATE_SCORE`."""
    out = []
    for f in facts:
        if f.id in exclude_ids:
            continue
        score, match, evidence = score_pair(party, f, threshold=threshold)
        if score >= MIN_CANDIDATE_SCORE:
            out.append(Candidate(f.id, f.name, f.kind, score, match, evidence))
    out.sort(key=lambda c: (-c.score, c.subject_id))
    return out[:limit]


def code_candidate(session: Session, code: str | None) -> Candidate | None:
    """An identifier match, which wins outright: the subject a clear code (USCC, org code, ID) resolves to."""
    if not code or is_masked(code):
        return None
    subject = find_subject(session, code)
    if subject is None:
        return None
    return Candidate(
        subject.id,
        subject.name,
        subject.kind,
        1.0,
        True,
        {"code": {"weight": 1.0, "text": f"代码一致：{_code_label(code)}（按代码关联，无需比对名称）"}},
    )


def _code_label(code: str) -> str:
    n = compact(code)
    if len(n) == 18 and uscc.is_valid(n):
        return f"统一社会信用代码 {n}"
    if len(n) == 9 and orgcode.is_valid(n):
        return f"组织机构代码 {n}"
    return f"证件号码 {mask_resident_id(n)}"


def find_candidates(
    session: Session,
    *,
    name: str,
    region_code: str | None = None,
    party_kind: str | None = None,
    code_hint: str | None = None,
    legal_rep: str | None = None,
    limit: int = 5,
    threshold: float = DEFAULT_THRESHOLD,
    exclude_ids: Collection[int] = (),
) -> list[Candidate]:
    """Registry subjects that may be the party named ``name``, best first, each with its score and evidence.

    A ``code_hint`` that resolves to a subject wins outright (one candidate, score 1). Otherwise candidates are
    the subjects with the same normalised (current or former) name plus, for organisations, a bounded near-name
    look-up; each is scored by :func:`score_pair`. ``exclude_ids``: subjects a reviewer judged "not the same".
    """
    if not (name or "").strip() and not code_hint:
        return []
    direct = code_candidate(session, code_hint)
    if direct is not None and direct.subject_id not in exclude_ids:
        return [direct]
    party = Party(
        name=(name or "").strip(), kind=party_kind, region_code=region_code, code=code_hint, legal_rep=legal_rep
    )
    if not party.name:
        return []
    ids: set[int] = set()
    for found in exact_name_ids(session, _name_keys(party)).values():
        ids |= found
    if len(ids) < limit:
        ids |= near_name_ids(session, party)
    ids -= set(exclude_ids)
    masked = parse_masked_id(code_hint) if code_hint else None
    facts = load_facts(session, ids, need_birth=masked is not None and masked.birth_year is not None)
    return rank(party, facts.values(), threshold=threshold, exclude_ids=exclude_ids, limit=limit)


def bulk_candidates(
    session: Session,
    parties: Sequence[Party],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    exclude: Sequence[Collection[int]] | None = None,
    limit: int = 5,
    near_names: bool = True,
) -> list[list[Candidate]]:
    """:func:`find_candidates` for many parties at once (no code step), for list syncs: exact-name look-ups in
    chunks for all; near-name look-ups only for organisations that the exact names did not settle (no hit, or no
    linkable hit — a reviewer should then see the near-name rivals too)."""
    keys = [_name_keys(p) for p in parties]
    by_name = exact_name_ids(session, set().union(*keys)) if parties else {}
    per_party: list[set[int]] = []
    for party_keys in keys:
        ids: set[int] = set()
        for k in party_keys:
            ids |= by_name.get(k, set())
        per_party.append(ids)
    need_birth = any((m := parse_masked_id(p.code)) is not None and m.birth_year for p in parties if p.code)
    facts = load_facts(session, set().union(*per_party) if per_party else set(), need_birth=need_birth)

    def ranked(i: int) -> list[Candidate]:
        return rank(
            parties[i],
            (facts[s] for s in per_party[i] if s in facts),
            threshold=threshold,
            exclude_ids=exclude[i] if exclude else (),
            limit=limit,
        )

    out = [ranked(i) for i in range(len(parties))]
    if near_names:
        unsettled = [i for i, cands in enumerate(out) if parties[i].kind != PERSON and not (cands and cands[0].match)]
        added: dict[int, set[int]] = {}
        near = near_name_ids_many(session, [(parties[i], bool(per_party[i])) for i in unsettled])
        for i, found in zip(unsettled, near, strict=True):
            extra = found - per_party[i]
            if extra:
                added[i] = extra
        if added:
            facts.update(load_facts(session, set().union(*added.values()) - set(facts), need_birth=False))
            for i, extra in added.items():
                per_party[i] |= extra
                out[i] = ranked(i)
    return out
