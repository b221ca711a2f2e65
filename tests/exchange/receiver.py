"""A fake provincial receiver over real HTTP (http.server in a thread), for the push tests.

It checks the token and the body signature, keeps each sequence number once (a resent one is acknowledged again but
not stored twice), rejects rows for which ``reject(message)`` returns a code, can drop the connection without an
answer (``drop_next``), answers slowly (``delay`` seconds a batch), and answers ``GET /reconcile`` with the sequence
numbers it holds. ``reject`` may return a code, or ``(code, message)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "province-token"
SECRET = "province-hmac-secret"


class FakeProvince:
    def __init__(self, reject: Callable[[dict[str, Any]], Any] = lambda m: None, *, delay: float = 0.0) -> None:
        self.reject = reject
        self.delay = delay
        self.held: dict[int, dict[str, Any]] = {}
        self.deliveries: Counter[int] = Counter()
        self.drop_next = 0
        self.requests = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, data: Any) -> None:
                body = json.dumps(data, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fake.delay:
                    time.sleep(fake.delay)
                with fake.lock:
                    fake.requests += 1
                    if fake.drop_next:
                        fake.drop_next -= 1
                        self.close_connection = True  # no answer at all: the client sees the connection drop
                        return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(401, {"error": "bad token"})
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Xinyong-Signature", "")):
                    return self._answer(401, {"error": "bad signature"})
                batch = json.loads(body)
                if self.headers.get("Idempotency-Key") != f"{batch['first_seq']}-{batch['last_seq']}":
                    return self._answer(400, {"error": "bad idempotency key"})
                accepted, rejected = [], []
                with fake.lock:
                    for m in batch["messages"]:
                        fake.deliveries[m["seq"]] += 1
                        code = fake.reject(m)
                        if code:
                            code, message = code if isinstance(code, tuple) else (code, "数据项不符合要求")
                            rejected.append({"seq": m["seq"], "code": code, "message": message})
                            continue
                        fake.held.setdefault(m["seq"], m)
                        accepted.append(m["seq"])
                return self._answer(
                    200, {"receipt_id": f"r-{batch['first_seq']}", "accepted": accepted, "rejected": rejected}
                )

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = parse_qs(url.query)
                first, last = int(q["first_seq"][0]), int(q["last_seq"][0])
                with fake.lock:
                    seqs = sorted(s for s in fake.held if first <= s <= last)
                self._answer(200, {"seqs": seqs})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/province"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvince:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
