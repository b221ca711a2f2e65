"""Security of the web layer: CSRF, session cookies, security headers, rate limits, login throttling.

Used by the public portal and by the department console. What each piece is for:

- **CSRF** (:class:`CSRFMiddleware`, :func:`csrf_token`): every unsafe request (POST, PUT, PATCH, DELETE) outside
  ``/api/`` must carry a token, as the form field ``csrf_token`` or the header ``X-CSRF-Token``. The token is an
  HMAC of a random value kept in an HttpOnly cookie (signed double submit): a page on another site can make the
  browser send the cookie but can neither read it nor compute the token. ``/api/`` is exempt because the API
  authenticates with ``Authorization: Bearer`` headers, which a browser never adds by itself. Templates put
  ``<input type="hidden" name="csrf_token" value="{{ csrf_token(request) }}">`` in every form.
- **Session cookies** (:func:`set_session_cookie`, :func:`session_token`, :func:`clear_session_cookie`): the
  console keeps the login token of ``auth.service.login`` in an HttpOnly, SameSite=Lax cookie, ``Secure`` when
  the request came over HTTPS (or always, with ``XINYONG_COOKIE_SECURE=true``).
- **Headers** (:class:`SecurityHeadersMiddleware`): a strict Content-Security-Policy (no inline script, only
  this site's own static files), nosniff, no framing, no referrer to other sites, HSTS over HTTPS.
- **Rate limits** (:class:`RateLimiter`, :func:`rate_limit`): token buckets keyed by client IP and a rule name,
  in process by default (:class:`MemoryBuckets`); with ``XINYONG_RATE_LIMIT_REDIS_URL`` every process of a
  deployment shares the buckets in Redis (:class:`RedisBuckets`), so that running four workers does not give a
  client four times the limit.
- **Login throttling** (:func:`throttle_login`): buckets per client IP and per username on top of the account
  lock-out that ``auth.service.authenticate_password`` keeps in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs

from fastapi import Request
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartParser
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinyong.auth.deps import SESSION_COOKIE, session_token  # noqa: F401  (the cookie is auth's; named here too)
from xinyong.core.settings import get_settings
from xinyong.web.middleware import HttpMiddleware
from xinyong.web.templates import TEMPLATES

CSRF_COOKIE = "xinyong_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: The policy of every page: scripts, styles, fonts and images only from this site, no inline script or style
#: attribute (htmx is self-hosted and configured with ``includeIndicatorStyles: false``), no plugins, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class WebSecuritySettings(BaseSettings):
    """Limits and cookie policy (environment ``XINYONG_…``); the defaults suit one city's portal."""

    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=".env", extra="ignore")

    #: ``None``: Secure cookies when the request came over HTTPS (uvicorn ``--proxy-headers`` behind a proxy).
    cookie_secure: bool | None = None
    session_max_age_seconds: int = 8 * 3600
    # Public search: a person typing needs a few per second; a scraper walking the registry needs thousands.
    rate_search_per_minute: float = 120
    rate_search_burst: int = 30
    # Credit report generation renders a PDF: the expensive public operation.
    rate_report_per_minute: float = 6
    rate_report_burst: int = 5
    # Public forms (objection, repair, verification codes).
    rate_form_per_minute: float = 6
    rate_form_burst: int = 10
    # Login attempts per client IP and per username (the account itself locks after repeated failures).
    rate_login_ip_per_minute: float = 10
    rate_login_ip_burst: int = 20
    rate_login_user_per_minute: float = 3
    rate_login_user_burst: int = 10
    #: Shared rate-limit buckets for a deployment of several processes (``redis://host:6379/0``); empty: in process.
    rate_limit_redis_url: str | None = None
    #: The prefix of this platform's bucket keys in that Redis (several platforms, or test runs, may share one).
    rate_limit_redis_prefix: str = "xinyong:rl:"
    #: Largest form body the CSRF check reads (bigger bodies are refused with 413 before any route runs).
    max_form_bytes: int = 20 * 1024 * 1024


@lru_cache
def get_web_settings() -> WebSecuritySettings:
    return WebSecuritySettings()


def _key(purpose: str) -> bytes:
    return _derived_key(get_settings().master_key, purpose)


@lru_cache(maxsize=16)
def _derived_key(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, f"xinyong-web:{purpose}".encode(), hashlib.sha256).digest()


