"""The web application factory: API under /api/v1, health probes, the (Chinese) public pages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyong import __version__
from xinyong.auth.deps import public
from xinyong.core.db import Database, get_database
from xinyong.core.errors import XinyongError
from xinyong.core.settings import get_settings

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _local_time(value: object) -> str:
    """A timestamp as people in the city read it: China Standard Time, to the second."""
    import datetime as dt

    from xinyong.core import clock

    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


TEMPLATES.env.filters["local_time"] = _local_time

_HTTP_MESSAGES = {
    400: ("bad_request", "请求格式错误"),
    401: ("unauthenticated", "需要登录或提供 API 令牌"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
}


class ErrorDetailOut(BaseModel):
    code: str = Field(description="稳定的错误代码（snake_case），供程序判断")
    message: str = Field(description="中文说明")
    details: Any = Field(None, description="补充信息（如参数校验的各项错误、文件中出错的行）")


class ErrorOut(BaseModel):
    """The body of every refusal of the API."""

    error: ErrorDetailOut


#: Declared on every API route: any 4xx answer (401 no or bad token, 403 role or department not allowed, 404, 409
#: a conflicting version or duplicate, 413, 422 invalid parameters or content, 429) carries the common error body.
#: Without it the OpenAPI document named only 200 and 422 (with FastAPI's ``{"detail": …}``, which the API never
#: sends), so generated clients and fuzzers could not tell a refusal from a defect.
REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "请求被拒绝：原因见 error.code 与 error.message"},
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def http_error_body(status: int) -> dict[str, Any]:
    """The API's answer to an HTTP-level refusal (401, 404, 413 …), as the handler below gives it."""
    return error_body(*_HTTP_MESSAGES.get(status, ("http_error", "请求无法处理")))


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XinyongError)
    async def _xinyong_error(request: Request, exc: XinyongError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

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
                request, "error.html", {"status": exc.status_code, "message": message, "city": get_settings().city_name},
                status_code=exc.status_code, headers=exc.headers
            )
        return JSONResponse(http_error_body(exc.status_code), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "服务器内部错误，请稍后重试"), status_code=500)


def create_app(database: Database | str | None = None) -> FastAPI:
    """Build the app on a database (a :class:`Database`, a URL, or the configured default)."""
    db = database if isinstance(database, Database) else get_database(database)
    from xinyong.core import uploads

    uploads.sweep()  # uploads left behind by a server that was killed (normally none: they have no name)
    app = FastAPI(
        title="xinyong 公共信用信息平台 API",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.db = db
    install_error_handlers(app)
    from xinyong.web import security

    security.install(app, TEMPLATES)

    from xinyong.analytics.api import router as analytics_router
    from xinyong.auth.api import router as auth_router
    from xinyong.cases.api import router as cases_router
    from xinyong.catalog.api import router as catalog_router
    from xinyong.commitments.api import router as commitments_router
    from xinyong.core.audit_api import router as audit_router
    from xinyong.identifiers.api import router as identifiers_router
    from xinyong.ingest.api import router as ingest_router
    from xinyong.lists.api import router as lists_router
    from xinyong.measures.api import checks_router
    from xinyong.measures.api import router as measures_router
    from xinyong.records.api import router as records_router
    from xinyong.subjects.api import router as subjects_router
    from xinyong.watches.api import router as watches_router

    # Routes are matched in order: the business systems' check, the hottest route, comes first, and directly on the
    # app (FastAPI walks every nested router's routes on each request to see whether they changed).
    app.include_router(checks_router, prefix="/api/v1", responses=REFUSALS)
    api = APIRouter(prefix="/api/v1")
    for router in (auth_router, catalog_router, identifiers_router, subjects_router, ingest_router,
                   records_router, audit_router, lists_router, measures_router, watches_router, commitments_router,
                   cases_router, analytics_router):
        api.include_router(router)
    from xinyong.reports.api import router as reports_router
    api.include_router(reports_router)
    from xinyong.evaluation.api import router as evaluation_router
    api.include_router(evaluation_router)
    from xinyong.financing.api import router as financing_router
    api.include_router(financing_router)
    app.include_router(api, responses=REFUSALS)
    from xinyong.web.portal import router as portal_router

    app.include_router(portal_router)
    from xinyong.web.portal_subject import router as portal_subject_router

    app.include_router(portal_subject_router)
    from xinyong.web.console import install as install_console

    install_console(app)
    from xinyong.web.console_analysis import install as install_console_analysis

    install_console_analysis(app)
    from xinyong.web.console_financing import install as install_console_financing

    install_console_financing(app)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    from xinyong.measures.api import CheckFastPath
    from xinyong.web.transactions import RetryTransactions

    # Outside the CSRF and header layers: a request whose transaction met a transient conflict (deadlock, "database
    # is locked") is run again through them with the body it sent (docs/architecture.md §7).
    app.add_middleware(RetryTransactions)
    # Added last but one, so the outermost of the app's own middlewares but one: a well-formed check from a known
    # token is answered before the others and the router; every other request passes through untouched.
    app.add_middleware(CheckFastPath, database=db)
    from xinyong.web.nul import RefuseNul

    # Outside even the check's fast path, which writes what it is sent (a NUL is a 500 on PostgreSQL).
    app.add_middleware(RefuseNul)

    @app.get("/healthz", tags=["ops"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], dependencies=[Depends(public)])
    def readyz() -> JSONResponse:
        """Readiness: the database answers and its schema is at the code's migration head."""
        from xinyong.core.migrate import current_revision, head_revision

        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = current_revision(conn)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        head = head_revision()
        if current != head:
            return JSONResponse(
                {"status": "migrations_pending", "database": current, "code": head}, status_code=503
            )
        return JSONResponse({"status": "ready", "database": db.dialect, "revision": current})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(public)])
    def home(request: Request) -> Any:
        from xinyong.web.pages import home_context

        with db.session(write=False) as session:
            context = home_context(session)
        return TEMPLATES.TemplateResponse(request, "home.html", context)

    return app
