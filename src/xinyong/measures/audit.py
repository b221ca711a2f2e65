"""`catalog audit` (issue #18.5): every number, rule and legal basis not checked against the official text.

The catalog (``catalog.yaml``: publicity periods, timeliness and withdrawal days, repair periods …), the list types
(``list_types.yaml``: terms, notice periods, removal rules) and the measures (``measures.yaml``: memoranda, measures,
record triggers) mark what could not be confirmed with ``confidence: unverified`` or ``low``. :func:`audit` lists
each such item — where it is (file and key path), its current value, its confidence and the legal basis it rests on
— so the credit office can check it against the official text.

The catalog is read as stored: a class the platform admin corrected (``catalog set`` / ``PATCH
/catalog/classes/{code}``, with a reason, audited) shows the current value, the file's value when it differs, and
who changed it, when and why (``corrected``); an item the admin marked ``verified`` stays in the list as
``confirmed``. List types and measures are read as seeded (they change only by a reseed of their files); before
any seed the files themselves are read. This module sits at the top of the rules layer because it reads all three.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.catalog import service as catalog_service
from xinyong.catalog.models import CatalogMeta, InfoClass
from xinyong.catalog.spec import DEFAULT_CATALOG_PATH, load_catalog
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import ValidationFailed
from xinyong.lists.models import ListType
from xinyong.lists.types import DEFAULT_TYPES_PATH, load_list_types
from xinyong.measures.models import Measure, Memorandum
from xinyong.measures.spec import DEFAULT_MEASURES_PATH, load_measures

FLAGGED = ("unverified", "low")
ONLY = ("unverified", "low", "confirmed")
Status = Literal["unverified", "low", "confirmed"]

#: Keys of an item that are its description, not its value.
_NOT_VALUE = ("confidence", "note")
#: Fields shown as the value of a whole class / list type / measure / memorandum.
_CLASS_FIELDS = ("public_attribute", "natural_person_attribute")
_TYPE_FIELDS = ("term_months", "max_term_months", "requires_notice", "notice_workdays", "params")
_MEASURE_FIELDS = ("kind", "mandatory", "scenarios", "list_types", "triggers", "active")
_MEMO_FIELDS = ("kind", "doc_no", "issued_on")


@dataclass
class AuditItem:
    source: str  # catalog | list_types | measures
    file: str  # the seed file the item comes from
    path: str  # key path in that file, e.g. classes[penalty].publicity.windows.general
    kind: str  # rule (numbers and rules) | legal_basis | document (a memorandum's number and date)
    status: Status  # unverified | low | confirmed (marked verified by the admin, unverified in the file)
    confidence: str  # as stored now
    value: Any
    note: str | None
    legal_basis: list[dict[str, Any]]  # what the item rests on (for a legal basis: itself)
    file_confidence: str | None = None  # the file's confidence / value, when the stored one differs
    file_value: Any = None
    corrected: dict[str, Any] | None = None  # {by, at, reason, revision}: the admin's latest change of the class

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.file_confidence is None and self.file_value is None:
            data.pop("file_confidence")
            data.pop("file_value")
        return data


def _bases(bases: Any) -> list[dict[str, Any]]:
    return [
        {k: b[k] for k in ("title", "article", "confidence") if b.get(k) is not None}
        for b in bases or []
        if isinstance(b, dict) and b.get("title")
    ]


def _value(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in _NOT_VALUE}


def _nodes(doc: Any, path: str, *, in_basis: bool = False) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every dict below ``doc`` that carries a ``confidence``, with its key path and whether it is a legal basis."""
    if isinstance(doc, dict):
        if "confidence" in doc and path:
            yield path, doc, in_basis
        for key, child in doc.items():
            yield from _nodes(child, f"{path}.{key}" if path else key, in_basis=key.endswith("basis"))
    elif isinstance(doc, list):
        for i, child in enumerate(doc):
            yield from _nodes(child, f"{path}[{i}]", in_basis=in_basis)


