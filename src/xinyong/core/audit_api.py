"""Audit log over HTTP: the platform admin reads events and verifies the chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Role
from xinyong.core.audit import events_for, verify_chain
from xinyong.core.bounds import Id

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", dependencies=[Depends(allow(Role.ADMIN))])
def list_events(
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    before_seq: Id | None = None,
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """审计事件，最新在前；before_seq 翻页。"""
    return [
        {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
         "entity_type": e.entity_type, "entity_id": e.entity_id, "reason": e.reason,
         "before": e.before, "after": e.after, "hash": e.hash}
        for e in events_for(session, entity_type=entity_type, entity_id=entity_id, actor=actor,
                            limit=limit, before_seq=before_seq)
    ]


@router.get("/verify", dependencies=[Depends(allow(Role.ADMIN))])
def verify(session: Session = SessionDep) -> dict[str, Any]:
    """重新计算整条哈希链。"""
    return verify_chain(session).to_dict()
