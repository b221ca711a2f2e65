"""The measures catalogue: seed memoranda and measures from YAML, read them, let the admin (de)activate a measure.

Every change writes an audit event in the caller's transaction (entity ``measure`` / ``memorandum``, id = code).
The check reads the catalogue through :func:`catalogue`, an in-memory snapshot per database that is rebuilt when
a cheap fingerprint of the ``measures``, ``memoranda`` and ``list_types`` tables changes (so a change made by
another process — the CLI while the server runs — is seen at the next check, without a query per measure).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit
from xinyong.core.db import utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.lists.models import ListType
from xinyong.measures._sql import Prepared, identity
from xinyong.measures.models import Measure, Memorandum
from xinyong.measures.record_triggers import RecordPlan, RecordRule
from xinyong.measures.spec import (
    CATEGORY_LABELS,
    KIND_LABELS,
    MEMORANDUM_KIND_LABELS,
    SCENARIOS,
    MeasureSpec,
    MemorandumSpec,
    load_measures,
    seeded_list_kinds,
)

_MEMO_FIELDS = ("kind", "title", "doc_no", "issued_on", "issuers", "url", "confidence", "note")
_MEASURE_FIELDS = (
    "kind",
    "category",
    "title",
    "content",
    "legal_basis",
    "department",
    "scenarios",
    "list_types",
    "triggers",
    "extends_to",
    "mandatory",
    "party_kinds",
    "confidence",
    "note",
    "sort_order",
)


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以修改联合奖惩措施目录", code="measures_admin_only")


# Seeding -----------------------------------------------------------------------------------------------------


@dataclass
class SeedReport:
    edition: str
    memoranda_created: list[str] = field(default_factory=list)
    memoranda_updated: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _memo_state(obj: Memorandum) -> dict[str, Any]:
    state = {name: getattr(obj, name) for name in _MEMO_FIELDS}
    state["issued_on"] = obj.issued_on.isoformat() if obj.issued_on else None
    return state


def _measure_state(obj: Measure, memo_code: str) -> dict[str, Any]:
    return {"memorandum": memo_code, **{name: getattr(obj, name) for name in _MEASURE_FIELDS}}


def _spec_memo_state(spec: MemorandumSpec) -> dict[str, Any]:
    data = spec.dump()
    return {name: data[name] for name in _MEMO_FIELDS}


def _spec_measure_state(spec: MeasureSpec) -> dict[str, Any]:
    data = spec.dump()
    return {"memorandum": spec.memorandum, **{name: data[name] for name in _MEASURE_FIELDS}}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in after if before.get(k) != after.get(k)]


def _list_kinds(session: Session) -> dict[str, str]:
    """Known list types: the lists seed file and whatever the database holds (an admin may have added some)."""
    kinds = dict(seeded_list_kinds())
    kinds.update({code: kind for code, kind in session.execute(select(ListType.code, ListType.kind))})
    return kinds


def seed_measures(
    session: Session, *, actor: Principal, path: Path | str | None = None, reason: str | None = None
) -> SeedReport:
    """Load a measures file (default: the built-in subset). Idempotent: new entries are created, changed ones
    brought to the file's content (an admin's active/inactive decision is kept), others left alone and reported."""
    _require_admin(actor)
    spec = load_measures(path, list_kinds=_list_kinds(session))
    why = reason or f"载入联合奖惩措施目录 {spec.edition}"
    report = SeedReport(edition=spec.edition)
    now = utcnow()

    memos = {m.code: m for m in session.scalars(select(Memorandum))}
    for ms in spec.memoranda:
        obj = memos.get(ms.code)
        after = _spec_memo_state(ms)
        if obj is None:
            obj = Memorandum(code=ms.code, **{k: getattr(ms, k) for k in _MEMO_FIELDS}, created_at=now, updated_at=now)
            session.add(obj)
            memos[ms.code] = obj
            _log_seed(session, actor, why, "memorandum", ms.code, after)
            report.memoranda_created.append(ms.code)
            continue
        before = _memo_state(obj)
        changed = _changed(before, after)
        if changed:
            for k in _MEMO_FIELDS:
                setattr(obj, k, getattr(ms, k))
            obj.updated_at = now
            _log_seed(session, actor, why, "memorandum", ms.code, after, before, changed)
            report.memoranda_updated.append(ms.code)
    session.flush()
    memo_by_id = {m.id: m.code for m in memos.values()}

    existing = {m.code: m for m in session.scalars(select(Measure))}
    for spec_m in spec.measures:
        measure = existing.pop(spec_m.code, None)
        after = _spec_measure_state(spec_m)
        values = {k: after[k] for k in _MEASURE_FIELDS}
        if measure is None:
            session.add(
                Measure(
                    code=spec_m.code,
                    memorandum_id=memos[spec_m.memorandum].id,
                    active=True,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            _log_seed(session, actor, why, "measure", spec_m.code, after)
            report.created.append(spec_m.code)
            continue
        before = _measure_state(measure, memo_by_id[measure.memorandum_id])
        changed = _changed(before, after)
        if not changed:
            report.unchanged.append(spec_m.code)
            continue
        for k, v in values.items():
            setattr(measure, k, v)
        measure.memorandum_id = memos[spec_m.memorandum].id
        measure.updated_at = now
        _log_seed(session, actor, why, "measure", spec_m.code, after, before, changed)
        report.updated.append(spec_m.code)
    report.not_in_file = sorted(existing)
    session.flush()
    return report


def _log_seed(
    session: Session,
    actor: Principal,
    why: str,
    entity: str,
    code: str,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
    changed: list[str] | None = None,
) -> None:
    """The audit event of a seeded memorandum or measure: created with all its fields, or updated (``changed``)."""
    if before is not None and changed is not None:
        before, after = {k: before[k] for k in changed}, {k: after[k] for k in changed}
    verb = "create" if before is None else "update"
    audit.record(
        session,
        actor=actor.actor,
        action=f"measures.{entity}.{verb}",
        entity_type=entity,
        entity_id=code,
        reason=why,
        before=before,
        after=after,
    )


def ensure_seeded(session: Session, *, actor: Principal) -> SeedReport | None:
    """Seed the built-in catalogue when the database has no measure yet (called by ``xinyong db upgrade``)."""
    if session.scalar(select(func.count()).select_from(Measure)):
        return None
    return seed_measures(session, actor=actor)


# Reading -----------------------------------------------------------------------------------------------------


def list_measures(
    session: Session,
    *,
    kind: str | None = None,
    scenario: str | None = None,
    list_type: str | None = None,
    include_inactive: bool = True,
) -> list[Measure]:
    """Measures in catalogue order, filtered in memory (the catalogue is small)."""
    if scenario is not None and scenario not in SCENARIOS:
        raise ValidationFailed(f"未知的核查场景 {scenario!r}", code="unknown_scenario")
    if kind is not None and kind not in KIND_LABELS:
        raise ValidationFailed(f"未知的措施类别 {kind!r}，应为 punish 或 reward", code="unknown_measure_kind")
    rows = session.scalars(select(Measure).order_by(Measure.sort_order, Measure.code))
    out = []
    for m in rows:
        if kind and m.kind != kind:
            continue
        if scenario and scenario != "general" and scenario not in m.scenarios:
            continue
        if list_type and list_type not in m.list_types:
            continue
        if not include_inactive and not m.active:
            continue
        out.append(m)
    return out


def get_measure(session: Session, code: str, *, for_update: bool = False) -> Measure:
    stmt = select(Measure).where(Measure.code == code)
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.scalars(stmt).one_or_none()
    if obj is None:
        raise NotFound(f"没有代码为 {code!r} 的联合奖惩措施", code="measure_not_found", details={"code": code})
    return obj


def list_memoranda(session: Session) -> list[Memorandum]:
    return list(
        session.scalars(
            select(Memorandum).order_by(Memorandum.issued_on.is_(None), Memorandum.issued_on, Memorandum.code)
        )
    )


def memorandum_view(obj: Memorandum, *, measure_count: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "code": obj.code,
        "kind": obj.kind,
        "kind_label": MEMORANDUM_KIND_LABELS.get(obj.kind, obj.kind),
        "title": obj.title,
        "doc_no": obj.doc_no,
        "issued_on": obj.issued_on.isoformat() if obj.issued_on else None,
        "issuers": list(obj.issuers),
        "url": obj.url,
        "confidence": obj.confidence,
        "note": obj.note,
    }
    if measure_count is not None:
        view["measure_count"] = measure_count
    return view


def measure_view(obj: Measure, memo: Memorandum) -> dict[str, Any]:
    return {
        "code": obj.code,
        "kind": obj.kind,
        "kind_label": KIND_LABELS[obj.kind],
        "category": obj.category,
        "category_label": CATEGORY_LABELS[obj.category],
        "title": obj.title,
        "content": obj.content,
        "legal_basis": list(obj.legal_basis),
        "department": obj.department,
        "scenarios": list(obj.scenarios),
        "list_types": list(obj.list_types),
        "triggers": obj.triggers,
        "extends_to": obj.extends_to,
        "record_rule": RecordRule.from_data((obj.triggers or {})["records"]).description
        if (obj.triggers or {}).get("records")
        else None,
        "mandatory": obj.mandatory,
        "party_kinds": list(obj.party_kinds),
        "confidence": obj.confidence,
        "note": obj.note,
        "active": obj.active,
        "active_reason": obj.active_reason,
        "memorandum": {"code": memo.code, "title": memo.title, "doc_no": memo.doc_no, "kind": memo.kind},
    }


def measure_views(session: Session, measures: list[Measure]) -> list[dict[str, Any]]:
    memos = {m.id: m for m in session.scalars(select(Memorandum))}
    return [measure_view(m, memos[m.memorandum_id]) for m in measures]


def memoranda_views(session: Session) -> list[dict[str, Any]]:
    counts: dict[int, int] = defaultdict(int)
    for memo_id, n in session.execute(select(Measure.memorandum_id, func.count()).group_by(Measure.memorandum_id)):
        counts[memo_id] = n
    return [memorandum_view(m, measure_count=counts[m.id]) for m in list_memoranda(session)]


# Admin changes -----------------------------------------------------------------------------------------------


def set_measure_active(session: Session, *, actor: Principal, code: str, active: bool, reason: str) -> Measure:
    """Take a measure out of (or back into) the check's answers, with a reason; audited. A reseed keeps it."""
    _require_admin(actor)
    if not reason or not reason.strip():
        raise ValidationFailed("停用或启用措施必须说明原因", code="reason_required")
    obj = get_measure(session, code, for_update=True)
    if obj.active == active:
        raise ValidationFailed(f"措施 {code} 已经是{'启用' if active else '停用'}状态", code="measure_state_unchanged")
    before = {"active": obj.active, "active_reason": obj.active_reason}
    obj.active = active
    obj.active_reason = reason.strip()
    obj.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="measures.activate" if active else "measures.deactivate",
        entity_type="measure",
        entity_id=code,
        reason=reason.strip(),
        before=before,
        after={"active": obj.active, "active_reason": obj.active_reason},
    )
    return obj


