"""Measures triggered by credit records (issue #15 point 2): "参加政府采购活动前三年内，在经营活动中有无重大违法记录".

A measure's ``triggers.records`` block (``measures.spec.RecordTrigger``) becomes a :class:`RecordRule` in the
in-memory catalogue. For a check batch, :func:`trigger_records` reads (with the scenario's :class:`RecordPlan`) in one statement per chunk of subjects (no
query per subject) the records that might trigger any of the measures that apply in the scenario — the union of
their conditions, on the index ``ix_credit_records_subject_decision_date`` — and :func:`matches` then decides, per
rule, which of them do. Withdrawn records (a revoked or changed decision: ``withdrawn_at``) never count; a
corrected record counts by its current values (the version in force); a repaired record (credit repair ended its
publicity: ``ended_on`` on or before the check date) counts only where the rule says ``include_repaired``.
Publicity is not use: a penalty whose public window has ended still counts within the look-back (standards §8).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, false, or_, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.service import SOURCE_PROVINCE
from xinyong.catalog.fields import standards
from xinyong.catalog.rules import add_months
from xinyong.core.db import IN_CHUNK
from xinyong.measures._sql import Prepared
from xinyong.records import publicity
from xinyong.records.models import CreditRecord

FEN_PER_WAN = 1_000_000  # 1 万元 = 10,000 元 = 1,000,000 分
_CHUNK = IN_CHUNK
#: The catalog's penalty severity keys (catalog/data: windows of the penalty class), as the answer words them.
SEVERITY_LABELS = {"general": "一般失信行为", "serious": "严重失信行为"}


@dataclass(frozen=True, slots=True)
class RecordRule:
    """A measure's record trigger, as the check evaluates it (from ``measures.triggers.records``)."""

    kinds: frozenset[str]
    penalty_types: frozenset[str]
    min_fine_fen: int | None
    severities: frozenset[str]
    months: int
    include_repaired: bool
    legal_basis: tuple[dict[str, Any], ...]
    description: str
    in_effect: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RecordRule:
        fine = data.get("min_fine_wan")
        months = data.get("lookback_months") or 12 * int(data.get("lookback_years") or 0)
        rule = cls(
            kinds=frozenset(data.get("kinds") or ("penalty",)),
            penalty_types=frozenset(data.get("penalty_types") or ()),
            min_fine_fen=None if fine is None else int(Decimal(str(fine)) * FEN_PER_WAN),
            severities=frozenset(data.get("severities") or ()),
            months=int(months),
            include_repaired=bool(data.get("include_repaired")),
            legal_basis=tuple(data.get("legal_basis") or ()),
            description="",
            in_effect=bool(data.get("in_effect")),
        )
        return cls(**{**{f: getattr(rule, f) for f in cls.__slots__}, "description": describe(rule)})

    def since(self, on: dt.date) -> dt.date:
        """First decision date that counts on ``on``: the look-back counted from the check date, both ends included."""
        return _months_before(on, self.months)

    @property
    def has_criteria(self) -> bool:
        return bool(self.penalty_types or self.min_fine_fen is not None or self.severities)


@lru_cache(maxsize=256)
def _months_before(on: dt.date, months: int) -> dt.date:
    return add_months(on, -months)


def wan(fen: int | None) -> str | None:
    """A fine in fen as 万元 text without trailing zeros (``2500000`` → ``2.5``)."""
    if fen is None:
        return None
    return format((Decimal(fen) / FEN_PER_WAN).normalize(), "f")


def describe(rule: RecordRule) -> str:
    """The rule in words, for the answer's reasons and the catalogue."""
    span = f"{rule.months // 12}年" if rule.months % 12 == 0 else f"{rule.months}个月"
    kinds = "、".join(kind_label(k) for k in sorted(rule.kinds))
    parts = []
    if rule.penalty_types:
        parts.append("处罚类别为" + "、".join(sorted(rule.penalty_types)))
    if rule.min_fine_fen is not None:
        parts.append(f"罚款{wan(rule.min_fine_fen)}万元以上")
    if rule.severities:
        parts.append("失信程度为" + "、".join(SEVERITY_LABELS.get(s, s) for s in sorted(rule.severities)))
    cond = "（" + "，或".join(parts) + "）" if parts else ""
    effect = "，且核查日仍未终止（如欠税未缴清）" if rule.in_effect else ""
    return f"核查日前{span}内作出的{kinds}决定{cond}{effect}{'，含已信用修复的' if rule.include_repaired else ''}"


