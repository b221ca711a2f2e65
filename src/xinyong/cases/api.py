"""Due process over HTTP: public filing (objection, repair with a one-time code; complaints), the applicant's view
with the case access token, departments' work queues and decisions, documents, statistics, escalation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.cases import complaints, notify, objections, repair, service, verification
from xinyong.cases.config import get_cases_settings
from xinyong.cases.flows import Action
from xinyong.cases.models import FiledVia, Notification
from xinyong.cases.schemas import (
    ActionIn,
    CaseOut,
    ComplaintIn,
    ContactIn,
    DocumentOut,
    EventOut,
    FiledOut,
    NotificationOut,
    ObjectionIn,
    PublicCaseOut,
    PublicObjectionIn,
    PublicRepairIn,
    RepairIn,
    StatOut,
    VerificationIn,
    VerificationOut,
    WithdrawIn,
)
from xinyong.cases.verification import Purpose
from xinyong.core import uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import ValidationFailed
from xinyong.subjects.service import get_subject

router = APIRouter(prefix="/cases", tags=["cases"], route_class=uploads.UploadRoute)
#: Documents are received like every upload (bounded, never in clear on disk) within the cases' own limit.
_document_limit = uploads.limit(lambda: get_cases_settings().max_upload_bytes, code="document_too_large")

READERS = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
TOKEN_HEADER = Header(None, alias="X-Case-Token", description="立案时返回的查询凭证")


def _filed(session: Session, case: Any, token: str) -> dict[str, Any]:
    return {"case": service.case_view(session, case, applicant=True), "access_token": token}


async def _read_upload(file: UploadFile) -> bytes:
    """The upload's bytes, reading at most one byte past the limit (a huge upload is refused, not buffered)."""
    limit = get_cases_settings().max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ValidationFailed(f"文件过大：上限 {limit} 字节", code="document_too_large", details={"limit": limit})
    return content


# Public: the subject and the reporter ------------------------------------------------------------------------