# The check's in-memory catalogue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedMeasure:
    code: str
    kind: str
    category: str
    title: str
    content: str
    legal_basis: tuple[dict[str, Any], ...]
    department: str
    scenarios: frozenset[str]
    list_types: tuple[str, ...]
    mandatory: bool
    party_kinds: frozenset[str]
    confidence: str
    memorandum: dict[str, Any]
    sort_order: int
    #: ``triggers.records`` (None: triggered by list entries only).
    records: RecordRule | None = None
    #: ``extends_to.roles``: the related persons' roles the measure reaches (empty: the listed subject only).
    extends_to: frozenset[str] = frozenset()
    #: ``extends_to.legal_basis``: the basis of that extension.
    related_basis: tuple[dict[str, Any], ...] = ()
    #: ``extends_to.related_only``: not applied to the listed subject itself.
    related_only: bool = False

    def applies_in(self, scenario: str) -> bool:
        return scenario == "general" or scenario in self.scenarios


@dataclass(frozen=True)
class CachedListType:
    id: int
    code: str
    name: str
    kind: str
    authority: str


@dataclass(frozen=True)
class Catalogue:
    """Active measures by triggering list type code, those triggered by records, and every list type by id."""

    by_list_type: dict[str, tuple[CachedMeasure, ...]]
    by_code: dict[str, CachedMeasure]
    list_types: dict[int, CachedListType]
    by_records: tuple[CachedMeasure, ...] = ()
    _plans: dict[str, RecordPlan | None] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def related_measures(self, scenario: str) -> list[CachedMeasure]:
        """Active measures that extend to related persons and apply in ``scenario``."""
        return [m for m in self.by_code.values() if m.extends_to and m.applies_in(scenario)]

    def record_measures(self, scenario: str) -> list[CachedMeasure]:
        """Active record-triggered measures that apply in ``scenario``."""
        return [m for m in self.by_records if m.applies_in(scenario)]

    def record_plan(self, scenario: str) -> RecordPlan | None:
        """How to read the records for the record-triggered measures of ``scenario`` (None: there are none);
        built at the first check of the scenario and kept with this catalogue."""
        if scenario not in self._plans:
            found = [m for m in self.record_measures(scenario) if m.records is not None]
            self._plans[scenario] = (
                RecordPlan.build(
                    [m.records for m in found if m.records is not None], {k for m in found for k in m.party_kinds}
                )
                if found
                else None
            )
        return self._plans[scenario]


