"""National formats out: feed messages rendered as the rows the provincial platform reads.

双公示 licences and penalties use the coded field names of the current national standard (``XK_*`` / ``CF_*``, as
``ingest.standards`` defines them for reading), so what is exported here is read back by the platform's own
validator into the same record fields (tests/exchange/test_render.py). Fields the current standard lacks but the
2016 one has (案件名称 ``CF_AJMC``, 当前状态 of penalties ``CF_ZT`` …) are written under their 2016 code when the
record has a value; 当前状态 (``XK_ZT`` / ``CF_ZT``) is always written: ``2`` (无效) once the record is withdrawn.

The platform's own state that no national field carries — withdrawal and the early end of publicity after a credit
repair — travels in columns named in Chinese (:data:`STATE_COLUMNS`); the validator keeps unknown columns aside as
``extra``, so they do not disturb a reader of the standard.

Records of the other information classes (issue #18) are rendered with the coded names of their data standard
(``catalog/data/classes``; the platform's own until a national standard exists).

List entries and commitments have no national code names in ``ingest``: they are rendered with their Chinese
field labels (commitments: the labels of the 信用承诺 template the platform reads).

Natural persons' ID numbers are never in clear here: the stored data holds them masked, and so does the output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.catalog.fields import record_kinds, standard_of
from xinyong.commitments.models import Commitment
from xinyong.exchange.models import FeedMessage
from xinyong.ingest.standards import FIELDS
from xinyong.lists.models import ListEntry, ListType
from xinyong.records import packing
from xinyong.records.inputs import RecordKind
from xinyong.records.models import CreditRecord, RecordVersion

STATE_COLUMNS = {
    "withdrawn_at": "撤销日期",
    "withdrawn_reason": "撤销原因",
    "ended_on": "提前终止公示日期",
    "reason": "变更原因",
}

#: Canonical keys whose value is read from the version's ``content`` when ``data`` lacks it.
_CONTENT_KEYS = {
    "valid_from": "licence_valid_from",
    "valid_to": "licence_valid_to",
    "party_id_no": "party_id_masked",
    "legal_rep_id_no": "legal_rep_id_masked",
}
_STATUS_KEY = "status"
_FAST = frozenset(k.value for k in RecordKind)
#: Feed kinds that are credit records (双公示 and every class with a data standard, issue #18).
_RECORD_KINDS = frozenset(record_kinds())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "2"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def column_name(kind: str, key: str) -> str | None:
    for f in FIELDS[RecordKind(kind)]:
        if f.key == key:
            return f.coded or (f.legacy[0] if f.legacy else None)
    return None


def record_state(record: CreditRecord, *, reason: str | None = None) -> dict[str, Any]:
    """What a record message carries besides the (immutable) version it points at: the record's state."""
    return {
        "version_no": record.version_count,
        "withdrawn_at": record.withdrawn_at.isoformat() if record.withdrawn_at else None,
        "withdrawn_reason": record.withdrawn_reason,
        "ended_on": record.ended_on.isoformat() if record.ended_on else None,
        "reason": reason,
    }


#: Per kind: ``(column name, canonical key, content key, is a current-standard column)`` of every field written.
_PLAN = {
    kind.value: [
        (f.coded or f.legacy[0], f.key, _CONTENT_KEYS.get(f.key, f.key), bool(f.coded))
        for f in FIELDS[kind]
        if f.coded or f.legacy
    ]
    for kind in RecordKind
}


def _class_plan(kind: str) -> list[tuple[str, str, str, bool]]:
    """The plan of another information class (issue #18): its standard's coded names (Chinese where none), every
    field from the version's ``data`` (ID numbers stored masked), 当前状态 as written."""
    plan = _PLAN.get(kind)
    if plan is None:
        standard = standard_of(kind)
        plan = _PLAN[kind] = [(f.coded or f.label, f.key, f.key, True) for f in standard.fields]
    return plan


def record_row(kind: str, content: dict[str, Any], data: dict[str, Any], state: dict[str, Any]) -> dict[str, str]:
    """One 双公示 row in the national coded field names, from a stored version's ``content`` and ``data`` and the
    record state at the time of the message."""
    content, data = content or {}, data or {}
    row: dict[str, str] = {}
    fast = kind in _FAST
    for name, key, content_key, current in _PLAN[kind] if fast else _class_plan(kind):
        if not fast:
            value = data.get(key)
            row[name] = value if type(value) is str else _text(value)
            continue
        if key == _STATUS_KEY:
            valid = bool(content.get("current_status_valid", True)) and not state.get("withdrawn_at")
            row[name] = "1" if valid else "2"
            continue
        # The version's content first: a correction (records.service.correct_record) changes it, not ``data``.
        value = content.get(content_key)
        if value is None or value == "" or value == []:
            value = data.get(key)
        text = value if type(value) is str else _text(value)
        if text or current:  # current-standard columns always, 2016-only ones when they have a value
            row[name] = text
    for key, label in STATE_COLUMNS.items():
        if state.get(key):
            row[label] = _text(state[key])
    return row


def list_entry_row(session: Session, entry: ListEntry) -> dict[str, str]:
    lt = session.get(ListType, entry.list_type_id)
    return {
        "名单代码": lt.code if lt else "",
        "名单名称": lt.name if lt else "",
        "列入主体名称": entry.party_name,
        "主体类别": entry.party_kind or "",
        "主体代码": entry.party_code or "",  # masked for natural persons (as stored)
        "列入决定文书号": entry.decision_no or "",
        "列入事由": entry.reason,
        "失信行为事实": entry.facts or "",
        "列入依据": entry.legal_basis,
        "认定机关": entry.authority,
        "状态": entry.status,
        "告知日期": _text(entry.notice_given_on),
        "列入日期": _text(entry.listed_on),
        "有效期至": _text(entry.term_end),
        "移出日期": _text(entry.removed_on),
        "移出原因": entry.removal_reason or "",
        "移出说明": entry.removal_note or "",
    }