def _is_https(request_or_scope: Request | Scope) -> bool:
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    return scope.get("scheme") in ("https", "wss")


def _secure(request: Request) -> bool:
    configured = get_web_settings().cookie_secure
    return _is_https(request) if configured is None else configured


# CSRF ---------------------------------------------------------------------------------------------------------


def _sign(value: str) -> str:
    return hmac.new(_key("csrf"), value.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token for forms on this response (sets the CSRF cookie on the response when the browser has none).

    Exposed to every template as ``csrf_token(request)`` by :func:`install`.
    """
    seed = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(CSRF_COOKIE)
        if not seed or len(seed) > 100:
            seed = secrets.token_urlsafe(32)
            request.state.csrf_new_seed = seed
        request.state.csrf_seed = seed
    return _sign(seed)


def csrf_valid(cookie_value: str | None, token: str | None) -> bool:
    return bool(cookie_value and token and len(token) < 200 and hmac.compare_digest(_sign(cookie_value), token))


def _set_cookie_header(
    name: str, value: str, *, secure: bool, max_age: int | None, same_site: Literal["lax", "strict", "none"] = "lax"
) -> bytes:
    response = Response()
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite=same_site)
    return response.headers["set-cookie"].encode("latin-1")


class CSRFMiddleware(HttpMiddleware):
    """Refuses unsafe requests outside the exempt prefixes unless they carry a valid token.

    Pure ASGI: the body of a form post is read once here (bounded by ``max_form_bytes``) and replayed to the
    route, so routes keep using ``Form(...)`` as usual. Also sets the CSRF cookie when a page handed out a token.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        exempt_prefixes: tuple[str, ...] = ("/api/",),
        on_refused: Callable[[Scope, int, str], Response] | None = None,
    ) -> None:
        super().__init__(app)
        self.exempt_prefixes = exempt_prefixes
        self.on_refused = on_refused or _default_refusal

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        path: str = scope.get("path", "")
        if scope["method"] in UNSAFE_METHODS and not path.startswith(self.exempt_prefixes):
            checked = await self._check(scope, receive)
            if isinstance(checked, Response):
                await checked(scope, receive, send)
                return
            receive = checked

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get("csrf_new_seed"):
                headers = list(message.get("headers", []))
                headers.append(
                    (
                        b"set-cookie",
                        _set_cookie_header(
                            CSRF_COOKIE, state["csrf_new_seed"], secure=_cookie_secure_scope(scope), max_age=None
                        ),
                    )
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _check(self, scope: Scope, receive: Receive) -> Receive | Response:
        headers = Headers(scope=scope)
        cookie = _cookie(headers, CSRF_COOKIE)
        token = headers.get(CSRF_HEADER)
        body = b""
        if token is None:
            limit = get_web_settings().max_form_bytes
            declared = headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                return self.on_refused(scope, 413, "请求内容过大")
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return self.on_refused(scope, 400, "请求未完整发送")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return self.on_refused(scope, 413, "请求内容过大")
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            token = await _form_token(headers, body)
        if not csrf_valid(cookie, token):
            return self.on_refused(scope, 403, "页面已过期或请求来源无法确认，请刷新页面后重新提交")
        if token is not None and headers.get(CSRF_HEADER) is not None:
            return receive
        return replaying_receive(body, receive)


def replaying_receive(body: bytes, receive: Receive, *, more_body: bool = False, disconnected: bool = False) -> Receive:
    """A ``receive`` that hands the app what a middleware already read of the request body (all of it, or the
    start when ``more_body``), then whatever the connection says next (``http.disconnect`` at once when the
    client had already gone: ``disconnected``)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more_body}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay


async def _form_token(headers: Headers, body: bytes) -> str | None:
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), max_num_fields=1000).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):

        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(headers, stream()).parse()
        except Exception:  # noqa: BLE001 - a malformed body simply carries no token
            return None
        try:
            value = form.get(CSRF_FIELD)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None


def _cookie(headers: Headers, name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _cookie_secure_scope(scope: Scope) -> bool:
    configured = get_web_settings().cookie_secure
    return _is_https(scope) if configured is None else configured


def _wants_html_scope(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return not scope.get("path", "").startswith("/api/") and (
        "text/html" in headers.get("accept", "") or "form" in headers.get("content-type", "")
    )


def _default_refusal(scope: Scope, status: int, message: str) -> Response:
    codes = {400: "bad_request", 403: "csrf_failed", 413: "payload_too_large"}
    if _wants_html_scope(scope):
        html = TEMPLATES.get_template("error.html").render(
            status=status, message=message, city=get_settings().city_name, request=None
        )
        return HTMLResponse(html, status_code=status)
    return JSONResponse({"error": {"code": codes.get(status, "bad_request"), "message": message}}, status_code=status)


# Session cookie -----------------------------------------------------------------------------------------------


def set_session_cookie(response: Response, request: Request, raw_token: str, *, max_age: int | None = None) -> None:
    """Keep a login token (``auth.service.login``) in the browser: HttpOnly, SameSite=Lax, Secure over HTTPS.

    Also rotates the CSRF seed, so a token handed out before the login is useless after it.
    """
    age = max_age if max_age is not None else get_web_settings().session_max_age_seconds
    response.set_cookie(
        SESSION_COOKIE, raw_token, max_age=age, path="/", secure=_secure(request), httponly=True, samesite="lax"
    )
    seed = secrets.token_urlsafe(32)
    request.state.csrf_seed = seed
    response.set_cookie(CSRF_COOKIE, seed, path="/", secure=_secure(request), httponly=True, samesite="lax")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax")


# Security headers ---------------------------------------------------------------------------------------------


_BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to the request of ``scope`` (also sent by the check's fast path,
    ``web.check_fast_path.CheckFastPath``, which answers before this middleware). One policy for every page: the
    API documentation (``web.api_docs``) is local HTML too, with no CDN and no script."""
    extra = [*_BASE_HEADERS, _CSP]
    if _is_https(scope):
        extra.append(_HSTS)
    return extra


class SecurityHeadersMiddleware(HttpMiddleware):
    """Adds the security headers to every HTTP response (a route's own header of the same name wins)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = security_headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Rate limiting ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A token bucket: ``burst`` requests at once, refilled at ``per_minute`` per minute."""

    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


class BucketStore(Protocol):
    """Where buckets live. ``take`` consumes ``cost`` tokens and returns 0 when allowed, else the seconds to wait.

    A Redis store implements the same arithmetic in one Lua script (``EVALSHA``) so that all processes share it.
    """

    def take(self, key: str, rule: Rule, cost: float = 1.0) -> float: ...

    def reset(self) -> None: ...


class MemoryBuckets:
    """In-process buckets, bounded: the least recently used keys are forgotten beyond ``max_keys``.

    Forgetting a key only ever gives that client a full bucket again, never locks anyone out.
    """

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_keys
        self._clock = clock

    def take(self, key: str, rule: Rule, cost: float = 1.0) -> float:
        now = self._clock()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (float(rule.burst), now))
            tokens = min(float(rule.burst), tokens + (now - stamp) * rule.per_second)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (cost - tokens) / rule.per_second if rule.per_second > 0 else math.inf
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


