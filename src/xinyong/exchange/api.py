"""HTTP routes of `exchange` (mounted under /api/v1), for the platform admin: the exchange's status (for the
dashboards) and the feed itself, read by sequence number (a pull alternative to ``xinyong exchange push``; ID
numbers masked as stored); for departments: the rows the province rejected (their own only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core.bounds import Offset
from xinyong.exchange import feed, figures, rejections, render, status

router = APIRouter(prefix="/exchange", tags=["exchange"])

ADMIN_ONLY = allow()
#: The rejections of a department's own rows: its operators and viewers (``rejections.list_rejections`` keeps a
#: department user to its own department), and the admin.
DEPARTMENT_ROWS = allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)


@router.get("/status")
def exchange_status(session: Session = SessionDep, principal: Principal = Depends(ADMIN_ONLY)) -> dict[str, Any]:
    """交换状态：已写入、已发送、已确认的序号，积压、失败与拒收。"""
    return status.status(session)


@router.get("/feed")
def exchange_feed(
    after: Offset = 0,
    limit: int = Query(500, ge=1, le=5000),
    session: Session = SessionDep,
    principal: Principal = Depends(ADMIN_ONLY),
) -> dict[str, Any]:
    """按序号读取交换消息（信封与国家标准字段的数据行），``next_after`` 为下一次请求的起点。"""
    messages = feed.messages_after(session, after, limit=limit)
    items = render.render_messages(session, messages)
    return {
        "after": after,
        "messages": items,
        "next_after": items[-1]["seq"] if items else after,
        "last_seq": feed.last_seq(session),
    }


@router.get("/figures")
def exchange_figures(
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    session: Session = SessionDep,
    principal: Principal = Depends(ADMIN_ONLY),
) -> dict[str, Any]:
    """各部门上报省平台的情况：应报、已报、接收、拒收，上报率与上报合格率（缺省为本月）。"""
    return figures.report(session, span=figures.Span.of(date_from, date_to))


@router.get("/rejections")
def exchange_rejections(
    status: str = Query("open", pattern="^(open|resolved|superseded|all)$"),
    department: str | None = Query(None, max_length=32),
    limit: int = Query(200, ge=1, le=1000),
    offset: Offset = 0,
    session: Session = SessionDep,
    principal: Principal = Depends(DEPARTMENT_ROWS),
) -> dict[str, Any]:
    """省平台拒收的数据行（待整改清单）：部门账号只看本部门，平台管理员可看全部或按部门筛选。"""
    return rejections.list_rejections(
        session,
        actor=principal,
        department=department,
        status=None if status == "all" else status,
        limit=limit,
        offset=offset,
    )
