"""Request and response bodies of the evaluation API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class RunIn(BaseModel):
    model: str | None = Field(None, max_length=60, description="模型代码（默认全部当前模型）")
    subjects: list[str] = Field(default_factory=list, max_length=100_000, description="只评价这些主体（代码）")
    changed_since: dt.datetime | None = Field(None, description="只评价此后数据有变化的主体")
    since_last_run: bool = Field(False, description="只评价上次评价以来数据有变化的主体")
    as_of: dt.date | None = Field(None, description="评价基准日（默认今天）")


class RunOut(BaseModel):
    id: int
    model: str
    version: str
    as_of: str
    scope: str
    selection: dict[str, Any]
    evaluated: int
    changed: int
    grade_changed: int
    removed: int
    events: int
    distribution: dict[str, int]
    actor: str
    started_at: str
    finished_at: str | None
    seconds: float | None


class ModelOut(BaseModel):
    code: str
    version: str
    name: str
    domain: str
    description: str
    info_class: str
    confidence: str
    legal_basis: list[dict[str, Any]]
    score: dict[str, Any]
    grades: list[dict[str, Any]]
    grade_rules: list[str]
    indicators: list[dict[str, Any]]
    overrides: list[dict[str, Any]]
    supervision_pool: str
    loaded_at: str
    sha256: str


class ExplanationLine(BaseModel):
    indicator: str
    name: str
    dimension: str
    value: float
    unit: str
    points: float
    rule: str
    text: str


class Explanation(BaseModel):
    lines: list[ExplanationLine]
    score_text: str
    grade_text: str
    supervision: dict[str, Any]


class HistoryOut(BaseModel):
    run_id: int
    as_of: str
    version: str
    from_grade: str | None
    to_grade: str | None
    from_score: float | None
    to_score: float | None
    rule: str | None
    note: str | None
    to_label: str | None = None
    explanation: Explanation | None = None


class ResultOut(BaseModel):
    model: str
    model_name: str
    version: str
    as_of: str
    run_id: int
    score: float
    grade: str
    grade_label: str
    rule: str | None
    sampling_ratio: float
    supervision: str
    confidence: str
    explanation: Explanation | None = None
    history: list[HistoryOut] | None = None


class SubjectResultsOut(BaseModel):
    subject: dict[str, Any]
    results: list[ResultOut]


class GradeBrief(BaseModel):
    """A subject's current grade under one model, as the check returns it."""

    model: str
    model_name: str
    grade: str
    grade_label: str
    score: float
    as_of: str


class SampleSubjectOut(BaseModel):
    subject_id: int
    name: str | None
    uscc: str | None
    address: str | None
    grade: str
    grade_label: str
    score: float
    rank_in_grade: int
    reason: str


class SampleOut(BaseModel):
    model: str
    model_name: str
    version: str
    department: str
    department_name: str
    period: str
    seed: int
    pool: str
    pool_size: int
    drawn: int
    grades: list[dict[str, Any]]
    digest: str
    subjects: list[SampleSubjectOut]
