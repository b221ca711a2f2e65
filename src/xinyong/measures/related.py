"""The check's related-person part (issue #15 point 3): a person checked is restricted through an organisation.

When the subject checked is a natural person, :func:`related_hits` finds, in one statement per chunk of persons,
the organisations where the person holds a role on the check date (``subjects.related``: the keyed hash of the
ID, valid_from ≤ day < valid_to) together with those organisations' list entries in force (the predicate of
``lists.rules.in_force_clause``, each with its open-objection marker). :func:`related_measures` then picks, from
the in-memory catalogue, the measures triggered by those entries that extend to that role (``extends_to`` in
``measures.yaml``) and apply in the scenario. The answer names the organisation (name, USCC), the role, the list
entry and both legal bases: the measure's and that of its extension to the role. Pure beyond the one statement.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session, aliased

from xinyong.cases.service import OBJECTION_MARKER
from xinyong.core.db import IN_CHUNK
from xinyong.lists.models import ListEntry
from xinyong.lists.rules import in_force_clause
from xinyong.measures._sql import Prepared
from xinyong.measures.models import MeasureKind
from xinyong.measures.resolve import _ENTRY_COLS, _Entry, _iso
from xinyong.measures.service import CachedMeasure, Catalogue
from xinyong.subjects.models import Subject
from xinyong.subjects.related import ROLE_LABELS, RelatedPerson


@dataclass(frozen=True, slots=True)
class RelatedHit:
    """A role the person holds in an organisation that has a list entry in force."""

    person_id: int
    related_id: int
    role: str
    org_id: int
    org_name: str
    org_uscc: str | None
    org_kind: str
    entry: _Entry

    def company(self) -> dict[str, Any]:
        return {"id": self.org_id, "name": self.org_name, "uscc": self.org_uscc, "kind": self.org_kind}


_E = ListEntry.__table__


def _hits_statement(n: int) -> Any:
    person = aliased(Subject)
    org = aliased(Subject)
    rp = RelatedPerson.__table__
    on: Any = bindparam("on")
    return (
        select(
            person.id,
            rp.c.id,
            rp.c.role,
            org.id,
            org.name,
            org.uscc,
            org.kind,
            _E.c.id,
            *_ENTRY_COLS,
        )
        .select_from(person)
        .join(rp, rp.c.id_hash == person.resident_id_hash)
        .join(org, org.id == rp.c.subject_id)
        .join(_E, and_(_E.c.subject_id == rp.c.subject_id, in_force_clause(_E.c, on)))
        .where(
            person.id.in_([bindparam(f"v{i}") for i in range(n)]),
            rp.c.valid_from <= on,
            or_(rp.c.valid_to.is_(None), rp.c.valid_to > on),
        )
        .order_by(person.id, org.id, rp.c.role, _E.c.listed_on, _E.c.id)
    )


#: Built once, compiled once per dialect and number of persons, run on the driver's cursor (the check's hot path).
_HITS = Prepared(
    _hits_statement,
    lambda r: RelatedHit(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        _Entry(r[7], r[3], r[8], r[9], r[10], _iso(r[11]), _iso(r[12]), r[13], r[14], bool(r[15])),
    ),
)


def related_hits(session: Session, person_ids: Iterable[int], on: dt.date) -> dict[int, list[RelatedHit]]:
    """Per person subject: the roles held on ``on`` in organisations with an entry in force, each with the entry
    (one statement per chunk of persons)."""
    conn = session.connection()
    day: Any = on.isoformat() if conn.dialect.name == "sqlite" else on
    out: dict[int, list[RelatedHit]] = defaultdict(list)
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), IN_CHUNK):
        for hit in _HITS.rows(conn, ids[start : start + IN_CHUNK], on=day):
            out[hit.person_id].append(hit)
    return dict(out)


def related_measures(
    cat: Catalogue, hits: Sequence[RelatedHit], scenario: str
) -> list[tuple[CachedMeasure, list[RelatedHit]]]:
    """The measures that reach the person through ``hits``: triggered by the organisation's entry, extending to the
    role held, applying in ``scenario`` to that kind of organisation; each with the hits that trigger it."""
    found: dict[str, tuple[CachedMeasure, list[RelatedHit]]] = {}
    for hit in hits:
        lt = cat.list_types.get(hit.entry.list_type_id)
        if lt is None:
            continue
        for m in cat.by_list_type.get(lt.code, ()):
            if hit.role in m.extends_to and m.applies_in(scenario) and hit.org_kind in m.party_kinds:
                found.setdefault(m.code, (m, []))[1].append(hit)
    return sorted(found.values(), key=lambda h: (h[0].kind != MeasureKind.PUNISH, h[0].sort_order, h[0].code))


def related_reason(hit: RelatedHit, cat: Catalogue) -> dict[str, Any]:
    """Why the measure reaches the person: which company, which role, which entry."""
    e = hit.entry
    lt = cat.list_types.get(e.list_type_id)
    name = lt.name if lt else "名单"
    role = ROLE_LABELS.get(hit.role, hit.role)
    code = f"（统一社会信用代码 {hit.org_uscc}）" if hit.org_uscc else ""
    doc = f"（{e.decision_no}）" if e.decision_no else ""
    until = e.term_end or "移出名单之日（无固定期限）"
    return {
        "related_id": hit.related_id,
        "role": hit.role,
        "role_label": role,
        "company": hit.company(),
        "entry_id": e.id,
        "list_type": lt.code if lt else None,
        "list_name": name,
        "listed_on": e.listed_on,
        "term_end": e.term_end,
        "authority": e.authority,
        "objection": OBJECTION_MARKER if e.objected else None,
        "text": f"现任{hit.org_name}{code}{role}；该单位被{e.authority}列入「{name}」{doc}，列入日期 {e.listed_on}，"
        f"有效期至 {until}",
    }


def related_view(hit: RelatedHit, cat: Catalogue) -> dict[str, Any]:
    """An item's ``related`` list: the organisations through which the person is restricted."""
    lt = cat.list_types.get(hit.entry.list_type_id)
    return {
        "related_id": hit.related_id,
        "role": hit.role,
        "role_label": ROLE_LABELS.get(hit.role, hit.role),
        "company": hit.company(),
        "entry_id": hit.entry.id,
        "list_type": lt.code if lt else None,
        "list_name": lt.name if lt else None,
        "objection": OBJECTION_MARKER if hit.entry.objected else None,
    }


