"""The check's fast path (``POST /api/v1/checks``): an ASGI layer of the web app in front of the route
``measures.api.create_check``, answering with the same :func:`measures.api._check` (docs/architecture.md, "The
check's hot path"). It sits in ``web`` because it speaks the app's error body and security headers."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import orjson
from pydantic import ValidationError

from xinyong.auth import tokens as auth_tokens
from xinyong.auth.roles import Principal, Role
from xinyong.core.db import Database
from xinyong.core.errors import XinyongError
from xinyong.measures import check as checks
from xinyong.measures.api import _CHECK_THREADS, CHECK_MAX_BODY_BYTES, CHECK_ROLES, _check
from xinyong.measures.schemas import CheckIn
from xinyong.web.errors import error_body, http_error_body
from xinyong.web.security import replaying_receive, security_headers


class CheckFastPath:
    """``POST /api/v1/checks`` without the framework's per-request work, for the request that needs none of it.

    The business systems' check is the platform's hottest route (hundreds a second). Through the app's
    middlewares, routing and dependency solving, the framework spent about as much CPU per check as the check
    itself. This ASGI layer, the outermost of the app's own middlewares, answers a check itself when the request
    is a JSON body that ``CheckIn`` validates, from a token this process already knows (``auth.tokens``' token
    cache: valid, not expired, last use not due to be written) whose role may check: the same validation, the
    same :func:`_check`, the same answer and headers as the route. Everything else — no or unknown token, a
    refused role, another content type, a body that does not validate — goes on to the route as if this layer
    were not there (with the body it read), so every refusal is the route's own. An error of the check itself is
    answered as the app's handler for ``XinyongError`` answers it. Every request to the path, known token or not,
    has its body bounded here (``CHECK_MAX_BODY_BYTES``: 413 while it arrives).
    """

    #: Checks answered here since the process started (the tests, and anyone curious, can tell the paths apart).
    answered = 0

    def __init__(self, app: Any, *, database: Database, path: str = "/api/v1/checks") -> None:
        self.app = app
        self.database = database
        self.path = path
        self.allowed = frozenset(CHECK_ROLES) | {Role.ADMIN}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        # Every check request's body is bounded here, whoever sends it: refused while it arrives, before it is
        # held whole, with the API's error shape (Starlette's own limit answers a declared length in plain text).
        body, more, gone = await _read_body(receive, CHECK_MAX_BODY_BYTES, _content_length(scope))
        if more or len(body) > CHECK_MAX_BODY_BYTES:
            await self._answer(scope, send, 413, orjson.dumps(http_error_body(413)))
            return
        replay = replaying_receive(body, receive, disconnected=gone)
        principal = None if gone else self._principal(scope)
        try:
            parsed = CheckIn.model_validate_json(body) if principal is not None else None
        except ValidationError:
            parsed = None
        if parsed is None or principal is None:
            await self.app(scope, replay, send)
            return
        subjects = [
            checks.SubjectQuery(code=s.code, name=s.name, region=s.region, kind=s.kind) for s in parsed.subjects
        ]
        status, extra = 200, None
        try:
            content = await asyncio.get_running_loop().run_in_executor(
                _CHECK_THREADS, partial(_check, self.database, principal, subjects, parsed.scenario, parsed.reference)
            )
        except XinyongError as exc:
            status, content = exc.status_code, orjson.dumps(error_body(exc.code, exc.message, exc.details))
            extra = getattr(exc, "headers", None)  # Retry-After of a 503 (core.errors.Busy)
        CheckFastPath.answered += 1
        await self._answer(scope, send, status, content, extra)

    @staticmethod
    async def _answer(scope: Any, send: Any, status: int, content: bytes, extra: dict[str, str] | None = None) -> None:
        headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
            *security_headers(scope),
        ]
        if extra:
            headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _principal(self, scope: Any) -> Principal | None:
        """The caller when this process knows its token and it may check; None: let the route decide."""
        header = content_type = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
            elif name == b"content-type":
                content_type = value
        if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
            return None
        scheme, _, raw = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        known = auth_tokens.remembered_principal(self.database, raw.strip())
        if known is None:
            return None
        principal, due = known
        if principal is None or due or principal.role not in self.allowed:
            return None
        return principal


def _content_length(scope: Any) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Any, limit: int, declared: int | None) -> tuple[bytes, bool, bool]:
    """What the client sent of the body, up to about ``limit`` bytes: ``(bytes read, more to come, disconnected)``;
    it stops reading once the declared length or the bytes received are over the limit."""
    if declared is not None and declared > limit:
        return b"", True, False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size > limit:
            return b"".join(chunks), more, False