_cache: dict[str, tuple[tuple[Any, ...], Catalogue]] = {}
_cache_lock = threading.Lock()


def fingerprint_columns() -> tuple[Any, ...]:
    """What tells whether the catalogue changed: counts and last ``updated_at`` of its tables, as uncorrelated
    scalar subqueries (evaluated once per statement), so that the check can ask them within its entries query.
    The values only need to compare equal from one call to the next, so they are left as the driver returns
    them (the same expressions give the same types wherever they are asked)."""
    return (
        select(func.count()).select_from(Measure.__table__).scalar_subquery().label("fp_measures"),
        select(func.max(Measure.__table__.c.updated_at)).scalar_subquery().label("fp_measures_at"),
        select(func.max(Memorandum.__table__.c.updated_at)).scalar_subquery().label("fp_memoranda_at"),
        select(func.count()).select_from(ListType.__table__).scalar_subquery().label("fp_list_types"),
        select(func.max(ListType.__table__.c.updated_at)).scalar_subquery().label("fp_list_types_at"),
    )


#: Built and compiled once, run on the driver's cursor.
_FINGERPRINT = Prepared(lambda _n: select(*fingerprint_columns()), identity)


def _fingerprint(session: Session) -> tuple[Any, ...]:
    return tuple(_FINGERPRINT.rows(session.connection(), ())[0])


