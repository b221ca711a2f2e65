"""Requests carrying the NUL character (U+0000) are refused with 422 before any route runs.

PostgreSQL cannot store U+0000 in a text column (``DataError: PostgreSQL text fields cannot contain NUL (0x00)
bytes``): a code, a name or a reason with one in it was a 500 on the production database and silently stored on
SQLite. No credit data has a reason to contain it, so it is refused where it enters: the path, the query string,
a JSON body (``\\u0000``; a raw NUL byte is not JSON at all) and a urlencoded form (``%00``). Multipart bodies are
not read here: their files are binary (a spreadsheet is full of NUL bytes); the file readers judge their content.
The portal's public pages (GET outside ``/api/`` and ``/console``) keep reading their own path and query: a search
for a NUL is an ordinary page with nothing found (``tests/web/test_nul.py`` walks every page on both databases).
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from xinyong.web.errors import error_body
from xinyong.web.middleware import HttpMiddleware
from xinyong.web.security import replaying_receive

#: ``\u0000`` preceded by an even number of backslashes: an escaped NUL, not the text ``\\u0000``.
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_BODY_TYPES = (b"application/json", b"application/x-www-form-urlencoded")


def _json_has_nul(body: bytes) -> bool:
    return b"\\u0000" in body and _ESCAPED_NUL.search(body) is not None


class RefuseNul(HttpMiddleware):
    """Pure ASGI middleware: 422 ``nul_character`` for a request whose path, query string or JSON / urlencoded
    body contains U+0000; every other request passes untouched (bodies of other types are not read)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = None
        path: str = scope.get("path", "")
        # The public pages read their path and query leniently (a search strips what it cannot use, an unknown code
        # is "not found"); everything that can write, the API and the console are held to the rule.
        lenient = scope["method"] in ("GET", "HEAD") and not path.startswith(("/api/", "/console"))
        if "\x00" in path and not lenient:
            where = "path"
        elif b"%00" in scope.get("query_string", b"") and not lenient:
            where = "query"
        else:
            content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if content_type.startswith(_BODY_TYPES):
                body, gone = await _read(receive)
                found = _json_has_nul(body) if content_type.startswith(b"application/json") else b"%00" in body
                if found:
                    where = "body"
                else:
                    receive = replaying_receive(body, receive, disconnected=gone)
        if where is None:
            await self.app(scope, receive, send)
            return

        response = JSONResponse(
            error_body("nul_character", "请求中含有空字符（U+0000），请删除后重新提交", {"location": where}),
            status_code=422,
        )
        await response(scope, receive, send)


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (the route reads all of it anyway) and whether the client went away meanwhile."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False
