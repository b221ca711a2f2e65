"""HTTP routes of `exchange` (mounted under /api/v1), for the platform admin: the exchange's status (for the
dashboards) and the feed itself, read by sequence number (a pull alternative to ``xinyong exchange push``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal
from xinyong.core.bounds import Offset
from xinyong.exchange import feed, figures, render, status

router = APIRouter(prefix="/exchange", tags=["exchange"])

ADMIN_ONLY = allow()


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