def kind_label(kind: str) -> str:
    """A record kind in words: 行政处罚, 行政许可, or the name of its information class."""
    label = {"penalty": "行政处罚", "licence": "行政许可"}.get(kind)
    if label is None:
        found = standards().get(kind)
        label = found.name_zh if found is not None else kind
    return label


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A credit record as the check shows it (decision date as a date; fine in fen)."""

    id: int
    subject_id: int
    kind: str
    doc_no: str
    authority: str
    decision_date: dt.date
    severity: str
    penalty_types: tuple[str, ...]
    fine_fen: int | None
    ended_on: dt.date | None
    #: Forwarded by the 省平台 (``Department.external``): another authority's decision, marked 来源：省平台.
    external: bool = False
    valid_to: dt.date | None = None  # the record's validity end (licences; a tax arrears' 缴清日期 …)

    def repaired_on(self, on: dt.date) -> bool:
        return publicity.repaired(self.kind, self.ended_on, on)


def matches(rule: RecordRule, rec: TriggerRecord, on: dt.date) -> bool:
    """Whether ``rec`` (not withdrawn: the query leaves those out) triggers ``rule`` on the check date ``on``."""
    if rec.kind not in rule.kinds or not (rule.since(on) <= rec.decision_date <= on):
        return False
    if not rule.include_repaired and rec.repaired_on(on):
        return False
    if rule.in_effect and rec.valid_to is not None and rec.valid_to < on:
        return False
    if not rule.has_criteria:
        return True
    return bool(
        (rule.penalty_types and rule.penalty_types.intersection(rec.penalty_types))
        or (rule.min_fine_fen is not None and rec.fine_fen is not None and rec.fine_fen >= rule.min_fine_fen)
        or (rule.severities and rec.severity in rule.severities)
    )


_R = CreditRecord.__table__


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _convert(r: tuple[Any, ...]) -> TriggerRecord:
    key = r[7] or ""
    return TriggerRecord(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        _date(r[5]),  # type: ignore[arg-type]  # a record's decision date is never null
        r[6],
        tuple(t for t in key.split("|") if t),
        r[8],
        _date(r[9]),
        bool(r[10]),
        _date(r[11]),
    )


@lru_cache(maxsize=64)
def _statement(
    kinds: tuple[str, ...],
    types: tuple[str, ...],
    fine: bool,
    severities: tuple[str, ...],
    any_record: bool,
    repaired: bool,
) -> Prepared:
    """The candidate records of a chunk of subjects for a set of rules: the union of their conditions (each rule
    is then applied by :func:`matches`). One statement per shape of the catalogue's rules, compiled once."""

    def build(n: int) -> Any:  # no IN over constants: an expanding parameter cannot run on the driver's cursor
        conds = [
            _R.c.subject_id.in_([bindparam(f"v{i}") for i in range(n)]),
            _R.c.decision_date >= bindparam("since"),
            _R.c.decision_date <= bindparam("on"),
            or_(*(_R.c.kind == k for k in kinds)),
            _R.c.withdrawn_at.is_(None),
        ]
        if not repaired:
            conds.append(or_(_R.c.ended_on.is_(None), _R.c.ended_on > bindparam("on")))
        if not any_record:
            crit = [_R.c.penalty_types_key.contains(f"|{t}|", autoescape=True) for t in types]
            if fine:
                crit.append(_R.c.fine_fen >= bindparam("min_fine"))
            crit += [_R.c.severity == s for s in severities]
            conds.append(or_(false(), *crit))
        return (
            select(
                _R.c.id,
                _R.c.subject_id,
                _R.c.kind,
                _R.c.doc_no,
                _R.c.authority,
                _R.c.decision_date,
                _R.c.severity,
                _R.c.penalty_types_key,
                _R.c.fine_fen,
                _R.c.ended_on,
                _R.c.department_id.in_(select(Department.id).where(Department.external.is_(True))),
                _R.c.licence_valid_to,
            )
            .where(and_(*conds))
            .order_by(_R.c.subject_id, _R.c.decision_date, _R.c.id)
        )  # the index's order

    return Prepared(build, _convert)


