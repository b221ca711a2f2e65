"""Evaluation services: load model versions, run them (all subjects or a changed subset), read and explain results.

- :func:`load_models` stores the shipped YAML models (``evaluation/data/models``) as versions: a new version
  becomes current; the same version with other content is refused (a version is immutable).
- :func:`run_evaluation` runs one or every current model through ``evaluation.engine`` (set-based SQL), writes the
  run row, one audit event per run, and a ``grade.changed`` event for every watched subject whose grade changed.
- :func:`subject_results` / :func:`explain_result` give a subject's grades with their line-by-line explanation and
  history; :func:`current_grades` is the bulk read used by the check. What a caller sees follows the catalog class
  of the model (``info_class``, default ``evaluation``): ``may_see`` decides per role.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.catalog import service as catalog_service
from xinyong.core import audit, clock, hooks
from xinyong.core.db import IN_CHUNK, lock_keys, utcnow
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.evaluation import engine
from xinyong.evaluation.models import (
    EvaluationModel,
    EvaluationResult,
    EvaluationRun,
    GradeHistory,
)
from xinyong.evaluation.rules import explain, may_see
from xinyong.evaluation.spec import (
    ModelSpec,
    describe_grades,
    describe_rule,
    parse_model,
    shipped_models,
)
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject, log_person_view

ENTITY = "evaluation_model"
GRADE_EVENT = "grade.changed"
_SPECS: dict[str, ModelSpec] = {}  # by the stored version's SHA-256


# Models --------------------------------------------------------------------------------------------------------


def load_models(
    session: Session,
    *,
    actor: Principal,
    specs: Sequence[ModelSpec] | None = None,
    source: str = "evaluation/data/models",
) -> dict[str, Any]:
    """Store model versions not stored yet (each new version becomes its model's current one). Idempotent."""
    specs = list(specs) if specs is not None else shipped_models()
    report: dict[str, list[str]] = {"added": [], "unchanged": []}
    for spec in specs:
        catalog_service.get_class(session, spec.info_class)  # the catalog class must exist
        digest = spec.digest()
        found = session.scalars(
            select(EvaluationModel).where(EvaluationModel.code == spec.code, EvaluationModel.version == spec.version)
        ).one_or_none()
        if found is not None:
            if found.sha256 != digest:
                raise Conflict(
                    f"评价模型 {spec.code} 的版本 {spec.version} 已存在且内容不同：修改模型须提高 version",
                    code="evaluation_model_version_exists",
                    details={"code": spec.code, "version": spec.version},
                )
            report["unchanged"].append(f"{spec.code}@{spec.version}")
            continue
        session.execute(update(EvaluationModel).where(EvaluationModel.code == spec.code).values(current=False))
        obj = EvaluationModel(
            code=spec.code,
            version=spec.version,
            name=spec.name,
            spec=spec.dump(),
            sha256=digest,
            source=source,
            current=True,
            actor=actor.actor,
        )
        session.add(obj)
        session.flush()
        audit.record(
            session,
            actor=actor.actor,
            action="evaluation.model_load",
            entity_type=ENTITY,
            entity_id=f"{spec.code}@{spec.version}",
            after={"sha256": digest, "name": spec.name},
        )
        report["added"].append(f"{spec.code}@{spec.version}")
    return report


def ensure_models(session: Session, *, actor: Principal) -> None:
    """Load the shipped models when none is stored yet (first run on a fresh database). Two first runs at once
    queue on a lock and the second finds the first's models (PostgreSQL; SQLite has one writer)."""
    if session.scalar(select(EvaluationModel.id).limit(1)) is None:
        lock_keys(session, "evaluation_model", ["shipped"])
        if session.scalar(select(EvaluationModel.id).limit(1)) is None:
            load_models(session, actor=actor)


def spec_of(model: EvaluationModel) -> ModelSpec:
    """The parsed spec of a stored version, cached by content hash (a version's content never changes)."""
    spec = _SPECS.get(model.sha256)
    if spec is None:
        spec = _SPECS[model.sha256] = parse_model(model.spec, origin=f"评价模型 {model.code}@{model.version} ")
    return spec


def current_models(session: Session) -> list[EvaluationModel]:
    return list(
        session.scalars(select(EvaluationModel).where(EvaluationModel.current.is_(True)).order_by(EvaluationModel.code))
    )


def get_model(session: Session, code: str) -> EvaluationModel:
    model = session.scalars(
        select(EvaluationModel).where(EvaluationModel.code == code, EvaluationModel.current.is_(True))
    ).one_or_none()
    if model is None:
        raise NotFound(f"没有代码为 {code!r} 的评价模型", code="evaluation_model_not_found", details={"code": code})
    return model


def model_view(model: EvaluationModel) -> dict[str, Any]:
    spec = spec_of(model)
    return {
        "code": model.code,
        "version": model.version,
        "name": model.name,
        "domain": spec.domain,
        "description": spec.description,
        "info_class": spec.info_class,
        "confidence": spec.confidence,
        "legal_basis": [b.model_dump(exclude_none=True) for b in spec.legal_basis],
        "score": spec.score.model_dump(),
        "grades": [g.model_dump() for g in spec.grades],
        "grade_rules": describe_grades(spec),
        "indicators": [
            {
                "code": i.code,
                "name": i.name,
                "dimension": i.dimension,
                "source": i.source,
                "rule": describe_rule(i),
                "confidence": i.confidence,
            }
            for i in spec.indicators
        ],
        "overrides": [o.model_dump(exclude_none=True) for o in spec.overrides],
        "supervision_pool": spec.supervision.pool,
        "loaded_at": model.loaded_at.isoformat(),
        "sha256": model.sha256,
    }


# Runs ----------------------------------------------------------------------------------------------------------


def _subject_ids(session: Session, codes: Sequence[str]) -> list[int]:
    ids, missing = [], []
    for code in codes:
        s = find_subject(session, code)
        if s is None:
            missing.append(code)
        else:
            ids.append(s.id)
    if missing:
        raise NotFound(
            f"未找到信用主体：{', '.join(missing[:5])}", code="subject_not_found", details={"codes": missing[:100]}
        )
    return ids


def last_run(session: Session, model_code: str) -> EvaluationRun | None:
    return session.scalars(
        select(EvaluationRun)
        .where(EvaluationRun.model_code == model_code, EvaluationRun.finished_at.is_not(None))
        .order_by(EvaluationRun.id.desc())
        .limit(1)
    ).first()


def run_evaluation(
    session: Session,
    *,
    actor: Principal,
    model: str | None = None,
    subject_codes: Sequence[str] = (),
    subject_ids: Sequence[int] = (),
    changed_since: dt.datetime | str | None = None,
    as_of: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Run ``model`` (default: every current model) as of ``as_of`` (default today).

    With neither subjects nor ``changed_since`` it evaluates the whole population; otherwise only the named subjects
    plus those whose registry entry, records, list entries, commitments or cases changed since the time
    (``"last"``: since the model's last finished run; a full run when there was none)."""
    ensure_models(session, actor=actor)
    as_of = as_of or clock.today()
    models = [get_model(session, model)] if model else current_models(session)
    ids = list(subject_ids) + (_subject_ids(session, subject_codes) if subject_codes else [])
    out = []
    for m in models:
        since: dt.datetime | None
        previous = last_run(session, m.code) if changed_since is not None else None
        # The day the stored results were evaluated as of: the date windows run from there to ``as_of``.
        previous_day = previous.as_of if previous is not None else None
        if changed_since == "last":
            since = previous.started_at if previous else None
            subset = previous is not None or bool(ids)
        elif isinstance(changed_since, str):
            raise ValidationFailed("changed_since 应为时间或 last", code="bad_changed_since")
        else:
            since, subset = changed_since, changed_since is not None or bool(ids)
        out.append(
            _run_one(
                session,
                actor=actor,
                model=m,
                as_of=as_of,
                subset=subset,
                ids=ids,
                since=since,
                previous_day=previous_day,
            )
        )
    return out


def _run_one(
    session: Session,
    *,
    actor: Principal,
    model: EvaluationModel,
    as_of: dt.date,
    subset: bool,
    ids: list[int],
    since: dt.datetime | None,
    previous_day: dt.date | None = None,
) -> dict[str, Any]:
    spec = spec_of(model)
    started = time.perf_counter()
    selection: dict[str, Any] = {}
    if ids:
        selection["subjects"] = len(set(ids))
    if since is not None:
        selection["changed_since"] = since.isoformat()
    # A copy: the stored value must not be the dict completed below, or the final assignment compares equal to it
    # and is never written (the row would lack ``selected``).
    run = EvaluationRun(
        model_id=model.id,
        model_code=model.code,
        model_version=model.version,
        as_of=as_of,
        scope="subset" if subset else "full",
        selection=dict(selection),
        actor=actor.actor,
        started_at=utcnow(),
    )
    session.add(run)
    session.flush()
    if subset:
        days = (previous_day, as_of) if since is not None and previous_day is not None else None
        selection["selected"] = engine.fill_subset(session, subject_ids=ids, changed_since=since, spec=spec, days=days)
    counts = engine.apply_run(session, spec=spec, model_id=model.id, run_id=run.id, as_of=as_of, subset=subset)
    if subset:
        engine._drop_temp(session, engine.SUBSET)
    run.events = _emit_grade_events(session, spec=spec, run_id=run.id)
    run.evaluated, run.changed = counts["evaluated"], counts["changed"]
    run.grade_changed, run.removed = counts["grade_changed"], counts["removed"]
    run.distribution = dict(sorted(counts["distribution"].items()))
    run.selection = dict(selection)
    run.finished_at = utcnow()
    run.seconds = round(time.perf_counter() - started, 3)
    session.flush()
    summary = run_view(run)
    audit.record(
        session,
        actor=actor.actor,
        action="evaluation.run",
        entity_type="evaluation_run",
        entity_id=run.id,
        after={
            k: summary[k]
            for k in (
                "model",
                "version",
                "as_of",
                "scope",
                "selection",
                "evaluated",
                "changed",
                "grade_changed",
                "removed",
                "events",
                "distribution",
            )
        },
    )
    return summary


def _emit_grade_events(session: Session, *, spec: ModelSpec, run_id: int) -> int:
    watches = hooks.subject_events()
    emit_subject_event, watched_subjects = watches.emit_subject_event, watches.watched_subjects
    h = GradeHistory
    changed = select(h.subject_id).where(
        h.run_id == run_id, h.from_grade.is_not(None), h.to_grade.is_not(None), h.from_grade != h.to_grade
    )
    watched = watched_subjects(session, changed, event=GRADE_EVENT)
    if not watched:
        return 0
    n = 0
    rows = session.execute(
        select(h.subject_id, h.from_grade, h.to_grade, h.to_score).where(
            h.run_id == run_id, h.subject_id.in_(sorted(watched))
        )
    ).all()
    for sid, before, after, score in rows:
        if before is None or after is None or before == after:
            continue
        emit_subject_event(
            session,
            subject_id=sid,
            event=GRADE_EVENT,
            payload={
                "model": spec.code,
                "model_name": spec.name,
                "version": spec.version,
                "from": before,
                "from_label": spec.grade(before).label,
                "to": after,
                "to_label": spec.grade(after).label,
                "score": score,
            },
        )
        n += 1
    return n


def run_view(run: EvaluationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "model": run.model_code,
        "version": run.model_version,
        "as_of": run.as_of.isoformat(),
        "scope": run.scope,
        "selection": run.selection,
        "evaluated": run.evaluated,
        "changed": run.changed,
        "grade_changed": run.grade_changed,
        "removed": run.removed,
        "events": run.events,
        "distribution": run.distribution,
        "actor": run.actor,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": run.seconds,
    }


def list_runs(session: Session, *, model: str | None = None, limit: int = 20) -> list[EvaluationRun]:
    stmt = select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(limit)
    if model:
        stmt = stmt.where(EvaluationRun.model_code == model)
    return list(session.scalars(stmt))


# Reading results -----------------------------------------------------------------------------------------------


def _visible(session: Session, spec: ModelSpec, subject_kind: str, role: str | None) -> bool:
    rule = catalog_service.publicity_rule(session, spec.info_class)
    attribute = rule.natural_person_attribute if subject_kind == SubjectKind.NATURAL_PERSON else rule.public_attribute
    return may_see(attribute.value, role)


def _models_by_id(session: Session, ids: set[int]) -> dict[int, EvaluationModel]:
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(EvaluationModel).where(EvaluationModel.id.in_(sorted(ids))))}


def explain_result(
    spec: ModelSpec, *, score: float, grade: str, rule: str | None, contributions: list[list[float]]
) -> dict[str, Any]:
    return explain(spec, score=score, grade=grade, rule=rule, contributions=contributions)


def read_subject_results(
    session: Session, subject: Subject, *, actor: Principal, endpoint: str, history: bool = True
) -> list[dict[str, Any]]:
    """:func:`subject_results` for a government reader (what the catalog lets ``actor``'s role see); reading a
    natural person's results is recorded in the subject's access log (``subjects.log_person_view``)."""
    if subject.kind == SubjectKind.NATURAL_PERSON:
        log_person_view(
            session, actor=actor, subject=subject, purpose="信用评价结果查询", endpoint=endpoint, scope=("evaluation",)
        )
    role = actor.role.value if actor.role else None
    return subject_results(session, subject, role=role, history=history)


def subject_results(
    session: Session, subject: Subject, *, role: str | None, history: bool = True, explain_lines: bool = True
) -> list[dict[str, Any]]:
    """The subject's current result under each model the caller may see (``role`` None: the public), with the
    line-by-line explanation and (``history``) every earlier grade with its own explanation."""
    results = list(
        session.scalars(
            select(EvaluationResult)
            .where(EvaluationResult.subject_id == subject.id)
            .order_by(EvaluationResult.model_code)
        )
    )
    hist: dict[str, list[GradeHistory]] = {}
    if history and results:
        for h in session.scalars(
            select(GradeHistory).where(GradeHistory.subject_id == subject.id).order_by(GradeHistory.id.desc())
        ):
            hist.setdefault(h.model_code, []).append(h)
    models = _models_by_id(session, {r.model_id for r in results} | {h.model_id for hs in hist.values() for h in hs})
    out = []
    for r in results:
        model = models[r.model_id]
        spec = spec_of(model)
        if not _visible(session, spec, subject.kind, role):
            continue
        g = spec.grade(r.grade)
        view: dict[str, Any] = {
            "model": r.model_code,
            "model_name": spec.name,
            "version": model.version,
            "as_of": r.as_of.isoformat(),
            "run_id": r.run_id,
            "score": r.score,
            "grade": r.grade,
            "grade_label": g.label,
            "rule": r.rule,
            "sampling_ratio": g.sampling_ratio,
            "supervision": g.supervision,
            "confidence": spec.confidence,
        }
        if explain_lines:
            view["explanation"] = explain(
                spec, score=r.score, grade=r.grade, rule=r.rule, contributions=r.contributions
            )
        if history:
            view["history"] = [_history_view(h, models[h.model_id]) for h in hist.get(r.model_code, [])]
        out.append(view)
    return out


def _history_view(h: GradeHistory, model: EvaluationModel) -> dict[str, Any]:
    spec = spec_of(model)
    view: dict[str, Any] = {
        "run_id": h.run_id,
        "as_of": h.as_of.isoformat(),
        "version": model.version,
        "from_grade": h.from_grade,
        "to_grade": h.to_grade,
        "from_score": h.from_score,
        "to_score": h.to_score,
        "rule": h.rule,
        "note": h.note,
    }
    if h.to_grade is not None and h.contributions is not None and h.to_score is not None:
        view["to_label"] = spec.grade(h.to_grade).label
        view["explanation"] = explain(
            spec, score=h.to_score, grade=h.to_grade, rule=h.rule, contributions=h.contributions
        )
    return view


def current_grades(
    session: Session, subject_ids: Sequence[int], *, role: str | None, kinds: dict[int, str]
) -> dict[int, list[dict[str, Any]]]:
    """Each subject's current grades the caller may see, in one query for all of them (the check's batches)."""
    ids = sorted(set(subject_ids))
    if not ids:
        return {}
    r, m = EvaluationResult, EvaluationModel
    rows: list[Any] = []
    for start in range(0, len(ids), IN_CHUNK):
        rows.extend(
            session.execute(
                select(r.subject_id, r.model_id, m.sha256, r.grade, r.score, r.as_of)
                .join(m, m.id == r.model_id)
                .where(r.subject_id.in_(ids[start : start + IN_CHUNK]))
                .order_by(r.subject_id, r.model_code)
            ).all()
        )
    if not rows:
        return {}
    missing = {model_id for _, model_id, sha, *_ in rows if sha not in _SPECS}
    for model in _models_by_id(session, missing).values():
        spec_of(model)
    out: dict[int, list[dict[str, Any]]] = {}
    allowed: dict[tuple[str, str], bool] = {}
    for sid, _, sha, grade, score, as_of in rows:
        spec = _SPECS[sha]
        kind = kinds.get(sid, "legal_person")
        key = (spec.info_class, kind)
        if key not in allowed:
            allowed[key] = _visible(session, spec, kind, role)
        if allowed[key]:
            out.setdefault(sid, []).append(
                {
                    "model": spec.code,
                    "model_name": spec.name,
                    "grade": grade,
                    "grade_label": spec.grade(grade).label,
                    "score": score,
                    "as_of": as_of.isoformat(),
                }
            )
    return out
