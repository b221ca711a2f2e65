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
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.db import Database, run_with_retries
from xinyong.core.errors import Forbidden
from xinyong.measures import audit as catalog_audit
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

router = APIRouter(prefix="/measures", tags=["measures"])
checks_router = APIRouter(prefix="/checks", tags=["checks"])
#: ``GET /catalog/audit`` (the credit office): here, not in ``catalog.api``, because it reads list types and measures.
audit_router = APIRouter(prefix="/catalog", tags=["catalog"])

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
    rows = service.list_measures(
        session, kind=kind, scenario=scenario, list_type=list_type, include_inactive=include_inactive
    )
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
def deactivate_measure(
    code: str, body: ActiveIn, principal: Principal = Depends(allow()), session: Session = SessionDep
) -> dict[str, Any]:
    """停用一项措施（须说明原因；记入审计日志）：停用后核查不再返回该措施。仅平台管理员。"""
    obj = service.set_measure_active(session, actor=principal, code=code, active=False, reason=body.reason)
    return service.measure_views(session, [obj])[0]


@router.post("/{code}/activate", response_model=MeasureOut)
def activate_measure(
    code: str, body: ActiveIn, principal: Principal = Depends(allow()), session: Session = SessionDep
) -> dict[str, Any]:
    """重新启用一项措施（须说明原因；记入审计日志）。仅平台管理员。"""
    obj = service.set_measure_active(session, actor=principal, code=code, active=True, reason=body.reason)
    return service.measure_views(session, [obj])[0]


# Checks --------------------------------------------------------------------------------------------------------


@checks_router.get("/scenarios", response_model=list[ScenarioOut])
def scenarios(_: Principal = Depends(public)) -> list[dict[str, str]]:
    """核查场景代码及其含义。"""
    return [{"code": code, "label": label} for code, label in SCENARIOS.items()]


@checks_router.post("", response_model=CheckOut, max_body_size=CHECK_MAX_BODY_BYTES)
async def create_check(
    request: Request, body: CheckIn, principal: Principal = Depends(allow(*CHECK_ROLES))
) -> Response:
    """信用核查：一个或多个主体（最多10,000个）在某一场景下适用的联合奖惩措施，附理由与法律依据；每次核查均留痕。"""
    subjects = [checks.SubjectQuery(code=s.code, name=s.name, region=s.region, kind=s.kind) for s in body.subjects]
    # The hottest route: one hand-over to a worker thread, which opens the session, checks, records and commits
    # (a 200 means the check is recorded), and serialises the answer straight to JSON (built to the CheckOut
    # shape, which the tests validate) instead of a second pass through the response model — a 10,000-subject
    # answer is ~10 MB. Hence no SessionDep here: it would cost a dependency and a second hand-over.
    content = await asyncio.get_running_loop().run_in_executor(
        _CHECK_THREADS, partial(_check, request.app.state.db, principal, subjects, body.scenario, body.reference)
    )
    return Response(content, media_type="application/json")


#: The check's own worker threads: a plain executor hand-over costs a fraction of Starlette's ``run_in_threadpool``
#: (anyio's capacity limiter, cancel scope and context copy). More threads than cores only help while a check waits
#: for the database (PostgreSQL's round trips, SQLite's write lock); each holds up to two pooled connections.
_CHECK_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xinyong-check")


def _check(
    db: Database, principal: Principal, subjects: list[checks.SubjectQuery], scenario: str, reference: str | None
) -> bytes:
    # Committed before the answer is sent. A transient conflict (SQLite still locked after the busy timeout) runs
    # the check again within the retry bound, then answers 503 (core.db.run_with_retries; no cost otherwise).
    answer = run_with_retries(
        lambda _attempt: checks.check_and_record(
            db, actor=principal, subjects=subjects, scenario=scenario, reference=reference
        ),
        what="check",
    )
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
    return feedback.feedback_rates(
        session, actor=principal, date_from=date_from, date_to=date_to, department_id=dept_id
    )


@checks_router.get("", response_model=list[CheckRecordOut])
def list_checks(
    date_from: dt.date | None = Query(None),
    date_to: dt.date | None = Query(None),
    scenario: str | None = Query(None, max_length=30),
    department: str | None = Query(None, max_length=32, description="部门代码（平台管理员可指定）"),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*CHECK_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """本部门的核查记录（平台管理员可查看全部），新的在前。"""
    dept_id = _department_filter(session, principal, department)
    rows = checks.list_checks(
        session,
        actor=principal,
        department_id=dept_id,
        date_from=date_from,
        date_to=date_to,
        scenario=scenario,
        limit=limit,
        offset=offset,
    )
    return [checks.check_view(c) for c in rows]


@checks_router.get("/{check_id}", response_model=CheckDetailOut)
def show_check(
    check_id: Id, principal: Principal = Depends(allow(*CHECK_ROLES)), session: Session = SessionDep
) -> dict[str, Any]:
    """一次核查的记录：查询（证件号码已脱敏）、结果、措施与反馈。其他部门的核查返回 404。"""
    return checks.check_detail(session, checks.get_check(session, check_id, actor=principal))


@checks_router.post("/{check_id}/feedback", response_model=FeedbackOut)
def give_feedback(
    check_id: Id,
    body: FeedbackIn,
    principal: Principal = Depends(allow(*FEEDBACK_ROLES)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """反馈核查结果中各项措施是否实施；未实施的须说明原因。仅限发起核查的部门。"""
    items = [
        feedback.FeedbackInput(measure_code=i.measure_code, applied=i.applied, reason=i.reason, item_id=i.item_id)
        for i in body.items
    ]
    recorded = feedback.record_feedback(session, actor=principal, check_id=check_id, items=items)
    return {"check_id": check_id, "recorded": len(recorded)}


# Audit of unverified numbers and rules (issue #18.5) ----------------------------------------------------------------


@audit_router.get("/audit")
def audit_catalog(
    only: str | None = Query(None, pattern="^(unverified|low|confirmed)$"),
    source: str | None = Query(None, pattern="^(catalog|list_types|measures)$"),
    _: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """目录、名单类型和奖惩措施中标为未核实或低可信度的数值、规则和法律依据（仅平台管理员，即信用办）：位置（文件、键路径）、
    当前值、依据；管理员修改或确认过的目录项附修改人、时间和原因。"""
    items = catalog_audit.audit(session, only=only, source=source)
    return {"summary": catalog_audit.summary(items), "items": [i.to_dict() for i in items]}
