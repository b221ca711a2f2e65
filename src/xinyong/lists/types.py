"""List types (红名单 / 黑名单 / 重点关注 …): seeded from ``data/list_types.yaml``, looked up, shown.

:func:`seed_list_types` loads the YAML file (validated by ``lists.schemas.ListTypesFile``) and creates or updates
the types it names, audited, with a :class:`SeedReport`; :func:`ensure_seeded` does so once for an empty
database. :func:`list_types`, :func:`get_list_type` and :func:`type_view` read them. Entries of a type are
managed in ``lists.service`` and read in ``lists.queries``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.catalog.models import CatalogMeta, InfoClass
from xinyong.catalog.spec import validation_details
from xinyong.core import audit
from xinyong.core.db import utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.lists.models import ListType
from xinyong.lists.rules import KIND_LABELS
from xinyong.lists.schemas import ListTypesFile

DEFAULT_TYPES_PATH = Path(__file__).parent / "data" / "list_types.yaml"


TYPE_ENTITY = "list_type"


_STORED_FIELDS = (
    "name",
    "kind",
    "domain",
    "authority",
    "info_class",
    "legal_basis",
    "term_months",
    "max_term_months",
    "requires_notice",
    "notice_workdays",
    "removal_rules",
    "party_kinds",
    "external",
    "managing_departments",
    "sync_format",
    "params",
    "confidence",
    "note",
    "sort_order",
    "active",
)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_in_file: list[str] = field(default_factory=list)  # in the database, not in the file: left alone

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_list_types(path: Path | str | None = None) -> ListTypesFile:
    """Read and validate a list-type file whole (default: the types shipped with the package)."""
    path = Path(path) if path else DEFAULT_TYPES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed(f"无法读取名单类型文件 {path}：{exc.strerror}", code="list_types_unreadable") from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"名单类型文件 {path} 不是有效的 YAML：{exc}", code="list_types_invalid_yaml") from None
    try:
        return ListTypesFile.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            f"名单类型文件 {path.name} 校验失败", code="invalid_list_types", details=validation_details(exc)
        ) from None


def _stored(obj: ListType) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in _STORED_FIELDS}


def seed_list_types(session: Session, *, actor: Principal, path: Path | str | None = None) -> SeedReport:
    """Load the list types into the database. Idempotent: new types are created, changed ones brought to the
    file's content, each with one audit event. Every type's ``info_class`` must exist in the catalog."""
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以载入名单类型", code="list_types_admin_only")
    spec_file = load_list_types(path)
    classes = set(session.scalars(select(InfoClass.code)))
    if not classes:
        raise NotFound("信用信息目录尚未初始化，请先运行 xinyong catalog seed", code="catalog_not_seeded")
    unknown = sorted({t.info_class for t in spec_file.types} - classes)
    if unknown:
        raise ValidationFailed(
            "名单类型引用了目录中不存在的信息类别：" + "、".join(unknown),
            code="unknown_info_class",
            details={"info_classes": unknown},
        )
    meta = session.get(CatalogMeta, 1)
    kinds = set(meta.department_kinds) if meta is not None else set()
    unknown_kinds = sorted({t.owner_department_kind for t in spec_file.types if t.owner_department_kind} - kinds)
    if unknown_kinds:
        raise ValidationFailed(
            "名单类型引用了目录中不存在的部门类型：" + "、".join(unknown_kinds) + "（请先运行 xinyong catalog seed）",
            code="unknown_department_kind",
            details={"department_kinds": unknown_kinds, "known": sorted(kinds)},
        )
    report = SeedReport()
    existing = {t.code: t for t in session.scalars(select(ListType))}
    why = "载入名单类型" + (f"（{Path(path).name}）" if path else "（默认值）")
    for spec in spec_file.types:
        data = spec.dump()
        obj = existing.pop(spec.code, None)
        if obj is None:
            obj = ListType(code=spec.code, **{k: data[k] for k in _STORED_FIELDS})
            session.add(obj)
            session.flush()
            audit.record(
                session,
                actor=actor.actor,
                action="lists.type.create",
                entity_type=TYPE_ENTITY,
                entity_id=spec.code,
                reason=why,
                after=data,
            )
            report.created.append(spec.code)
            continue
        before = _stored(obj)
        changed = [k for k in _STORED_FIELDS if before[k] != data[k]]
        if not changed:
            report.unchanged.append(spec.code)
            continue
        for k in changed:
            setattr(obj, k, data[k])
        obj.updated_at = utcnow()
        audit.record(
            session,
            actor=actor.actor,
            action="lists.type.reseed",
            entity_type=TYPE_ENTITY,
            entity_id=spec.code,
            reason=why,
            before={k: before[k] for k in changed},
            after={k: data[k] for k in changed},
        )
        report.updated.append(spec.code)
    report.not_in_file = sorted(existing)
    session.flush()
    return report


def ensure_seeded(session: Session, *, actor: Principal) -> SeedReport | None:
    """Seed the default list types into an empty table (``db upgrade``); None when types already exist."""
    if session.scalar(select(ListType.id).limit(1)) is not None:
        return None
    return seed_list_types(session, actor=actor)


def list_types(session: Session, *, include_inactive: bool = True) -> list[ListType]:
    stmt = select(ListType).order_by(ListType.sort_order, ListType.code)
    if not include_inactive:
        stmt = stmt.where(ListType.active.is_(True))
    return list(session.scalars(stmt))


def external_codes(session: Session) -> set[str]:
    """The codes of the lists synced from outside (court lists …): one column, not every type with its JSON."""
    return set(session.scalars(select(ListType.code).where(ListType.external.is_(True))))


def get_list_type(session: Session, code: str) -> ListType:
    """A list type by code; :class:`NotFound` ``unknown_list_type`` naming the valid codes otherwise."""
    code = (code or "").strip()
    found = session.scalar(select(ListType).where(ListType.code == code)) if code else None
    if found is None:
        valid = list(session.scalars(select(ListType.code).order_by(ListType.sort_order, ListType.code)))
        raise NotFound(
            f"名单类型 {code[:60]!r} 不存在",
            code="unknown_list_type",
            details={"code": code[:60], "valid_codes": valid},
        )
    return found


def type_view(lt: ListType) -> dict[str, Any]:
    return {
        "code": lt.code,
        "name": lt.name,
        "kind": lt.kind,
        "kind_label": KIND_LABELS.get(lt.kind, lt.kind),
        "domain": lt.domain,
        "authority": lt.authority,
        "owner_department_kind": (lt.params or {}).get("owner_department_kind"),
        "info_class": lt.info_class,
        "legal_basis": list(lt.legal_basis),
        "term_months": lt.term_months,
        "max_term_months": lt.max_term_months,
        "requires_notice": lt.requires_notice,
        "notice_workdays": lt.notice_workdays,
        "removal_rules": list(lt.removal_rules),
        "party_kinds": list(lt.party_kinds),
        "external": lt.external,
        "managing_departments": list(lt.managing_departments),
        "sync_format": lt.sync_format,
        "confidence": lt.confidence,
        "note": lt.note,
        "active": lt.active,
    }
