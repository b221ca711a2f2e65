"""HTTP routes of `lists` (mounted under /api/v1): list types (public), the public list of entries in force
(persons masked), the department view, and the entry lifecycle (notice, listing, extension, removal, correction,
file import) for the platform admin and the operators of a list's managing departments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import Forbidden, ValidationFailed
from xinyong.lists import importer, queries, service
from xinyong.lists import types as lists_types
from xinyong.lists.models import Stage
from xinyong.lists.schemas import (
    CorrectIn,
    EntryBody,
    EntryCreateIn,
    EntryOut,
    ExtendIn,
    ImportOut,
    ListIn,
    ListSizeOut,
    ListTypeOut,
    PublicEntryOut,
    RemoveIn,
    WithdrawNoticeIn,
)

router = APIRouter(prefix="/lists", tags=["lists"], route_class=uploads.UploadRoute)

READERS = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
STATUS_PATTERN = "^(notified|active|expired|removed|all)$"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def _view(
    session: Session, entry_id: int, principal: Principal, on: dt.date | None = None, *, history: bool = True
) -> dict[str, Any]:
    row = queries.get_entry(session, entry_id, viewer=principal)
    return queries.mark_objections(
        session,
        [
            queries.entry_view(
                row, on or clock.today(), history=queries.entry_history(session, entry_id) if history else None
            )
        ],
    )[0]


@router.get("/types", response_model=list[ListTypeOut])
def types(_: Principal = Depends(public), session: Session = SessionDep) -> list[dict[str, Any]]:
    """全部名单类型：认定机关、领域、类别、法律依据、默认期限、是否须事先告知、移出规则。"""
    return [lists_types.type_view(t) for t in lists_types.list_types(session)]


@router.get("/types/{code}", response_model=ListTypeOut)
def type_(code: str, _: Principal = Depends(public), session: Session = SessionDep) -> dict[str, Any]:
    """一个名单类型（未知代码返回 404，并列出有效代码）。"""
    return lists_types.type_view(lists_types.get_list_type(session, code))


@router.get("/public/entries", response_model=list[PublicEntryOut])
def public_entries(
    list_code: str | None = Query(None, max_length=60, description="名单类型代码"),
    subject: str | None = Query(None, max_length=40, description="统一社会信用代码"),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=100_000),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """今日有效的名单条目（仅公开属性为「公开」的名单；自然人姓名、证件号码脱敏）。"""
    return queries.public_entries(
        session, today=clock.today(), list_code=list_code, subject_code=subject, limit=limit, offset=offset
    )


@router.get("/sizes", response_model=list[ListSizeOut])
def sizes(
    on: dt.date | None = Query(None, description="统计日期（默认今天）"),
    _: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """各名单今日有效条目数，以及近 30 天新增、移出、到期数。"""
    return queries.list_sizes(session, on or clock.today())


@router.get("/entries", response_model=list[EntryOut])
def entries(
    list_code: str | None = Query(None, max_length=60),
    subject: str | None = Query(None, max_length=40, description="主体代码（统一社会信用代码、身份证号等）"),
    department: str | None = Query(None, max_length=32, description="部门代码"),
    status: str = Query("all", pattern=STATUS_PATTERN, description="notified / active / expired / removed / all"),
    on: dt.date | None = Query(None, description="按该日判断状态（默认今天）"),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """名单条目（部门看到本部门认定的条目与公开名单的条目；平台管理员看到全部）。"""
    which = queries.EntryFilter(list_code, subject, department, status, on or clock.today())
    rows = queries.entries_by_codes(session, which, viewer=principal, limit=limit, offset=offset)
    return queries.mark_objections(session, [queries.entry_view(r, which.on) for r in rows])


@router.get("/entries/{entry_id}", response_model=EntryOut)
def entry(
    entry_id: Id,
    on: dt.date | None = Query(None, description="按该日判断状态（默认今天）"),
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """一个名单条目及其全部历史。"""
    return _view(session, entry_id, principal, on)


@router.post("/entries", response_model=EntryOut, status_code=201)
def create(
    body: EntryCreateIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> dict[str, Any]:
    """新增条目：``stage=notice`` 登记列入前告知；``stage=listed`` 直接列入（须告知的名单须填写告知日期）。"""
    args: dict[str, Any] = {
        "actor": principal,
        "list_code": body.list_code,
        "subject_code": body.subject_code,
        "reason": body.reason,
        "decision_no": body.decision_no,
        "facts": body.facts,
        "legal_basis": body.legal_basis,
        "notice_given_on": body.notice_given_on,
        "department": body.department,
        "authority": body.authority,
        "authority_uscc": body.authority_uscc,
    }
    if body.stage == Stage.NOTICE:
        if body.listed_on is not None or body.term_end is not None:
            raise ValidationFailed("告知阶段不能填写列入日期或有效期", code="notice_with_listing")
        entry = service.give_notice(session, **args)
    else:
        entry = service.create_entry(session, listed_on=body.listed_on, term_end=body.term_end, **args)
    return _view(session, entry.id, principal)


def _act(session: Session, principal: Principal, entry_id: int, action: Any, body: EntryBody) -> dict[str, Any]:
    """One lifecycle action on an entry, with the body's fields (named as the service takes them); the entry after."""
    action(session, actor=principal, entry_id=entry_id, **dict(body))
    return _view(session, entry_id, principal)


