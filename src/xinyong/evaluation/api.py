"""Evaluation over HTTP: runs (admin), models, a subject's grades with explanation (government roles; the public
only where the catalog makes evaluation results public), and the 双随机 sampling list (JSON or CSV download)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow, public
from xinyong.auth.roles import Principal, Role
from xinyong.core import uploads
from xinyong.core.bounds import Offset
from xinyong.core.errors import NotFound
from xinyong.evaluation import service, supervision
from xinyong.evaluation.schemas import (
    ModelOut,
    RunIn,
    RunOut,
    SampleOut,
    SubjectResultsOut,
)
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

router = APIRouter(prefix="/evaluation", tags=["evaluation"])

GOVERNMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM)
DEPARTMENT_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)


@router.post("/runs", response_model=list[RunOut])
def run(
    body: RunIn, principal: Principal = Depends(allow(Role.ADMIN)), session: Session = SessionDep
) -> list[dict[str, Any]]:
    """运行评价（平台管理员）：默认全部主体；指定主体、changed_since 或 since_last_run 时只评价这些主体。"""
    since: Any = "last" if body.since_last_run else body.changed_since
    return service.run_evaluation(
        session, actor=principal, model=body.model, subject_codes=body.subjects, changed_since=since, as_of=body.as_of
    )


@router.get("/runs", response_model=list[RunOut])
def runs(
    model: str | None = Query(None, max_length=60),
    limit: int = Query(20, ge=1, le=200),
    _: Principal = Depends(allow(Role.ADMIN)),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """最近的评价运行（平台管理员）。"""
    return [service.run_view(r) for r in service.list_runs(session, model=model, limit=limit)]


@router.get("/models", response_model=list[ModelOut])
def models(_: Principal = Depends(allow(*GOVERNMENT_ROLES)), session: Session = SessionDep) -> list[dict[str, Any]]:
    """当前评价模型：指标、权重、时间衰减、修正规则、等级与抽查比例。"""
    return [service.model_view(m) for m in service.current_models(session)]


def _subject_head(subject: Subject, resident_id: str | None) -> dict[str, Any]:
    return {
        "id": subject.id,
        "name": subject.name,
        "kind": subject.kind,
        "uscc": subject.uscc,
        "resident_id": resident_id,
    }


@router.get("/subjects/{code}", response_model=SubjectResultsOut)
def subject_results(
    code: str,
    history: bool = Query(True),
    principal: Principal = Depends(allow(*GOVERNMENT_ROLES)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """主体的评价结果（政务共享）：等级、得分、逐项解释与等级历史。"""
    subject = find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    results = service.read_subject_results(
        session, subject, actor=principal, endpoint="GET /api/v1/evaluation/subjects/{code}", history=history
    )
    return {"subject": _subject_head(subject, subject.resident_id_masked), "results": results}


@router.get("/public/subjects/{code}", response_model=SubjectResultsOut)
def public_results(code: str, _: Principal = Depends(public), session: Session = SessionDep) -> dict[str, Any]:
    """向社会公开的评价结果：只有信用信息目录将「信用评价结果信息」设为社会公开时才返回（默认为政务共享，返回空）。"""
    subject = find_subject(session, code)
    if subject is None or subject.kind == SubjectKind.NATURAL_PERSON:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    return {
        "subject": _subject_head(subject, None),
        "results": service.subject_results(session, subject, role=None, history=False),
    }


@router.get("/sample", response_model=SampleOut)
def sample(
    seed: Offset,
    department: str = Query(..., max_length=32),
    period: str = Query(..., max_length=10),
    model: str = Query("public_credit_legal_person", max_length=60),
    format: str = Query("json", pattern="^(json|csv)$"),
    principal: Principal = Depends(allow(*DEPARTMENT_ROLES)),
    session: Session = SessionDep,
) -> Any:
    """部门的双随机抽查名单（按信用等级确定比例；同一种子可复现）；format=csv 时下载 CSV。"""
    result = supervision.sample(session, actor=principal, department=department, period=period, seed=seed, model=model)
    if format == "json":
        return result
    name = f"sample-{result['department']}-{result['period']}-{result['seed']}.csv"
    return uploads.attachment(supervision.sample_csv(result), name, uploads.CSV)
