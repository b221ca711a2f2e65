"""HTTP routes of `measures` (mounted under /api/v1): the public measures catalogue (``/measures``: measures are
public law) and the credit check for business systems (``/checks``: own department only; the admin sees all)."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.core.bounds import Id, Offset
from xinyong.core.db import Database, run_with_retries
from xinyong.core.errors import Forbidden, XinyongError
from xinyong.measures import check as checks
from xinyong.measures import feedback, service
from xinyong.measures.schemas import (
    ActiveIn,
    CheckDetailOut,
    CheckIn,
    CheckOut,
    CheckRecordOut,
    FeedbackIn,
    FeedbackOut,
    FeedbackRateOut,
    MeasureOut,
    MemorandumOut,
    ScenarioOut,
)
from xinyong.measures.spec import SCENARIOS
from xinyong.web.app import error_body, http_error_body
from xinyong.web.security import replaying_receive, security_headers

router = APIRouter(prefix="/measures", tags=["measures"])
checks_router = APIRouter(prefix="/checks", tags=["checks"])

CHECK_ROLES = (Role.BUSINESS_SYSTEM, Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
#: The largest check request: 10,000 subjects at the longest fields the schema allows (a name of 200 Chinese
#: characters is 600 bytes of UTF-8) stay under 10 MB. A bigger body is refused with 413 while it is being
#: received, before it is held in memory or parsed.
CHECK_MAX_BODY_BYTES = 16 * 1024 * 1024
FEEDBACK_ROLES = (Role.BUSINESS_SYSTEM, Role.DEPT_OPERATOR)


# Catalogue -----------------------------------------------------------------------------------------------------


@router.get("", response_model=list[MeasureOut])
def list_measures(
    kind: str | None = Query(None, pattern="^(punish|reward)$"),
    scenario: str | None = Query(None, max_length=30),
    list_type: str | None = Query(None, max_length=60),
    include_inactive: bool = Query(False),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """联合奖惩措施目录：每项措施的内容、法律依据、实施部门、适用场景、触发名单与是否必须实施。"""
    rows = service.list_measures(session, kind=kind, scenario=scenario, list_type=list_type,
                                 include_inactive=include_inactive)
    return service.measure_views(session, rows)


@router.get("/memoranda", response_model=list[MemorandumOut])
def list_memoranda(_: Principal = Depends(public), session: Session = SessionDep) -> list[dict[str, Any]]:
    """措施所依据的备忘录、法律、法规、司法解释与政策文件。"""
    return service.memoranda_views(session)


@router.get("/{code}", response_model=MeasureOut)
def show_measure(code: str, _: Principal = Depends(public), session: Session = SessionDep) -> dict[str, Any]:
    """一项联合奖惩措施。"""
    return service.measure_views(session, [service.get_measure(session, code)])[0]


@router.post("/{code}/deactivate", response_model=MeasureOut)
def deactivate_measure(code: str, body: ActiveIn, principal: Principal = Depends(allow()),
                       session: Session = SessionDep) -> dict[str, Any]:
    """停用一项措施（须说明原因；记入审计日志）：停用后核查不再返回该措施。仅平台管理员。"""
    obj = service.set_measure_active(session, actor=principal, code=code, active=False, reason=body.reason)
    return service.measure_views(session, [obj])[0]


@router.post("/{code}/activate", response_model=MeasureOut)
def activate_measure(code: str, body: ActiveIn, principal: Principal = Depends(allow()),
                     session: Session = SessionDep) -> dict[str, Any]:
    """重新启用一项措施（须说明原因；记入审计日志）。仅平台管理员。"""
    obj = service.set_measure_active(session, actor=principal, code=code, active=True, reason=body.reason)
    return service.measure_views(session, [obj])[0]


# Checks --------------------------------------------------------------------------------------------------------


@checks_router.get("/scenarios", response_model=list[ScenarioOut])
def scenarios(_: Principal = Depends(public)) -> list[dict[str, str]]:
    """核查场景代码及其含义。"""
    return [{"code": code, "label": label} for code, label in SCENARIOS.items()]


@checks_router.post("", response_model=CheckOut, max_body_size=CHECK_MAX_BODY_BYTES)
async def create_check(request: Request, body: CheckIn,
                       principal: Principal = Depends(allow(*CHECK_ROLES))) -> Response:
    """信用核查：一个或多个主体（最多10,000个）在某一场景下适用的联合奖惩措施，附理由与法律依据；每次核查均留痕。"""
    subjects = [checks.SubjectQuery(code=s.code, name=s.name, region=s.region, kind=s.kind) for s in body.subjects]
    # The hottest route: one hand-over to a worker thread, which opens the session, checks, records and commits
    # (a 200 means the check is recorded), and serialises the answer straight to JSON (built to the CheckOut
    # shape, which the tests validate) instead of a second pass through the response model — a 10,000-subject
    # answer is ~10 MB. Hence no SessionDep here: it would cost a dependency and a second hand-over.
    content = await asyncio.get_running_loop().run_in_executor(
        _CHECK_THREADS, partial(_check, request.app.state.db, principal, subjects, body.scenario, body.reference))
    return Response(content, media_type="application/json")


#: The check's own worker threads: a plain executor hand-over costs a fraction of Starlette's ``run_in_threadpool``
#: (anyio's capacity limiter, cancel scope and context copy). More threads than cores only help while a check waits
#: for the database (PostgreSQL's round trips, SQLite's write lock); each holds up to two pooled connections.
_CHECK_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xinyong-check")


class CheckFastPath:
    """``POST /api/v1/checks`` without the framework's per-request work, for the request that needs none of it.

    The business systems' check is the platform's hottest route (hundreds a second). Through the app's
    middlewares, routing and dependency solving, the framework spent about as much CPU per check as the check
    itself. This ASGI layer, the outermost of the app's own middlewares, answers a check itself when the request
    is a JSON body that ``CheckIn`` validates, from a token this process already knows (``auth.service``'s token
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
        subjects = [checks.SubjectQuery(code=s.code, name=s.name, region=s.region, kind=s.kind)
                    for s in parsed.subjects]
        status, extra = 200, None
        try:
            content = await asyncio.get_running_loop().run_in_executor(
                _CHECK_THREADS, partial(_check, self.database, principal, subjects, parsed.scenario,
                                        parsed.reference))
        except XinyongError as exc:
            status, content = exc.status_code, orjson.dumps(error_body(exc.code, exc.message, exc.details))
            extra = getattr(exc, "headers", None)  # Retry-After of a 503 (core.errors.Busy)
        CheckFastPath.answered += 1
        await self._answer(scope, send, status, content, extra)

    @staticmethod
    async def _answer(scope: Any, send: Any, status: int, content: bytes,
                      extra: dict[str, str] | None = None) -> None:
        headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
                   *security_headers(scope)]
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


