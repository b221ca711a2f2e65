"""Catalog services: seed the catalog from YAML, read it, let the platform admin correct it, hand out rules.

Every change writes an audit event in the caller's transaction (entity_type ``info_class``, entity_id = the class
code; ``catalog`` for the edition): who, when, why, and the changed fields before and after. The other domains
read publicity periods and thresholds only through :func:`publicity_rule`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.catalog.models import CatalogMeta, InfoClass
from xinyong.catalog.rules import PublicityRule
from xinyong.catalog.spec import (
    CatalogFile,
    InfoClassSpec,
    Source,
    dump_catalog,
    load_catalog,
    validation_details,
)
from xinyong.core import audit
from xinyong.core.db import utcnow
from xinyong.core.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)

ENTITY = "info_class"
_RULE_CACHE = "xinyong.catalog.rules"

#: The class's descriptive fields, each one text column (``xinyong catalog set`` changes them by option).
TEXT_FIELDS = (
    "name_zh",
    "name_en",
    "category",
    "description",
    "public_attribute",
    "natural_person_attribute",
    "confidence",
    "note",
)
#: Spec fields stored in a column of the same name (``applies_to`` is spread over three boolean columns).
_COLUMNS = (
    "code",
    *TEXT_FIELDS,
    "owner_departments",
    "legal_basis",
    "natural_person_basis",
    "publicity",
    "repair",
    "params",
    "sort_order",
    "share_lookback_years",
)
_META_FIELDS = ("edition", "title", "note", "sources", "categories", "department_kinds")


# Conversions -------------------------------------------------------------------------------------------------


def spec_of(obj: InfoClass) -> InfoClassSpec:
    """The validated definition of a stored class."""
    data: dict[str, Any] = {name: getattr(obj, name) for name in _COLUMNS}
    data["applies_to"] = {
        "legal_person": obj.applies_legal_person,
        "individual_business": obj.applies_individual_business,
        "natural_person": obj.applies_natural_person,
    }
    try:
        return InfoClassSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            f"数据库中的信息类别 {obj.code} 不符合目录规则（可能被直接修改过数据库）",
            code="catalog_class_corrupt",
            details=validation_details(exc),
        ) from None


def _store(obj: InfoClass, spec: InfoClassSpec) -> None:
    data = spec.dump()
    for name in _COLUMNS:
        setattr(obj, name, data.get(name))  # an optional field left unset is stored as NULL
    obj.applies_legal_person = spec.applies_to.legal_person
    obj.applies_individual_business = spec.applies_to.individual_business
    obj.applies_natural_person = spec.applies_to.natural_person


def _meta_dump(meta: CatalogMeta | CatalogFile) -> dict[str, Any]:
    data = {name: getattr(meta, name) for name in _META_FIELDS}
    data["sources"] = [Source.model_validate(s).model_dump(mode="json", exclude_none=True) for s in data["sources"]]
    return data


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以修改信用信息目录", code="catalog_admin_only")


def _forget_rules(session: Session) -> None:
    session.info.pop(_RULE_CACHE, None)


# Seeding -----------------------------------------------------------------------------------------------------


@dataclass
class SeedReport:
    """What a seed did, class code by class code."""

    edition: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # seeded classes brought to the file's content
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # edited by an admin, left as they are (no --replace)
    not_in_file: list[str] = field(default_factory=list)  # in the database, not in the file: left alone

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_catalog(
    session: Session,
    *,
    actor: Principal,
    path: Path | str | None = None,
    replace: bool = False,
    reason: str | None = None,
) -> SeedReport:
    """Load a catalog file (default: the national defaults) into the database. Idempotent.

    New classes are created; classes still as seeded are brought to the file's content; classes an admin has
    edited are kept unless ``replace``. Classes absent from the file are left alone and reported. Each created or
    changed class, and a changed edition, writes one audit event.
    """
    _require_admin(actor)
    catalog = load_catalog(path)
    why = reason or f"载入信用信息目录 {catalog.edition}" + ("（覆盖管理员的修改）" if replace else "")
    report = SeedReport(edition=catalog.edition)

    meta = session.get(CatalogMeta, 1)
    new_meta = _meta_dump(catalog)
    old_meta = _meta_dump(meta) if meta is not None else None
    if old_meta != new_meta:
        if meta is None:
            meta = CatalogMeta(id=1)
            session.add(meta)
        for name in _META_FIELDS:
            setattr(meta, name, new_meta[name])
        meta.seeded_at = utcnow()
        changed = _changed_fields(old_meta or {}, new_meta)
        audit.record(
            session,
            actor=actor.actor,
            action="catalog.seed",
            entity_type="catalog",
            entity_id=catalog.edition,
            reason=why,
            before=None if old_meta is None else {k: old_meta[k] for k in changed},
            after={k: new_meta[k] for k in changed},
        )

    existing = {obj.code: obj for obj in session.scalars(select(InfoClass))}
    for spec in catalog.classes:
        obj = existing.pop(spec.code, None)
        if obj is None:
            obj = InfoClass(origin="seed", seed_edition=catalog.edition, revision=1)
            _store(obj, spec)
            session.add(obj)
            session.flush()
            audit.record(
                session,
                actor=actor.actor,
                action="catalog.class.create",
                entity_type=ENTITY,
                entity_id=spec.code,
                reason=why,
                after={"revision": 1, **spec.dump()},
            )
            report.created.append(spec.code)
            continue
        if obj.origin == "admin" and not replace:
            report.kept.append(spec.code)
            continue
        before, after = spec_of(obj).dump(), spec.dump()
        changed = _changed_fields(before, after)
        if not changed and obj.origin == "seed":
            report.unchanged.append(spec.code)
            continue
        old_revision, old_origin = obj.revision, obj.origin
        _store(obj, spec)
        obj.origin, obj.seed_edition = "seed", catalog.edition
        obj.revision += 1
        obj.updated_at = utcnow()
        audit.record(
            session,
            actor=actor.actor,
            action="catalog.class.reseed",
            entity_type=ENTITY,
            entity_id=spec.code,
            reason=why,
            before={"revision": old_revision, "origin": old_origin, **{k: before.get(k) for k in changed}},
            after={"revision": obj.revision, "origin": "seed", **{k: after.get(k) for k in changed}},
        )
        report.updated.append(spec.code)
    report.not_in_file = sorted(existing)
    session.flush()
    _forget_rules(session)
    return report


# Reading -----------------------------------------------------------------------------------------------------


def catalog_meta(session: Session) -> CatalogMeta:
    """The catalog's edition, sources and vocabularies; :class:`NotFound` before the first seed."""
    meta = session.get(CatalogMeta, 1)
    if meta is None:
        raise NotFound("信用信息目录尚未初始化，请先运行 xinyong catalog seed", code="catalog_not_seeded")
    return meta


