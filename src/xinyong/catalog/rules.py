"""Publicity rules of the credit information catalog: the data model and the arithmetic. Pure: no database.

Every publicity period, threshold and deadline of the platform lives in the catalog (``catalog/data/catalog.yaml``,
then the ``catalog_classes`` table, editable by the platform admin). Other domains never hard-code one: they get a
:class:`PublicityRule` from ``catalog.service.publicity_rule(session, code)`` and call the functions here:

- :func:`publicity_window` — when a record is public: ``(start, end_min, end_max)``;
- :func:`is_never_published` — penalties that are never published (only 警告/通报批评, small fines);
- :func:`publicity_status` — is a record visible to the public on a day, and why (not);
- :func:`earliest_early_end` — first day credit repair may end the publicity early;
- :func:`due_date` — the timeliness (7 working days) and withdrawal (3 days) deadlines.

Period arithmetic follows 《民法典》 Art. 201 and 203: the start day is not counted, a period of months ends on
the corresponding day of the last month, or on that month's last day when it has no such day. All end dates
returned here are therefore *inclusive* last days: a penalty decided 2024-01-31 with a 3-month minimum has its
minimum last on 2024-04-30 and is public up to and including ``end_max``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xinyong.core.errors import ValidationFailed


class PublicAttribute(StrEnum):
    """公开属性 of an information class, from most to least open."""

    PUBLIC = "public"  # 社会公开
    CONDITIONAL = "conditional"  # 授权查询 (the subject's authorisation, or a legal ground, per query)
    SHARED = "shared"  # 政务共享 only (departments, never the public)
    RESTRICTED = "restricted"  # 不予共享公开 (kept for the owning department)


PUBLIC_ATTRIBUTE_LABELS = {
    PublicAttribute.PUBLIC: "社会公开",
    PublicAttribute.CONDITIONAL: "授权查询",
    PublicAttribute.SHARED: "政务共享",
    PublicAttribute.RESTRICTED: "不予公开",
}

#: Openness rank: higher is more open. A natural person's attribute may never be more open than the class's.
OPENNESS = {
    PublicAttribute.RESTRICTED: 0,
    PublicAttribute.SHARED: 1,
    PublicAttribute.CONDITIONAL: 2,
    PublicAttribute.PUBLIC: 3,
}


class PartyKind(StrEnum):
    """行政相对人类别; also the kind of a credit subject (``subjects.models.SubjectKind`` is this enum)."""

    LEGAL_PERSON = "legal_person"  # 法人及非法人组织
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    NATURAL_PERSON = "natural_person"  # 自然人


#: The kinds as plain strings (CHECK constraints, spec files and queries that compare text).
PARTY_KINDS: tuple[str, ...] = tuple(k.value for k in PartyKind)


#: Keyed by the kind's value (a ``PartyKind`` member is that string), so a stored kind looks its label up directly.
PARTY_KIND_LABELS: dict[str, str] = {
    PartyKind.LEGAL_PERSON: "法人及非法人组织",
    PartyKind.INDIVIDUAL_BUSINESS: "个体工商户",
    PartyKind.NATURAL_PERSON: "自然人",
}


def parse_party_kind(value: str | PartyKind) -> PartyKind:
    """Accept the code value or the Chinese label of the data standard (行政相对人类别)."""
    if isinstance(value, PartyKind):
        return value
    text = str(value).strip()
    for kind in PartyKind:
        if text in (kind.value, PARTY_KIND_LABELS[kind]):
            return kind
    raise ValidationFailed(
        f"未知的行政相对人类别：{value!r}（应为 法人及非法人组织 / 个体工商户 / 自然人）",
        code="unknown_party_kind",
        details={"value": str(value)},
    )


#: How sure we are of a number: ``verified`` against the official text; ``unverified`` = standards.md says
#: "unverified: keep configurable"; ``low`` = recalled, low confidence. Operators should check the latter two.
Confidence = Literal["verified", "unverified", "low"]


class _Part(BaseModel):
    """A piece of rule data that can carry its own note and confidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str | None = None
    confidence: Confidence | None = None


class Deadline(_Part):
    """A time limit: ``days`` working days (``unit: workday``) or calendar days (``unit: day``)."""

    days: int = Field(ge=0)
    unit: Literal["workday", "day"] = "workday"


