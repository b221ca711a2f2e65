"""``/api/docs``: the API's operations as plain local HTML, read from the app's own OpenAPI document.

FastAPI's Swagger UI loads its script and styles from a CDN, which an offline or intranet deployment cannot reach
and which needed a looser Content-Security-Policy. No swagger-ui assets ship with the installed packages, so this
page lists the operations (method, path, summary, description, parameters, request body) with no script at all;
the machine-readable document stays at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from xinyong.auth.deps import public
from xinyong.core.settings import get_settings
from xinyong.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


def _schema_name(body: dict[str, Any] | None) -> str | None:
    """The request body's schema name (or media type) as the OpenAPI document gives it."""
    if not body:
        return None
    for media, spec in (body.get("content") or {}).items():
        ref = (spec.get("schema") or {}).get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else media
    return None


def operations(openapi: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The document's operations grouped by their first tag, in the document's order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in (openapi.get("paths") or {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            groups.setdefault((op.get("tags") or ["其他"])[0], []).append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary") or "",
                    "description": op.get("description") or "",
                    "parameters": [
                        {"name": p.get("name"), "in": p.get("in"), "required": bool(p.get("required"))}
                        for p in op.get("parameters") or []
                    ],
                    "body": _schema_name(op.get("requestBody")),
                }
            )
    return list(groups.items())


@router.get("/api/docs", response_class=HTMLResponse, dependencies=[Depends(public)])
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    return TEMPLATES.TemplateResponse(
        request,
        "api_docs.html",
        {
            "city": get_settings().city_name,
            "title": spec.get("info", {}).get("title", ""),
            "version": spec.get("info", {}).get("version", ""),
            "groups": operations(spec),
        },
    )
