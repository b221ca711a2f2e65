"""HTTP routes of `watches` (mounted under /api/v1): receivers, watched subjects, deliveries.

Policy: business systems and department operators manage their own department's receivers, watches and
deliveries; the admin manages all. Another department's receiver or delivery answers 404 (``service`` decides).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core.bounds import Id, Offset
from xinyong.watches import service
from xinyong.watches.schemas import (
    DeliveryOut,
    DeliveryPage,
    ReasonIn,
    ReceiverCreated,
    ReceiverIn,
    ReceiverOut,
    SubjectsIn,
    SubjectsResult,
    WatchedPage,
    WatchedSubjectOut,
)

router = APIRouter(prefix="/watches", tags=["watches"])

MANAGERS = allow(Role.BUSINESS_SYSTEM, Role.DEPT_OPERATOR)


def _created(receiver: object, secret: str) -> ReceiverCreated:
    return ReceiverCreated(**ReceiverOut.model_validate(receiver).model_dump(), secret=secret)


# Receivers -------------------------------------------------------------------------------------------------


@router.post("/receivers", status_code=status.HTTP_201_CREATED, response_model=ReceiverCreated)
def create_receiver(
    body: ReceiverIn, session: Session = SessionDep, principal: Principal = Depends(MANAGERS)
) -> ReceiverCreated:
    """登记推送接收端；响应中的签名密钥只显示这一次。"""
    receiver, secret = service.create_receiver(
        session,
        actor=principal,
        name=body.name,
        url=body.url,
        department_id=body.department_id,
        event_types=body.event_types,
        reason=body.reason,
    )
    return _created(receiver, secret)


@router.get("/receivers", response_model=list[ReceiverOut])
def list_receivers(
    include_inactive: bool = False, session: Session = SessionDep, principal: Principal = Depends(MANAGERS)
) -> list[ReceiverOut]:
    """本部门（管理员：全部）的推送接收端。"""
    return [
        ReceiverOut.model_validate(r)
        for r in service.list_receivers(session, actor=principal, include_inactive=include_inactive)
    ]


@router.get("/receivers/{receiver_id}", response_model=ReceiverOut)
def get_receiver(
    receiver_id: Id, session: Session = SessionDep, principal: Principal = Depends(MANAGERS)
) -> ReceiverOut:
    return ReceiverOut.model_validate(service.get_receiver(session, actor=principal, receiver_id=receiver_id))


@router.post("/receivers/{receiver_id}/rotate-secret", response_model=ReceiverCreated)
def rotate_secret(
    receiver_id: Id,
    body: ReasonIn | None = None,
    session: Session = SessionDep,
    principal: Principal = Depends(MANAGERS),
) -> ReceiverCreated:
    """更换签名密钥：新密钥只显示这一次；旧密钥在宽限期内继续同时签名。"""
    receiver, secret = service.rotate_secret(
        session, actor=principal, receiver_id=receiver_id, reason=body.reason if body else None
    )
    return _created(receiver, secret)


@router.post("/receivers/{receiver_id}/deactivate", response_model=ReceiverOut)
def deactivate_receiver(
    receiver_id: Id,
    body: ReasonIn | None = None,
    session: Session = SessionDep,
    principal: Principal = Depends(MANAGERS),
) -> ReceiverOut:
    """停用接收端：不再产生新的推送，待发送的推送作废。"""
    return ReceiverOut.model_validate(
        service.deactivate_receiver(
            session, actor=principal, receiver_id=receiver_id, reason=body.reason if body else None
        )
    )


# Watched subjects ------------------------------------------------------------------------------------------


@router.post("/subjects", response_model=SubjectsResult)
def subscribe(
    body: SubjectsIn, session: Session = SessionDep, principal: Principal = Depends(MANAGERS)
) -> SubjectsResult:
    """关注主体（最多 10000 个代码）；逐项报告结果，未找到或格式错误的代码不影响其余代码。"""
    return SubjectsResult(
        **service.subscribe(
            session, actor=principal, receiver_id=body.receiver_id, codes=body.codes, reason=body.reason
        )
    )


@router.delete("/subjects", response_model=SubjectsResult)
def unsubscribe(
    body: SubjectsIn, session: Session = SessionDep, principal: Principal = Depends(MANAGERS)
) -> SubjectsResult:
    """取消关注主体。已排队的推送仍会发送。"""
    return SubjectsResult(
        **service.unsubscribe(
            session, actor=principal, receiver_id=body.receiver_id, codes=body.codes, reason=body.reason
        )
    )


@router.get("/subjects", response_model=WatchedPage)
def list_watched(
    receiver_id: Id,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=1000),
    session: Session = SessionDep,
    principal: Principal = Depends(MANAGERS),
) -> WatchedPage:
    total, rows = service.list_watches(session, actor=principal, receiver_id=receiver_id, offset=offset, limit=limit)
    items = [
        WatchedSubjectOut(
            subject_id=s.id,
            kind=s.kind,
            name=s.name,
            uscc=s.uscc,
            resident_id_masked=s.resident_id_masked,
            watched_since=w.created_at,
        )
        for w, s in rows
    ]
    return WatchedPage(receiver_id=receiver_id, total=total, offset=offset, limit=limit, items=items)


# Deliveries ------------------------------------------------------------------------------------------------


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    status_: Literal["pending", "delivered", "dead"] | None = Query(None, alias="status"),
    receiver_id: Id | None = None,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=1000),
    session: Session = SessionDep,
    principal: Principal = Depends(MANAGERS),
) -> DeliveryPage:
    total, rows = service.list_deliveries(
        session, actor=principal, status=status_, receiver_id=receiver_id, offset=offset, limit=limit
    )
    return DeliveryPage(total=total, offset=offset, limit=limit, items=[DeliveryOut.of(d) for d in rows])


@router.post("/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def redeliver(
    delivery_id: Id,
    body: ReasonIn | None = None,
    session: Session = SessionDep,
    principal: Principal = Depends(MANAGERS),
) -> DeliveryOut:
    """重新投递已放弃（dead）的推送；已确认的推送不会重发。"""
    return DeliveryOut.of(
        service.redeliver(session, actor=principal, delivery_id=delivery_id, reason=body.reason if body else None)
    )