@router.post("/public/verifications", response_model=VerificationOut, status_code=201)
def start_verification(
    body: VerificationIn, _: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """向信用主体登记的联系方式发送一次性验证码（提出异议、申请信用修复前的身份核验）。"""
    return verification.start(session, subject_code=body.subject, purpose=body.purpose)


def _verified_applicant(session: Session, body: PublicObjectionIn | PublicRepairIn, purpose: str) -> dict[str, Any]:
    """The subject's one-time code checked: the applicant of a public filing, as the filing functions take it."""
    subject_id, channel, address = verification.verified_applicant(
        session, challenge=body.challenge, code=body.code, purpose=purpose
    )
    return {
        "subject_id": subject_id,
        "applicant_name": body.applicant_name,
        "applicant_channel": channel,
        "applicant_address": address,
        "filed_via": FiledVia.SUBJECT,
    }


def _file_on_target(session: Session, principal: Principal, filing: Any, body: Any, **extra: Any) -> dict[str, Any]:
    """File an objection or a repair (``filing``) on the body's target, a record or a list entry: the case and its
    access token."""
    case, token = filing(
        session,
        actor=principal,
        target_type=body.target_type,
        target_id=body.target_id,
        facts=body.facts,
        **extra,
    )
    return _filed(session, case, token)


def _repair_terms(body: PublicRepairIn | RepairIn) -> dict[str, Any]:
    return {"obligations_fulfilled": body.obligations_fulfilled, "commitment_signed": body.commitment_signed}


@router.post("/public/objections", response_model=FiledOut, status_code=201)
def public_objection(
    body: PublicObjectionIn, principal: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """信用主体凭验证码对本主体的信用记录或名单条目提出异议。"""
    applicant = _verified_applicant(session, body, Purpose.OBJECTION)
    return _file_on_target(session, principal, objections.file_objection, body, **applicant)


@router.post("/public/repairs", response_model=FiledOut, status_code=201)
def public_repair(
    body: PublicRepairIn, principal: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """信用主体凭验证码申请信用修复（提前终止公示、移出名单）；立案后上传证明材料。"""
    applicant = _verified_applicant(session, body, Purpose.REPAIR)
    return _file_on_target(session, principal, repair.file_repair, body, **_repair_terms(body), **applicant)


@router.post("/public/complaints", response_model=FiledOut, status_code=201)
def public_complaint(
    body: ComplaintIn, principal: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """举报信用主体的失信行为（实名或匿名）；举报人信息仅承办部门和平台管理员可见。"""
    case, token = complaints.file_complaint(
        session,
        actor=principal,
        facts=body.facts,
        subject_code=body.subject,
        subject_name=body.subject_name,
        department=body.department,
        anonymous=body.anonymous,
        reporter_name=body.reporter_name,
        reporter_channel=body.reporter_channel,
        reporter_address=body.reporter_address,
        filed_via=FiledVia.PUBLIC,
    )
    return _filed(session, case, token)


@router.get("/public/{case_no}", response_model=PublicCaseOut)
def public_case(
    case_no: str, token: str | None = TOKEN_HEADER, _: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """申请人凭查询凭证查看案件进度与办理时限。"""
    case = service.case_by_token(session, case_no=case_no, token=token)
    return {"case": service.case_view(session, case, applicant=True), "events": service.public_events(session, case.id)}


@router.post("/public/{case_no}/documents", response_model=DocumentOut, status_code=201)
@_document_limit
async def public_document(
    case_no: str,
    file: UploadFile = File(...),
    kind: str = Form("evidence"),
    token: str | None = TOKEN_HEADER,
    principal: Principal = Depends(public),
    session: Session = SessionDep,
) -> Any:
    """申请人补充材料（PDF、PNG、JPEG；材料不对外公开）。"""
    content = await _read_upload(file)
    case = service.case_by_token(session, case_no=case_no, token=token)
    return service.add_document(
        session, actor=principal, case=case, kind=kind, filename=file.filename or "", content=content, as_applicant=True
    )


@router.post("/public/{case_no}/withdraw", response_model=CaseOut)
def public_withdraw(
    case_no: str,
    body: WithdrawIn,
    token: str | None = TOKEN_HEADER,
    principal: Principal = Depends(public),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """申请人撤回异议或修复申请。"""
    case = service.case_by_token(session, case_no=case_no, token=token)
    case = service.transition(
        session, actor=principal, case_id=case.id, action=Action.WITHDRAW, reason=body.reason, as_applicant=True
    )
    return service.case_view(session, case, applicant=True)


# Departments and the credit office -----------------------------------------------------------------------------


@router.get("", response_model=list[CaseOut])
def queue(
    kind: str | None = Query(None, pattern="^(objection|repair|complaint)$"),
    state: str | None = Query(None, max_length=30),
    department: str | None = Query(None, max_length=32, description="承办部门代码（平台管理员）"),
    open_only: bool = Query(False, alias="open"),
    overdue: bool = Query(False),
    escalated: bool = Query(False),
    subject: str | None = Query(None, max_length=40),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """工作队列：本部门承办或提交的案件（办理中的按到期日排序），可筛选逾期、已督办。"""
    department_id = service.department_id_for(session, department)
    subject_id = get_subject(session, subject).id if subject else None
    cases = service.list_cases(
        session,
        actor=principal,
        department_id=department_id,
        kind=kind,
        state=state,
        open_only=open_only,
        overdue=overdue,
        escalated=escalated,
        subject_id=subject_id,
        limit=limit,
        offset=offset,
    )
    return [service.case_view(session, c, actor=principal) for c in cases]


@router.get("/stats", response_model=list[StatOut])
def stats(
    date_from: dt.date | None = Query(None),
    date_to: dt.date | None = Query(None),
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """按部门、案件类别统计：件数、办理中、办结、逾期件数与逾期率、平均和最长办理工作日。"""
    return service.department_stats(session, actor=principal, date_from=date_from, date_to=date_to)


@router.post("/escalate", response_model=list[CaseOut])
def escalate(principal: Principal = Depends(allow()), session: Session = SessionDep) -> list[dict[str, Any]]:
    """将超过办理时限的案件标记为督办并通知信用办和承办部门（每日任务，可重复运行）。"""
    return [service.case_view(session, c, actor=principal) for c in service.escalate_overdue(session, actor=principal)]


@router.get("/notifications", response_model=list[NotificationOut])
def notifications(
    status: str | None = Query(None, pattern="^(pending|sent|failed)$"),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(allow()),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """通知发件箱（验证码内容不显示）。"""
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Notification.status == status)
    return [notify.notification_view(n) for n in session.scalars(stmt)]


@router.post("/notifications/deliver")
def deliver(_: Principal = Depends(allow()), session: Session = SessionDep) -> dict[str, int]:
    """立即发送待发通知。"""
    # End the request's transaction first (it may hold the token's last-use bookkeeping): on SQLite a transaction
    # that has read cannot write after the outbox's own transactions commit ("database is locked").
    session.commit()
    return notify.deliver_pending(session)


@router.put("/contacts/{subject_code}")
def set_contact(
    subject_code: str,
    body: ContactIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """登记信用主体的联系方式（一次性验证码发送至此）。"""
    subject = get_subject(session, subject_code)
    contact = verification.set_contact(
        session, actor=principal, subject_id=subject.id, channel=body.channel, address=body.address, source=body.source
    )
    return {
        "subject_id": subject.id,
        "channel": contact.channel,
        "address": verification.mask_address(contact.channel, contact.address),
        "source": contact.source,
    }


@router.post("/objections", response_model=FiledOut, status_code=201)
def department_objection(
    body: ObjectionIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> dict[str, Any]:
    """部门对信用记录或名单条目提出异议（转认定部门核查）。"""
    return _file_on_target(
        session,
        principal,
        objections.file_objection,
        body,
        applicant_name=body.applicant_name,
        filed_via=FiledVia.DEPARTMENT,
    )


@router.post("/repairs", response_model=FiledOut, status_code=201)
def department_repair(
    body: RepairIn, principal: Principal = Depends(allow(Role.DEPT_OPERATOR)), session: Session = SessionDep
) -> dict[str, Any]:
    """信用服务窗口代为登记信用修复申请（申请人到场核验身份）。"""
    return _file_on_target(
        session,
        principal,
        repair.file_repair,
        body,
        **_repair_terms(body),
        applicant_name=body.applicant_name,
        filed_via=FiledVia.DEPARTMENT,
    )


@router.get("/{case_id}", response_model=CaseOut)
def show(case_id: Id, principal: Principal = Depends(allow(*READERS)), session: Session = SessionDep) -> dict[str, Any]:
    """一个案件（其他部门的案件返回 404）。"""
    return service.case_view(session, service.visible_case(session, case_id, actor=principal), actor=principal)


@router.get("/{case_id}/events", response_model=list[EventOut])
def events(
    case_id: Id, principal: Principal = Depends(allow(*READERS)), session: Session = SessionDep
) -> list[dict[str, Any]]:
    """案件的全部办理记录（谁、何时、为何）。"""
    service.visible_case(session, case_id, actor=principal)
    return service.events_of(session, case_id)


@router.post("/{case_id}/actions/{action}", response_model=CaseOut)
def act(
    case_id: Id,
    action: str,
    body: ActionIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """办理案件：受理、不予受理、作出决定、准予/不予修复、撤销修复、转交、办结（须说明理由；带 version 防止并发冲突）。"""
    case = service.transition(
        session,
        actor=principal,
        case_id=case_id,
        action=action,
        reason=body.reason,
        outcome=body.outcome,
        expected_version=body.version,
        params=body.params(),
    )
    return service.case_view(session, case, actor=principal)


@router.post("/{case_id}/documents", response_model=DocumentOut, status_code=201)
@_document_limit
async def add_document(
    case_id: Id,
    file: UploadFile = File(...),
    kind: str = Form("evidence"),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> Any:
    """为案件上传材料（PDF、PNG、JPEG）。"""
    content = await _read_upload(file)
    case = service.visible_case(session, case_id, actor=principal)
    return service.add_document(
        session, actor=principal, case=case, kind=kind, filename=file.filename or "", content=content
    )


@router.get("/{case_id}/documents/{document_id}")
def document(
    case_id: Id, document_id: Id, principal: Principal = Depends(allow(*READERS)), session: Session = SessionDep
) -> Response:
    """下载案件材料（仅承办部门和平台管理员；不对公众提供）。"""
    doc, content = service.document_content(session, actor=principal, case_id=case_id, document_id=document_id)
    return Response(
        content,
        media_type=doc.media_type,
        headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
