"""Credit commitments over HTTP: submission (file, push), the department view with history, fulfilment (践诺),
the government view of a subject and the public list (only 可向社会公开, persons masked)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.deps import PushSubmitter, SessionDep, Submitter, allow, public, submitting_department
from xinyong.auth.roles import Principal, Role
from xinyong.commitments import importer, service
from xinyong.commitments.schemas import (
    BatchOut,
    CommitmentDetailOut,
    CommitmentOut,
    FulfilmentIn,
    PublicCommitmentOut,
    PublicTypeFilter,
    PushIn,
    StatusFilter,
    SubjectCommitmentOut,
    TypeFilter,
)
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import NotFound
from xinyong.subjects.models import SubjectKind
from xinyong.subjects.service import find_subject, log_person_view

router = APIRouter(prefix="/commitments", tags=["commitments"], route_class=uploads.UploadRoute)

DEPARTMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
GOVERNMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM)
MAX_UPLOAD_BYTES = 256 * 1024 * 1024


@router.get("/public", response_model=list[PublicCommitmentOut])
def list_public(
    subject: str | None = Query(None, max_length=40, description="承诺人统一社会信用代码"),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=100_000),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """今日向社会公开的信用承诺（公开类型为「可向社会公开」且符合信用信息目录的公示规则；自然人信息脱敏）。"""
    subject_id = None
    if subject:
        found = find_subject(session, subject)
        if found is None or found.kind == SubjectKind.NATURAL_PERSON:
            return []  # the public list never confirms a person by ID number
        subject_id = found.id
    return service.public_commitments(session, today=clock.today(), subject_id=subject_id, limit=limit, offset=offset)


@router.get("", response_model=list[CommitmentOut])
def list_department(
    subject: str | None = Query(None, max_length=40, description="承诺人代码（统一社会信用代码、身份证号等）"),
    department: str | None = Query(None, max_length=32, description="部门代码（仅平台管理员可指定其他部门）"),
    commitment_type: TypeFilter | None = Query(None),
    status: StatusFilter | None = Query(None),
    broken: bool | None = Query(None, description="只看违诺（true）或未违诺（false）"),
    public_type: PublicTypeFilter | None = Query(None),
    made_from: dt.date | None = Query(None),
    made_to: dt.date | None = Query(None),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*DEPARTMENT_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """部门视图：本部门受理的信用承诺（平台管理员可查看全部），含履行状态、版本与来源。"""
    department_id = auth_service.get_department(session, ref=department).id if department else None
    subject_id = None
    if subject:
        found = find_subject(session, subject)
        if found is None:
            return []
        subject_id = found.id
    rows = service.list_commitments(
        session,
        actor=principal,
        subject_id=subject_id,
        department_id=department_id,
        commitment_type=commitment_type,
        status=status,
        broken=broken,
        public_type=public_type,
        made_from=made_from,
        made_to=made_to,
        limit=limit,
        offset=offset,
    )
    return [service.commitment_view(c, s) for c, s in rows]


@router.get("/by-subject", response_model=list[SubjectCommitmentOut])
def by_subject(
    subject: str = Query(..., min_length=1, max_length=40, description="承诺人代码（统一社会信用代码、身份证号等）"),
    purpose: str | None = Query(None, max_length=200, description="查询目的（查询自然人时记入审计日志）"),
    principal: Principal = Depends(allow(*GOVERNMENT_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """政务共享视图：一个主体的信用承诺及履行情况（可向社会公开、特定范围内公开的，以及本部门不可公开的）。"""
    found = find_subject(session, subject)
    if found is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    if found.kind == SubjectKind.NATURAL_PERSON:
        log_person_view(
            session,
            actor=principal,
            subject=found,
            purpose=purpose or "查询信用承诺",
            endpoint="GET /api/v1/commitments/by-subject",
            scope=("commitment",),
        )
    return service.subject_commitments_view(session, found, clock.today(), public=False, viewer=principal)


@router.post("/batches", response_model=BatchOut, status_code=201)
def push(
    body: PushIn,
    who: Submitter = PushSubmitter,
    session: Session = SessionDep,
) -> dict[str, Any]:
    """接口推送一批信用承诺（JSON，列名同数据标准的中文名或英文 snake_case 键）。"""
    return importer.import_rows(
        session,
        actor=who.principal,
        department_id=who.department_id,
        rows=body.rows,
        reject_all=body.reject_all_on_error,
    )


@router.post("/files", response_model=BatchOut, status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def upload(
    file: UploadFile = File(..., description="CSV / XLSX / JSON 文件"),
    reject_all_on_error: bool = Form(False),
    department_id: Id | None = Form(None),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """上传一个信用承诺数据文件，返回批次报告（退回的行及原因）。"""
    dept = submitting_department(principal, department_id)
    return importer.import_file(
        session, actor=principal, department_id=dept, path=uploads.received(file), reject_all=reject_all_on_error
    )


@router.get("/batches", response_model=list[BatchOut])
def batches(
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*DEPARTMENT_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """信用承诺报送批次（部门只看到本部门的）。"""
    return [
        importer.batch_summary(b) for b in importer.list_batches(session, actor=principal, limit=limit, offset=offset)
    ]


@router.get("/batches/{batch_id}", response_model=BatchOut)
def batch(
    batch_id: Id, principal: Principal = Depends(allow(*DEPARTMENT_ROLES)), session: Session = SessionDep
) -> dict[str, Any]:
    """一个报送批次的报告。"""
    return importer.batch_summary(importer.get_batch(session, actor=principal, batch_id=batch_id))


@router.get("/{commitment_id}", response_model=CommitmentDetailOut)
def show(
    commitment_id: Id, principal: Principal = Depends(allow(*GOVERNMENT_ROLES)), session: Session = SessionDep
) -> dict[str, Any]:
    """一条信用承诺及其全部版本和履行记录（其他部门不可公开的承诺返回 404）。"""
    c = service.get_commitment(session, commitment_id, actor=principal)
    return service.detail_view(session, c, clock.today())


@router.post("/{commitment_id}/fulfilments", response_model=CommitmentDetailOut, status_code=201)
def fulfil(
    commitment_id: Id,
    body: FulfilmentIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """认定承诺履行状态（践诺）；部分履行、全部未履行即违诺，可申请按名单规则列入名单。仅限承诺受理部门。"""
    c = service.record_fulfilment(
        session,
        actor=principal,
        commitment_id=commitment_id,
        status=body.status,
        determined_on=body.determined_on,
        determined_by=body.determined_by,
        determined_by_code=body.determined_by_code,
        unfulfilled_content=body.unfulfilled_content,
        liability_pursued=body.liability_pursued,
        expected_revision=body.expected_revision,
        note=body.note,
        list_code=body.list_code,
    )
    return service.detail_view(session, c, clock.today())
