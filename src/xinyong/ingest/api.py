"""Collection over HTTP: departments upload files or push JSON; batch reports and rejected-row downloads."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import PushSubmitter, SessionDep, Submitter, allow, submitting_department
from xinyong.auth.roles import Principal, Role
from xinyong.core import uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.ingest import service
from xinyong.ingest.schemas import BatchOut, PushIn, TimelinessOut

router = APIRouter(prefix="/ingest", tags=["ingest"], route_class=uploads.UploadRoute)


@router.post("/batches", response_model=BatchOut, status_code=201)
def push(
    body: PushIn,
    who: Submitter = PushSubmitter,
    session: Session = SessionDep,
) -> dict[str, Any]:
    """接口推送一批信用信息（行政许可、行政处罚或其他有数据标准的信息类别；JSON，列名同数据标准）。"""
    return service.ingest_rows(
        session,
        actor=who.principal,
        department_id=who.department_id,
        kind=body.kind,
        rows=body.rows,
        reject_all=body.reject_all_on_error,
    )


@router.post("/files", response_model=BatchOut, status_code=201)
def upload(
    file: UploadFile = File(..., description="CSV / XLSX / JSON 文件"),
    kind: str | None = Form(
        None, description="信息类别代码：penalty、licence 或其他有数据标准的类别；缺省时按列名判断"
    ),
    reject_all_on_error: bool = Form(False),
    department_id: Id | None = Form(None),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """上传一个数据文件，返回批次报告（文件上限见 XINYONG_UPLOAD_MAX_BYTES，超过时返回 413）。"""
    dept = submitting_department(principal, department_id)
    return service.ingest_file(
        session,
        actor=principal,
        department_id=dept,
        path=uploads.received(file),
        kind=kind,
        reject_all=reject_all_on_error,
    )


@router.get("/batches", response_model=list[BatchOut])
def batches(
    department_id: Id | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """归集批次（部门只看到本部门的）。"""
    return [
        service.batch_summary(b)
        for b in service.list_batches(session, actor=principal, department_id=department_id, limit=limit, offset=offset)
    ]


@router.get("/batches/{batch_id}", response_model=BatchOut)
def batch(
    batch_id: Id,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """一个批次的报告。"""
    return service.batch_summary(service.get_batch(session, actor=principal, batch_id=batch_id))


@router.get("/batches/{batch_id}/errors.{fmt}")
def batch_errors(
    batch_id: Id,
    fmt: Literal["csv", "xlsx"],
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)),
    session: Session = SessionDep,
) -> Response:
    """下载退回数据（部门原格式 + 错误说明）。"""

    content, filename = service.error_report(session, actor=principal, batch_id=batch_id, fmt=fmt)
    return uploads.attachment(content, filename, uploads.CSV if fmt == "csv" else uploads.XLSX)


@router.get("/timeliness", response_model=list[TimelinessOut])
def timeliness(
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    _: Principal = Depends(allow(Role.DEPT_VIEWER, Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """各部门报送及时性与退回率（用于督查考核）。"""
    return service.timeliness(session, date_from=date_from, date_to=date_to)
