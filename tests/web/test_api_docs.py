"""/api/docs works offline: local HTML listing the OpenAPI operations, no CDN, the site's strict CSP."""

from __future__ import annotations

import re

from xinyong.web.security import CONTENT_SECURITY_POLICY


def test_api_docs_are_local(client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    text = page.text
    assert "<script" not in text and "cdn" not in text.lower()
    assert not re.search(r'(src|href)="https?://', text)  # nothing loaded from elsewhere
    # Every operation of the OpenAPI document is listed, e.g. the business systems' check.
    spec = client.get("/api/v1/openapi.json").json()
    count = sum(1 for item in spec["paths"].values() for m in ("get", "post", "put", "patch", "delete") if m in item)
    assert text.count('<details class="operation">') == count > 50
    assert "POST /api/v1/checks" in text and "/api/v1/openapi.json" in text
