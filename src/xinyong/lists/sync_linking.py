"""Linking external list entries to subjects (``match_status``), in bulk.

A clear code first (USCC, organisation code or registration number through the aliases, a clear resident ID through
its keyed hash: ``subjects.service.resolve_code_ids``); then a stored reviewer judgement for the party (``same``
links: ``judged``; ``not_same`` excludes that subject); then name matching (``lists.matching``): one candidate at
or above the threshold and no rival → ``matched`` with its evidence; otherwise ``pending`` with the candidates (the
review queue), or ``unmatched``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.core.db import IN_CHUNK
from xinyong.identifiers._text import compact
from xinyong.lists import matching
from xinyong.lists.models import ListEntry, MatchJudgement, MatchStatus
from xinyong.subjects.service import resolve_code_ids

CHUNK = IN_CHUNK  # keys per IN (...) look-up: below SQLite's bound-parameter limit


def party_key(*, name: str, kind: str | None, code: str | None, region_code: str | None) -> str:
    """How a judgement recognises a party in later syncs: kind, normalised name, (masked) code and region."""
    norm = matching.normalize_name(name, kind)
    return "|".join((kind or "", norm, compact(code) if code else "", region_code or ""))[:300]


def _entry_party_key(values: dict[str, Any]) -> str:
    return party_key(
        name=values["party_name"],
        kind=values.get("party_kind"),
        code=values.get("party_code"),
        region_code=values.get("region_code"),
    )


@dataclass(slots=True)
class Link:
    subject_id: int | None
    status: str
    score: float | None = None
    evidence: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] | None = None


def _resolve_codes(session: Session, codes: set[str]) -> dict[str, int]:
    """Clear codes -> subject id, in bulk (``subjects.service.resolve_code_ids``): USCC, resident ID (keyed hash),
    then aliases (org code, 注册号 …); the codes no subject has are left out."""
    return {code: sid for code, sid in resolve_code_ids(session, codes).items() if sid is not None}


def _judgements(session: Session, keys: set[str]) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        for key, sid, verdict in session.execute(
            select(MatchJudgement.party_key, MatchJudgement.subject_id, MatchJudgement.verdict).where(
                MatchJudgement.party_key.in_(ordered[start : start + CHUNK])
            )
        ):
            out.setdefault(key, []).append((sid, verdict))
    return out


def _known_link(values: dict[str, Any], subject_id: int | None, verdicts: list[tuple[int, str]]) -> Link | None:
    """The link a code (``subject_id`` found by it) or a reviewer's ``same`` verdict gives, if any."""
    if subject_id is not None:
        text = f"代码一致：{values.get('party_code')}（按代码关联）"
        return Link(subject_id, MatchStatus.CODE, 1.0, {"code": {"weight": 1.0, "text": text}})
    same = [sid for sid, v in verdicts if v == "same"]
    if same:
        evidence = {"judgement": {"weight": 1.0, "text": "复核人员已认定为同一主体"}}
        return Link(same[0], MatchStatus.JUDGED, None, evidence)
    return None


def _party(values: dict[str, Any]) -> matching.Party:
    return matching.Party(
        name=values["party_name"],
        kind=values.get("party_kind"),
        region_code=values.get("region_code"),
        code=values.get("party_code"),
        legal_rep=(values.get("data") or {}).get("legal_rep"),
    )


def link_entries(
    session: Session, items: list[dict[str, Any]], lookups: list[str | None], *, threshold: float
) -> list[Link]:
    """Link each entry (its column values) to a subject: code, then judgement, then name matching. Bulk."""
    by_code = _resolve_codes(session, {c for c in lookups if c})
    found = [by_code.get(code) if code else None for code in lookups]
    pkeys = [_entry_party_key(v) for v in items]
    judged = _judgements(session, {k for k, sid in zip(pkeys, found, strict=True) if sid is None})
    links: list[Link | None] = [
        _known_link(values, sid, judged.get(pkey, [])) for values, sid, pkey in zip(items, found, pkeys, strict=True)
    ]
    todo = [i for i, link in enumerate(links) if link is None]
    excludes = [{sid for sid, v in judged.get(pkeys[i], []) if v == "not_same"} for i in todo]
    results = matching.bulk_candidates(session, [_party(items[i]) for i in todo], threshold=threshold, exclude=excludes)
    for i, cands in zip(todo, results, strict=True):
        links[i] = _link_from(cands)
    return [link for link in links if link is not None]


def _link_from(cands: list[matching.Candidate]) -> Link:
    if not cands:
        return Link(None, MatchStatus.UNMATCHED)
    best = cands[0]
    rivals = [c for c in cands[1:] if c.match]
    if best.match and not rivals:
        status = MatchStatus.CODE if best.evidence.get("code", {}).get("weight") == 1.0 else MatchStatus.MATCHED
        return Link(best.subject_id, status, best.score, best.evidence)
    return Link(None, MatchStatus.PENDING, best.score, None, [c.to_dict() for c in cands])


def stored_lookup(code: str | None) -> str | None:
    """A stored party code that can still be resolved as a code (never a masked number)."""
    if not code or "*" in code:
        return None
    return code


def entry_party_key(entry: ListEntry) -> str:
    return party_key(name=entry.party_name, kind=entry.party_kind, code=entry.party_code, region_code=entry.region_code)