def merge_answers(
    measures: list[dict[str, Any]],
    chosen: Sequence[tuple[CachedMeasure, list[RelatedHit]]],
    cat: Catalogue,
    answer: Any,
) -> list[dict[str, Any]]:
    """The item's measures with the related-person ones: a measure already in the answer (the person's own entry
    triggers it too) gets the related reasons added; the others are added, built by ``answer(m)`` (the check's
    ``_measure_answer`` with no reason of its own). Every measure carries ``related_reasons`` and
    ``related_legal_basis`` (empty when none)."""
    by_code = {m["code"]: m for m in measures}
    for m in measures:
        m.setdefault("related_reasons", [])
        m.setdefault("related_legal_basis", [])
    for cm, hits in chosen:
        view = by_code.get(cm.code)
        if view is None:
            view = answer(cm)
            measures.append(view)
            by_code[cm.code] = view
        view["related_reasons"].extend(related_reason(h, cat) for h in hits)
        view["related_legal_basis"] = list(cm.related_basis)
    order = {code: m.sort_order for code, m in cat.by_code.items()}
    measures.sort(key=lambda v: (v["kind"] != MeasureKind.PUNISH, order.get(v["code"], 0), v["code"]))
    return measures


def related_conclusion(hits: Sequence[RelatedHit], measures: list[dict[str, Any]]) -> str:
    companies = sorted({h.org_name for h in hits})
    roles = "、".join(sorted({ROLE_LABELS.get(h.role, h.role) for h in hits}))
    punish = [m for m in measures if m["kind"] == MeasureKind.PUNISH and m.get("related_reasons")]
    return (
        f"该自然人现任 {'、'.join(companies)} 的{roles}，该单位有处于有效期内的失信名单记录；"
        f"依据备忘录延伸至其{roles}的惩戒措施 {len(punish)} 项（其中应当实施 "
        f"{sum(m['mandatory'] for m in punish)} 项）；请按各措施的法律依据实施并反馈"
    )
