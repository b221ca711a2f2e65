"""The background work, as plain functions: ``TASKS[name](db, **params) -> dict`` (a JSON-able report).

Each is one unit of work that may run again after a failure (a retried job): the daily ones are idempotent per day
(``record_transitions`` and ``announce_expirations`` record a day once, ``escalate_overdue`` escalates a case once),
the deliveries work from their outboxes with leases, the push is idempotent by sequence number. A task that could
not do its work raises :class:`JobFailed` so that the runner tries it again later.

``SCHEDULE`` is when the scheduler defers the periodic ones: cron expressions in **UTC** (procrastinate's periodic
tasks), chosen to fall shortly after midnight China time (16:05 UTC = 00:05 Asia/Shanghai), as the cron lines of
docs/operations.md did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from xinyong.auth.roles import system_principal
from xinyong.core import clock
from xinyong.core.db import Database


class JobFailed(RuntimeError):
    """The task could not do its work this time (the remote platform refused, a delivery round failed): retried."""


def _actor(name: str) -> Any:
    return system_principal(f"job:{name}")


def _day(params: dict[str, Any]) -> dt.date:
    on = params.get("date")
    return dt.date.fromisoformat(on) if on else clock.today()


def records_transitions(db: Database, **params: Any) -> dict[str, Any]:
    """Daily: the records that entered or left publicity (公示期届满) recorded for the audit trail and dashboards."""
    from xinyong.records import service

    today = _day(params)
    counts = db.run(lambda s: service.record_transitions(s, today=today, actor=_actor("records.transitions")))
    return dict(counts.to_dict())


def lists_daily(db: Database, **params: Any) -> dict[str, Any]:
    """Daily: list entries whose term ended announced to the watching systems."""
    from xinyong.lists import service

    day = _day(params)
    return dict(db.run(lambda s: service.announce_expirations(s, today=day, actor=_actor("lists.daily")).to_dict()))


def cases_escalate(db: Database, **params: Any) -> dict[str, Any]:
    """Daily: overdue objections, repairs and complaints escalated to the credit office."""
    from xinyong.cases import service

    today = _day(params)
    escalated = db.run(
        lambda s: [c.case_no for c in service.escalate_overdue(s, actor=_actor("cases.escalate"), today=today)]
    )
    return {"date": today.isoformat(), "escalated": escalated}


def cases_notify(db: Database, **params: Any) -> dict[str, Any]:
    """Every minute: notifications to applicants and handlers (SMS, e-mail, log channels)."""
    from xinyong.cases import notify

    with db.sessionmaker() as session:
        return dict(notify.deliver_pending(session, limit=int(params.get("limit", 200))))


def watches_deliver(db: Database, **params: Any) -> dict[str, Any]:
    """Every minute (and on demand): the signed webhooks due in the outbox, with their own per-delivery retries."""
    from xinyong.watches import delivery

    return dict(delivery.deliver_due(db, limit=int(params.get("limit", 500))).to_dict())


def exchange_push(db: Database, **params: Any) -> dict[str, Any]:
    """Every five minutes: the exchange feed pushed to the provincial platform until empty; a failed round is
    retried by the runner with back-off (the feed keeps its place: at least once, idempotent by sequence)."""
    from xinyong.exchange import push as pusher

    result = dict(pusher.push_once(db, ignore_backoff=bool(params.get("now", False))))
    if not result.get("ok", True):
        raise JobFailed(f"exchange push failed: {result.get('error')}")
    return result


def evaluation_run(db: Database, **params: Any) -> dict[str, Any]:
    """An evaluation run (on demand, or nightly for the subjects whose data changed since the last run)."""
    from xinyong.evaluation import service

    since = params.get("changed_since")
    changed_since: Any = None
    if since == "last":
        changed_since = "last"
    elif since:
        changed_since = dt.datetime.fromisoformat(since)
    with db.session() as session:
        runs = service.run_evaluation(
            session,
            actor=_actor("evaluation.run"),
            model=params.get("model"),
            subject_codes=list(params.get("subjects") or []),
            changed_since=changed_since,
            as_of=dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else None,
        )
    return {"runs": runs}


def db_partitions(db: Database, **params: Any) -> dict[str, Any]:
    """Daily: the month partitions of the audit log and the check records created ahead (PostgreSQL; migration 0023)."""
    from xinyong.core.partitions import ensure_partitions

    with db.engine.begin() as conn:
        report = ensure_partitions(conn, months_ahead=int(params.get("months_ahead", 3)))
    if any(t.get("default_rows") for t in report["tables"]):
        raise JobFailed(f"rows in a DEFAULT partition: {report['tables']}")
    return report


def records_dictionary(db: Database, **params: Any) -> dict[str, Any]:
    """Weekly: a compression dictionary for record versions trained when none is yet, or the newest is a year old
    (``records.packing.train_if_due``; stored only if it packs better)."""
    from xinyong.records import packing

    return db.run(lambda s: packing.train_if_due(s, actor=_actor("records.dictionary").actor))


#: Every task by name (the queue's task name is ``xinyong.`` + this name).
TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "records.transitions": records_transitions,
    "lists.daily": lists_daily,
    "cases.escalate": cases_escalate,
    "cases.notify": cases_notify,
    "watches.deliver": watches_deliver,
    "exchange.push": exchange_push,
    "evaluation.run": evaluation_run,
    "db.partitions": db_partitions,
    "records.dictionary": records_dictionary,
}

#: When the scheduler defers each periodic task (cron, UTC; 16:xx UTC is 00:xx in China).
SCHEDULE: dict[str, str] = {
    "records.transitions": "5 16 * * *",
    "lists.daily": "10 16 * * *",
    "cases.escalate": "20 16 * * *",
    "db.partitions": "30 16 * * *",
    "records.dictionary": "40 16 * * 0",  # Monday 00:40 China time
    "evaluation.run": "0 18 * * *",  # 02:00 China time: the subjects whose data changed since the last run
    "cases.notify": "* * * * *",
    "watches.deliver": "* * * * *",
    "exchange.push": "*/5 * * * *",
}

#: Parameters of the scheduled runs (a periodic job has no caller to name them).
SCHEDULED_PARAMS: dict[str, dict[str, Any]] = {"evaluation.run": {"changed_since": "last"}}