def _items(
    source: str,
    file: str,
    root: str,
    current: dict[str, Any] | None,
    original: dict[str, Any] | None,
    *,
    top_fields: tuple[str, ...],
    top_kind: str = "rule",
    corrected: dict[str, Any] | None = None,
    bases: list[dict[str, Any]] | None = None,
) -> Iterator[AuditItem]:
    """The flagged items of one entity (a class, list type, measure, memorandum): its own confidence (the numbers
    in ``top_fields``) and every nested item, as stored (``current``) against the file (``original``)."""
    now = current if current is not None else original or {}
    bases = bases if bases is not None else _bases(now.get("legal_basis"))

    def emit(path: str, node: dict[str, Any] | None, file_node: dict[str, Any] | None, kind: str, value: Any) -> Any:
        conf = (node or {}).get("confidence") or "unverified"
        file_conf = (file_node or {}).get("confidence")
        status: Status
        if conf == "unverified":
            status = "unverified"
        elif conf == "low":
            status = "low"
        elif file_conf in FLAGGED:
            status = "confirmed"
        else:
            return None
        file_value = None
        if file_node is not None and node is not None and current is not None:
            fv = {k: file_node.get(k) for k in top_fields} if kind == top_kind and path == root else _value(file_node)
            file_value = fv if fv != value else None
        return AuditItem(
            source=source,
            file=file,
            path=path,
            kind=kind,
            status=status,
            confidence=conf,
            value=value,
            note=(node or file_node or {}).get("note") or None,
            legal_basis=_bases([node]) if kind == "legal_basis" and node else bases,
            file_confidence=file_conf if file_conf is not None and file_conf != conf else None,
            file_value=file_value,
            corrected=corrected if (file_value is not None or (file_conf and file_conf != conf)) else None,
        )

    top = emit(root, now, original, top_kind, {k: now.get(k) for k in top_fields})
    if top is not None:
        yield top
    stored = {p: (n, b) for p, n, b in _nodes(now, "")}
    in_file = {p: (n, b) for p, n, b in _nodes(original or {}, "")}
    for rel in [*stored, *(p for p in in_file if p not in stored)]:
        node, is_basis = stored.get(rel, (None, False))
        file_node, file_basis = in_file.get(rel, (None, False))
        kind = "legal_basis" if (is_basis or file_basis) else "rule"
        value = _value(node) if node is not None else None
        item = emit(f"{root}.{rel}", node, file_node, kind, value)
        if item is not None:
            yield item


