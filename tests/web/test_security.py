"""Web-layer security: CSRF on form posts, security headers, cookies, rate limits and login throttling."""

from __future__ import annotations

import re

import pytest
from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from xinyong.web import security
from xinyong.web.security import CSRF_COOKIE, MemoryBuckets, RateLimiter, Rule


def _app() -> FastAPI:
    from xinyong.web.app import TEMPLATES, install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    security.install(app, TEMPLATES)

    @app.get("/form", response_class=HTMLResponse)
    def form(request: Request) -> str:
        return f'<form method="post"><input name="csrf_token" value="{security.csrf_token(request)}"></form>'

    @app.post("/form")
    def post(name: str = Form(...)) -> dict[str, str]:
        return {"name": name}

    @app.post("/api/thing")
    def api_post() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/limited", dependencies=[Depends(security.rate_limit("search"))])
    def limited() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/login")
    def login(request: Request, response: Response, username: str = Form(...)) -> dict[str, str]:
        security.throttle_login(request, username)
        security.set_session_cookie(response, request, "xy_secret")
        return {"ok": "yes"}

    return app


def _token(client: TestClient) -> str:
    page = client.get("/form")
    return re.search(r'value="([0-9a-f]+)"', page.text).group(1)


def test_form_post_needs_a_token_bound_to_the_cookie():
    client = TestClient(_app())
    assert client.post("/form", data={"name": "x"}).status_code == 403
    token = _token(client)
    assert client.cookies.get(CSRF_COOKIE)
    ok = client.post("/form", data={"name": "甲", "csrf_token": token})
    assert ok.status_code == 200 and ok.json() == {"name": "甲"}
    # Multipart bodies and the header form work too; a token from another browser (cookie) does not.
    assert client.post("/form", files={"f": ("a.txt", b"x")}, data={"name": "乙", "csrf_token": token}).json() == {
        "name": "乙"
    }
    assert client.post("/form", data={"name": "丙"}, headers={"x-csrf-token": token}).status_code == 200
    other = TestClient(_app())
    _token(other)
    refused = other.post("/form", data={"name": "x", "csrf_token": token}, headers={"accept": "text/html"})
    assert refused.status_code == 403 and "刷新页面" in refused.text and "<script" not in refused.text
    forged = client.post("/form", json={"name": "x"}, headers={"x-csrf-token": "0" * 64})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    # The API authenticates with bearer headers, not cookies: no CSRF token there.
    assert client.post("/api/thing").status_code == 200


def test_security_headers_and_cookie_flags():
    client = TestClient(_app())
    page = client.get("/form")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = TestClient(_app(), base_url="https://portal.example")
    page = https.get("/form")
    assert "secure" in page.headers["set-cookie"].lower() and "strict-transport-security" in page.headers


def test_rate_limit_answers_429_with_retry_after():
    app = _app()
    app.state.rate_limiter = RateLimiter({"search": Rule(per_minute=60, burst=3)})
    client = TestClient(app)
    assert [client.get("/limited").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get("/limited", headers={"accept": "text/html"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1 and "请求过于频繁" in refused.text


def test_buckets_refill_and_stay_bounded():
    now = [0.0]
    store = MemoryBuckets(max_keys=2, clock=lambda: now[0])
    rule = Rule(per_minute=60, burst=2)
    assert [store.take("a", rule) for _ in range(3)] == [0, 0, pytest.approx(1.0)]
    now[0] += 1.0
    assert store.take("a", rule) == 0
    store.take("b", rule)
    store.take("c", rule)
    assert "a" not in store._buckets and len(store._buckets) == 2


def test_login_throttle_per_username_and_session_cookie():
    app = _app()
    app.state.rate_limiter = RateLimiter({"login_ip": Rule(600, 100), "login_user": Rule(1, 2)})
    client = TestClient(app)
    token = _token(client)
    first = client.post("/login", data={"username": "Wang", "csrf_token": token})
    assert first.status_code == 200
    session_cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("xinyong_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    # The login rotated the CSRF seed: the old token no longer works.
    assert client.post("/login", data={"username": "wang", "csrf_token": token}).status_code == 403
    token = _token(client)
    assert client.post("/login", data={"username": "wang ", "csrf_token": token}).status_code == 200
    assert client.post("/login", data={"username": "WANG", "csrf_token": _token(client)}).status_code == 429
    assert client.post("/login", data={"username": "li", "csrf_token": _token(client)}).status_code == 200
