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
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(port: int, request: Callable[[random.Random], bytes], seconds: float,
               connections: int) -> tuple[list[float], list[str], float]:
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
