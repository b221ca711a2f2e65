"""A record's stored fields mapped onto the catalog's publicity rules. Pure: no database.

Everything numeric (periods, thresholds, deadlines) comes from the :class:`PublicityRule` the caller got from
``catalog.service.publicity_rule``; this module only says which stored field feeds which rule argument, and
computes the SQL bounds that let ``records.queries`` filter public records in the database before re-checking
each one here with :func:`catalog.rules.publicity_status`.

Severity: the 双公示 data standard has no severity column. A department may send one (key ``severity`` or
``失信严重程度`` in the row's ``data`` or ``extra``), matched against the catalog's window keys and labels
(``serious`` / ``严重失信行为`` / ``严重``); without one, or with a value the catalog does not know, the record is
a general dishonest act (the shorter window) and an unknown value is flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Any

from xinyong.catalog.rules import (
    Deadline,
    PartyKind,
    PublicAttribute,
    PublicityRule,
    Verdict,
    is_never_published,
    parse_party_kind,
    publicity_status,
    publicity_window,
)
from xinyong.core.errors import ValidationFailed
from xinyong.records.inputs import RecordKind

#: Catalog class of each 双公示 record kind (catalog.yaml ``licence`` / ``penalty``). Every record's ``kind`` is its
#: catalog class's code: the other classes' (issue #18) are ``catalog.fields.record_kinds()``.
CLASS_CODES = {RecordKind.LICENCE: "licence", RecordKind.PENALTY: "penalty"}
DEFAULT_SEVERITY = "general"
SEVERITY_KEYS = ("severity", "失信严重程度")
#: Enumerating subsets of a never-published type list for SQL stops here (2^n strings); beyond, Python decides.
MAX_SUBSET_TYPES = 10

STATUS_PUBLIC = "public"
STATUS_WITHDRAWN = "withdrawn"
STATUS_EXPIRED = "expired"
STATUS_NOT_PUBLIC = "not_public"  # never published, not public for this party kind, or not yet started
STATUSES = (STATUS_PUBLIC, STATUS_WITHDRAWN, STATUS_EXPIRED, STATUS_NOT_PUBLIC)
#: The statuses as people read them (CLI text, pages); JSON keeps the codes.
STATUS_LABELS = {
    STATUS_PUBLIC: "公示中",
    STATUS_WITHDRAWN: "已撤销",
    STATUS_EXPIRED: "公示期满",
    STATUS_NOT_PUBLIC: "不公示",
}


@dataclass(frozen=True)
class RecordFacts:
    """The stored inputs of a record's publicity (see :func:`facts_of`)."""

    kind: str
    party_kind: str
    decision_date: dt.date
    severity: str = DEFAULT_SEVERITY
    penalty_types: tuple[str, ...] = ()
    fine_yuan: Decimal | None = None
    licence_valid_to: dt.date | None = None
    ended_on: dt.date | None = None  # early end (credit repair)
    withdrawn_on: dt.date | None = None  # local date of the withdrawal: not public from that day on
    domain: str | None = None  # the record's 领域: a publicity exception of the catalog may apply (issue #18.5)
    department_id: int | None = None  # the owning department: an exception may name it (issue #18.5)

    @property
    def stops_on(self) -> dt.date | None:
        """First day off the public view for a reason outside the catalog (withdrawal or early end)."""
        days = [d for d in (self.ended_on, self.withdrawn_on) if d is not None]
        return min(days) if days else None


def facts_of(record: Any, *, local_date: Callable[[dt.datetime], dt.date]) -> RecordFacts:
    """The facts of a ``CreditRecord``-like object; ``local_date`` turns the withdrawal timestamp into a date."""
    return RecordFacts(
        kind=record.kind,
        party_kind=record.party_kind,
        decision_date=record.decision_date,
        severity=record.severity or DEFAULT_SEVERITY,
        penalty_types=tuple(record.penalty_types or ()),
        fine_yuan=record.fine_yuan,
        licence_valid_to=record.licence_valid_to,
        ended_on=record.ended_on,
        withdrawn_on=local_date(record.withdrawn_at) if record.withdrawn_at is not None else None,
        domain=getattr(record, "domain", None),
        department_id=getattr(record, "department_id", None),
    )