def list_classes(session: Session) -> list[InfoClass]:
    """All information classes, in catalog order."""
    return list(session.scalars(select(InfoClass).order_by(InfoClass.sort_order, InfoClass.code)))


def get_class(session: Session, code: str, *, for_update: bool = False) -> InfoClass:
    """One class by its code; :class:`NotFound` if there is none."""
    stmt = select(InfoClass).where(InfoClass.code == code)
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.scalars(stmt).one_or_none()
    if obj is None:
        raise NotFound(
            f"信用信息目录中没有代码为 {code!r} 的信息类别", code="info_class_not_found", details={"code": code}
        )
    return obj


def publicity_rule(session: Session, code: str) -> PublicityRule:
    """The publicity rule of a class, for ``catalog.rules`` functions. Cached for the session's transaction."""
    cached: tuple[Any, dict[str, PublicityRule]] | None = session.info.get(_RULE_CACHE)  # (transaction, rules)
    tx = session.get_transaction()
    if cached is not None and tx is not None and cached[0] is tx and code in cached[1]:
        return cached[1][code]
    rule = _rule_of(get_class(session, code))
    tx = session.get_transaction()
    if cached is None or cached[0] is not tx:
        cached = session.info[_RULE_CACHE] = (tx, {})
    cached[1][code] = rule
    return rule


def publicity_rules(session: Session, codes: Iterable[str]) -> dict[str, PublicityRule]:
    """The rules of the classes among ``codes`` that the catalog has (absent ones are left out), cached like
    :func:`publicity_rule`; the ones not read yet in this transaction are read in one statement (the portal's
    subject page needs them on every view, docs/performance.md)."""
    wanted = list(dict.fromkeys(codes))
    tx = session.get_transaction()
    cached: tuple[Any, dict[str, PublicityRule]] | None = session.info.get(_RULE_CACHE)
    known = cached[1] if cached is not None and tx is not None and cached[0] is tx else {}
    missing = [c for c in wanted if c not in known]
    if missing:
        _read_rules(session, missing)
        cached = session.info.get(_RULE_CACHE)
        known = cached[1] if cached is not None else {}
    return {c: known[c] for c in wanted if c in known}