def _check(db: Database, principal: Principal, subjects: list[checks.SubjectQuery], scenario: str,
           reference: str | None) -> bytes:
    # Committed before the answer is sent. A transient conflict (SQLite still locked after the busy timeout) runs
    # the check again within the retry bound, then answers 503 (core.db.run_with_retries; no cost otherwise).
    answer = run_with_retries(lambda _attempt: checks.check_and_record(
        db, actor=principal, subjects=subjects, scenario=scenario, reference=reference), what="check")
    return orjson.dumps(answer)


def _department_filter(session: Session, principal: Principal, department: str | None) -> int | None:
    if not department:
        return None
    dept_id = auth_service.get_department(session, ref=department).id
    if not principal.is_admin and dept_id != principal.department_id:
        raise Forbidden("只能查看本部门的核查记录", code="department_mismatch")
    return dept_id


@checks_router.get("/feedback-rates", response_model=list[FeedbackRateOut])
def feedback_rates(
    date_from: dt.date | None = Query(None, description="核查日期起"),
    date_to: dt.date | None = Query(None, description="核查日期止"),
    department: str | None = Query(None, max_length=32, description="部门代码（平台管理员可指定）"),
    principal: Principal = Depends(allow(*CHECK_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """各部门的核查反馈率：核查次数、结果含措施的次数、已反馈次数与反馈率（本部门；平台管理员可看全部）。"""
    dept_id = _department_filter(session, principal, department)
    return feedback.feedback_rates(session, actor=principal, date_from=date_from, date_to=date_to,
                                   department_id=dept_id)


@checks_router.get("", response_model=list[CheckRecordOut])
def list_checks(
    date_from: dt.date | None = Query(None),
    date_to: dt.date | None = Query(None),
    scenario: str | None = Query(None, max_length=30),
    department: str | None = Query(None, max_length=32, description="部门代码（平台管理员可指定）"),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    principal: Principal = Depends(allow(*CHECK_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """本部门的核查记录（平台管理员可查看全部），新的在前。"""
    dept_id = _department_filter(session, principal, department)
    rows = checks.list_checks(session, actor=principal, department_id=dept_id, date_from=date_from,
                              date_to=date_to, scenario=scenario, limit=limit, offset=offset)
    return [checks.check_view(c) for c in rows]


@checks_router.get("/{check_id}", response_model=CheckDetailOut)
def show_check(check_id: Id, principal: Principal = Depends(allow(*CHECK_ROLES)),
               session: Session = SessionDep) -> dict[str, Any]:
    """一次核查的记录：查询（证件号码已脱敏）、结果、措施与反馈。其他部门的核查返回 404。"""
    return checks.check_detail(session, checks.get_check(session, check_id, actor=principal))


@checks_router.post("/{check_id}/feedback", response_model=FeedbackOut)
def give_feedback(check_id: Id, body: FeedbackIn, principal: Principal = Depends(allow(*FEEDBACK_ROLES)),
                  session: Session = SessionDep) -> dict[str, Any]:
    """反馈核查结果中各项措施是否实施；未实施的须说明原因。仅限发起核查的部门。"""
    items = [feedback.FeedbackInput(measure_code=i.measure_code, applied=i.applied, reason=i.reason,
                                    item_id=i.item_id) for i in body.items]
    recorded = feedback.record_feedback(session, actor=principal, check_id=check_id, items=items)
    return {"check_id": check_id, "recorded": len(recorded)}
