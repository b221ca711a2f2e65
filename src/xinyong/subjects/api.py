"""Subject registry over HTTP.

Organisations' registration data is public (catalog class ``basic_registration``); natural persons are never
listed and are only returned to government roles, with every look-up written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.core import uploads
from xinyong.core.bounds import Id
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.subjects import access_log, service
from xinyong.subjects.models import SubjectKind
from xinyong.subjects.schemas import (
    ImportReportOut,
    OrganisationIn,
    PersonIn,
    SubjectOut,
)

router = APIRouter(prefix="/subjects", tags=["subjects"], route_class=uploads.UploadRoute)

GOVERNMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


@router.get("", response_model=list[SubjectOut])
def search(
    q: str = Query(..., min_length=1, max_length=100, description="名称（可部分）或统一社会信用代码"),
    kind: SubjectKind | None = Query(None),
    limit: int = Query(20, ge=1, le=100),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> list[service.SubjectView]:
    """按名称或代码查找法人及非法人组织、个体工商户（不含自然人）。"""
    if kind is SubjectKind.NATURAL_PERSON:
        raise ValidationFailed("自然人不提供列表查询", code="persons_not_listed")
    return [service.public_view(s) for s in service.search_organisations(session, q=q, kind=kind, limit=limit)]


@router.get("/quality")
def quality(_: Principal = Depends(allow(*GOVERNMENT_ROLES)), session: Session = SessionDep) -> dict[str, Any]:
    """主体库数据质量：统一社会信用代码转换率等。"""
    return service.quality_summary(session)


@router.get("/imports/{import_id}", response_model=ImportReportOut)
def import_report(
    import_id: Id, _: Principal = Depends(allow(*GOVERNMENT_ROLES)), session: Session = SessionDep
) -> dict[str, Any]:
    """登记数据导入批次的数据质量报告。"""
    return service.get_import(session, import_id).report or {}


@router.post("/imports", response_model=ImportReportOut, status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def upload_registry(
    file: UploadFile = File(..., description="市场监管部门登记数据导出（CSV/XLSX/JSON）"),
    allow_bad_check: bool = Query(False, description="校验位错误的代码作为待复核警告保留"),
    principal: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """导入登记注册数据（整批在一个事务中完成）。"""
    return service.import_registry(
        session, actor=principal, path=uploads.received(file), allow_bad_check=allow_bad_check
    )


@router.post("/organisations", response_model=SubjectOut, status_code=201)
def create_organisation(
    body: OrganisationIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> service.SubjectView:
    """登记一个法人或非法人组织、个体工商户。"""
    subject = service.register_organisation(
        session,
        actor=principal,
        name=body.name,
        code=body.uscc,
        legal_rep=body.legal_rep,
        reason=body.reason,
        source=f"api:{principal.actor}",
    )
    return service.subject_view(subject)


@router.post("/persons", response_model=SubjectOut, status_code=201)
def create_person(
    body: PersonIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> service.SubjectView:
    """登记一个重点职业人群中的自然人（身份证号加密存储，仅返回脱敏值）。"""
    subject = service.register_person(
        session,
        actor=principal,
        name=body.name,
        id_number=body.resident_id,
        profession=body.profession,
        reason=body.reason,
        source=f"api:{principal.actor}",
    )
    return service.subject_view(subject)


@router.get("/{code}/access-log")
def access_log_page(
    code: str,
    limit: int = Query(20, ge=1, le=access_log.MAX_PAGE_SIZE),
    offset: int = Query(0, ge=0, le=access_log.MAX_OFFSET),
    date_from: dt.date | None = Query(None, description="起始日期"),
    date_to: dt.date | None = Query(None, description="截止日期"),
    _: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """主体的查询记录（谁、哪个部门或机构、用途、时间、查询内容），含被拒绝的尝试；仅平台管理员。"""
    subject = service.find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    total, rows = access_log.entries(
        session, subject_id=subject.id, limit=limit, offset=offset, date_from=date_from, date_to=date_to
    )
    return {
        "subject_id": subject.id,
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": access_log.views(session, rows),
    }


@router.get("/{code}", response_model=SubjectOut)
def show(
    code: str,
    purpose: str | None = Query(None, max_length=200, description="查询自然人信息的用途"),
    principal: Principal = Depends(public),
    session: Session = SessionDep,
) -> service.SubjectView:
    """按代码（统一社会信用代码、身份证号、注册号、组织机构代码）查看主体。

    自然人仅向政府部门角色返回（脱敏），且每次查询记入审计日志；公众查询自然人一律返回“未找到”。
    """
    subject = service.find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    if subject.kind == SubjectKind.NATURAL_PERSON:
        if principal.role not in (Role.ADMIN, *GOVERNMENT_ROLES):
            raise NotFound("未找到该信用主体", code="subject_not_found")
        service.log_person_view(session, actor=principal, subject=subject, purpose=purpose)
        return service.subject_view(subject)
    return service.public_view(subject)
