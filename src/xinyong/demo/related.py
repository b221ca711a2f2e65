"""Demo related persons (issue #15 point 3): the registry import already gave every company its legal
representative by name; here a 失信被执行人 company gets a registered person as its legal representative (the
registry's name-only row ended, the person added with the ID, as the admin would), and a few companies get
directors, supervisors and senior managers who are registered persons. A ``hiring`` check on that legal
representative then shows 担任法定代表人、董事、监事、高级管理人员受限, naming the company.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.identifiers.vault import get_vault
from xinyong.lists.models import ListEntry, ListType
from xinyong.lists.rules import in_force_clause
from xinyong.subjects import related
from xinyong.subjects.models import Subject, SubjectKind

OFFICER_ROLES = (related.RelatedRole.DIRECTOR, related.RelatedRole.SUPERVISOR, related.RelatedRole.SENIOR_MANAGER)


def build(session: Session, *, actor: Principal, persons: list[tuple[str, str, str]], today: dt.date) -> dict[str, Any]:
    e = ListEntry.__table__
    debtor = session.execute(
        select(Subject.id, Subject.name, Subject.uscc)
        .join(ListEntry, ListEntry.subject_id == Subject.id)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .where(
            ListType.code == "court_dishonest_debtor",
            Subject.kind == SubjectKind.LEGAL_PERSON,
            in_force_clause(e.c, today),
        )
        .order_by(Subject.id)
        .limit(1)
    ).first()
    clean = list(
        session.execute(
            select(Subject.id, Subject.name, Subject.resident_id_hash)
            .where(
                Subject.kind == SubjectKind.NATURAL_PERSON,
                ~exists().where(ListEntry.subject_id == Subject.id),
            )
            .order_by(Subject.id)
            .limit(40)
        )
    )
    vault = get_vault()
    by_hash = {vault.lookup_hash(number): number for _name, number, _p in persons}
    clean = [c for c in clean if c.resident_id_hash in by_hash]
    summary: dict[str, Any] = {"debtor_company": None, "officers": 0}
    if debtor is None or not clean:
        return summary
    rep = clean[0]
    company = session.get(Subject, debtor.id)
    assert company is not None
    for row in related.list_related(session, company, include_ended=False):
        if row.role == related.RelatedRole.LEGAL_REP:
            related.end_related(
                session, actor=actor, subject=company, related_id=row.id, reason="演示：法定代表人变更登记", on=today
            )
    added = related.add_related(
        session,
        actor=actor,
        subject=company,
        role=related.RelatedRole.LEGAL_REP,
        name=rep.name,
        id_number=by_hash[rep.resident_id_hash],
        valid_from=today - dt.timedelta(days=400),
        reason="演示：法定代表人（已登记的自然人）",
    )
    summary["debtor_company"] = {
        "name": debtor.name,
        "uscc": debtor.uscc,
        "legal_rep": rep.name,
        "legal_rep_resident_id_masked": added.id_masked,
        # synthetic demo data: the number to type into a hiring check (xinyong check <ID> --scenario hiring)
        "legal_rep_resident_id": by_hash[rep.resident_id_hash],
    }
    companies = list(
        session.scalars(
            select(Subject).where(Subject.kind == SubjectKind.LEGAL_PERSON).order_by(Subject.id).limit(len(clean) // 3)
        )
    )
    officers = clean[1:]
    items = []
    for i, org in enumerate(companies):
        for j, role in enumerate(OFFICER_ROLES):
            k = (i * len(OFFICER_ROLES) + j) % len(officers) if officers else None
            if k is None:
                break
            p = officers[k]
            items.append(
                related.RelatedInput(
                    subject_id=org.id,
                    name=p.name,
                    role=role,
                    id_number=by_hash[p.resident_id_hash],
                    valid_from=today - dt.timedelta(days=200 + 30 * j),
                    provenance={"demo": "董事、监事、高级管理人员备案"},
                )
            )
    counts = related.note_legal_reps(session, items, source=related.RelatedSource.MANUAL, actor=actor.actor)
    summary["officers"] = counts["added"]
    return summary
