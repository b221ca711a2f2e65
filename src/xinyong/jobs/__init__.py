"""Background work in a job runner (issue #19 part 3): webhook deliveries, the exchange feed push, the daily jobs
and evaluation runs, run by ``xinyong worker`` processes from a queue in PostgreSQL (procrastinate), with retries
and back-off, scheduled by ``xinyong scheduler``; listed and retried with ``xinyong jobs`` and the console's 任务队列.

An entry point like ``web`` and ``cli`` (it calls into many domains), so it sits at their level of the layers:
``tasks`` names the work (plain functions over a ``core.db.Database``, no queue), ``runner`` puts them on the
queue. SQLite (the embedded mode) has no queue: the same work runs in process, from the CLI commands and cron, as
before. docs/deployment.md, docs/architecture.md.
"""
