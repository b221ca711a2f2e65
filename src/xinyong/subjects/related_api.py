"""Related persons over HTTP (``subjects.related``): list, add and end an organisation's legal representative and
officers; list a person's roles. Platform admin only; resident IDs only ever masked. Every answer that shows
persons' data writes the access log (查询记录) of each registered person it shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core.bounds import Id
from xinyong.core.errors import NotFound
from xinyong.subjects import access_log, related, service
from xinyong.subjects.models import Subject, SubjectKind

router = APIRouter(prefix="/subjects", tags=["subjects"])

ENDPOINT = "subjects.related_persons"


class RelatedIn(BaseModel):
    role: str = Field(..., max_length=20, description="legal_rep / principal / director / supervisor / senior_manager")
    name: str = Field(..., min_length=1, max_length=100)
    resident_id: str | None = Field(None, max_length=30, description="居民身份证号码（加密存储，仅返回脱敏值）")
    valid_from: dt.date | None = Field(None, description="任职起始日期（默认今天）")
    reason: str | None = Field(None, max_length=500)


class RelatedEndIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=500)
    on: dt.date | None = Field(None, description="卸任日期（默认今天；当日起不再担任）")


class RelatedOut(BaseModel):
    id: int
    subject_id: int
    role: str
    role_label: str
    name: str
    resident_id: str | None
    person_subject_id: int | None
    valid_from: str
    valid_to: str | None
    current: bool
    source: str
    source_label: str
    provenance: dict[str, Any]
    actor: str
    ended_by: str | None
    end_reason: str | None


def _subject(session: Session, code: str) -> Subject:
    subject = service.find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    return subject


def log_shown(session: Session, actor: Principal, rows: list[related.RelatedPerson], purpose: str | None) -> None:
    """The access log of each registered person whose role the answer shows (their name and masked ID)."""
    for person_id in sorted({r.person_subject_id for r in rows if r.person_subject_id is not None}):
        access_log.record(
            session,
            actor=actor,
            subject_id=person_id,
            purpose=purpose or "关联人员管理",
            endpoint=ENDPOINT,
            scope=["related_persons"],
        )


@router.get("/{code}/related-persons", response_model=list[RelatedOut])
def list_related(
    code: str,
    current: bool = Query(False, description="只列出现任"),
    purpose: str | None = Query(None, max_length=200, description="查询用途"),
    principal: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """组织的关联人员（法定代表人、主要负责人、董事、监事、高级管理人员），含历史；或自然人（按身份证号）担任职务的组织。

    身份证号码只返回脱敏值；涉及已登记自然人的，记入其查询记录。仅平台管理员。"""
    subject = _subject(session, code)
    if subject.kind == SubjectKind.NATURAL_PERSON:
        rows = list(
            session.scalars(
                select(related.RelatedPerson)
                .where(related.RelatedPerson.id_hash == subject.resident_id_hash)
                .order_by(related.RelatedPerson.valid_to.is_not(None), related.RelatedPerson.id.desc())
            )
        )
        if current:
            rows = [r for r in rows if r.valid_to is None]
        access_log.record(
            session,
            actor=principal,
            subject_id=subject.id,
            purpose=purpose or "关联人员管理",
            endpoint=ENDPOINT,
            scope=["related_persons"],
        )
    else:
        rows = related.list_related(session, subject, include_ended=not current)
        log_shown(session, principal, rows, purpose)
    return [related.related_view(r) for r in rows]


@router.post("/{code}/related-persons", response_model=RelatedOut, status_code=201)
def add_related(
    code: str, body: RelatedIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> dict[str, Any]:
    """登记组织的一名关联人员（人工录入，写入审计日志）。"""
    row = related.add_related(
        session,
        actor=principal,
        subject=_subject(session, code),
        role=body.role,
        name=body.name,
        id_number=body.resident_id,
        valid_from=body.valid_from,
        reason=body.reason,
    )
    return related.related_view(row)


@router.post("/{code}/related-persons/{related_id}/end", response_model=RelatedOut)
def end_related(
    code: str,
    related_id: Id,
    body: RelatedEndIn,
    principal: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """结束一名关联人员的任职（记录保留，写明结束日期、操作人和原因）。"""
    row = related.end_related(
        session,
        actor=principal,
        subject=_subject(session, code),
        related_id=related_id,
        reason=body.reason,
        on=body.on,
    )
    return related.related_view(row)