@router.post("/entries/{entry_id}/list", response_model=EntryOut)
def list_(
    entry_id: Id, body: ListIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> dict[str, Any]:
    """告知期满后列入（不早于陈述申辩期届满日）。"""
    return _act(session, principal, entry_id, service.list_entry, body)


@router.post("/entries/{entry_id}/extend", response_model=EntryOut)
def extend(
    entry_id: Id,
    body: ExtendIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """延长有效期（不超过名单类型的最长期限）。"""
    return _act(session, principal, entry_id, service.extend_entry, body)


@router.post("/entries/{entry_id}/remove", response_model=EntryOut)
def remove(
    entry_id: Id,
    body: RemoveIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """移出名单（信用修复、撤销认定、已履行义务等），自移出日起不再生效。"""
    return _act(session, principal, entry_id, service.remove_entry, body)


@router.post("/entries/{entry_id}/correct", response_model=EntryOut)
def correct(
    entry_id: Id,
    body: CorrectIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """更正列入事由、失信事实或认定依据（须说明原因）。"""
    return _act(session, principal, entry_id, service.correct_entry, body)


@router.post("/entries/{entry_id}/withdraw-notice", response_model=EntryOut)
def withdraw_notice(
    entry_id: Id,
    body: WithdrawNoticeIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """告知后决定不予列入（如陈述申辩理由成立）。"""
    return _act(session, principal, entry_id, service.withdraw_notice, body)


@router.post("/imports", response_model=ImportOut, status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def import_file(
    file: UploadFile = File(..., description="CSV / XLSX / JSON 文件，中文列名"),
    list_code: str | None = Form(None, max_length=60, description="整个文件的名单类型（文件中无「名单类型」列时必填）"),
    reject_all_on_error: bool = Form(False, description="有任何错误行时整个文件不导入"),
    department: str | None = Form(None, max_length=32, description="部门代码（仅平台管理员代录时使用）"),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """导入名单条目文件：逐行校验，返回行号、列名、错误码与原因；重复导入同一文件不会重复新增。"""
    if department and not principal.is_admin:
        own = auth_service.get_department(session, ref=department)
        if own.id != principal.department_id:
            raise Forbidden("只能以本部门名义导入名单条目", code="department_mismatch")
    upload = uploads.received(file)
    return importer.import_entries(
        session,
        actor=principal,
        path=upload,
        list_code=list_code,
        department=department,
        reject_all=reject_all_on_error,
        filename=upload.name,
    )


from xinyong.lists.sync_api import router as sync_router  # noqa: E402  (external list sync and review queue)

router.include_router(sync_router)
