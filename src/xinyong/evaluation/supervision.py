"""Classified supervision (分级分类监管): per grade the inspection intensity, and the 双随机 sampling list.

The list for a department, a period and a seed is reproducible: every subject of the pool gets the key
``sha256(seed | model | department | period | subject id)``; in each grade the subjects with the smallest keys are
drawn, ``ceil(n × sampling ratio)`` of them. The same data and seed give the same list; a subject's draw does not
depend on which other subjects are in the pool. Each drawn subject carries the reason it was drawn.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.roles import Principal
from xinyong.core import audit, clock
from xinyong.core.db import IN_CHUNK
from xinyong.core.errors import Forbidden, ValidationFailed
from xinyong.evaluation.models import EvaluationResult
from xinyong.evaluation.service import get_model, spec_of
from xinyong.evaluation.spec import ModelSpec
from xinyong.ingest.reports import escape_cell, to_csv
from xinyong.records.inputs import RecordKind
from xinyong.records.models import CreditRecord
from xinyong.subjects.models import Subject

PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")
MAX_SEED = 2**63 - 1


def intensity(spec: ModelSpec) -> list[dict[str, Any]]:
    """Per grade: the label, the sampling ratio and the supervision measures."""
    return [
        {"grade": g.code, "label": g.label, "sampling_ratio": g.sampling_ratio, "supervision": g.supervision}
        for g in spec.grades
    ]


def _key(seed: int, model: str, department: str, period: str, subject_id: int) -> bytes:
    return hashlib.sha256(f"{seed}|{model}|{department}|{period}|{subject_id}".encode()).digest()


def sample(
    session: Session,
    *,
    actor: Principal,
    department: str,
    period: str,
    seed: int,
    model: str = "public_credit_legal_person",
) -> dict[str, Any]:
    """The sampling list of ``department`` for ``period`` under ``model``'s current grades.

    Pool: the model's ``supervision.pool`` — ``licensees``: subjects holding a licence of the department now in
    force; ``population``: every subject graded by the model. A department's principal may only draw its own list."""
    if not PERIOD.match(period or ""):
        raise ValidationFailed("期间应为 YYYY、YYYY-MM 或 YYYY-Qn，如 2026-12", code="bad_period")
    if not 0 <= seed <= MAX_SEED:
        raise ValidationFailed("随机种子应为非负整数", code="bad_seed")
    dept = auth_service.get_department(session, ref=department)
    if not actor.can_see_department(dept.id):
        raise Forbidden("只能生成本部门的抽查名单", code="other_department")
    m = get_model(session, model)
    spec = spec_of(m)
    r = EvaluationResult
    stmt = select(r.subject_id, r.grade, r.score).where(r.model_code == spec.code)
    if spec.supervision.pool == "licensees":
        today = clock.today()
        c = CreditRecord
        stmt = stmt.where(
            r.subject_id.in_(
                select(c.subject_id).where(
                    c.kind == RecordKind.LICENCE,
                    c.department_id == dept.id,
                    c.withdrawn_at.is_(None),
                    (c.licence_valid_to.is_(None)) | (c.licence_valid_to >= today),
                )
            )
        )
    counts: dict[str, int] = {g.code: 0 for g in spec.grades}
    heaps: dict[str, list[tuple[bytes, int, float]]] = {g.code: [] for g in spec.grades}
    wanted_all: dict[str, list[tuple[bytes, int, float]]] = {g.code: [] for g in spec.grades}
    ratios = {g.code: g.sampling_ratio for g in spec.grades}
    # Streams the pool once; keeps per grade only the candidates (all of a grade drawn in full).
    rows = session.execute(stmt.execution_options(yield_per=10_000))
    for sid, grade, score in rows:
        counts[grade] += 1
        item = (_key(seed, spec.code, dept.code, period, sid), sid, score)
        (wanted_all if ratios[grade] >= 1 else heaps)[grade].append(item)
    drawn: list[dict[str, Any]] = []
    per_grade = []
    for g in spec.grades:
        n = counts[g.code]
        k = n if g.sampling_ratio >= 1 else math.ceil(n * g.sampling_ratio)
        chosen = sorted(wanted_all[g.code]) if g.sampling_ratio >= 1 else heapq.nsmallest(k, heaps[g.code])
        heaps[g.code] = []
        per_grade.append(
            {
                "grade": g.code,
                "label": g.label,
                "pool": n,
                "sampling_ratio": g.sampling_ratio,
                "drawn": len(chosen),
                "supervision": g.supervision,
            }
        )
        for rank, (_, sid, score) in enumerate(chosen, 1):
            if g.sampling_ratio >= 1:
                reason = f"信用等级 {g.code}（{g.label}）：该等级全部检查（{g.supervision}）"
            else:
                reason = (
                    f"信用等级 {g.code}（{g.label}），该等级共 {n} 户，抽查比例 {g.sampling_ratio:.0%}，"
                    f"应抽 {k} 户；按随机种子 {seed} 排序第 {rank} 位被抽中"
                )
            drawn.append(
                {
                    "subject_id": sid,
                    "grade": g.code,
                    "grade_label": g.label,
                    "score": score,
                    "rank_in_grade": rank,
                    "reason": reason,
                }
            )
    names: dict[int, Any] = {}
    ids = [d["subject_id"] for d in drawn]
    for start in range(0, len(ids), IN_CHUNK):
        for s in session.execute(
            select(Subject.id, Subject.name, Subject.uscc, Subject.address).where(
                Subject.id.in_(ids[start : start + IN_CHUNK])
            )
        ):
            names[s.id] = s
    for d in drawn:
        found = names.get(d["subject_id"])
        d.update(
            {
                "name": found.name if found else None,
                "uscc": found.uscc if found else None,
                "address": found.address if found else None,
            }
        )
    digest = hashlib.sha256(",".join(str(i) for i in ids).encode()).hexdigest()
    summary = {
        "model": spec.code,
        "model_name": spec.name,
        "version": m.version,
        "department": dept.code,
        "department_name": dept.name,
        "period": period,
        "seed": seed,
        "pool": spec.supervision.pool,
        "pool_size": sum(counts.values()),
        "drawn": len(drawn),
        "grades": per_grade,
        "digest": digest,
    }
    audit.record(
        session,
        actor=actor.actor,
        action="evaluation.sample",
        entity_type="evaluation_sample",
        entity_id=f"{dept.code}:{period}:{spec.code}",
        after=summary,
    )
    return {**summary, "subjects": drawn}


def sample_csv(result: dict[str, Any]) -> bytes:
    """The drawn list as CSV (UTF-8 with BOM), every text cell escaped against spreadsheet formulas (names and
    addresses come from outside)."""
    header = ["序号", "名称", "统一社会信用代码", "地址", "信用等级", "等级名称", "得分", "抽中理由"]
    rows: list[list[Any]] = [header]
    for i, s in enumerate(result["subjects"], 1):
        rows.append(
            [i]
            + [escape_cell(s[k]) for k in ("name", "uscc", "address", "grade", "grade_label")]
            + [s["score"], escape_cell(s["reason"])]
        )
    return to_csv(rows)