#: One token bucket, atomically in Redis: refill from the server's clock (the same clock for every process),
#: take ``cost`` when there is enough, remember (tokens, stamp) until a full refill would have happened anyway.
#: Returns the seconds to wait as text ("0" when allowed, "-1" for never): Lua numbers become integers otherwise.
_BUCKET_LUA = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(v[1])
local stamp = tonumber(v[2])
if tokens == nil or stamp == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
elseif rate > 0 then
  wait = (cost - tokens) / rate
else
  wait = -1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
if rate > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
else
  redis.call('PEXPIRE', KEYS[1], 86400000)
end
return tostring(wait)
"""

log = logging.getLogger(__name__)


class RedisBuckets:
    """Buckets shared by every process through Redis (one Lua script per check, ~0.1 ms on a local Redis).

    Keys are hashed (``xinyong:rl:<sha256>``): client addresses and usernames are not written to Redis in clear.
    When Redis cannot be reached the limits still hold, per process (:class:`MemoryBuckets`), and a warning is
    logged at most once a minute; the next check tries Redis again. A short socket timeout keeps a slow Redis from
    holding up requests.
    """

    def __init__(
        self, url: str, *, prefix: str = "xinyong:rl:", timeout: float = 0.25, fallback: BucketStore | None = None
    ) -> None:
        # lazy: redis costs 0.16 s of start-up and is used only when a Redis URL is configured
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._script = self._redis.register_script(_BUCKET_LUA)
        self._prefix = prefix
        self._errors = (redis.RedisError, OSError)
        self.fallback: BucketStore = fallback or MemoryBuckets()
        self._warned_at = -math.inf

    def _redis_key(self, key: str) -> str:
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()

    def take(self, key: str, rule: Rule, cost: float = 1.0) -> float:
        try:
            wait = float(self._script(keys=[self._redis_key(key)], args=[rule.burst, rule.per_second, cost]))
        except self._errors as exc:
            now = time.monotonic()
            if now - self._warned_at >= 60:
                self._warned_at = now
                log.warning("rate limits: Redis unavailable (%s); limiting per process until it answers", exc)
            return self.fallback.take(key, rule, cost)
        return math.inf if wait < 0 else wait

    def reset(self) -> None:
        self.fallback.reset()
        try:
            keys = list(self._redis.scan_iter(match=self._prefix + "*", count=1000))
            for start in range(0, len(keys), 500):
                self._redis.delete(*keys[start : start + 500])
        except self._errors as exc:
            log.warning("rate limits: could not reset the Redis buckets (%s)", exc)


class RateLimiter:
    """Named rules over one store. ``check(name, key)`` raises a 429 with ``Retry-After`` when exhausted."""

    def __init__(self, rules: dict[str, Rule], store: BucketStore | None = None) -> None:
        self.rules = dict(rules)
        self.store: BucketStore = store or MemoryBuckets()

    @classmethod
    def from_settings(
        cls, settings: WebSecuritySettings | None = None, store: BucketStore | None = None
    ) -> RateLimiter:
        s = settings or get_web_settings()
        if store is None and s.rate_limit_redis_url:
            store = RedisBuckets(s.rate_limit_redis_url, prefix=s.rate_limit_redis_prefix)
        return cls(
            {
                "search": Rule(s.rate_search_per_minute, s.rate_search_burst),
                "report": Rule(s.rate_report_per_minute, s.rate_report_burst),
                "form": Rule(s.rate_form_per_minute, s.rate_form_burst),
                "login_ip": Rule(s.rate_login_ip_per_minute, s.rate_login_ip_burst),
                "login_user": Rule(s.rate_login_user_per_minute, s.rate_login_user_burst),
            },
            store,
        )

    def wait_seconds(self, name: str, key: str, cost: float = 1.0) -> float:
        return self.store.take(f"{name}:{key}", self.rules[name], cost)

    def check(self, name: str, key: str, cost: float = 1.0) -> None:
        wait = self.wait_seconds(name, key, cost)
        if wait > 0:
            retry = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            raise StarletteHTTPException(429, "请求过于频繁，请稍后再试", headers={"Retry-After": retry})


def client_ip(request: Request) -> str:
    """The caller's address as the ASGI server saw it (behind a proxy: run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client else "unknown"


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter.from_settings()
    return limiter


def rate_limit(name: str) -> Callable[[Request], None]:
    """A FastAPI dependency limiting a route per client IP with the named rule (``search``, ``report``, ``form``)."""

    def dependency(request: Request) -> None:
        get_rate_limiter(request).check(name, client_ip(request))

    dependency.__name__ = f"rate_limit_{name}"
    return dependency


def throttle_login(request: Request, username: str) -> None:
    """Call before checking a password: 429 once this IP or this username has tried too often.

    Both buckets are consumed on every attempt (successful ones too: a login is rare for a person), so neither a
    single address trying many accounts nor many addresses trying one account get far. The account lock-out in
    ``auth.service`` remains the last line.
    """
    limiter = get_rate_limiter(request)
    limiter.check("login_ip", client_ip(request))
    limiter.check("login_user", (username or "").strip().lower()[:150])


# Installation -------------------------------------------------------------------------------------------------


def install(app: Any, templates: Any = None) -> None:
    """Add the middleware to the app and ``csrf_token`` to the templates' globals."""
    app.state.rate_limiter = RateLimiter.from_settings()
    app.add_middleware(CSRFMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if templates is not None:
        templates.env.globals["csrf_token"] = csrf_token
        templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
