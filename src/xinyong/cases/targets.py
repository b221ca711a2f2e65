"""What a case can be about: a credit record or a list entry, resolved through the owning domains' services.

A :class:`Target` carries what the workflows need to know: the subject it belongs to, the department that
produced it (which handles objections and repairs: 谁认定、谁修复), the catalog class whose rules apply, the date
its publicity runs from, and whether it is public / in force today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.catalog.fields import standards
from xinyong.catalog.rules import PublicityRule
from xinyong.catalog.service import publicity_rule
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.lists.models import ListEntry, ListType, RemovalReason
from xinyong.lists.rules import in_force
from xinyong.records import queries as records_queries


@dataclass
class Target:
    type: str  # record | list_entry
    id: int
    subject_id: int | None
    department_id: int | None
    info_class: str
    rule: PublicityRule
    start: dt.date  # decision date / listing date
    severity: str | None
    live: bool  # public (record) / in force (entry) today
    describe: dict[str, Any]
    removal_min_months: int | None = None  # lists: the type's own minimum for a repair removal


#: A record's kind in words (``records.inputs.RecordKind``).
RECORD_KIND_LABELS = {"licence": "行政许可", "penalty": "行政处罚"}


def words(target: Target) -> str:
    """The target as a citizen names it: "行政处罚 沁市监罚〔2025〕12号", "失信被执行人名单 （2025）豫0882执1号"."""
    d = target.describe
    if target.type == "record":
        kind = d.get("kind") or ""
        head = RECORD_KIND_LABELS.get(kind) or (standards()[kind].name_zh if kind in standards() else "信用记录")
        number = d.get("doc_no")
    else:
        head, number = d.get("list_name") or "名单", d.get("decision_no")
    return f"{head} {number}" if number else str(head)


def resolve(session: Session, target_type: str, target_id: int, *, today: dt.date) -> Target:
    if target_type == "record":
        try:
            record = records_queries.get_record(session, target_id)
        except NotFound:
            raise NotFound(f"信用记录 {target_id} 不存在", code="target_not_found") from None
        code = record.kind  # every record's kind is its catalog class's code (issue #18)
        # The class's rule, or the catalog's publicity exception for the record's domain or department (#18.5).
        rule = records_queries.rules(session)[code].for_record(record.domain, record.department_id)
        live = records_queries.public_status(session, record, today).value
        return Target(
            "record",
            record.id,
            record.subject_id,
            record.department_id,
            code,
            rule,
            record.decision_date,
            record.severity if rule.publicity.mode == "fixed_period" else None,
            live,
            {
                "kind": record.kind,
                "doc_no": record.doc_no,
                "authority": record.authority,
                "decision_date": record.decision_date.isoformat(),
                "severity": record.severity,
                "ended_on": record.ended_on.isoformat() if record.ended_on else None,
            },
        )
    if target_type == "list_entry":
        entry = session.get(ListEntry, target_id)
        if entry is None:
            raise NotFound(f"名单条目 {target_id} 不存在", code="target_not_found")
        lt = session.get(ListType, entry.list_type_id)
        assert lt is not None
        rule = publicity_rule(session, lt.info_class)
        mins = [
            int(r["min_months"])
            for r in (lt.removal_rules or [])
            if r.get("reason") == RemovalReason.REPAIRED and r.get("min_months")
        ]
        department_id = entry.department_id
        if department_id is None and lt.managing_departments:  # synced entries: the list's competent department
            department_id = session.scalar(select(Department.id).where(Department.code == lt.managing_departments[0]))
        return Target(
            "list_entry",
            entry.id,
            entry.subject_id,
            department_id,
            lt.info_class,
            rule,
            entry.listed_on or entry.created_at.date(),
            None,
            in_force(entry, today),
            {
                "list_code": lt.code,
                "list_name": lt.name,
                "decision_no": entry.decision_no,
                "authority": entry.authority,
                "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
                "external": lt.external,
            },
            removal_min_months=max(mins) if mins else None,
        )
    raise ValidationFailed("对象类型只能是 record（信用记录）或 list_entry（名单条目）", code="bad_target_type")
