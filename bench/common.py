"""Helpers shared by the benchmarks (run as scripts: ``python bench/x.py`` puts this folder on ``sys.path``)."""

from __future__ import annotations

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
