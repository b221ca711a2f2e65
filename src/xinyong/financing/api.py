"""信易贷 over HTTP: the bank's authorised profile read, document authorisations, loan feedback; the subject's
online authorisation and revocation (one-time code); the admin's lists and figures.

A refused profile read about a known subject is answered 403 with its code *and* logged in the subject's access
log: the route returns the error itself instead of raising, so the request's transaction (which holds the log
row) commits. A bank token no longer valid (expired, revoked) is refused 401 by the policy, which logs the attempt
first in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.cases import verification
from xinyong.core import uploads
from xinyong.core.bounds import Id, Offset
from xinyong.core.errors import Unauthenticated
from xinyong.financing import service
from xinyong.financing.schemas import (
    AuthorisationOut,
    FeedbackIn,
    FeedbackOut,
    OnlineAuthorisationIn,
    ProfileOut,
    PublicRevokeIn,
    RevokeIn,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/financing", tags=["financing"], route_class=uploads.UploadRoute)
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
_bank = allow(Role.BANK)


async def bank_reader(request: Request) -> Principal:
    """The bank policy of the profile read; a bank token that is no longer valid is refused as always (401), and
    its attempt on a known subject is logged in that subject's access log first."""
    try:
        return await _bank(request)
    except Unauthenticated as exc:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        code, error_code = str(request.path_params.get("code") or "")[:40], exc.code
        if scheme.lower() == "bearer" and raw.strip() and code:
            try:
                await run_in_threadpool(
                    request.app.state.db.run,
                    lambda s: service.log_refused_token(s, raw_token=raw.strip(), code=code, error_code=error_code),
                )
            except Exception:  # noqa: BLE001 - the refusal stands even if its log could not be written
                log.exception("financing: logging a refused token failed")
        raise


bank_reader.xinyong_policy = _bank.xinyong_policy  # type: ignore[attr-defined]


def _refused(exc: service.ProfileRefused) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)


@router.get("/subjects/{code}/profile", response_model=ProfileOut)
def profile(
    code: str = Path(..., max_length=40),
    classes: str | None = Query(None, max_length=500, description="只查询这些信息类别（逗号分隔；默认全部已授权类别）"),
    document: str | None = Query(None, max_length=64, description="依据的书面授权书 SHA-256（可选）"),
    principal: Principal = Depends(bank_reader),
    session: Session = SessionDep,
) -> Any:
    """金融机构凭信用主体的有效授权查询其信用信息（仅授权范围内的类别）；每次查询及被拒绝的尝试均记入该主体的查询记录。"""
    try:
        return service.read_profile(session, actor=principal, code=code, classes=classes, document_sha256=document)
    except service.ProfileRefused as exc:
        service.log_refusal(session, actor=principal, exc=exc)
        return _refused(exc)


@router.post("/authorisations/documents", response_model=AuthorisationOut, status_code=201)
@uploads.limit(MAX_DOCUMENT_BYTES, code="document_too_large")
async def upload_document(
    file: UploadFile = File(..., description="信用主体签署的授权书（PDF、PNG、JPEG）"),
    subject: str = Form(..., max_length=40),
    scope: str = Form(..., max_length=500),
    expires_on: dt.date = Form(...),
    starts_on: dt.date | None = Form(None),
    sha256: str | None = Form(None, max_length=64),
    purpose: str | None = Form(None, max_length=200),
    principal: Principal = Depends(allow(Role.BANK)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """金融机构上传信用主体签署的书面授权书，登记授权（平台只保存授权书的 SHA-256）。"""
    content = await file.read(MAX_DOCUMENT_BYTES + 1)
    row = service.register_document(
        session,
        actor=principal,
        subject_code=subject,
        scope=scope.split(","),
        content=content,
        filename=file.filename or "",
        declared_sha256=sha256,
        purpose=purpose,
        starts_on=starts_on,
        expires_on=expires_on,
    )
    return service.authorisation_view(session, row)


@router.post("/public/authorisations", response_model=AuthorisationOut, status_code=201)
def online_authorisation(
    body: OnlineAuthorisationIn, _: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """信用主体凭验证码（用途 financing）在线授权金融机构查询其信用信息。"""
    subject_id = verification.confirm(session, challenge=body.challenge, code=body.code, purpose="financing")
    row = service.grant_online(
        session,
        subject_id=subject_id,
        institution=body.institution,
        scope=body.scope,
        purpose=body.purpose,
        days=body.days,
    )
    return service.authorisation_view(session, row)


@router.post("/public/authorisations/{authorisation_id}/revoke", response_model=AuthorisationOut)
def public_revoke(
    authorisation_id: Id, body: PublicRevokeIn, _: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """信用主体凭验证码（用途 financing）撤销本主体的授权。"""
    subject_id = verification.confirm(session, challenge=body.challenge, code=body.code, purpose="financing")
    row = service.revoke(
        session,
        actor=Principal(kind="anonymous", name="public"),
        authorisation_id=authorisation_id,
        reason=body.reason,
        subject_id=subject_id,
    )
    return service.authorisation_view(session, row)


@router.get("/authorisations", response_model=list[AuthorisationOut])
def list_authorisations(
    status: str = Query("all", pattern="^(all|active|expired|revoked)$"),
    institution: str | None = Query(None, max_length=32, description="机构代码（仅平台管理员）"),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
    principal: Principal = Depends(allow(Role.BANK)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """授权列表：金融机构只看到本机构的授权；平台管理员可看全部。"""
    if principal.is_admin:
        inst_id = service.get_institution(session, institution).id if institution else None
    else:
        inst_id = service.require_institution(session, principal).id
    rows = service.list_authorisations(session, institution_id=inst_id, status=status, limit=limit, offset=offset)
    return [service.authorisation_view(session, a) for a in rows]


@router.post("/authorisations/{authorisation_id}/revoke", response_model=AuthorisationOut)
def admin_revoke(
    authorisation_id: Id, body: RevokeIn, principal: Principal = Depends(allow()), session: Session = SessionDep
) -> dict[str, Any]:
    """平台管理员撤销授权（如授权书被认定无效）。"""
    row = service.revoke(session, actor=principal, authorisation_id=authorisation_id, reason=body.reason)
    return service.authorisation_view(session, row)


@router.post("/feedback", response_model=FeedbackOut, status_code=201)
def feedback(
    body: FeedbackIn, principal: Principal = Depends(allow(Role.BANK)), session: Session = SessionDep
) -> dict[str, Any]:
    """金融机构反馈授信结果：已放款（金额、利率区间）或未授信。"""
    row = service.record_feedback(
        session,
        actor=principal,
        authorisation_id=body.authorisation_id,
        outcome=body.outcome,
        amount_yuan=body.amount_yuan,
        rate_band=body.rate_band,
        reference=body.reference,
    )
    return service.feedback_view(row)


@router.get("/figures")
def figures(_: Principal = Depends(allow()), session: Session = SessionDep) -> dict[str, Any]:
    """信易贷统计：各金融机构的授权数、查询次数、放款笔数与金额。"""
    return service.figures(session)