class Window(_Part):
    """One publicity period, counted from the record's start date. Months or days, not mixed."""

    label: str | None = None  # e.g. 一般失信行为
    min_months: int | None = Field(default=None, ge=0)
    min_days: int | None = Field(default=None, ge=0)
    max_months: int | None = Field(default=None, ge=0)
    max_days: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Window:
        if self.min_months is not None and self.min_days is not None:
            raise ValueError("最短公示期只能按月或按日其一设置")
        if self.max_months is not None and self.max_days is not None:
            raise ValueError("最长公示期只能按月或按日其一设置")
        if self.max_months is None and self.max_days is None:
            raise ValueError("公示期必须设置最长期限（届满自动停止公示）")
        has_min = self.min_months is not None or self.min_days is not None
        if has_min and (self.min_months is None) != (self.max_months is None):
            raise ValueError("最短与最长公示期须使用同一单位（月或日）")
        if self.min_months is not None and self.max_months is not None and self.min_months > self.max_months:
            raise ValueError(f"最短公示期（{self.min_months} 个月）不得长于最长公示期（{self.max_months} 个月）")
        if self.min_days is not None and self.max_days is not None and self.min_days > self.max_days:
            raise ValueError(f"最短公示期（{self.min_days} 日）不得长于最长公示期（{self.max_days} 日）")
        return self


