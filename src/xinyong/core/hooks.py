"""Interfaces a lower layer calls up through (docs/architecture.md, "Layers").

A domain never imports one above it (``lint-imports`` enforces the layers). Where it must reach one — a list
change notifies the watchers (``watches``), a record shows that an objection is open (``cases``), a sealed column
is encrypted with the vault (``identifiers``) — it calls a slot or a registry here, and the start-up wiring
(:func:`xinyong.wiring.wire`, called by the web app's factory, the CLI's root, the test fixtures and the
benchmarks) fills them explicitly. Nothing fills them as a side effect of an import, and a slot used before the
wiring ran fails loudly instead of doing nothing.

Light on purpose (no SQLAlchemy, no FastAPI): the CLI wires at every start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")


class NotWired(RuntimeError):
    """A slot was used before :func:`xinyong.wiring.wire` filled it."""


class Slot(Generic[T]):
    """One implementation of an interface, provided at start-up by a factory (called at each use, so the factory
    may import its module lazily: the CLI wires before it knows which command runs)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._factory: Callable[[], T] | None = None

    def provide(self, factory: Callable[[], T]) -> None:
        self._factory = factory

    @property
    def provided(self) -> bool:
        return self._factory is not None

    def __call__(self) -> T:
        if self._factory is None:
            raise NotWired(f"{self.name}: not wired — call xinyong.wiring.wire() at start-up")
        return self._factory()


# The vault (identifiers) for core.db.Sealed ----------------------------------------------------------------


class Sealer(Protocol):
    def encrypt(self, value: str, *, associated_data: str | None = None) -> str: ...

    def decrypt(self, token: str, *, associated_data: str | None = None) -> str: ...


#: ``identifiers.vault.get_vault``: encrypts the ``core.db.Sealed`` columns.
sealer: Slot[Sealer] = Slot("core.hooks.sealer")


# The watchers' outbox (watches) -----------------------------------------------------------------------------


class SubjectEvents(Protocol):
    """What ``lists``, ``cases`` and ``evaluation`` need of the watchers' transactional outbox
    (``watches.service``): an event about a subject, written in the caller's transaction."""

    def emit_subject_event(self, session: Session, *, subject_id: int, event: str, payload: dict[str, Any]) -> int: ...

    def watched_subjects(self, session: Session, subject_ids: Any, *, event: str) -> set[int]: ...

    def watched_among(self, session: Session, subject_ids: Iterable[int]) -> set[int]: ...


#: The ``watches.service`` module.
subject_events: Slot[SubjectEvents] = Slot("core.hooks.subject_events")


# Open objections (cases) ------------------------------------------------------------------------------------

#: How a record or a list entry under an open objection is marked wherever it is shown.
OBJECTION_MARKER = "异议处理中"

#: ``provider(session, *, record_ids=…, entry_ids=…) -> iterable of (target kind, id)``: the targets among the
#: given records (``"record"``) and list entries (``"list_entry"``) with an open objection. ``records`` and
#: ``lists`` ask every provider; ``cases`` provides one.
OpenObjectionProvider = Callable[..., Iterable[tuple[str, int]]]
open_objection_providers: list[OpenObjectionProvider] = []
_objections_wired = False


def provide_open_objections(providers: list[OpenObjectionProvider]) -> None:
    global _objections_wired
    open_objection_providers[:] = providers
    _objections_wired = True


def open_objection_targets(
    session: Session, *, record_ids: Iterable[int] = (), entry_ids: Iterable[int] = ()
) -> set[tuple[str, int]]:
    """The targets with an open objection, from every provider."""
    if not _objections_wired:
        raise NotWired("core.hooks.open_objection_providers: not wired — call xinyong.wiring.wire() at start-up")
    record_ids, entry_ids = list(record_ids), list(entry_ids)
    found: set[tuple[str, int]] = set()
    for provider in open_objection_providers:
        found.update(provider(session, record_ids=record_ids, entry_ids=entry_ids))
    return found


# A broken credit-repair commitment (commitments → cases) ------------------------------------------------------

#: ``handler(session, *, actor, commitment)``: called in the same transaction when a 信用修复型 commitment becomes
#: broken (``commitments.service``); ``cases.repair`` revokes the repairs in effect. ``commitments.service`` keeps
#: this list as ``_repair_breach_handlers``.
repair_breach_handlers: list[Callable[..., None]] = []


# Case kinds (cases.service → cases.objections / repair / complaints) ------------------------------------------

#: ``kind -> factory of the kind's hooks`` (``deadline_days``, ``before``, ``after``; ``cases.service.Hooks``).
case_kind_hooks: dict[str, Callable[[], Any]] = {}


# A subject's whole profile (subjects → records, lists, evaluation) ---------------------------------------------

#: ``reports.profile.subject_profile(session, subject, today, *, role)``: the records, list entries and
#: evaluations of a subject, for ``xinyong subjects show``.
subject_profile: Slot[Callable[..., dict[str, Any]]] = Slot("core.hooks.subject_profile")


# Feed producers (exchange) -----------------------------------------------------------------------------------

#: ``listener(session, event)``: called by ``core.audit.record`` after each event is appended, in the same
#: transaction (``exchange.producers`` turns the audit events of changes into feed messages). Empty until wired:
#: nothing is produced then.
audit_listeners: list[Callable[..., None]] = []

#: ``listener(session, *, entity_type, department_id, changes)``: a bulk write (``records.upsert``,
#: ``commitments.upsert``) reports its changed rows set-based — ``changes`` is a list of dicts with ``id``, ``op``
#: and op-specific fields — because its one audit event per batch does not name them.
batch_listeners: list[Callable[..., None]] = []


def batch_written(session: Session, *, entity_type: str, department_id: int, changes: list[dict[str, Any]]) -> None:
    """Tell every batch listener about the rows a bulk write changed (nothing when none is wired)."""
    if changes:
        for listener in batch_listeners:
            listener(session, entity_type=entity_type, department_id=department_id, changes=changes)
