"""Audit log over HTTP: the platform admin reads events, verifies the chain and sees the state of its anchors.
In ``web``, not beside ``core.audit``: its policies (``auth.deps``) are a layer above ``core``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Role
from xinyong.core.audit import AuditEventView, event_dict, events_for, read_anchor_file, verify_anchors, verify_chain
from xinyong.core.bounds import Id
from xinyong.core.errors import NotFound
from xinyong.core.settings import get_settings

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", dependencies=[Depends(allow(Role.ADMIN))])
def list_events(
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    before_seq: Id | None = None,
    session: Session = SessionDep,
) -> list[AuditEventView]:
    """审计事件，最新在前；before_seq 翻页。"""
    return [
        event_dict(e)
        for e in events_for(
            session, entity_type=entity_type, entity_id=entity_id, actor=actor, limit=limit, before_seq=before_seq
        )
    ]


@router.get("/verify", dependencies=[Depends(allow(Role.ADMIN))])
def verify(session: Session = SessionDep) -> dict[str, Any]:
    """重新计算整条哈希链。"""
    return verify_chain(session).to_dict()


@router.get("/anchors", dependencies=[Depends(allow(Role.ADMIN))])
def anchors(session: Session = SessionDep) -> dict[str, Any]:
    """锚点状态（同 xinyong audit verify --anchors 的 anchors 部分）：各锚点是否吻合，最新锚点之后有多少条事件、
    锚点已有多久，是否超过 XINYONG_AUDIT_ANCHOR_MAX_AGE（stale）。锚点文件由 XINYONG_AUDIT_ANCHORS_FILE 指定。"""
    settings = get_settings()
    path = settings.audit_anchors_file
    if path is None:
        raise NotFound("未配置审计锚点文件（XINYONG_AUDIT_ANCHORS_FILE）", code="anchors_not_configured")
    if not path.is_file():
        raise NotFound(f"审计锚点文件不存在：{path}", code="anchors_file_not_found")
    max_age = settings.audit_anchor_max_age
    report = verify_anchors(session, read_anchor_file(path), max_age=dt.timedelta(seconds=max_age) if max_age else None)
    return {**report.to_dict(), "file": str(path)}
