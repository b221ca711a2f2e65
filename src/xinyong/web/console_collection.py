"""Console section 数据归集: upload a file, follow the department's batches, read and correct rejected rows.

The upload page hands the file to ``ingest.service`` (the same import as the API and the CLI); a batch page shows
the report and up to :data:`EDITABLE_ROWS` rejected rows for correction in place (:func:`rejected_rows`), which
are resent as a new batch; the error report downloads as CSV or XLSX. Routes are thin pages over the service
functions the API calls, with the role policies and helpers of ``web.console``, which mounts this router.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.fields import standards
from xinyong.core import uploads
from xinyong.core.bounds import Id
from xinyong.core.errors import ValidationFailed, XinyongError
from xinyong.identifiers.vault import get_vault
from xinyong.ingest import service as ingest_service
from xinyong.ingest.models import RejectedRow
from xinyong.web.console import (
    COUNT_CAP,
    PAGE,
    _all_departments,
    _department_filter,
    failed,
    operator,
    pager,
    render,
    see_other,
    viewer,
)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


#: Rejected rows shown for correction on one page (the rest: download the error report, fix, upload).
EDITABLE_ROWS = 100


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, principal: Principal = Depends(operator), session: Session = SessionDep) -> Response:
    other_classes = [(s.code, s.name_zh) for s in standards().values() if not s.fast_path]  # issue #18
    return render(
        request,
        "console/upload.html",
        principal,
        active="upload",
        departments=_all_departments(session, principal),
        other_classes=other_classes,
    )


@router.post("/upload", response_class=HTMLResponse)
def upload_submit(
    request: Request,
    file: UploadFile = File(...),
    kind: str = Form("", max_length=32),  # "", licence, penalty or another class (ingest validates it)
    reject_all: bool = Form(False),
    department: str = Form("", max_length=32),
    principal: Principal = Depends(operator),
    session: Session = SessionDep,
) -> Response:
    """Run the file through the collection (``ingest.service.ingest_file``) and show its batch report."""
    try:
        if principal.is_admin:
            if not department:
                raise ValidationFailed("平台管理员代为报送时须选择部门", code="department_required")
            dept_id = _department_filter(session, principal, department)
        else:
            dept_id = principal.department_id
        assert dept_id is not None
        summary = ingest_service.ingest_file(
            session,
            actor=principal,
            department_id=dept_id,
            path=uploads.received(file),
            kind=kind or None,
            reject_all=reject_all,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/upload")
    query = f"?duplicate={summary['duplicate_of']}" if summary.get("duplicate_of") else ""
    return see_other(f"/console/batches/{summary['batch']}{query}")


@router.get("/batches", response_class=HTMLResponse)
def batches_page(
    request: Request,
    page: int = Query(1, ge=1, le=10_000),
    department: str | None = Query(None, max_length=32),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    dept_id = _department_filter(session, principal, department)
    rows = ingest_service.list_batches(
        session, actor=principal, department_id=dept_id, limit=PAGE + 1, offset=(page - 1) * PAGE
    )
    total = ingest_service.count_batches(session, actor=principal, department_id=dept_id, cap=COUNT_CAP)
    return render(
        request,
        "console/batches.html",
        principal,
        active="batches",
        batches=[ingest_service.batch_summary(b) for b in rows[:PAGE]],
        page=page,
        more=len(rows) > PAGE,
        **pager(total, cap=COUNT_CAP),
        department=department or "",
        departments=_all_departments(session, principal),
    )


def rejected_rows(
    session: Session, *, actor: Principal, batch_id: int, limit: int = EDITABLE_ROWS
) -> tuple[Any, list[dict[str, Any]], int]:
    """The batch, its first ``limit`` rejected rows (cells decrypted, with their issues) and how many there are."""
    batch = ingest_service.get_batch(session, actor=actor, batch_id=batch_id)
    total = session.scalar(select(func.count()).select_from(RejectedRow).where(RejectedRow.batch_id == batch.id)) or 0
    vault = get_vault()
    width = len(batch.headers or [])
    rows = []
    for row, enc, issues in session.execute(
        select(RejectedRow.row, RejectedRow.values_enc, RejectedRow.issues)
        .where(RejectedRow.batch_id == batch.id)
        .order_by(RejectedRow.row)
        .limit(limit)
    ):
        values = json.loads(vault.decrypt(enc))
        values = [("" if v is None else str(v)) for v in (list(values) + [None] * width)[:width]]
        bad = {i.get("column") for i in issues}
        rows.append({"row": row, "cells": values, "issues": issues, "bad": bad})
    return batch, rows, total


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request,
    batch_id: Id,
    duplicate: Id | None = None,
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    batch, rows, total = rejected_rows(session, actor=principal, batch_id=batch_id)
    resent_from = None
    return render(
        request,
        "console/batch.html",
        principal,
        active="batches",
        summary=ingest_service.batch_summary(batch),
        headers=list(batch.headers or []),
        rejected=rows,
        rejected_total=total,
        duplicate=duplicate,
        resent_from=resent_from,
        can_resend=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
    )


@router.get("/batches/{batch_id}/errors.{fmt}")
def batch_errors(
    batch_id: Id, fmt: Literal["csv", "xlsx"], principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """The error report (the department's own columns and the reasons), to fix offline and upload again."""
    content, filename = ingest_service.error_report(session, actor=principal, batch_id=batch_id, fmt=fmt)
    return uploads.attachment(content, filename, uploads.CSV if fmt == "csv" else uploads.XLSX)


@router.post("/batches/{batch_id}/resend", response_class=HTMLResponse)
async def batch_resend(
    request: Request, batch_id: Id, principal: Principal = Depends(operator), session: Session = SessionDep
) -> Response:
    """Resend the corrected rejected rows as a new batch (an API push of the same department, same columns).

    Form fields: ``row`` (the row numbers ticked for resending) and ``c_<row>_<column index>`` (the cells)."""
    form = await request.form()
    back = f"/console/batches/{batch_id}"
    try:
        batch, rows, _total = rejected_rows(session, actor=principal, batch_id=batch_id)
        chosen = {str(v) for v in form.getlist("row")}
        headers = [str(h) if h is not None else "" for h in (batch.headers or [])]
        out = []
        for r in rows:
            if str(r["row"]) not in chosen:
                continue
            record: dict[str, Any] = {}
            for i, header in enumerate(headers):
                if not header:
                    continue
                value = form.get(f"c_{r['row']}_{i}")
                value = (str(value) if value is not None else r["cells"][i]).strip()
                record[header] = value or None
            out.append(record)
        if not out:
            raise ValidationFailed("请勾选要重新报送的行", code="no_rows_selected")
        summary = ingest_service.ingest_rows(
            session, actor=principal, department_id=batch.department_id, kind=batch.kind, rows=out
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    query = f"?duplicate={summary['duplicate_of']}" if summary.get("duplicate_of") else ""
    return see_other(f"/console/batches/{summary['batch']}{query}")


@router.get("/exchange/rejections", response_class=HTMLResponse)
def exchange_rejections_page(
    request: Request,
    status: Literal["open", "resolved", "superseded", "all"] = Query("open"),
    department: str | None = Query(None, max_length=32),
    page: int = Query(1, ge=1, le=10_000),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """省平台退回：the rows the province rejected, with its reason — a department sees its own (the service keeps it
    so); correct the record by uploading the corrected row, it is resent and the rejection resolved."""
    from xinyong.exchange import rejections

    try:
        data = rejections.list_rejections(
            session,
            actor=principal,
            department=(department or None) if principal.is_admin else None,
            status=None if status == "all" else status,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/batches")
    return render(
        request,
        "console/exchange_rejections.html",
        principal,
        active="batches",
        data=data,
        status=status,
        page=page,
        more=data["total"] > page * PAGE,
        department=department or "",
        departments=_all_departments(session, principal),
    )
