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

from xinyong.core.errors import Conflict, NotFound, ValidationFailed

HANDLER = "handler"
APPLICANT = "applicant"
OFFICE = "office"


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


def _states(*items: tuple[str, str, bool]) -> dict[str, State]:
    return {name: State(name, label, is_open) for name, label, is_open in items}


OBJECTION = Flow(
    kind="objection",
    label="异议",
    initial="submitted",
    initial_deadline="accept",
    states=_states(
        ("submitted", "已提交（待受理）", True),
        ("accepted", "已受理（核查中）", True),
        ("not_accepted", "不予受理", False),
        ("decided", "已办结", False),
        ("withdrawn", "已撤回", False),
    ),
    transitions={
        "accept": Transition(
            "accept", "受理", ("submitted",), "accepted", (HANDLER,), deadline="decide", reason_required=False
        ),
        "not_accept": Transition("not_accept", "不予受理", ("submitted",), "not_accepted", (HANDLER,)),
        "decide": Transition(
            "decide",
            "作出核查决定",
            ("accepted",),
            "decided",
            (HANDLER,),
            outcomes=("upheld", "partly_upheld", "rejected"),
        ),
        "withdraw": Transition("withdraw", "撤回申请", ("submitted", "accepted"), "withdrawn", (APPLICANT,)),
    },
)

REPAIR = Flow(
    kind="repair",
    label="信用修复申请",
    initial="submitted",
    initial_deadline="accept",
    states=_states(
        ("submitted", "已提交（待受理）", True),
        ("accepted", "已受理（审核中）", True),
        ("not_accepted", "不予受理", False),
        ("approved", "准予修复", False),
        ("refused", "不予修复", False),
        ("revoked", "已撤销修复", False),
        ("withdrawn", "已撤回", False),
    ),
    transitions={
        "accept": Transition(
            "accept", "受理", ("submitted",), "accepted", (HANDLER,), deadline="decide", reason_required=False
        ),
        "not_accept": Transition("not_accept", "不予受理", ("submitted",), "not_accepted", (HANDLER,)),
        "approve": Transition("approve", "准予修复", ("accepted",), "approved", (HANDLER,)),
        "refuse": Transition("refuse", "不予修复", ("accepted",), "refused", (HANDLER,)),
        "revoke": Transition("revoke", "撤销修复（提供虚假材料、违背承诺）", ("approved",), "revoked", (HANDLER,)),
        "withdraw": Transition("withdraw", "撤回申请", ("submitted", "accepted"), "withdrawn", (APPLICANT,)),
    },
)

COMPLAINT = Flow(
    kind="complaint",
    label="举报",
    initial="submitted",
    initial_deadline="accept",
    states=_states(
        ("submitted", "已提交（待受理）", True),
        ("investigating", "已受理（调查中）", True),
        ("not_accepted", "不予受理", False),
        ("concluded", "已办结", False),
    ),
    transitions={
        "route": Transition("route", "转交主管部门", ("submitted",), "submitted", (OFFICE, HANDLER), deadline="accept"),
        "accept": Transition(
            "accept", "受理", ("submitted",), "investigating", (HANDLER,), deadline="decide", reason_required=False
        ),
        "not_accept": Transition("not_accept", "不予受理", ("submitted",), "not_accepted", (HANDLER,)),
        "conclude": Transition(
            "conclude",
            "办结",
            ("investigating",),
            "concluded",
            (HANDLER,),
            outcomes=("substantiated", "partly_substantiated", "unsubstantiated"),
        ),
    },
)

FLOWS: dict[str, Flow] = {f.kind: f for f in (OBJECTION, REPAIR, COMPLAINT)}

OUTCOME_LABELS = {
    "upheld": "异议成立",
    "partly_upheld": "异议部分成立",
    "rejected": "异议不成立",
    "substantiated": "举报属实",
    "partly_substantiated": "举报部分属实",
    "unsubstantiated": "举报不属实",
}


def flow_for(kind: str) -> Flow:
    try:
        return FLOWS[kind]
    except KeyError:
        raise ValidationFailed(
            f"未知的案件类别 {kind!r}（objection / repair / complaint）", code="unknown_case_kind"
        ) from None
