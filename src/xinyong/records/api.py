"""Credit records over HTTP: the public list (only what is public today, persons masked) and the department view
(own department only; the platform admin sees all)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.fields import record_kinds
from xinyong.core import clock
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import Forbidden
from xinyong.records import queries, service, views
from xinyong.records.schemas import PublicRecordOut, RecordOut, VersionOut, WithdrawIn
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject, log_person_view

#: A record kind: licence, penalty, or another class with a data standard (issue #18; unknown ones: 422).
KIND_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"

router = APIRouter(prefix="/records", tags=["records"])

DEPARTMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
STATUS_PATTERN = "^(public|withdrawn|expired|not_public|all)$"


def _subject_id(session: Session, code: str | None, *, persons: bool) -> int | bool | None:
    """The subject's id for a code filter; ``False`` when nothing can match (unknown, or a person publicly)."""
    if not code:
        return None
    subject = find_subject(session, code)
    if subject is None or (not persons and subject.kind == SubjectKind.NATURAL_PERSON):
        return False
    return subject.id


def _log_person_read(session: Session, principal: Principal, subject_id: int | None, kind: str | None) -> None:
    """A department reading a natural person's records is in the person's access log (查询记录)."""
    if subject_id is None:
        return
    subject = session.get(Subject, subject_id)
    if subject is not None and subject.kind == SubjectKind.NATURAL_PERSON:
        log_person_view(
            session,
            actor=principal,
            subject=subject,
            purpose="部门查询信用记录",
            endpoint="GET /api/v1/records",
            scope=(kind,) if kind else record_kinds(),
            action="records.person_read",
        )


@router.get("/public", response_model=list[PublicRecordOut])
def list_public(
    subject: str | None = Query(None, max_length=40, description="行政相对人统一社会信用代码或其他登记代码"),
    kind: str | None = Query(
        None, pattern=KIND_PATTERN, description="信息类别：licence、penalty 或其他有数据标准的类别"
    ),
    date_from: dt.date | None = Query(None, description="决定日期起"),
    date_to: dt.date | None = Query(None, description="决定日期止"),
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=100_000),
    _: Principal = Depends(public),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """今日处于公示期内的行政许可、行政处罚信息（按信用信息目录的公示规则；自然人信息脱敏）。"""
    subject_id = _subject_id(session, subject, persons=False)
    if subject_id is False:
        return []
    rows = queries.list_records(
        session,
        subject_id=subject_id,
        kind=kind,
        date_from=date_from,
        date_to=date_to,
        public_only=True,
        today=clock.today(),
        limit=limit,
        offset=offset,
    )
    out = views.attach_class_fields(session, [views.public_record_view(r) for r in rows], public=True)
    return views.mark_objections(session, out)


@router.get("", response_model=list[RecordOut])
def list_department(
    subject: str | None = Query(None, max_length=40, description="行政相对人代码（统一社会信用代码、身份证号等）"),
    department: str | None = Query(None, max_length=32, description="部门代码（仅平台管理员可指定）"),
    kind: str | None = Query(
        None, pattern=KIND_PATTERN, description="信息类别：licence、penalty 或其他有数据标准的类别"
    ),
    date_from: dt.date | None = Query(None),
    date_to: dt.date | None = Query(None),
    status: str = Query("all", pattern=STATUS_PATTERN, description="public / withdrawn / expired / not_public / all"),
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(allow(*DEPARTMENT_ROLES)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """部门视图：本部门报送的信用记录（平台管理员可查看全部），含版本数、及时性与来源。"""
    if principal.is_admin:
        department_id = auth_service.get_department(session, ref=department).id if department else None
    else:
        department_id = principal.department_id
        if department and auth_service.get_department(session, ref=department).id != department_id:
            raise Forbidden("只能查看本部门的信用记录", code="department_mismatch")
    subject_id = _subject_id(session, subject, persons=True)
    if subject_id is False:
        return []
    rows = queries.list_records(
        session,
        subject_id=subject_id,
        department_id=department_id,
        kind=kind,
        date_from=date_from,
        date_to=date_to,
        status=status,
        public_only=False,
        today=clock.today(),
        limit=limit,
        offset=offset,
    )
    _log_person_read(session, principal, subject_id, kind)
    return views.mark_objections(session, [views.record_view(r) for r in rows])


@router.get("/{record_id}", response_model=RecordOut)
def show(
    record_id: Id, principal: Principal = Depends(allow(*DEPARTMENT_ROLES)), session: Session = SessionDep
) -> dict[str, Any]:
    """一条信用记录（其他部门的记录返回 404）。"""
    row = queries.record_row(session, record_id, actor=principal, today=clock.today())
    if row.subject.kind == SubjectKind.NATURAL_PERSON:
        log_person_view(
            session,
            actor=principal,
            subject=row.subject,
            purpose="部门查看信用记录",
            endpoint="GET /api/v1/records/{record_id}",
            scope=(row.record.kind,),
            action="records.person_read",
        )
    return views.mark_objections(session, [views.record_view(row)])[0]


@router.get("/{record_id}/versions", response_model=list[VersionOut])
def versions(
    record_id: Id, principal: Principal = Depends(allow(*DEPARTMENT_ROLES)), session: Session = SessionDep
) -> list[dict[str, Any]]:
    """一条信用记录的全部版本（报送批次、行号、时间、变更字段）。"""
    return [views.version_view(v) for v in queries.record_history(session, record_id, actor=principal)]


@router.post("/{record_id}/withdraw", response_model=RecordOut)
def withdraw(
    record_id: Id,
    body: WithdrawIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """撤回一条信用记录的公示（决定被撤销、变更等），须说明原因；仅限本部门操作员。"""
    service.withdraw(session, actor=principal, record_id=record_id, reason=body.reason)
    return views.mark_objections(
        session, [views.record_view(queries.record_row(session, record_id, actor=principal, today=clock.today()))]
    )[0]