@dataclass(frozen=True)
class RecordPlan:
    """What the check needs to read records for a set of rules (the record-triggered measures of one scenario):
    the statement for the union of their conditions, the earliest look-back, the smallest fine, the party kinds.
    Built once per catalogue and scenario (``measures.service.Catalogue.record_plan``)."""

    rules: tuple[RecordRule, ...]
    statement: Prepared
    months: int
    min_fine_fen: int | None
    party_kinds: frozenset[str]

    @classmethod
    def build(cls, rules: Sequence[RecordRule], party_kinds: Iterable[str]) -> RecordPlan:
        fines = [r.min_fine_fen for r in rules if r.min_fine_fen is not None]
        stmt = _statement(
            tuple(sorted({k for r in rules for k in r.kinds})),
            tuple(sorted({t for r in rules for t in r.penalty_types})),
            bool(fines),
            tuple(sorted({s for r in rules for s in r.severities})),
            any(not r.has_criteria for r in rules),
            any(r.include_repaired for r in rules),
        )
        return cls(
            tuple(rules), stmt, max(r.months for r in rules), min(fines) if fines else None, frozenset(party_kinds)
        )


def trigger_records(
    session: Session, subject_ids: Iterable[int], plan: RecordPlan, on: dt.date
) -> dict[int, list[TriggerRecord]]:
    """Per subject, the records (not withdrawn) that may trigger one of the plan's rules on ``on``: one statement
    per chunk of 900 subjects, whatever the number of rules."""
    ids = sorted(set(subject_ids))
    if not ids or not plan.rules:
        return {}
    since = _months_before(on, plan.months)
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    params: dict[str, Any] = {"since": since.isoformat() if sqlite else since, "on": on.isoformat() if sqlite else on}
    if plan.min_fine_fen is not None:
        params["min_fine"] = plan.min_fine_fen
    out: dict[int, list[TriggerRecord]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        for rec in plan.statement.rows(conn, ids[start : start + _CHUNK], **params):
            out[rec.subject_id].append(rec)
    return dict(out)


def _decision(rec: TriggerRecord) -> dict[str, Any]:
    """The decision a triggering record states, as the answer shows it (``source``: 省平台 when forwarded)."""
    out = {
        "kind": rec.kind,
        "doc_no": rec.doc_no,
        "authority": rec.authority,
        "decision_date": rec.decision_date.isoformat(),
        "penalty_types": list(rec.penalty_types),
        "fine_wan": wan(rec.fine_fen),
    }
    if rec.external:
        out["source"] = SOURCE_PROVINCE
    return out


def record_view(rec: TriggerRecord, on: dt.date) -> dict[str, Any]:
    """A triggering record in the answer: decision number, authority, date, penalty types, fine (万元)."""
    return {
        "id": rec.id,
        **_decision(rec),
        "severity": rec.severity,
        "repaired": rec.repaired_on(on),
    }


def record_reason(rec: TriggerRecord, rule: RecordRule, on: dt.date) -> dict[str, Any]:
    kind = kind_label(rec.kind)
    what = "、".join(rec.penalty_types)
    fine = f"，罚款{wan(rec.fine_fen)}万元" if rec.fine_fen else ""
    repaired = "（已信用修复）" if rec.repaired_on(on) else ""
    return {
        "record_id": rec.id,
        **_decision(rec),
        "rule": rule.description,
        "text": f"{rec.authority}于{rec.decision_date.isoformat()}作出{kind}决定（{rec.doc_no}）"
        f"{'：' + what if what else ''}{fine}{repaired}{'（来源：省平台）' if rec.external else ''}；触发条件：{rule.description}",
    }
