"""Start-up wiring: fill the interfaces through which a lower layer calls a higher one (``core.hooks``).

Called once by every entry point, before any service runs: the web app's factory (``web.app.create_app``), the
CLI's root (``cli._root``, so every command), the test fixtures (``tests/conftest.py``), the Alembic environment
and the benchmarks. Calling it again changes nothing. It imports no domain: each provider imports its module when
first used (those function-level imports are the point — the CLI wires at every start and must stay fast;
``tests/test_cli.py`` checks what ``xinyong --help`` imports).

What is wired (docs/architecture.md, "Layers"):

- ``core.hooks.sealer`` ← ``identifiers.vault.get_vault()``: ``core.db.Sealed`` columns.
- ``core.hooks.subject_events`` ← ``watches.service``: the outbox that ``lists``, ``cases`` and ``evaluation``
  write subject events to.
- ``core.hooks.open_objection_providers`` ← ``cases.service.open_objection_targets``: "异议处理中" on the
  records (``records``) and list entries (``lists``) under an open objection.
- ``core.hooks.repair_breach_handlers`` (``commitments.service.on_repair_commitment_broken``) ←
  ``cases.repair.revoke_on_broken_commitment``.
- ``core.hooks.case_kind_hooks`` ← ``cases.objections``, ``cases.repair``, ``cases.complaints``.
- ``core.hooks.subject_profile`` ← ``reports.profile.subject_profile`` (``xinyong subjects show``).
- ``core.hooks.audit_listeners`` and ``core.hooks.batch_listeners`` ← ``exchange.producers``: the feed for the
  provincial platform, written in the transaction of each change (docs/exchange.md).
- ``core.hooks.batch_listeners`` and ``core.hooks.audit_listeners`` ← ``professions.government``: a public body put
  on the 失信被执行人 list by a sync (or a single entry) is flagged to the credit office in the same transaction
  (docs/professions.md).
"""

from __future__ import annotations

from typing import Any

from xinyong.core import hooks


def _vault() -> Any:
    from xinyong.identifiers.vault import get_vault  # lazy: wired at every CLI start (see the module docstring)

    return get_vault()


def _watches() -> Any:
    from xinyong.watches import service  # lazy: wired at every CLI start

    return service


def _open_objections(session: Any, *, record_ids: list[int], entry_ids: list[int]) -> Any:
    from xinyong.cases.service import open_objection_targets  # lazy: wired at every CLI start

    return open_objection_targets(session, record_ids=record_ids, entry_ids=entry_ids)


def _revoke_repairs(session: Any, *, actor: Any, commitment: Any) -> None:
    from xinyong.cases.repair import revoke_on_broken_commitment  # lazy: wired at every CLI start

    revoke_on_broken_commitment(session, actor=actor, commitment=commitment)


def _objection_hooks() -> Any:
    from xinyong.cases import objections  # lazy: wired at every CLI start

    return objections


def _repair_hooks() -> Any:
    from xinyong.cases import repair  # lazy: wired at every CLI start

    return repair


def _complaint_hooks() -> Any:
    from xinyong.cases import complaints  # lazy: wired at every CLI start

    return complaints


def _subject_profile() -> Any:
    from xinyong.reports.profile import subject_profile  # lazy: wired at every CLI start

    return subject_profile


def _feed_from_audit(session: Any, event: Any) -> None:
    from xinyong.exchange.producers import on_audit_event  # lazy: wired at every CLI start

    on_audit_event(session, event)


def _feed_from_batch(session: Any, **kwargs: Any) -> None:
    from xinyong.exchange.producers import on_batch_written  # lazy: wired at every CLI start

    on_batch_written(session, **kwargs)


def _government_from_batch(session: Any, **kwargs: Any) -> None:
    from xinyong.professions.government import on_list_batch  # lazy: wired at every CLI start

    on_list_batch(session, **kwargs)


def _government_from_audit(session: Any, event: Any) -> None:
    if event.entity_type != "list_entry":  # cheap test first: every audit event passes here
        return
    from xinyong.professions.government import on_audit_event  # lazy: wired at every CLI start

    on_audit_event(session, event)


def wire() -> None:
    """Fill every slot and registry of ``core.hooks`` (idempotent)."""
    hooks.sealer.provide(_vault)
    hooks.subject_events.provide(_watches)
    hooks.provide_open_objections([_open_objections])
    if _revoke_repairs not in hooks.repair_breach_handlers:
        hooks.repair_breach_handlers.append(_revoke_repairs)
    hooks.case_kind_hooks.update(objection=_objection_hooks, repair=_repair_hooks, complaint=_complaint_hooks)
    hooks.subject_profile.provide(_subject_profile)
    if _feed_from_audit not in hooks.audit_listeners:
        hooks.audit_listeners.append(_feed_from_audit)
    if _feed_from_batch not in hooks.batch_listeners:
        hooks.batch_listeners.append(_feed_from_batch)
    if _government_from_batch not in hooks.batch_listeners:
        hooks.batch_listeners.append(_government_from_batch)
    if _government_from_audit not in hooks.audit_listeners:
        hooks.audit_listeners.append(_government_from_audit)