def repaired(kind: str, ended_on: dt.date | None, day: dt.date) -> bool:
    """Whether a record is *repaired* on ``day``: a penalty whose publicity credit repair ended early (``ended_on``,
    set by ``cases.repair``) on or before that day. The one rule the government file and the record-triggered
    measures both apply (a licence's ``ended_on`` is its early end, not a repair)."""
    return kind == RecordKind.PENALTY and ended_on is not None and ended_on <= day


def types_key(types: Iterable[str]) -> str:
    """``|罚款|警告|`` — sorted, stripped, de-duplicated; ``""`` for none. Stored, and compared in SQL."""
    clean = sorted({t.strip() for t in types if t and t.strip()})
    return "|" + "|".join(clean) + "|" if clean else ""


def normalise_types(types: Iterable[str]) -> list[str]:
    return sorted({t.strip() for t in types if t and t.strip()})


def severity_of(rule: PublicityRule, data: dict[str, Any], extra: dict[str, Any]) -> tuple[str, str | None]:
    """``(severity key, problem)`` from the row's ``severity`` / ``失信严重程度`` value, matched to the catalog's
    windows by key or label (``严重`` matches ``严重失信行为``). ``problem`` is set when a value was given but not
    understood (the record then gets the default window)."""
    windows = rule.publicity.windows
    default = DEFAULT_SEVERITY if DEFAULT_SEVERITY in windows or not windows else next(iter(windows))
    raw = next(
        (str(src[k]).strip() for src in (data, extra) for k in SEVERITY_KEYS if src.get(k) not in (None, "")), ""
    )
    if not raw:
        return default, None
    for key, window in windows.items():
        label = window.label or ""
        if raw.lower() == key or raw == label or (label and len(raw) >= 2 and label.startswith(raw)):
            return key, None
    return default, f"无法识别的失信严重程度「{raw[:40]}」，按{default}处理"


def status(rule: PublicityRule, facts: RecordFacts, today: dt.date) -> Verdict:
    """Whether the record is public on ``today``, with the reason (:func:`catalog.rules.publicity_status`).

    Invalid stored data (a validity end before the decision, a severity the catalog no longer has) makes the
    record not public, with the catalog's message as the reason: never public by accident.
    """
    if facts.withdrawn_on is not None and today >= facts.withdrawn_on:
        return Verdict(False, f"已于 {facts.withdrawn_on} 撤回")
    rule = rule.for_record(
        facts.domain, facts.department_id
    )  # 法律、法规另有规定的从其规定 (the catalog's publicity exceptions)
    penalty = facts.kind == RecordKind.PENALTY
    try:
        return publicity_status(
            rule,
            today=today,
            decision_date=facts.decision_date,
            party_kind=facts.party_kind,
            severity=facts.severity if rule.publicity.mode == "fixed_period" else None,
            validity_end=facts.licence_valid_to if rule.publicity.mode == "while_valid" else None,
            ended_on=facts.stops_on,
            penalty_types=list(facts.penalty_types) if penalty else None,
            fine_yuan=facts.fine_yuan if penalty else None,
        )
    except ValidationFailed as exc:
        return Verdict(False, exc.message)


def status_label(rule: PublicityRule, facts: RecordFacts, today: dt.date) -> tuple[str, str]:
    """``(label, reason)``: ``public``; ``withdrawn``; ``not_public`` (never published, or not public for this
    party kind, or not started yet); ``expired`` (window over, or ended early by repair)."""
    verdict = status(rule, facts, today)
    if verdict.value:
        return STATUS_PUBLIC, verdict.reason
    rule = rule.for_record(facts.domain, facts.department_id)
    if facts.withdrawn_on is not None and today >= facts.withdrawn_on:
        return STATUS_WITHDRAWN, verdict.reason
    if not party_kind_public(rule, facts.party_kind) or (
        facts.kind == RecordKind.PENALTY
        and is_never_published(
            rule, penalty_types=list(facts.penalty_types), fine_yuan=facts.fine_yuan, party_kind=facts.party_kind
        ).value
    ):
        return STATUS_NOT_PUBLIC, verdict.reason
    if facts.ended_on is not None and today >= facts.ended_on:
        return STATUS_EXPIRED, verdict.reason
    end = window_end(rule, facts)
    if end is not None and today > end:
        return STATUS_EXPIRED, verdict.reason
    return STATUS_NOT_PUBLIC, verdict.reason


