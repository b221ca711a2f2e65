"""HTTP API of the credit information catalog: public reading, admin correction (thin: the service does the work)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.catalog import service
from xinyong.catalog.schemas import (
    CatalogOut,
    ClassPatch,
    InfoClassOut,
    SeedReportOut,
    SeedRequest,
)

router = APIRouter(prefix="/catalog", tags=["catalog"])

# Classes are returned without unset optional fields (``null``s), in the same shape as the catalog file.


@router.get("", dependencies=[Depends(public)])
def get_catalog(session: Session = SessionDep) -> CatalogOut:
    """信用信息目录的版本、依据文件和分类。"""
    return CatalogOut.of(service.catalog_meta(session), class_count=len(service.list_classes(session)))


@router.get("/classes", dependencies=[Depends(public)], response_model_exclude_none=True)
def list_classes(session: Session = SessionDep) -> list[InfoClassOut]:
    """全部信息类别（公开信息，无需登录）。"""
    return [InfoClassOut.of(obj) for obj in service.list_classes(session)]


@router.get("/classes/{code}", dependencies=[Depends(public)], response_model_exclude_none=True)
def get_class(code: str, session: Session = SessionDep) -> InfoClassOut:
    """一个信息类别：公开属性、法律依据、公示规则。"""
    return InfoClassOut.of(service.get_class(session, code))


@router.patch("/classes/{code}", response_model_exclude_none=True)
def update_class(
    code: str, body: ClassPatch, session: Session = SessionDep, principal: Principal = Depends(allow(Role.ADMIN))
) -> InfoClassOut:
    """修改一个信息类别（仅平台管理员；必须说明原因，记入审计日志）。"""
    change = service.update_class(
        session,
        actor=principal,
        code=code,
        changes=body.changes,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )
    return InfoClassOut.of(change.info_class)


@router.post("/seed")
def seed(
    body: SeedRequest = Body(default_factory=SeedRequest),
    session: Session = SessionDep,
    principal: Principal = Depends(allow(Role.ADMIN)),
) -> SeedReportOut:
    """按随附的全国默认目录初始化或更新目录（仅平台管理员）。"""
    return SeedReportOut.of(service.seed_catalog(session, actor=principal, replace=body.replace, reason=body.reason))
