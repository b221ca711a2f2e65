"""Rate limits shared through Redis: several server processes, one bucket per client; Redis down → per process.

Uses the Redis at ``XINYONG_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``); skipped when it does not
answer, except in CI (``CI=true``, or ``XINYONG_TEST_REQUIRE_REDIS=1`` as ``.ci/run`` exports), where a missing Redis
is a failure: ``.ci/run`` starts one.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.web.test_security import _app
from xinyong.web.security import RateLimiter, RedisBuckets, Rule, WebSecuritySettings

URL = os.environ.get("XINYONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("XINYONG_TEST_REQUIRE_REDIS") == "1" or os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def prefix():
    import redis

    client = redis.Redis.from_url(URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis required (CI) but unreachable at {URL}: {exc}")
        pytest.skip("Redis not reachable (set XINYONG_TEST_REQUIRE_REDIS=1 to fail instead)")
    name = f"xinyong-test:{uuid.uuid4().hex}:"
    yield name
    keys = list(client.scan_iter(match=name + "*"))
    if keys:
        client.delete(*keys)


def test_two_processes_share_one_bucket(prefix):
    a, b = RedisBuckets(URL, prefix=prefix), RedisBuckets(URL, prefix=prefix)  # as two workers would
    rule = Rule(per_minute=60, burst=3)
    waits = [
        a.take("search:10.0.0.1", rule),
        b.take("search:10.0.0.1", rule),
        a.take("search:10.0.0.1", rule),
        b.take("search:10.0.0.1", rule),
    ]
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] <= 1.0
    assert a.take("search:10.0.0.2", rule) == 0  # another client has its own bucket
    time.sleep(1.1)  # refilled at one token per second (by Redis's clock)
    assert b.take("search:10.0.0.1", rule) == 0
    assert a.take("search:10.0.0.1", rule) > 0


def test_keys_are_hashed_and_expire(prefix):
    import redis

    store = RedisBuckets(URL, prefix=prefix)
    store.take("login_user:wang", Rule(per_minute=6, burst=2))
    client = redis.Redis.from_url(URL)
    keys = [k.decode() for k in client.scan_iter(match=prefix + "*")]
    assert len(keys) == 1 and "wang" not in keys[0]
    ttl = client.pttl(keys[0])
    assert 0 < ttl <= 21_000  # a full refill (2 tokens at 0.1/s = 20 s) plus a second
    store.reset()
    assert not list(client.scan_iter(match=prefix + "*"))


def test_a_zero_rate_never_refills(prefix):
    store = RedisBuckets(URL, prefix=prefix)
    rule = Rule(per_minute=0, burst=1)
    assert store.take("x", rule) == 0 and math.isinf(store.take("x", rule))


def test_redis_down_limits_per_process_and_warns(caplog):
    store = RedisBuckets("redis://127.0.0.1:1/0", timeout=0.1)  # nothing listens on port 1
    rule = Rule(per_minute=60, burst=2)
    with caplog.at_level(logging.WARNING, logger="xinyong.web.security"):
        waits = [store.take("search:a", rule) for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] > 0
    assert sum("Redis unavailable" in r.getMessage() for r in caplog.records) == 1  # once, not per request


def test_settings_select_redis_and_the_app_answers_429(prefix):
    limiter = RateLimiter.from_settings(WebSecuritySettings(rate_limit_redis_url=URL))
    assert isinstance(limiter.store, RedisBuckets)
    apps = [_app(), _app()]  # two server processes behind one proxy, each with its own connection to Redis
    for app in apps:
        app.state.rate_limiter = RateLimiter({"search": Rule(per_minute=60, burst=2)}, RedisBuckets(URL, prefix=prefix))
    clients = [TestClient(app) for app in apps]
    codes = [clients[i % 2].get("/limited").status_code for i in range(3)]
    assert codes == [200, 200, 429]
