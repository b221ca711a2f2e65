"""Credit reports over HTTP: issue (PDF), send a person's one-time code, verify by code or by file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, public
from xinyong.auth.roles import Principal
from xinyong.core import uploads
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.reports import service
from xinyong.reports.config import get_reports_settings
from xinyong.reports.models import VerificationStatus
from xinyong.reports.schemas import (
    PersonVerificationIn,
    PersonVerificationOut,
    ReportRequestIn,
    VerificationResultOut,
)

router = APIRouter(prefix="/reports", tags=["reports"], route_class=uploads.UploadRoute)


@router.post(
    "",
    response_class=Response,
    status_code=201,
    responses={201: {"content": {"application/pdf": {}}, "description": "报告 PDF"}},
)
def issue_report(
    body: ReportRequestIn, principal: Principal = Depends(public), session: Session = SessionDep
) -> Response:
    """出具公共信用信息报告（PDF）。法人和非法人组织：任何人可免费申请；自然人：仅限本人，凭验证码申请。

    响应头 ``X-Report-Number``、``X-Report-Code``、``X-Report-SHA256`` 给出报告编号、验证码和文件指纹。"""
    verified = None
    if body.challenge or body.code:
        if not (body.challenge and body.code):
            raise ValidationFailed("请同时提供验证请求标识（challenge）和验证码", code="code_incomplete")
        verified = service.confirm_person(session, challenge=body.challenge, code=body.code)
    report, pdf_bytes = service.generate_report(
        session, subject_code=body.subject, requester=principal, verified_subject_id=verified, reason=body.reason
    )
    return pdf_response(report, pdf_bytes, status_code=201)


@router.post("/verifications", response_model=PersonVerificationOut, status_code=201)
def start_person_verification(
    body: PersonVerificationIn, _: Principal = Depends(public), session: Session = SessionDep
) -> dict[str, Any]:
    """向自然人登记的联系方式发送一次性验证码（本人申请信用报告前的身份核验）。"""
    return service.start_person_verification(session, subject_code=body.subject)


def _answer(result: dict[str, Any]) -> dict[str, Any]:
    if result["status"] == VerificationStatus.NOT_FOUND:
        raise NotFound(result["message"], code="report_not_found")
    return result


@router.get("/verify", response_model=VerificationResultOut)
def verify_by_code(
    code: str | None = Query(None, max_length=40, description="验证码（二维码中的短码）"),
    number: str | None = Query(None, max_length=40, description="报告编号"),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """凭验证码或报告编号核验报告：返回报告的登记信息和文件指纹（SHA-256）。"""
    if not (code or number):
        raise ValidationFailed("请提供验证码（code）或报告编号（number）", code="verification_input_required")
    return _answer(service.verify_report(session, number=number, short_code=code))


@router.post("/verify", response_model=VerificationResultOut)
@uploads.limit(lambda: get_reports_settings().max_verify_bytes + 1)  # one byte over: the route's own message
async def verify_by_file(
    file: UploadFile = File(..., description="报告 PDF 文件"),
    code: str | None = Form(None, max_length=40),
    number: str | None = Form(None, max_length=40),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """上传报告 PDF 核验其是否为本平台出具且未被修改（比对登记的 SHA-256 指纹）。"""
    limit = get_reports_settings().max_verify_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ValidationFailed(f"文件过大：上限 {limit} 字节", code="file_too_large", details={"limit": limit})
    if not content:
        raise ValidationFailed("上传的文件为空", code="file_empty")
    return _answer(service.verify_report(session, number=number, short_code=code, pdf_bytes=content))


def pdf_response(report: Any, pdf_bytes: bytes, *, status_code: int = 200) -> Response:
    """A credit report's PDF as a download, with its number, verification code and digest in the headers."""
    return uploads.attachment(
        pdf_bytes,
        f"credit-report-{report.number}.pdf",
        "application/pdf",
        status_code=status_code,
        headers={
            "X-Report-Number": report.number,
            "X-Report-Code": service.display_code(report.short_code),
            "X-Report-SHA256": report.sha256,
            "Cache-Control": "no-store",
        },
    )