def _build(session: Session) -> Catalogue:
    memos = {m.id: m for m in session.scalars(select(Memorandum))}
    by_list: dict[str, list[CachedMeasure]] = defaultdict(list)
    by_code: dict[str, CachedMeasure] = {}
    for m in session.scalars(
        select(Measure).where(Measure.active.is_(True)).order_by(Measure.sort_order, Measure.code)
    ):
        memo = memos[m.memorandum_id]
        cm = CachedMeasure(
            code=m.code,
            kind=m.kind,
            category=m.category,
            title=m.title,
            content=m.content,
            legal_basis=tuple(m.legal_basis),
            department=m.department,
            scenarios=frozenset(m.scenarios),
            list_types=tuple(m.list_types),
            mandatory=m.mandatory,
            party_kinds=frozenset(m.party_kinds),
            confidence=m.confidence,
            sort_order=m.sort_order,
            memorandum={"code": memo.code, "title": memo.title, "doc_no": memo.doc_no},
            records=RecordRule.from_data((m.triggers or {})["records"]) if (m.triggers or {}).get("records") else None,
            extends_to=frozenset((m.extends_to or {}).get("roles") or ()),
            related_basis=tuple((m.extends_to or {}).get("legal_basis") or ()),
            related_only=bool((m.extends_to or {}).get("related_only")),
        )
        by_code[m.code] = cm
        for lt in m.list_types:
            by_list[lt].append(cm)
    types = {
        t.id: CachedListType(id=t.id, code=t.code, name=t.name, kind=t.kind, authority=t.authority)
        for t in session.scalars(select(ListType))
    }
    return Catalogue(
        by_list_type={k: tuple(v) for k, v in by_list.items()},
        by_code=by_code,
        list_types=types,
        by_records=tuple(m for m in by_code.values() if m.records is not None),
    )


def catalogue(session: Session, *, fingerprint: tuple[Any, ...] | None = None) -> Catalogue:
    """The active measures and list types, from memory unless the tables changed since the last build.
    ``fingerprint``: the values of :func:`fingerprint_columns` when the caller already read them."""
    key = session.get_bind().engine.url.render_as_string(hide_password=False)
    fp = fingerprint if fingerprint is not None else _fingerprint(session)
    hit = _cache.get(key)
    if hit is not None and hit[0] == fp:
        return hit[1]
    built = _build(session)
    with _cache_lock:
        _cache[key] = (fp, built)
    return built


def forget_catalogue() -> None:
    """Drop every cached catalogue (tests that rebuild a database under the same URL)."""
    with _cache_lock:
        _cache.clear()