def window_end(rule: PublicityRule, facts: RecordFacts) -> dt.date | None:
    """Last day of the record's publicity window by the catalog (``None``: open-ended or invalid data)."""
    rule = rule.for_record(facts.domain, facts.department_id)
    try:
        return publicity_window(
            rule,
            decision_date=facts.decision_date,
            severity=facts.severity if rule.publicity.mode == "fixed_period" else None,
            validity_end=facts.licence_valid_to if rule.publicity.mode == "while_valid" else None,
        ).end_max
    except ValidationFailed:
        return None


def party_kind_public(rule: PublicityRule, party_kind: str) -> bool:
    """Whether records of this party kind may be public at all under the class's attributes."""
    if rule.public_attribute is not PublicAttribute.PUBLIC:
        return False
    if parse_party_kind(party_kind) is PartyKind.NATURAL_PERSON:
        return rule.natural_person_attribute is PublicAttribute.PUBLIC
    return True


def earliest_public_decision(rule: PublicityRule, severity: str, today: dt.date) -> dt.date:
    """The earliest decision date whose fixed window still covers ``today`` (``end_max >= today``).

    ``end_max`` grows with the decision date (month ends clamp, never go back), so the bound is exact: a record of
    this severity decided on or after it, and not after ``today``, is inside its window on ``today``.
    """

    def end(d: dt.date) -> dt.date:
        found = publicity_window(rule, decision_date=d, severity=severity).end_max
        assert found is not None  # fixed windows always have a maximum
        return found

    guess = today - (end(today) - today)
    while end(guess) < today:
        guess += dt.timedelta(days=1)
    while end(guess - dt.timedelta(days=1)) >= today:
        guess -= dt.timedelta(days=1)
    return guess


@dataclass(frozen=True)
class NeverPublished:
    """One never-published condition in SQL-ready form: the party kinds it concerns (``None``: all), the type keys
    that match, and the fine limit (``None``: no fine condition)."""

    party_kind: str | None
    keys: tuple[str, ...]
    fine_max_yuan: int | None


def never_published_sql_terms(rule: PublicityRule) -> list[NeverPublished] | None:
    """The class's never-published conditions as type-key sets; ``None`` when a list is too long to enumerate
    (the caller then leaves that test to Python)."""
    terms: list[NeverPublished] = []
    for cond in rule.publicity.not_published:
        if cond.penalty_types_only is not None:
            allowed = sorted(set(cond.penalty_types_only))
            if len(allowed) > MAX_SUBSET_TYPES:
                return None
            keys = tuple(types_key(c) for n in range(1, len(allowed) + 1) for c in combinations(allowed, n))
            terms.append(NeverPublished(None, keys, None))
            continue
        assert cond.fine_max_yuan is not None
        others = sorted(set(cond.with_types) - {cond.fine_type})
        if len(others) > MAX_SUBSET_TYPES:
            return None
        keys = tuple(types_key((cond.fine_type, *c)) for n in range(len(others) + 1) for c in combinations(others, n))
        for kind, limit in cond.fine_max_yuan.items():
            terms.append(NeverPublished(kind.value, keys, limit))
    return terms


def timeliness(
    deadline: Deadline | None,
    *,
    decision_date: dt.date,
    received_on: dt.date,
    workdays_between: Callable[[dt.date, dt.date], int],
) -> tuple[int, bool]:
    """``(working days from decision to receipt, late)``; late when over the catalog's timeliness limit.

    ``workdays_between`` is ``core.workdays.workdays_between`` (the decision day does not count, the day of
    receipt does). A calendar-day limit compares calendar days.
    """
    between = workdays_between(decision_date, received_on)
    if deadline is None:
        return between, False
    if deadline.unit == "workday":
        return between, between > deadline.days
    return between, (received_on - decision_date).days > deadline.days
