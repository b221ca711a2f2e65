"""The state machines of the due-process workflows. Pure: no database.

Each kind of case (objection, repair, complaint) is a :class:`Flow`: its states (open or closed, with Chinese
labels) and its transitions. A :class:`Transition` names the states it may leave from, the state it leads to,
who may take it (``handler`` = an operator of the handling department; ``applicant`` = the person who filed,
holding the case's access token; ``office`` = the platform admin / city credit office, who may always act), and
which time limit starts in the new state (``deadline`` key, resolved by ``cases.service`` from the catalog or
the cases settings). A transition whose ``outcomes`` is not empty requires one of them (e.g. an objection's
decision: upheld, partly upheld, rejected).

``service.transition`` is the only code that moves a case; it asks :func:`Flow.transition` whether a move is
allowed here, then does the who-may check, the reason, the optimistic-concurrency update, the history, the
audit event, the next deadline, the side effects and the notifications. Diagrams: ``docs/due-process.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from xinyong.core.errors import Conflict, NotFound, ValidationFailed


class CaseKind(StrEnum):
    OBJECTION = "objection"  # 异议
    REPAIR = "repair"  # 信用修复
    COMPLAINT = "complaint"  # 举报


class CaseState(StrEnum):
    """The states of the three flows (which are open, and how a case moves: the flows below)."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    DECIDED = "decided"  # objection
    WITHDRAWN = "withdrawn"  # objection, repair
    APPROVED = "approved"  # repair
    REFUSED = "refused"  # repair
    REVOKED = "revoked"  # repair
    INVESTIGATING = "investigating"  # complaint
    CONCLUDED = "concluded"  # complaint


class Action(StrEnum):
    """The transitions' names: what a handler, an applicant or the office does to a case."""

    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    DECIDE = "decide"
    WITHDRAW = "withdraw"
    APPROVE = "approve"
    REFUSE = "refuse"
    REVOKE = "revoke"
    ROUTE = "route"
    CONCLUDE = "conclude"