def _corrections(session: Session) -> dict[str, dict[str, Any]]:
    """The admin's latest change of each catalog class: who, when, why, which revision."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_type == catalog_service.ENTITY, AuditEvent.action == "catalog.class.update")
        .order_by(AuditEvent.seq.desc())
    )
    found: dict[str, dict[str, Any]] = {}
    for ev in rows:
        if ev.entity_id and ev.entity_id not in found:
            found[ev.entity_id] = {
                "by": ev.actor,
                "at": ev.at.isoformat(),
                "reason": ev.reason,
                "revision": (ev.after or {}).get("revision"),
            }
    return found


def _catalog(session: Session) -> Iterator[AuditItem]:
    file = f"catalog/data/{DEFAULT_CATALOG_PATH.name}"
    shipped = load_catalog()
    # The documents the catalog follows (its ``sources``: 基础目录, 第58号令 … with their numbers), as stored.
    meta = session.get(CatalogMeta, 1)
    sources = list(meta.sources) if meta is not None else [s.model_dump(mode="json") for s in shipped.sources]
    for i, src in enumerate(sources):
        if src.get("confidence") in FLAGGED:
            yield AuditItem(
                source="catalog",
                file=file,
                path=f"sources[{i}]",
                kind="document",
                status=src["confidence"],
                confidence=src["confidence"],
                value={k: src.get(k) for k in ("number", "issued")},
                note=src.get("note") or None,
                legal_basis=_bases([src]),
            )
    in_file = {c.code: c.dump() for c in shipped.classes}
    stored = {obj.code: (obj, catalog_service.spec_of(obj).dump()) for obj in session.scalars(select(InfoClass))}
    corrections = _corrections(session) if stored else {}
    for code in [*stored, *(c for c in in_file if c not in stored)]:
        obj, current = stored.get(code, (None, None))
        corrected = corrections.get(code) if obj is not None and obj.origin == "admin" else None
        yield from _items(
            "catalog",
            file,
            f"classes[{code}]",
            current,
            in_file.get(code),
            top_fields=_CLASS_FIELDS,
            corrected=corrected,
        )


def _list_types(session: Session) -> Iterator[AuditItem]:
    file = f"lists/data/{DEFAULT_TYPES_PATH.name}"
    rows = list(session.scalars(select(ListType).order_by(ListType.sort_order, ListType.code)))
    docs = (
        [
            (t.code, {**{k: getattr(t, k) for k in (*_TYPE_FIELDS, "legal_basis", "removal_rules", "confidence")}})
            for t in rows
        ]
        if rows
        else [(t.code, t.dump()) for t in load_list_types().types]
    )
    for code, doc in docs:
        yield from _items("list_types", file, f"types[{code}]", doc, None, top_fields=_TYPE_FIELDS)


def _measures(session: Session) -> Iterator[AuditItem]:
    file = f"measures/data/{DEFAULT_MEASURES_PATH.name}"
    memos = list(session.scalars(select(Memorandum).order_by(Memorandum.code)))
    measures = list(session.scalars(select(Measure).order_by(Measure.sort_order, Measure.code)))
    if not measures:
        spec = load_measures()
        memo_docs = [(m.code, m.dump()) for m in spec.memoranda]
        measure_docs = [(m.code, {**m.dump(), "active": True}) for m in spec.measures]
    else:
        memo_docs = [
            (
                m.code,
                {
                    "kind": m.kind,
                    "doc_no": m.doc_no,
                    "issued_on": m.issued_on,
                    "confidence": m.confidence,
                    "note": m.note,
                    "title": m.title,
                },
            )
            for m in memos
        ]
        keys = (*_MEASURE_FIELDS, "legal_basis", "extends_to", "confidence", "note")
        measure_docs = [(m.code, {k: getattr(m, k) for k in keys}) for m in measures]
    for code, doc in memo_docs:
        issued = doc.get("issued_on")
        doc = {**doc, "issued_on": issued.isoformat() if isinstance(issued, dt.date) else issued}
        # A memorandum is itself a basis: its title is what its number and date are the number and date of.
        itself = _bases([{"title": doc.get("title"), "confidence": doc.get("confidence")}])
        yield from _items(
            "measures",
            file,
            f"memoranda[{code}]",
            doc,
            None,
            top_fields=_MEMO_FIELDS,
            top_kind="document",
            bases=itself,
        )
    for code, doc in measure_docs:
        yield from _items("measures", file, f"measures[{code}]", doc, None, top_fields=_MEASURE_FIELDS)


def audit(session: Session, *, only: str | None = None, source: str | None = None) -> list[AuditItem]:
    """Every item marked unverified or low (and those the admin has since confirmed), catalog first.
    ``only``: ``unverified`` / ``low`` / ``confirmed``; ``source``: ``catalog`` / ``list_types`` / ``measures``."""
    if only is not None and only not in ONLY:
        raise ValidationFailed(
            f"--only 应为 {' / '.join(ONLY)} 之一", code="bad_only", details={"only": only, "allowed": list(ONLY)}
        )
    readers = {"catalog": _catalog, "list_types": _list_types, "measures": _measures}
    if source is not None and source not in readers:
        raise ValidationFailed(
            f"--source 应为 {' / '.join(readers)} 之一",
            code="bad_source",
            details={"source": source, "allowed": list(readers)},
        )
    items = [item for name, read in readers.items() if source in (None, name) for item in read(session)]
    return [i for i in items if only is None or i.status == only]


def summary(items: list[AuditItem]) -> dict[str, Any]:
    """Counts by source, status and kind (what the console and the CLI's text form show first)."""
    out: dict[str, Any] = {"total": len(items), "by_source": {}, "by_status": {}, "by_kind": {}}
    for i in items:
        for key, value in (("by_source", i.source), ("by_status", i.status), ("by_kind", i.kind)):
            out[key][value] = out[key].get(value, 0) + 1
    return out
