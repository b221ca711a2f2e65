"""Benchmark: how long ``xinyong …`` takes from a new process (operators' scripts and cron start it every time).

    .venv/bin/python bench/cli.py [--runs 15] [--compare OTHER_SRC]

Runs each command below ``--runs`` times in a fresh interpreter (``python -c "from xinyong.cli import main; main()"
ARGS``, what the ``xinyong`` script does) and prints the median and minimum wall time and the median CPU time (user +
system of the child, less sensitive than wall time to other work on a shared machine). The database is a fresh
migrated SQLite file in bench/out; the data directory is bench/out/cli-data.

``--compare OTHER_SRC`` also runs the ``src`` directory of another checkout (e.g. ``git archive <commit> src | tar -x
-C /tmp/old``, then ``--compare /tmp/old/src``), alternating the two run by run so that both see the same load, and
prints both columns.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

SRC = Path(__file__).resolve().parent.parent / "src"

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (floor)", []),
    ("xinyong --help", ["--help"]),
    ("xinyong validate --help", ["validate", "--help"]),
    ("xinyong validate 91350100M000100Y43 --json", ["validate", "91350100M000100Y43", "--json"]),
    ("xinyong db current --json", ["db", "current", "--json"]),
    ("xinyong audit anchor --out F --json (cron)", ["audit", "anchor", "--out", "{anchors}", "--json"]),
    ("xinyong catalog list --json", ["catalog", "list", "--json"]),
    ("xinyong measures --help (largest domain)", ["measures", "--help"]),
]


def run(src: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``xinyong ARGS`` in a new process importing xinyong from ``src``."""
    if args:
        code = (
            f"import sys; sys.path.insert(0, {str(src)!r}); sys.argv[0] = 'xinyong'; "
            "from xinyong.cli import main; main()"
        )
    else:
        code = "pass"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"xinyong {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="the src directory of another checkout, run alternately")
    args = parser.parse_args()

    url = common.fresh_database(None, default_name="cli.db")
    data = common.OUT / "cli-data"
    anchors = data / "anchors.jsonl"
    anchors.unlink(missing_ok=True)
    env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_DATA_DIR": str(data)}
    env.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    env.pop("COLUMNS", None)
    subprocess.run(
        [sys.executable, "-c", "from xinyong.cli import main; main()", "db", "upgrade", "--json"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )

    variants = {"this checkout": SRC}
    if args.compare:
        variants = {"compared": args.compare.resolve(), **variants}
    commands = [(label, [a.format(anchors=anchors) for a in argv]) for label, argv in COMMANDS]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.runs + 1):  # the first round only warms the caches (bytecode, page cache)
        for label, argv in commands:
            for name, src in variants.items():
                times.setdefault((name, label), []).append(run(src, argv, env))
    for key in times:
        times[key] = times[key][1:]

    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'':<46}" + "".join(f"{n:>36}" for n in variants))
    print(f"{'command':<46}" + "".join(f"{'wall median (min) / CPU median':>36}" for _ in variants))
    for label, _ in commands:
        cells = []
        for name in variants:
            wall = [w for w, _ in times[(name, label)]]
            cpu = [c for _, c in times[(name, label)]]
            cells.append(f"{statistics.median(wall):.3f} s ({min(wall):.3f}) / {statistics.median(cpu):.3f} s")
        print(f"{label:<46}" + "".join(f"{c:>36}" for c in cells))


if __name__ == "__main__":
    main()
