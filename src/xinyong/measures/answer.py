"""The check's second half: which measures apply to a resolved subject, and how the answer shows them.

:func:`select_measures` picks, from the in-memory catalogue, the measures whose trigger list types match the
subject's entries in force, or whose record trigger (``measures.record_triggers``) one of the subject's records
meets, and whose scenarios include the requested one (``general``: all); the view functions
shape one item of the answer — the subject, its entries, each measure with its reasons and legal bases, and the
conclusion in words (:data:`OUTCOME_LABELS`). Pure functions over rows already read: no database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from xinyong.cases.service import OBJECTION_MARKER
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.measures.models import CheckOutcome, MeasureKind
from xinyong.measures.record_triggers import TriggerRecord, matches, record_reason
from xinyong.measures.resolve import PERSON, _Entry, _Item
from xinyong.measures.service import CachedMeasure, Catalogue
from xinyong.measures.spec import CATEGORY_LABELS, KIND_LABELS, SCENARIOS

OUTCOME_LABELS: dict[str, str] = {
    CheckOutcome.MATCHED: "已匹配",
    CheckOutcome.CANDIDATES: "仅按名称查询：候选主体",
    CheckOutcome.NOT_FOUND: "未找到",
    CheckOutcome.INVALID: "代码无效",
}


def select_measures(
    cat: Catalogue,
    subject_kind: str,
    entries: Sequence[Any],
    scenario: str,
    records: Sequence[TriggerRecord] = (),
    on: dt.date | None = None,
) -> list[tuple[CachedMeasure, list[Any], list[TriggerRecord]]]:
    """Active measures triggered by ``entries`` (in force) or by ``records`` (read by
    ``record_triggers.trigger_records``, judged on the check date ``on``) that apply in ``scenario`` to this kind
    of subject, each with the entries and the records that trigger it; punishments first, then rewards, in
    catalogue order."""
    hits: dict[str, tuple[CachedMeasure, list[Any], list[TriggerRecord]]] = {}
    for entry in entries:
        lt = cat.list_types.get(entry.list_type_id)
        if lt is None:
            continue
        for m in cat.by_list_type.get(lt.code, ()):
            if not m.applies_in(scenario) or subject_kind not in m.party_kinds or m.related_only:
                continue
            hits.setdefault(m.code, (m, [], []))[1].append(entry)
    if records and on is not None:
        for m in cat.record_measures(scenario):
            if subject_kind not in m.party_kinds or m.records is None:
                continue
            found = [r for r in records if matches(m.records, r, on)]
            if found:
                hits.setdefault(m.code, (m, [], []))[2].extend(found)
    return sorted(hits.values(), key=lambda h: (h[0].kind != MeasureKind.PUNISH, h[0].sort_order, h[0].code))


def _entry_view(entry: _Entry, cat: Catalogue) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    return {
        "id": entry.id,
        "objection": OBJECTION_MARKER if entry.objected else None,
        "list_type": lt.code if lt else None,
        "list_name": lt.name if lt else None,
        "list_kind": lt.kind if lt else None,
        "authority": entry.authority,
        "decision_no": entry.decision_no,
        "listed_on": entry.listed_on,
        "term_end": entry.term_end,
        "reason": entry.reason,
        "legal_basis": entry.legal_basis,
    }


def _reason_view(entry: _Entry, cat: Catalogue) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    name = lt.name if lt else "名单"
    until = entry.term_end or "移出名单之日（无固定期限）"
    doc = f"（{entry.decision_no}）" if entry.decision_no else ""
    return {
        "entry_id": entry.id,
        "list_type": lt.code if lt else None,
        "list_name": name,
        "listed_on": entry.listed_on,
        "term_end": entry.term_end,
        "authority": entry.authority,
        "text": f"被{entry.authority}列入「{name}」{doc}，列入日期 {entry.listed_on}，有效期至 {until}；"
        f"列入事由：{entry.reason}",
    }


def _measure_answer(
    m: CachedMeasure,
    entries: list[Any],
    cat: Catalogue,
    records: Sequence[TriggerRecord] = (),
    on: dt.date | None = None,
) -> dict[str, Any]:
    rule = m.records
    return {
        "code": m.code,
        "kind": m.kind,
        "kind_label": KIND_LABELS[m.kind],
        "category": m.category,
        "category_label": CATEGORY_LABELS[m.category],
        "title": m.title,
        "content": m.content,
        "department": m.department,
        "mandatory": m.mandatory,
        "confidence": m.confidence,
        "legal_basis": list(m.legal_basis),
        "memorandum": m.memorandum,
        "reasons": [_reason_view(e, cat) for e in entries],
        "record_reasons": [record_reason(r, rule, on) for r in records] if rule is not None and on else [],
        "record_legal_basis": list(rule.legal_basis) if rule is not None and records else [],
        # filled by measures.related when the measure reaches a person through an organisation (extends_to)
        "related_reasons": [],
        "related_legal_basis": [],
    }


def _subject_view(row: Any) -> dict[str, Any]:
    if row.kind == PERSON:  # a person: the name and the masked ID only
        return {"id": row.id, "kind": row.kind, "name": row.name, "resident_id": row.resident_id_masked}
    return {"id": row.id, "kind": row.kind, "name": row.name, "uscc": row.uscc, "region_code": row.region_code}


def _query_record(item: _Item) -> dict[str, Any]:
    """The query as stored and echoed: personal ID numbers masked, a person's name masked."""
    q = item.query
    code = (q.code or "").strip() or None
    if code and item.looks_personal:
        code = mask_resident_id(code)
    name = (q.name or "").strip() or None
    if name and item.looks_personal:
        name = mask_name(name)
    out: dict[str, Any] = {"code": code, "name": name}
    if q.region:
        out["region"] = q.region.strip()
    if q.kind:
        out["kind"] = q.kind
    return out


def _conclusion(
    item: _Item, entries: list[Any], measures: list[dict[str, Any]], scenario: str, records: Sequence[Any] = ()
) -> str:
    if item.outcome != CheckOutcome.MATCHED:
        return item.reason or OUTCOME_LABELS[item.outcome]
    punish = [m for m in measures if m["kind"] == MeasureKind.PUNISH]
    reward = [m for m in measures if m["kind"] == MeasureKind.REWARD]
    if not entries and not records:
        return "未发现处于有效期内的红黑名单记录，无适用的联合奖惩措施"
    if not measures:
        return f"存在 {len(entries)} 条有效名单记录，但在「{SCENARIOS[scenario]}」场景中无适用的联合奖惩措施"
    parts = []
    if punish:
        parts.append(f"惩戒措施 {len(punish)} 项（其中应当实施 {sum(m['mandatory'] for m in punish)} 项）")
    if reward:
        parts.append(f"激励措施 {len(reward)} 项")
    basis = [f"{len(entries)} 条有效名单记录"] if entries else []
    if records:
        basis.append(f"{len(records)} 条信用记录（行政处罚等）")
    return "依据 " + "和".join(basis) + "，适用" + "、".join(parts) + "；请按各措施的法律依据实施并反馈"
