"""Which indexes of credit_records and record_versions do the platform's queries use? (issue #19, SQLite plans)

A pytest plugin: every statement the tests run that names ``credit_records`` or ``record_versions`` is explained
(``EXPLAIN QUERY PLAN``, same connection, same parameters) and the indexes its plan uses are tallied::

    PYTHONPATH=bench XINYONG_TEST_BACKENDS=sqlite XINYONG_INDEX_USAGE=bench/out/index-usage.txt \\
        .venv/bin/pytest -p index_usage -q tests/records tests/reports …

then ``.venv/bin/python bench/index_usage.py bench/out/index-usage.txt`` prints, per index, how many distinct
statements use it, with an example. SQLite's planner has no statistics here (the platform never runs ANALYZE), so
its choice does not depend on the tables' sizes: the test database's plans are the production ones.
"""

from __future__ import annotations

import os
import re
import sys
from collections import defaultdict
from typing import Any

_TABLES = re.compile(r"\b(credit_records|record_versions)\b")
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)|USING (INTEGER PRIMARY KEY)")


def pytest_configure(config: Any) -> None:
    out = os.environ.get("XINYONG_INDEX_USAGE")
    if not out:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: set[str] = set()
    fh = open(out, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    @event.listens_for(Engine, "before_cursor_execute")
    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if conn.dialect.name != "sqlite" or not _TABLES.search(statement) or statement in seen:
            return
        head = statement.lstrip().split(None, 1)[0].upper()
        if head not in ("SELECT", "UPDATE", "DELETE", "WITH", "INSERT"):
            return
        seen.add(statement)
        params = parameters[0] if executemany and parameters else parameters
        try:
            plan = conn.connection.dbapi_connection.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
        except Exception:  # noqa: BLE001 (a statement it cannot explain is left out)
            return
        lines = [row[-1] for row in plan]
        used = sorted(
            {m.group(1) or m.group(2) for line in lines for m in _INDEX.finditer(line) if _TABLES.search(line)}
        )
        scans = [line for line in lines if line.startswith("SCAN") and _TABLES.search(line)]
        one_line = " ".join(statement.split())
        fh.write(f"{'|'.join(used)}\t{'|'.join(scans)}\t{one_line}\n")
        fh.flush()


def report(path: str) -> None:
    uses: dict[str, list[str]] = defaultdict(list)
    scans: list[str] = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for line in lines:
        used, scanned, statement = line.split("\t", 2)
        for name in filter(None, used.split("|")):
            uses[name].append(statement)
        if scanned:
            scans.append(f"{scanned}: {statement[:160]}")
    for name, statements in sorted(uses.items(), key=lambda kv: -len(kv[1])):
        print(f"{name:50} {len(set(statements)):4} statements, e.g. {min(statements, key=len)[:150]}")
    print(f"\nfull scans of credit_records / record_versions: {len(set(scans))}")
    for s in sorted(set(scans))[:30]:
        print("  " + s)


if __name__ == "__main__":
    report(sys.argv[1])
