"""HTTP routes of external list sync and the review queue (mounted by ``lists/api.py`` under /api/v1/lists).

Syncing and judging are for the platform admin and the operators of the list's managing department (checked in
``lists.sync``); reading syncs and the queue also for that department's viewers.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core import uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.lists import sync
from xinyong.subjects.service import get_subject

router = APIRouter(tags=["lists"], route_class=uploads.UploadRoute)
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class SyncOut(BaseModel):
    id: int
    list: str | None
    mode: str
    filename: str
    sha256: str
    actor: str
    started_at: str
    finished_at: str | None
    rows: int
    added: int
    changed: int
    removed: int
    unchanged: int
    rejected: int
    review_queued: int
    review_queue_size: int
    relinked: int
    report: dict[str, Any] | None = None


class SyncPage(BaseModel):
    total: int
    items: list[SyncOut]


class ReviewItem(BaseModel):
    entry_id: int
    list: str
    list_name: str | None = None
    decision_no: str | None = None
    court: str | None = None
    entry_key: str
    party_name: str
    party_code: str | None
    party_kind: str | None
    region_code: str | None
    reason: str
    authority: str
    listed_on: str | None
    match_status: str
    subject_id: int | None
    match_score: float | None
    candidates: builtins.list[dict[str, Any]]  # builtins: the field `list` above shadows the name here
    data: dict[str, Any]


class ReviewPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ReviewItem]


class JudgeIn(BaseModel):
    verdict: Literal["same", "not_same"]
    subject_id: Id | None = Field(None, description="主体编号（与 subject_code 二选一）")
    subject_code: str | None = Field(None, description="主体的统一社会信用代码等（与 subject_id 二选一）")
    reason: str = Field(..., min_length=1, max_length=2000)


def _viewer_department(session: Session, principal: Principal) -> str | None:
    """None for the admin (sees every list); otherwise the caller's department code."""
    if principal.is_admin:
        return None
    return sync.department_code(session, principal) or "\x00"  # a department that manages nothing


@router.post("/syncs", response_model=SyncOut, status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def upload_sync(
    file: UploadFile = File(..., description="名单文件：CSV / XLSX / JSON"),
    list_code: str = Form(..., alias="list", description="名单类型代码，如 court_dishonest_debtor"),
    mode: Literal["snapshot", "delta"] = Form("snapshot"),
    skip_invalid: bool = Form(False),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """上传外部名单的全量快照或增量文件，比对并应用差异，返回新增/变更/移出/未变数和待复核数。"""
    upload = uploads.received(file)
    record = sync.sync_list(
        session,
        actor=principal,
        list_code=list_code,
        path=upload,
        mode=mode,
        skip_invalid=skip_invalid,
        filename=upload.name,
    )
    return sync.sync_view(record, list_code)


@dataclass(frozen=True)
class _ListPage:
    """A page of a list's syncs or review queue, as a viewer may read it (``department_code``: their lists only)."""

    list_code: str | None
    limit: int
    offset: int
    department_code: str | None


def _list_page(
    list_code: str | None = Query(None, alias="list"),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)),
    session: Session = SessionDep,
) -> _ListPage:
    return _ListPage(list_code, limit, offset, _viewer_department(session, principal))


@router.get("/syncs", response_model=SyncPage)
def list_syncs(page: _ListPage = Depends(_list_page), session: Session = SessionDep) -> dict[str, Any]:
    """同步记录（最新在前）；部门用户只看到本部门主管的名单。"""
    total, found = sync.syncs_of(session, **asdict(page))
    return {"total": total, "items": [sync.sync_view(r, code, with_report=False) for r, code in found]}


@router.get("/syncs/{sync_id}", response_model=SyncOut)
def get_sync(
    sync_id: Id,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """一次同步的计数和报告（含无效行）。"""
    record = sync.get_sync(session, sync_id)
    lt = sync.list_type_by_id(session, record.list_type_id)
    dept = _viewer_department(session, principal)
    if dept is not None and dept not in (lt.managing_departments or []):
        raise NotFound(f"同步记录 {sync_id} 不存在", code="list_sync_not_found")
    return sync.sync_view(record, lt.code)


@router.get("/review", response_model=ReviewPage)
def review(page: _ListPage = Depends(_list_page), session: Session = SessionDep) -> dict[str, Any]:
    """待复核的名单条目（无代码可关联、姓名比对得分低于阈值者），附候选主体及其得分依据。"""
    return sync.review_queue(session, **asdict(page))


@router.post("/review/{entry_id}", response_model=ReviewItem)
def judge(
    entry_id: Id,
    body: JudgeIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """复核结论：same（同一主体，关联）或 not_same（不是同一主体，从候选中排除）；以后的同步沿用该结论。"""
    if (body.subject_id is None) == (body.subject_code is None):
        raise ValidationFailed("subject_id 与 subject_code 须且只须填写一个", code="subject_required")
    subject_id = body.subject_id if body.subject_id is not None else get_subject(session, body.subject_code or "").id
    entry = sync.judge(
        session, actor=principal, entry_id=entry_id, subject_id=subject_id, verdict=body.verdict, reason=body.reason
    )
    return sync.review_view(entry, sync.list_type_by_id(session, entry.list_type_id).code)
