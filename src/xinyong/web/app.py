"""The web application factory: API under /api/v1, health probes, the (Chinese) public pages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyong import __version__
from xinyong.analytics.api import router as analytics_router
from xinyong.auth.api import router as auth_router
from xinyong.auth.deps import public
from xinyong.auth.tokens import start_token_listener
from xinyong.cases.api import router as cases_router
from xinyong.catalog.api import router as catalog_router
from xinyong.catalog.fields import standards as class_standards
from xinyong.commitments.api import router as commitments_router
from xinyong.core import uploads
from xinyong.core.db import Database, get_database
from xinyong.core.errors import XinyongError
from xinyong.core.migrate import current_revision, head_revision
from xinyong.core.settings import get_settings
from xinyong.evaluation.api import router as evaluation_router
from xinyong.exchange.api import router as exchange_router
from xinyong.financing.api import router as financing_router
from xinyong.ingest.api import router as ingest_router
from xinyong.lists.api import router as lists_router
from xinyong.measures.api import audit_router as catalog_audit_router
from xinyong.measures.api import checks_router
from xinyong.measures.api import router as measures_router
from xinyong.professions.api import router as professions_router
from xinyong.records.api import router as records_router
from xinyong.reports.api import router as reports_router
from xinyong.reports.file_api import router as government_file_router
from xinyong.subjects.api import router as subjects_router
from xinyong.subjects.related_api import router as related_persons_router
from xinyong.watches.api import router as watches_router
from xinyong.web import security
from xinyong.web.api_docs import router as api_docs_router
from xinyong.web.audit_api import router as audit_router
from xinyong.web.check_fast_path import CheckFastPath
from xinyong.web.console import install as install_console
from xinyong.web.console_analysis import install as install_console_analysis
from xinyong.web.console_content import install as install_console_content
from xinyong.web.console_financing import install as install_console_financing
from xinyong.web.errors import _HTTP_MESSAGES, REFUSALS, ErrorOut, error_body, http_error_body  # noqa: F401
from xinyong.web.identifiers_api import router as identifiers_router
from xinyong.web.nul import RefuseNul
from xinyong.web.pages import home_context
from xinyong.web.portal import router as portal_router
from xinyong.web.portal_complaint import router as portal_complaint_router
from xinyong.web.portal_content import router as portal_content_router
from xinyong.web.portal_profession import router as portal_profession_router
from xinyong.web.portal_report import router as portal_report_router
from xinyong.web.portal_subject import router as portal_subject_router
from xinyong.web.templates import TEMPLATES
from xinyong.web.transactions import RetryTransactions
from xinyong.wiring import wire

log = logging.getLogger(__name__)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XinyongError)
    async def _xinyong_error(request: Request, exc: XinyongError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"location": [str(p) for p in e.get("loc", ())], "reason": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(error_body("validation_failed", "请求参数不符合要求", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if _wants_html(request):
            _code, message = _HTTP_MESSAGES.get(exc.status_code, ("http_error", "请求无法处理"))
            return TEMPLATES.TemplateResponse(
                request,
                "error.html",
                {"status": exc.status_code, "message": message, "city": get_settings().city_name},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        return JSONResponse(http_error_body(exc.status_code), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "服务器内部错误，请稍后重试"), status_code=500)


def create_app(database: Database | str | None = None) -> FastAPI:
    """Build the app on a database (a :class:`Database`, a URL, or the configured default)."""
    wire()  # the interfaces lower layers call up through (core.hooks)
    db = database if isinstance(database, Database) else get_database(database)
    uploads.sweep()  # uploads left behind by a server that was killed (normally none: they have no name)
    class_standards()  # the information classes' data standards, validated at start: a malformed file stops here
    app = FastAPI(
        title="xinyong 公共信用信息平台 API",
        version=__version__,
        docs_url=None,  # web.api_docs: local HTML, no CDN
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.db = db
    # Several server processes on PostgreSQL: a logout or a revoked token in one is known to all at once.
    start_token_listener(db)
    install_error_handlers(app)
    security.install(app, TEMPLATES)

    # Routes are matched in order: the business systems' check, the hottest route, comes first, and directly on the
    # app (FastAPI walks every nested router's routes on each request to see whether they changed).
    app.include_router(checks_router, prefix="/api/v1", responses=REFUSALS)
    # The government file (政务共享) next, for the same reason: a department's read before every approval; deep in
    # the /api/v1 routers the router's walk cost ≈ 3 ms a request (docs/performance.md, the government file).
    app.include_router(government_file_router, prefix="/api/v1", responses=REFUSALS)
    # The portal's pages before the API: a subject page matched behind the nested /api/v1 routers walked all of
    # them first (≈ 7 % of its CPU over HTTP, docs/performance.md, the portal). No path of one is a path of the other.
    app.include_router(portal_router)
    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        catalog_router,
        identifiers_router,
        subjects_router,
        ingest_router,
        records_router,
        audit_router,
        lists_router,
        measures_router,
        catalog_audit_router,
        watches_router,
        commitments_router,
        cases_router,
        analytics_router,
    ):
        api.include_router(router)
    api.include_router(reports_router)
    api.include_router(evaluation_router)
    api.include_router(financing_router)
    api.include_router(exchange_router)
    api.include_router(related_persons_router)
    api.include_router(professions_router)
    app.include_router(api, responses=REFUSALS)
    app.include_router(api_docs_router)
    app.include_router(portal_subject_router)
    app.include_router(portal_content_router)
    app.include_router(portal_complaint_router)
    app.include_router(portal_report_router)
    app.include_router(portal_profession_router)
    install_console(app)
    install_console_analysis(app)
    install_console_financing(app)
    install_console_content(app)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    # Outside the CSRF and header layers: a request whose transaction met a transient conflict (deadlock, "database
    # is locked") is run again through them with the body it sent (docs/architecture.md §7).
    app.add_middleware(RetryTransactions)
    # Added last but one, so the outermost of the app's own middlewares but one: a well-formed check from a known
    # token is answered before the others and the router; every other request passes through untouched.
    app.add_middleware(CheckFastPath, database=db)
    # Outside even the check's fast path, which writes what it is sent (a NUL is a 500 on PostgreSQL).
    app.add_middleware(RefuseNul)

    @app.get("/healthz", tags=["ops"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False, dependencies=[Depends(public)])
    def favicon() -> FileResponse:
        """The site icon at the address browsers ask for unprompted (the pages also link /static/favicon.svg)."""
        return FileResponse(
            Path(__file__).parent / "static" / "favicon.ico",
            media_type="image/x-icon",
            headers={"cache-control": "public, max-age=604800"},
        )

    @app.get("/readyz", tags=["ops"], dependencies=[Depends(public)])
    def readyz() -> JSONResponse:
        """Readiness: the database answers and its schema is at the code's migration head; with a read replica
        (``XINYONG_DATABASE_READ_URL``), the read URL answers too (``replica``: whether it reached a standby)."""
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = current_revision(conn)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        extra: dict[str, Any] = {}
        if db.has_replica:
            try:
                with db.replica.engine.connect() as conn:
                    standby = bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar())
                extra["replica"] = {"status": "ok", "standby": standby}
            except Exception as exc:  # noqa: BLE001 - the routed reads would fail: not ready
                extra["replica"] = {"status": "unavailable", "reason": type(exc).__name__}
        head = head_revision()
        if current != head:
            return JSONResponse(
                {"status": "migrations_pending", "database": current, "code": head, **extra}, status_code=503
            )
        if extra.get("replica", {}).get("status") == "unavailable":
            return JSONResponse({"status": "replica_unavailable", **extra}, status_code=503)
        return JSONResponse({"status": "ready", "database": db.dialect, "revision": current, **extra})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(public)])
    def home(request: Request) -> Any:
        with db.read_session() as session:  # the read replica when one is configured
            context = home_context(session)
        return TEMPLATES.TemplateResponse(request, "home.html", context)

    return app