class NotPublishedCondition(_Part):
    """One condition under which a record is never published; exactly one of the condition fields is set.

    - ``penalty_types_only``: the decision's penalty types are all in this list (e.g. only 警告 / 通报批评);
    - ``fine_max_yuan``: the decision is a fine (``fine_type``), alone or with ``with_types``, of at most the
      amount given for the party kind (keys: ``legal_person`` / ``individual_business`` / ``natural_person``;
      a kind without a key is never exempted by this condition).
    """

    penalty_types_only: list[str] | None = None
    fine_max_yuan: dict[PartyKind, int] | None = None
    fine_type: str = "罚款"
    with_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_condition(self) -> NotPublishedCondition:
        given = [n for n in ("penalty_types_only", "fine_max_yuan") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("不予公示条件须且只能设置 penalty_types_only 或 fine_max_yuan 之一")
        if self.penalty_types_only is not None and not self.penalty_types_only:
            raise ValueError("penalty_types_only 不能为空列表")
        if self.fine_max_yuan is not None:
            if not self.fine_max_yuan:
                raise ValueError("fine_max_yuan 至少要为一类行政相对人设置金额")
            if any(v < 0 for v in self.fine_max_yuan.values()):
                raise ValueError("罚款金额上限不能为负数")
        return self


StartsFrom = Literal["decision_date", "listing_date", "validity_start", "record_date"]
STARTS_FROM_LABELS = {
    "decision_date": "决定日期",
    "listing_date": "列入日期",
    "validity_start": "有效期起始日",
    "record_date": "信息形成日期",
}


class PublicitySpec(_Part):
    """The ``publicity`` block of an information class.

    ``mode``:
    - ``fixed_period``: public from the start date for a window chosen by severity (``windows``), e.g.
      penalties (一般失信 3–12 months, 严重失信 12–36 months) or lists with a fixed term;
    - ``while_valid``: public from the start date to the record's validity end (licences: 有效期至), open-ended
      when the record has none;
    - ``indefinite``: public from the start date until the record is ended (removed, cancelled).
    """

    mode: Literal["fixed_period", "while_valid", "indefinite"]
    starts_from: StartsFrom = "decision_date"
    windows: dict[str, Window] = Field(default_factory=dict)
    not_published: list[NotPublishedCondition] = Field(default_factory=list)
    timeliness: Deadline | None = None  # from the decision to the platform (双公示: 7 working days)
    withdrawal: Deadline | None = None  # a revoked/changed decision leaves public view within this time

    @field_validator("windows")
    @classmethod
    def _severity_keys(cls, value: dict[str, Window]) -> dict[str, Window]:
        for key in value:
            if not key or not key.replace("_", "").isalnum() or not key.isascii() or key != key.lower():
                raise ValueError(f"公示期分档代码 {key!r} 须为小写字母、数字和下划线")
        return value

    @model_validator(mode="after")
    def _mode_fits(self) -> PublicitySpec:
        if self.mode == "fixed_period" and not self.windows:
            raise ValueError("fixed_period 模式必须设置至少一档公示期（windows）")
        if self.mode != "fixed_period" and self.windows:
            raise ValueError(f"{self.mode} 模式不使用 windows（公示期由记录的有效期或终止日期决定）")
        return self


class RepairSpec(_Part):
    """The ``repair`` block: whether and how credit repair (NDRC Order No. 58) applies to the class.

    ``mode``: ``end_publicity`` (终止公示行政处罚信息), ``remove_from_list`` (移出名单) or ``repair_other``
    (修复其他失信信息). ``min_months``: earliest point, counted from the start date; ``None`` means the publicity
    window's minimum (or at any time for classes without one).
    """

    repairable: bool
    mode: Literal["end_publicity", "remove_from_list", "repair_other"] | None = None
    min_months: int | None = Field(default=None, ge=0)
    requires_commitment: bool = False  # 信用承诺书 required
    accept: Deadline | None = None  # accept or reject the application
    decide: Deadline | None = None  # decide on an accepted application
    propagate: Deadline | None = None  # receivers of the data must update
    reapply_bar_months: int | None = Field(default=None, ge=0)  # after a refusal for false material

    @model_validator(mode="after")
    def _mode_when_repairable(self) -> RepairSpec:
        if self.repairable and self.mode is None:
            raise ValueError("可修复的信息类别必须指明修复方式（mode）")
        if not self.repairable and (self.mode is not None or self.min_months is not None):
            raise ValueError("不可修复的信息类别不应设置修复方式或修复期限")
        return self


class PublicityOverride(_Part):
    """法律、法规另有规定的从其规定 (issue #18.5): a publicity rule other than the class's for the records of some
    domains (the record's 领域, e.g. 守合同重信用 within 合同履行信息) or of some departments (by department code:
    the catalog's department kinds have no members, so the override names the local departments of the kind the
    law concerns). Each override cites its own legal basis. Kept in the class's ``params.publicity_overrides``
    (admin-editable like every catalog number); what it leaves unset is the class's."""

    domains: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)  # department codes (auth.models.Department.code)
    #: The departments' ids, filled by ``records.queries.rules`` when it reads the catalog (not catalog data).
    department_ids: tuple[int, ...] = ()
    public_attribute: PublicAttribute | None = None
    natural_person_attribute: PublicAttribute | None = None
    publicity: PublicitySpec | None = None
    legal_basis: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("legal_basis")
    @classmethod
    def _titled(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(not str(b.get("title") or "").strip() for b in value):
            raise ValueError("公示例外的每条法律依据须有标题（title）")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> PublicityOverride:
        if not self.domains and not self.departments:
            raise ValueError("公示例外须指明适用的领域（domains）或部门（departments）")
        if self.public_attribute is None and self.natural_person_attribute is None and self.publicity is None:
            raise ValueError("公示例外须改变公开属性或公示规则之一")
        return self


class PublicityRule(BaseModel):
    """Everything the other domains need to decide publicity for one information class.

    Built by ``catalog.service.publicity_rule`` from the stored class. ``public_attribute`` is an upper bound:
    a record may be more restricted (e.g. a commitment whose 公开类型 is 不可公开), never more open.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    public_attribute: PublicAttribute
    natural_person_attribute: PublicAttribute
    publicity: PublicitySpec
    repair: RepairSpec
    overrides: tuple[PublicityOverride, ...] = ()

    def for_domain(self, domain: str | None) -> PublicityRule:
        """The rule that applies to a record of ``domain``: the first override naming it, else the class's own."""
        return self.for_record(domain, None)

    def for_record(self, domain: str | None, department_id: int | None) -> PublicityRule:
        """The rule that applies to a record of ``domain`` submitted by ``department_id``: the first override naming
        the domain or the department, else the class's own."""
        if not self.overrides:
            return self
        for o in self.overrides:
            if (domain and domain in o.domains) or (department_id is not None and department_id in o.department_ids):
                return override_rule(self, o)
        return self


def override_rule(rule: PublicityRule, o: PublicityOverride) -> PublicityRule:
    """The class's rule with one override applied (the override's unset parts are the class's)."""
    return rule.model_copy(
        update={
            "public_attribute": o.public_attribute or rule.public_attribute,
            "natural_person_attribute": o.natural_person_attribute or rule.natural_person_attribute,
            "publicity": o.publicity or rule.publicity,
            "overrides": (),
        }
    )


# Arithmetic --------------------------------------------------------------------------------------------------


def add_months(start: dt.date, months: int) -> dt.date:
    """The corresponding day ``months`` later, or that month's last day when it has none (民法典 Art. 203).

    2024-01-31 + 1 → 2024-02-29; 2024-02-29 + 12 → 2025-02-28; 2023-11-30 + 3 → 2024-02-29.
    (``dateutil.relativedelta`` does the same; it is not a dependency of the project.)
    """
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


class PublicityWindow(NamedTuple):
    """``start``: first public day. ``end_min``: last day of the minimum period (``None``: no minimum).
    ``end_max``: last public day (``None``: open-ended). All inclusive."""

    start: dt.date
    end_min: dt.date | None
    end_max: dt.date | None


def _window_for(rule: PublicityRule, severity: str | None) -> Window:
    windows = rule.publicity.windows
    if severity is None:
        if len(windows) == 1:
            return next(iter(windows.values()))
        raise ValidationFailed(
            f"信息类别 {rule.code} 的公示期按失信程度分档，必须指明 severity（{' / '.join(windows)}）",
            code="severity_required",
            details={"class": rule.code, "severities": list(windows)},
        )
    try:
        return windows[severity]
    except KeyError:
        raise ValidationFailed(
            f"信息类别 {rule.code} 没有 {severity!r} 这一档公示期（可选：{' / '.join(windows)}）",
            code="unknown_severity",
            details={"class": rule.code, "severity": severity, "severities": list(windows)},
        ) from None


def _add(start: dt.date, months: int | None, days: int | None) -> dt.date | None:
    if months is not None:
        return add_months(start, months)
    if days is not None:
        return start + dt.timedelta(days=days)
    return None


def publicity_window(
    rule: PublicityRule, *, decision_date: dt.date, severity: str | None = None, validity_end: dt.date | None = None
) -> PublicityWindow:
    """When a record of this class is public, ignoring early ends (repair, revocation) and never-published rules.

    ``decision_date`` is the record's start date (决定日期, or the listing date for lists: see
    ``rule.publicity.starts_from``). ``severity`` picks the window of a ``fixed_period`` class (``general`` /
    ``serious`` for penalties); it may be omitted when the class has a single window and is ignored otherwise.
    ``validity_end`` is the record's last valid day (licences: 有效期至) for ``while_valid`` classes.

    Returns ``(start, end_min, end_max)``, inclusive dates; ``end_max`` is ``None`` when open-ended.
    """
    spec = rule.publicity
    if spec.mode == "fixed_period":
        window = _window_for(rule, severity)
        return PublicityWindow(
            decision_date,
            _add(decision_date, window.min_months, window.min_days),
            _add(decision_date, window.max_months, window.max_days),
        )
    if spec.mode == "while_valid":
        if validity_end is not None and validity_end < decision_date:
            raise ValidationFailed(
                f"有效期截止日 {validity_end} 早于起始日 {decision_date}",
                code="validity_before_start",
                details={"class": rule.code},
            )
        return PublicityWindow(decision_date, None, validity_end)
    return PublicityWindow(decision_date, None, None)


class Verdict(NamedTuple):
    """A yes/no answer with the reason a person can read (empty when there is nothing to explain)."""

    value: bool
    reason: str


def is_never_published(
    rule: PublicityRule, *, penalty_types: list[str], fine_yuan: Decimal | None, party_kind: str
) -> Verdict:
    """Whether a decision of this class is never published at all, by the class's ``not_published`` conditions.

    ``penalty_types``: the decision's 处罚类别 values, one per type (``["警告", "罚款"]``); ``fine_yuan``: the fine
    in **yuan** (the data standard reports 万元: multiply by 10,000), ``None`` when unknown or no fine;
    ``party_kind``: ``legal_person`` / ``individual_business`` / ``natural_person`` (or the Chinese label).
    An empty type list never matches: without types there is nothing to judge, so the record is published.

    Returns ``(True, reason)`` when a condition matches, else ``(False, reason)`` where ``reason`` explains a
    fine condition that could not be applied (unknown amount) or is empty.
    """
    kind = parse_party_kind(party_kind)
    types = {t.strip() for t in penalty_types if t and t.strip()}
    if not types:
        return Verdict(False, "")
    undecided = ""
    for cond in rule.publicity.not_published:
        if cond.penalty_types_only is not None:
            allowed = set(cond.penalty_types_only)
            if types <= allowed:
                return Verdict(True, f"处罚类别仅为{'、'.join(sorted(types))}，按目录规定不予公示")
            continue
        assert cond.fine_max_yuan is not None
        limit = cond.fine_max_yuan.get(kind)
        if limit is None or cond.fine_type not in types or not types <= {cond.fine_type, *cond.with_types}:
            continue
        if fine_yuan is None:
            undecided = (
                f"罚款金额未知，无法判断是否属于较低数额罚款（{PARTY_KIND_LABELS[kind]} ≤ {limit} 元），按公示处理"
            )
            continue
        if Decimal(fine_yuan) <= limit:
            return Verdict(
                True, f"{PARTY_KIND_LABELS[kind]}罚款 {fine_yuan} 元，不超过 {limit} 元的较低数额，按目录规定不予公示"
            )
    return Verdict(False, undecided)


def publicity_status(
    rule: PublicityRule,
    *,
    today: dt.date,
    decision_date: dt.date,
    party_kind: str,
    severity: str | None = None,
    validity_end: dt.date | None = None,
    ended_on: dt.date | None = None,
    penalty_types: list[str] | None = None,
    fine_yuan: Decimal | None = None,
) -> Verdict:
    """Whether a record is visible to the public on ``today``, with the reason.

    Checks in order: the class's public attribute (and the natural-person attribute for 自然人), the
    never-published conditions (when ``penalty_types`` is given), the window of :func:`publicity_window`, and
    ``ended_on`` — the first day the record is no longer public for a reason outside the catalog (credit repair
    approved, decision revoked and withdrawn, licence cancelled, removal from a list).
    """
    kind = parse_party_kind(party_kind)
    if rule.public_attribute is not PublicAttribute.PUBLIC:
        return Verdict(False, f"该类信息的公开属性为「{PUBLIC_ATTRIBUTE_LABELS[rule.public_attribute]}」，不向社会公开")
    if kind is PartyKind.NATURAL_PERSON and rule.natural_person_attribute is not PublicAttribute.PUBLIC:
        label = PUBLIC_ATTRIBUTE_LABELS[rule.natural_person_attribute]
        return Verdict(False, f"自然人的该类信息公开属性为「{label}」，仅在法律规定时向社会公开")
    if penalty_types is not None:
        never = is_never_published(rule, penalty_types=penalty_types, fine_yuan=fine_yuan, party_kind=kind)
        if never.value:
            return Verdict(False, never.reason)
    window = publicity_window(rule, decision_date=decision_date, severity=severity, validity_end=validity_end)
    if today < window.start:
        return Verdict(False, f"尚未开始公示（自 {window.start} 起）")
    if window.end_max is not None and today > window.end_max:
        return Verdict(False, f"公示期已于 {window.end_max} 届满")
    if ended_on is not None and today >= ended_on:
        return Verdict(False, f"已于 {ended_on} 终止公示")
    until = f"至 {window.end_max}" if window.end_max is not None else "（无固定截止日）"
    return Verdict(True, f"公示中：自 {window.start} {until}")


def earliest_early_end(rule: PublicityRule, *, decision_date: dt.date, severity: str | None = None) -> dt.date | None:
    """First day on which credit repair may end the record's publicity early; ``None`` if not repairable.

    That is the day after the minimum period (``repair.min_months`` when set, else the window minimum); with
    neither, the start date itself.
    """
    if not rule.repair.repairable:
        return None
    if rule.repair.min_months is not None:
        return add_months(decision_date, rule.repair.min_months) + dt.timedelta(days=1)
    if rule.publicity.mode == "fixed_period":
        end_min = publicity_window(rule, decision_date=decision_date, severity=severity).end_min
        if end_min is not None:
            return end_min + dt.timedelta(days=1)
    return decision_date


def due_date(deadline: Deadline, *, start: dt.date, workday_deadline: Callable[[dt.date, int], dt.date]) -> dt.date:
    """Last day of a time limit that runs from ``start`` (the start day itself is not counted).

    ``workday_deadline`` computes working-day limits; pass ``xinyong.core.workdays.deadline`` (statutory holidays
    and adjusted weekends). Calendar-day limits are ``start + days``. E.g. the 双公示 timeliness limit is
    ``due_date(rule.publicity.timeliness, start=decision_date, workday_deadline=workdays.deadline)``.
    """
    if deadline.unit == "workday":
        return workday_deadline(start, deadline.days)
    return start + dt.timedelta(days=deadline.days)


def describe_publicity(spec: PublicitySpec) -> str:
    """A one-line Chinese summary of a publicity block, for tables and the portal."""
    start = STARTS_FROM_LABELS[spec.starts_from]
    if spec.mode == "while_valid":
        text = f"自{start}起，有效期内公示"
    elif spec.mode == "indefinite":
        text = f"自{start}起公示，至移出或注销"
    else:
        parts = []
        for key, w in spec.windows.items():
            unit = "个月" if w.max_months is not None else "日"
            high = w.max_months if w.max_months is not None else w.max_days
            low = w.min_months if w.min_months is not None else w.min_days
            span = f"{low}–{high}{unit}" if low is not None else f"至多{high}{unit}"
            parts.append(f"{w.label or key} {span}")
        text = f"自{start}起：" + "；".join(parts)
    if spec.not_published:
        text += "（部分情形不予公示）"
    return text