class Outcome(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    REJECTED = "rejected"
    SUBSTANTIATED = "substantiated"
    PARTLY_SUBSTANTIATED = "partly_substantiated"
    UNSUBSTANTIATED = "unsubstantiated"


class Actor(StrEnum):
    """Who may take a transition."""

    HANDLER = "handler"
    APPLICANT = "applicant"
    OFFICE = "office"


HANDLER, APPLICANT, OFFICE = Actor.HANDLER, Actor.APPLICANT, Actor.OFFICE


@dataclass(frozen=True)
class State:
    name: str
    label: str
    open: bool = True


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: tuple[str, ...]
    target: str
    who: tuple[str, ...]
    deadline: str | None = None  # time limit that starts in the target state
    outcomes: tuple[str, ...] = ()  # allowed outcomes (one required) when not empty
    reason_required: bool = True


@dataclass(frozen=True)
class Flow:
    kind: str
    label: str
    initial: str
    initial_deadline: str
    states: dict[str, State]
    transitions: dict[str, Transition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in self.transitions.values():
            assert t.target in self.states and all(s in self.states for s in t.sources), t.name
        assert self.initial in self.states

    def is_open(self, state: str) -> bool:
        return self.states[state].open

    @property
    def open_states(self) -> tuple[str, ...]:
        return tuple(s for s, st in self.states.items() if st.open)

    def available(self, state: str) -> list[Transition]:
        """The transitions that may leave ``state`` (for the UI's buttons and the API's case view)."""
        return [t for t in self.transitions.values() if state in t.sources]

    def transition(self, name: str, state: str, outcome: str | None = None) -> Transition:
        """The transition ``name`` from ``state``, or a clear error: unknown action (404), out of order (409),
        missing or wrong outcome (422)."""
        t = self.transitions.get(name)
        if t is None:
            raise NotFound(
                f"{self.label}没有「{name}」这一操作（可用：{'、'.join(self.transitions)}）",
                code="unknown_action",
                details={"kind": self.kind, "actions": list(self.transitions)},
            )
        if state not in t.sources:
            allowed = [x.name for x in self.available(state)]
            raise Conflict(
                f"{self.label}当前状态为「{self.states[state].label}」，不能执行「{t.label}」",
                code="invalid_transition",
                details={"state": state, "action": name, "allowed": allowed},
            )
        if t.outcomes and outcome not in t.outcomes:
            raise ValidationFailed(
                f"「{t.label}」须指明结果：{' / '.join(t.outcomes)}",
                code="outcome_required",
                details={"outcomes": list(t.outcomes)},
            )
        if not t.outcomes and outcome is not None:
            raise ValidationFailed(f"「{t.label}」不接受结果参数", code="outcome_not_allowed")
        return t


def _states(*items: tuple[CaseState, str, bool]) -> dict[str, State]:
    return {name: State(name, label, is_open) for name, label, is_open in items}


def _transitions(*items: Transition) -> dict[str, Transition]:
    return {t.name: t for t in items}


S = CaseState
# What objections and repairs share: filed, accepted or not, withdrawn by the applicant while open.
_SUBMITTED = (S.SUBMITTED, "已提交（待受理）", True)
_NOT_ACCEPTED = (S.NOT_ACCEPTED, "不予受理", False)
_WITHDRAWN = (S.WITHDRAWN, "已撤回", False)
_NOT_ACCEPT = Transition(Action.NOT_ACCEPT, "不予受理", (S.SUBMITTED,), S.NOT_ACCEPTED, (HANDLER,))
_WITHDRAW = Transition(Action.WITHDRAW, "撤回申请", (S.SUBMITTED, S.ACCEPTED), S.WITHDRAWN, (APPLICANT,))


def _accept(target: CaseState) -> Transition:
    return Transition(
        Action.ACCEPT, "受理", (S.SUBMITTED,), target, (HANDLER,), deadline="decide", reason_required=False
    )


OBJECTION = Flow(
    kind=CaseKind.OBJECTION,
    label="异议",
    initial=S.SUBMITTED,
    initial_deadline="accept",
    states=_states(
        _SUBMITTED, (S.ACCEPTED, "已受理（核查中）", True), _NOT_ACCEPTED, (S.DECIDED, "已办结", False), _WITHDRAWN
    ),
    transitions=_transitions(
        _accept(S.ACCEPTED),
        _NOT_ACCEPT,
        Transition(
            Action.DECIDE,
            "作出核查决定",
            (S.ACCEPTED,),
            S.DECIDED,
            (HANDLER,),
            outcomes=(Outcome.UPHELD, Outcome.PARTLY_UPHELD, Outcome.REJECTED),
        ),
        _WITHDRAW,
    ),
)

REPAIR = Flow(
    kind=CaseKind.REPAIR,
    label="信用修复申请",
    initial=S.SUBMITTED,
    initial_deadline="accept",
    states=_states(
        _SUBMITTED,
        (S.ACCEPTED, "已受理（审核中）", True),
        _NOT_ACCEPTED,
        (S.APPROVED, "准予修复", False),
        (S.REFUSED, "不予修复", False),
        (S.REVOKED, "已撤销修复", False),
        _WITHDRAWN,
    ),
    transitions=_transitions(
        _accept(S.ACCEPTED),
        _NOT_ACCEPT,
        Transition(Action.APPROVE, "准予修复", (S.ACCEPTED,), S.APPROVED, (HANDLER,)),
        Transition(Action.REFUSE, "不予修复", (S.ACCEPTED,), S.REFUSED, (HANDLER,)),
        Transition(Action.REVOKE, "撤销修复（提供虚假材料、违背承诺）", (S.APPROVED,), S.REVOKED, (HANDLER,)),
        _WITHDRAW,
    ),
)

COMPLAINT = Flow(
    kind=CaseKind.COMPLAINT,
    label="举报",
    initial=S.SUBMITTED,
    initial_deadline="accept",
    states=_states(
        _SUBMITTED,
        (S.INVESTIGATING, "已受理（调查中）", True),
        _NOT_ACCEPTED,
        (S.CONCLUDED, "已办结", False),
    ),
    transitions=_transitions(
        Transition(Action.ROUTE, "转交主管部门", (S.SUBMITTED,), S.SUBMITTED, (OFFICE, HANDLER), deadline="accept"),
        _accept(S.INVESTIGATING),
        _NOT_ACCEPT,
        Transition(
            Action.CONCLUDE,
            "办结",
            (S.INVESTIGATING,),
            S.CONCLUDED,
            (HANDLER,),
            outcomes=(Outcome.SUBSTANTIATED, Outcome.PARTLY_SUBSTANTIATED, Outcome.UNSUBSTANTIATED),
        ),
    ),
)

FLOWS: dict[str, Flow] = {f.kind: f for f in (OBJECTION, REPAIR, COMPLAINT)}

OUTCOME_LABELS: dict[str, str] = {
    Outcome.UPHELD: "异议成立",
    Outcome.PARTLY_UPHELD: "异议部分成立",
    Outcome.REJECTED: "异议不成立",
    Outcome.SUBSTANTIATED: "举报属实",
    Outcome.PARTLY_SUBSTANTIATED: "举报部分属实",
    Outcome.UNSUBSTANTIATED: "举报不属实",
}


def flow_for(kind: str) -> Flow:
    try:
        return FLOWS[kind]
    except KeyError:
        raise ValidationFailed(
            f"未知的案件类别 {kind!r}（objection / repair / complaint）", code="unknown_case_kind"
        ) from None