#: Rules built before, by (database, class code): ``(fingerprint, rule)``. A class's fingerprint is its revision
#: (+1 on every change through this module, seeding included) with its creation and update times (a class seeded
#: anew, as after a restore, is another one), two narrow look-ups by the code's unique index: a request reads the
#: stored classes whole only when one changed (the portal's subject page asked for ten classes in full on every
#: view: ≈ 25 % of its time, docs/performance.md).
_RULES_BY_FINGERPRINT: dict[tuple[str, str], tuple[tuple[Any, ...], PublicityRule]] = {}
_RULES_BY_FINGERPRINT_MAX = 4096


def _read_rules(session: Session, codes: list[str]) -> None:
    """Put the rules of ``codes`` (those the catalog has) into the transaction's cache: from
    :data:`_RULES_BY_FINGERPRINT` where the stored class is unchanged, else read and built."""
    db = str(session.get_bind().engine.url)
    stamps = session.execute(
        select(InfoClass.code, InfoClass.revision, InfoClass.created_at, InfoClass.updated_at).where(
            InfoClass.code.in_(codes)
        )
    ).all()
    rules: dict[str, PublicityRule] = {}
    stale: dict[str, tuple[Any, ...]] = {}
    for code, *stamp in stamps:
        hit = _RULES_BY_FINGERPRINT.get((db, code))
        if hit is not None and hit[0] == tuple(stamp):
            rules[code] = hit[1]
        else:
            stale[code] = tuple(stamp)
    if stale:
        if len(_RULES_BY_FINGERPRINT) >= _RULES_BY_FINGERPRINT_MAX:
            _RULES_BY_FINGERPRINT.clear()
        for obj in session.scalars(select(InfoClass).where(InfoClass.code.in_(stale))):
            rules[obj.code] = rule = _rule_of(obj)
            _RULES_BY_FINGERPRINT[(db, obj.code)] = ((obj.revision, obj.created_at, obj.updated_at), rule)
    tx = session.get_transaction()
    cached: tuple[Any, dict[str, PublicityRule]] | None = session.info.get(_RULE_CACHE)
    if cached is None or cached[0] is not tx:
        cached = session.info[_RULE_CACHE] = (tx, {})
    for code, rule in rules.items():
        cached[1].setdefault(code, rule)


#: Rules built from stored classes, by the class's stored content (JSON): validating a class again costs more than
#: writing out its columns, and a rule is immutable. Any change of a column, however made, is another key.
_RULES_BY_CONTENT: dict[str, PublicityRule] = {}
_RULES_BY_CONTENT_MAX = 256


def _rule_of(obj: InfoClass) -> PublicityRule:
    data: dict[str, Any] = {name: getattr(obj, name) for name in _COLUMNS}
    data["applies"] = (obj.applies_legal_person, obj.applies_individual_business, obj.applies_natural_person)
    key = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    rule = _RULES_BY_CONTENT.get(key)
    if rule is None:
        if len(_RULES_BY_CONTENT) >= _RULES_BY_CONTENT_MAX:
            _RULES_BY_CONTENT.clear()
        rule = _RULES_BY_CONTENT[key] = spec_of(obj).rule()
    return rule


def prime_publicity_rules(session: Session, classes: Iterable[InfoClass]) -> None:
    """Fill :func:`publicity_rule`'s cache for the current transaction from classes the caller has already read
    (the government file reads them all anyway): two statements fewer per read."""
    tx = session.get_transaction()
    cached: tuple[Any, dict[str, PublicityRule]] | None = session.info.get(_RULE_CACHE)
    if cached is None or cached[0] is not tx:
        cached = session.info[_RULE_CACHE] = (tx, {})
    for cls in classes:
        cached[1].setdefault(cls.code, _rule_of(cls))


# Editing -----------------------------------------------------------------------------------------------------


