"""HTTP requests as units of work: a request whose transaction met a transient conflict is run again.

The request's session (``auth.deps.SessionDep``) commits before the response is sent, so a deadlock or a
serialisation failure on PostgreSQL, or "database is locked" on SQLite (``core.db.is_transient``), reaches this
layer as an exception *before anything was answered*. :class:`RetryTransactions` then runs the whole request
again — the route, its dependencies, its session — with the body the client sent (kept while the route read it:
in memory up to ``SPOOL_IN_MEMORY`` bytes, beyond that in a temporary file), after a pause that doubles each
time (``core.db.RetryPolicy``: at most ``XINYONG_DB_RETRIES`` further attempts, none after the busy timeout).
A retried request's session is a write transaction even for a GET (``BEGIN IMMEDIATE`` on SQLite), so a GET that
writes (an audit of a read) gets past a stale snapshot on its second attempt. Past the bound the client gets 503
with ``Retry-After`` and a Chinese message, never 500, and its connection stays usable.

An error after the response has started (a streamed download) cannot be taken back and is left to the server's
error handling, as before.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from xinyong.auth.deps import WRITE_STATE  # this attempt's session must be a write transaction
from xinyong.core.db import RetryPolicy, busy_error, is_transient
from xinyong.core.errors import Busy
from xinyong.core.settings import get_settings
from xinyong.web.middleware import HttpMiddleware
from xinyong.web.templates import TEMPLATES

log = logging.getLogger(__name__)

#: Request body bytes kept in memory for a replay; a larger body (an upload) is kept in a temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
_REPLAY_CHUNK = 256 * 1024


class _Body:
    """The request body as the app reads it, recorded so that a later attempt can be handed the same bytes."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._spool: Any = None  # made at the first body bytes (most requests have none)
        self._size = 0
        self._complete = False  # the client sent its last body message
        self._disconnect: Message | None = None

    async def _live(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                if self._spool is None:
                    self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close()
                self._spool.seek(0, 2)
                self._spool.write(chunk)
                self._size += len(chunk)
            if not message.get("more_body", False):
                self._complete = True
        elif message["type"] == "http.disconnect":
            self._disconnect = message
        return message

    def receive(self) -> Receive:
        """A ``receive`` for one attempt: what was recorded first, then the connection (still recording)."""
        position = 0
        sent_end = False

        async def receive() -> Message:
            nonlocal position, sent_end
            if position < self._size:
                self._spool.seek(position)
                chunk = self._spool.read(min(_REPLAY_CHUNK, self._size - position))
                position += len(chunk)
                more = position < self._size or not self._complete
                sent_end = not more
                return {"type": "http.request", "body": chunk, "more_body": more}
            if self._complete and not sent_end:
                sent_end = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self._disconnect is not None:
                return self._disconnect
            message = await self._live()
            if message["type"] == "http.request":
                position = self._size
                sent_end = not message.get("more_body", False)
            return message

        return receive

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class RetryTransactions(HttpMiddleware):
    """ASGI middleware: run a request again when a transient database conflict escaped its route before the
    response started (see the module's doc)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _Body(receive)
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        policy: RetryPolicy | None = None
        state = dict(scope.get("state") or {})
        attempt = 0
        try:
            while True:
                attempt_scope = {**scope, "state": {**state, WRITE_STATE: attempt > 0}}
                try:
                    await self.app(attempt_scope, body.receive(), watching_send)
                    return
                except Exception as exc:
                    if started or not is_transient(exc):
                        raise
                    policy = policy or RetryPolicy()
                    pause = policy.pause(attempt)
                    if pause is None:
                        await _busy(scope, send, busy_error(policy, exc))  # type: ignore[arg-type]
                        return
                    log.info(
                        "%s %s: transient database conflict (%s), attempt %d again in %.2f s",
                        scope["method"],
                        scope["path"],
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                        attempt + 2,
                        pause,
                    )
                    await asyncio.sleep(pause)
                    attempt += 1
        finally:
            body.close()


async def _busy(scope: Scope, send: Send, error: Busy) -> None:
    """503 with ``Retry-After``: the API's error shape, or the error page for a browser."""
    headers = Headers(scope=scope)
    response: Response
    if not scope.get("path", "").startswith("/api/") and "text/html" in headers.get("accept", ""):
        html = TEMPLATES.get_template("error.html").render(
            status=503, message=error.message, city=get_settings().city_name, request=None
        )
        response = HTMLResponse(html, status_code=503, headers=error.headers)
    else:
        response = JSONResponse({"error": error.to_dict()}, status_code=503, headers=error.headers)

    async def no_body() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)
