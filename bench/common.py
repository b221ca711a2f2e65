"""Helpers shared by the benchmarks (run as scripts: ``python bench/x.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def fresh_database(url: str | None, *, default_name: str) -> str:
    """An empty database: a new SQLite file ``bench/out/<default_name>`` when ``url`` is None; for PostgreSQL the
    database of ``url`` dropped and created again, which is refused unless its name starts with ``xinyong_bench``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not url:
        OUT.mkdir(exist_ok=True)
        url = f"sqlite:///{OUT / default_name}"
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        if not (u.database or "").startswith("xinyong_bench"):
            raise SystemExit("refusing to drop a database whose name does not start with xinyong_bench")
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{u.database}"'))
        admin.dispose()
    elif u.get_backend_name() == "sqlite" and u.database:
        for suffix in ("", "-wal", "-shm"):
            Path(u.database + suffix).unlink(missing_ok=True)
    return url


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(
    port: int, request: Callable[[random.Random], bytes], seconds: float, connections: int
) -> tuple[list[float], list[str], float]:
    """A lean HTTP/1.1 keep-alive load generator (asyncio streams, no client library), so that the client's own
    CPU cost (it shares the two cores with the server) stays small next to the server's. ``request(rng)`` returns
    the bytes of one request; returns the latencies (ms), the non-200 status lines and the elapsed seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def conn(seed: int) -> None:
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                payload = request(rng)
                t0 = time.perf_counter()
                writer.write(payload)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - t0) * 1000)
                if b" 200 " not in status_line:
                    errors.append(status_line.decode(errors="replace").strip())
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn(i) for i in range(connections)))
    return latencies, errors, time.perf_counter() - t0


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants (Linux ``/proc``)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def processes_cpu(name: str) -> float:
    """CPU seconds used so far by the live processes whose command is ``name`` (e.g. ``postgres``: the local
    database server's backends, which a process tree rooted at the web server does not include)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            comm, rest = stat.split("(", 1)[1].rsplit(")", 1)
            if comm != name:
                continue
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def _duration_ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def wrk(
    port: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    seconds: float,
    connections: int,
    threads: int,
) -> dict[str, object]:
    """POST to ``path`` with ``wrk`` (C load generator, ``apt-get install wrk``), each request's body drawn at
    random from ``bodies``. Returns requests/s, p50/p99 latency (ms), requests, non-2xx responses, socket errors
    and the command line. wrk spends far less CPU per request than a Python client on the shared cores."""
    import json
    import re
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --load python")
    lines = ["local bodies = {"]
    lines += [f"  {json.dumps(b.decode())}," for b in bodies]
    lines += ["}", "local n = #bodies", 'wrk.method = "POST"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    lines += [
        "local counter = 0",
        "function setup(thread) counter = counter + 1; thread:set('id', counter) end",
        "function init(args) math.randomseed(7919 * (id or 1)) end",
        f"function request() return wrk.format(nil, {json.dumps(path)}, nil, bodies[math.random(n)]) end",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        script = f.name
    cmd = [
        exe,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        script,
        f"http://127.0.0.1:{port}",
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    result: dict[str, object] = {"command": " ".join(["wrk", *cmd[1:-3], "<script>", cmd[-1]]), "output": out}
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for p in ("50", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.MULTILINE)
        result[f"p{p}"] = _duration_ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = m.group(1).strip() if m else "none"
    return result