def commitment_row(c: Commitment) -> dict[str, str]:
    return {
        "承诺编码": c.code,
        "承诺人名称": c.promisor_name,
        "承诺人类别": c.promisor_kind,
        "承诺人代码": c.promisor_code,  # USCC, or the masked ID of a person
        "承诺类型": c.commitment_type,
        "承诺事由": c.reason,
        "承诺内容": c.content,
        "违诺责任": c.liability,
        "承诺作出日期": _text(c.made_on),
        "承诺有效期": _text(c.valid_until),
        "履行状态": c.fulfilment_status,
        "未履行的承诺内容": c.unfulfilled_content or "",
        "违诺责任追究内容": c.liability_pursued or "",
        "履行状态认定日期": _text(c.determined_on),
        "履行状态认定单位": c.determined_by or "",
        "承诺受理单位": c.accepting_unit,
        "承诺受理单位代码": c.accepting_unit_code,
        "公开类型": c.public_type,
        "备注": c.remarks or "",
    }


ENVELOPE = ("seq", "kind", "op", "entity_id", "subject_id", "department_id", "created_at")
LIST_ENTRY_COLUMNS = (
    "名单代码",
    "名单名称",
    "列入主体名称",
    "主体类别",
    "主体代码",
    "列入决定文书号",
    "列入事由",
    "失信行为事实",
    "列入依据",
    "认定机关",
    "状态",
    "告知日期",
    "列入日期",
    "有效期至",
    "移出日期",
    "移出原因",
    "移出说明",
)
COMMITMENT_COLUMNS = (
    "承诺编码",
    "承诺人名称",
    "承诺人类别",
    "承诺人代码",
    "承诺类型",
    "承诺事由",
    "承诺内容",
    "违诺责任",
    "承诺作出日期",
    "承诺有效期",
    "履行状态",
    "未履行的承诺内容",
    "违诺责任追究内容",
    "履行状态认定日期",
    "履行状态认定单位",
    "承诺受理单位",
    "承诺受理单位代码",
    "公开类型",
    "备注",
)


def columns(kind: str) -> tuple[str, ...]:
    """The data columns of a kind's export file, in order (the envelope's columns come first)."""
    if kind == "list_entry":
        return LIST_ENTRY_COLUMNS
    if kind == "commitment":
        return COMMITMENT_COLUMNS
    if kind not in _FAST:
        return (*(name for name, _, _, _ in _class_plan(kind)), *STATE_COLUMNS.values())
    names = [f.coded or f.legacy[0] for f in FIELDS[RecordKind(kind)] if f.coded or f.legacy]
    return (*names, *STATE_COLUMNS.values())


#: Record ids per look-up of versions (a bound parameter each).
VERSION_CHUNK = 900


def render_messages(session: Session, messages: Iterable[FeedMessage]) -> list[dict[str, Any]]:
    """The envelope and the national row of each message; record versions are loaded set-based.

    ``messages`` are feed rows: ORM objects or plain rows with the same column names (the export reads plain rows).
    Versions are looked up by ``record_id IN (…)`` — the unique index ``(record_id, version_no)`` answers it —
    and the wanted version numbers picked here: a row-value ``(record_id, version_no) IN ((…), …)`` is not answered
    from the index by SQLite (a full scan of ``record_versions`` per chunk, so the export slowed down as the
    table grew: 1/3 of its rate at 100,000 messages)."""
    messages = list(messages)
    wanted = {(m.entity_id, int(m.payload.get("version_no") or 1)) for m in messages if m.kind in _RECORD_KINDS}
    versions: dict[tuple[int, int], tuple[dict[str, Any], dict[str, Any]]] = {}
    ids = sorted({record_id for record_id, _ in wanted})
    numbers = sorted({version_no for _, version_no in wanted})
    v = RecordVersion
    columns = (v.record_id, v.version_no, v.content, v.data, v.packed)
    for start in range(0, len(ids), VERSION_CHUNK):
        chunk = ids[start : start + VERSION_CHUNK]
        q = select(*columns).where(RecordVersion.record_id.in_(chunk))
        if len(numbers) == 1:
            q = q.where(RecordVersion.version_no == numbers[0])
        for record_id, version_no, content, data, packed in session.execute(q):
            if (record_id, version_no) in wanted:
                whole = packing.full(session, version_no, content, data, [], packed)
                versions[(record_id, version_no)] = (whole.content, whole.data)
    out = []
    for m in messages:
        if m.kind in _RECORD_KINDS:
            version = versions.get((m.entity_id, int(m.payload.get("version_no") or 1)))
            row = record_row(m.kind, version[0], version[1], m.payload) if version is not None else {}
        else:
            row = dict(m.payload)
        out.append(envelope(m) | {"row": row})
    return out


def envelope(m: FeedMessage) -> dict[str, Any]:
    return {
        "seq": m.seq,
        "kind": m.kind,
        "op": m.op,
        "entity_id": m.entity_id,
        "subject_id": m.subject_id,
        "department_id": m.department_id,
        "created_at": m.created_at.isoformat(),
    }