def _assign(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted path (``publicity.windows.general.max_months``; list items by index).
    ``None`` removes the key, so the field falls back to its default (or fails validation if required)."""
    parts = path.split(".")
    if parts[0] == "code":
        raise ValidationFailed("信息类别代码不可修改", code="immutable_field", details={"field": path})
    if parts[0] not in InfoClassSpec.model_fields or any(not p for p in parts):
        raise ValidationFailed(
            f"未知的目录字段 {path!r}",
            code="unknown_field",
            details={"field": path, "allowed": sorted(set(InfoClassSpec.model_fields) - {"code"})},
        )
    target: Any = doc
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise ValidationFailed(
                    f"字段路径 {path!r} 中的序号 {part!r} 无效（共 {len(target)} 项）",
                    code="unknown_field",
                    details={"field": path},
                )
            if last:
                target[int(part)] = value
            else:
                target = target[int(part)]
        elif isinstance(target, dict):
            if last:
                if value is None:
                    target.pop(part, None)
                else:
                    target[part] = value
            else:
                target = target.setdefault(part, {})
        else:
            raise ValidationFailed(
                f"字段路径 {path!r} 指向的不是可逐项修改的对象", code="unknown_field", details={"field": path}
            )


@dataclass
class ClassChange:
    """The class after an update and the top-level fields that changed (empty: nothing to do, nothing audited)."""

    info_class: InfoClass
    changed: list[str]


def update_class(
    session: Session,
    *,
    actor: Principal,
    code: str,
    changes: dict[str, Any],
    reason: str,
    expected_revision: int | None = None,
) -> ClassChange:
    """Correct one information class. Admin only; the reason is required and goes to the audit log.

    ``changes`` maps a field or a dotted path to its new value: ``{"public_attribute": "conditional"}``,
    ``{"publicity.windows.general.max_months": 12}``, ``{"publicity.not_published.1.fine_max_yuan.legal_person":
    5000}``. The whole class is re-validated (minimum ≤ maximum, known public attribute, category and department
    kinds of the catalog, natural persons public only with a legal basis …). ``expected_revision`` guards against
    overwriting someone else's change (:class:`Conflict`). The class is marked as edited by an admin, so a later
    seed keeps it.
    """
    _require_admin(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("修改信用信息目录必须说明原因", code="reason_required")
    if not changes:
        raise ValidationFailed("没有指定要修改的字段", code="no_changes")
    obj = get_class(session, code, for_update=True)
    if expected_revision is not None and expected_revision != obj.revision:
        raise Conflict(
            f"信息类别 {code} 已被修改（当前版本 {obj.revision}，期望 {expected_revision}），请刷新后重试",
            code="revision_mismatch",
            details={"current": obj.revision, "expected": expected_revision},
        )
    before = spec_of(obj).dump()
    doc = copy.deepcopy(before)
    for path, value in changes.items():
        _assign(doc, str(path), value)
    try:
        spec = InfoClassSpec.model_validate(doc)
    except ValidationError as exc:
        raise ValidationFailed(
            f"对信息类别 {code} 的修改不符合目录规则", code="invalid_change", details=validation_details(exc)
        ) from None
    meta = catalog_meta(session)
    spec.check_vocabulary(categories=meta.categories, department_kinds=meta.department_kinds)
    after = spec.dump()
    changed = _changed_fields(before, after)
    if not changed:
        return ClassChange(obj, [])
    old_revision, old_origin = obj.revision, obj.origin
    _store(obj, spec)
    obj.origin = "admin"
    obj.revision += 1
    obj.updated_at = utcnow()
    audit.record(
        session,
        actor=actor.actor,
        action="catalog.class.update",
        entity_type=ENTITY,
        entity_id=code,
        reason=reason,
        before={"revision": old_revision, "origin": old_origin, **{k: before.get(k) for k in changed}},
        after={"revision": obj.revision, "origin": "admin", **{k: after.get(k) for k in changed}},
    )
    session.flush()
    _forget_rules(session)
    return ClassChange(obj, changed)


# Export ------------------------------------------------------------------------------------------------------


def export_catalog(session: Session) -> CatalogFile:
    """The catalog as stored, in the seed file's shape (seeding it elsewhere reproduces this catalog)."""
    meta = catalog_meta(session)
    return CatalogFile.model_validate({**_meta_dump(meta), "classes": [spec_of(o) for o in list_classes(session)]})


def export_yaml(session: Session) -> str:
    """:func:`export_catalog` as YAML."""
    return dump_catalog(export_catalog(session))


def ensure_seeded(session: Session, *, actor: Principal) -> SeedReport | None:
    """Seed the national defaults into an empty catalog (``db upgrade``, ``serve``); None when already there."""
    if session.scalar(select(InfoClass.id).limit(1)) is not None:
        return None
    return seed_catalog(session, actor=actor, reason="初始化信用信息目录（全国默认值）")
