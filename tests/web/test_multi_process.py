"""Many API processes behind a load balancer (issue #19 part 3): two real uvicorn servers on one PostgreSQL
database and one Redis share the console's login sessions (kept in the database) and the public rate limits
(buckets in Redis): a login on one server is honoured by the other, and a client that spreads its requests over
both gets the limit once, not once per process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import DEFAULT_PASSWORD, make_user
from tests.web.test_rate_limit_redis import REQUIRE_REDIS
from tests.web.test_rate_limit_redis import URL as REDIS_URL
from xinyong.auth.roles import Role
from xinyong.core.db import Database

TOKEN = "csrf_token"
BURST = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError) as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis required (CI) but unreachable at {REDIS_URL}: {exc}")
        pytest.skip("Redis not reachable")


@pytest.fixture
def servers(database: Database, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if database.dialect != "postgresql":
        pytest.skip("several server processes share PostgreSQL (SQLite: one process)")
    _redis_or_skip()
    prefix = f"xinyong-test:{uuid.uuid4().hex}:"
    env = {
        **os.environ,
        "XINYONG_DATABASE_URL": database.url,
        "XINYONG_DATA_DIR": str(tmp_path / "data"),
        "XINYONG_RATE_LIMIT_REDIS_URL": REDIS_URL,
        "XINYONG_RATE_LIMIT_REDIS_PREFIX": prefix,
        "XINYONG_RATE_SEARCH_BURST": str(BURST),
        "XINYONG_RATE_SEARCH_PER_MINUTE": "1",
    }
    env.pop("XINYONG_DATABASE_READ_URL", None)
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for _ in range(2):
            port = _free_port()
            procs.append(
                subprocess.Popen(
                    [
                        *[sys.executable, "-m", "uvicorn", "xinyong.web.asgi:app", "--host", "127.0.0.1"],
                        *["--port", str(port), "--log-level", "warning"],
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 45
        for url, proc in zip(urls, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"the server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                    )
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("the servers did not start within 45 s")
                time.sleep(0.2)
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


def test_sessions_and_rate_limits_are_shared_across_processes(servers, session) -> None:
    import re

    a, b = servers
    make_user(session, username="chief", role=Role.ADMIN)
    session.commit()
    html = {"accept": "text/html"}
    with httpx.Client(base_url=a, headers=html) as on_a, httpx.Client(base_url=b, headers=html) as on_b:
        page = on_a.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        done = on_a.post(
            "/console/login",
            data={"username": "chief", "password": DEFAULT_PASSWORD, "next": "/console", TOKEN: token},
        )
        assert done.status_code == 303, done.text[:500]
        # The session made on A is used on B: the other process reads it from the database.
        on_b.cookies.update(on_a.cookies)
        console = on_b.get("/console/users", follow_redirects=False)
        assert console.status_code == 200 and "chief" in console.text

        # A logout on A ends the session on B at once (B had it cached: a LISTEN/NOTIFY empties its token cache),
        # not after the cache's 10 seconds.
        token = re.search(r'name="csrf_token" value="([^"]+)"', console.text).group(1)  # type: ignore[union-attr]
        assert on_a.post("/console/logout", data={TOKEN: token}).status_code == 303
        deadline = time.monotonic() + 3
        while on_b.get("/console/users", follow_redirects=False).status_code != 303:
            assert time.monotonic() < deadline, "the logout on A did not reach B"
            time.sleep(0.05)

        # The public search's bucket (burst 4) is one for both processes: spread over A and B, the fifth is refused.
        answers = [
            (on_a if i % 2 == 0 else on_b).get("/search", params={"q": "沁阳"}).status_code for i in range(BURST + 2)
        ]
        assert answers[:BURST] == [200] * BURST, answers
        assert answers[BURST:] == [429, 429], answers
