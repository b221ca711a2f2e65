"""Tables of `evaluation`: model versions, runs, each subject's current result, and the history of changes.

Storage stays bounded for a million subjects: a run is one row; :class:`EvaluationResult` holds one row per
(model, subject) — the current score, grade and every indicator's ``[value, points]`` — overwritten in place; a
:class:`GradeHistory` row is appended only when a subject's grade or score changed (with the contributions that
produced it, so every past grade can still be explained line by line).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class EvaluationModel(Base):
    """One version of a model, stored as loaded from its YAML file: immutable once stored."""

    __tablename__ = "evaluation_models"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(60), nullable=False)
    version: Mapped[str] = mapped_column(String(30), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str | None] = mapped_column(String(300))
    # The version runs use (one per code); older versions stay to explain the results they produced.
    current: Mapped[bool] = mapped_column(nullable=False, default=True)
    loaded_at: Mapped[dt.datetime] = now_column()
    actor: Mapped[str] = actor_column()


class EvaluationRun(Base):
    __tablename__ = "evaluation_runs"

    id: Mapped[int] = pk_column()
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("evaluation_models.id"), nullable=False, index=True)
    model_code: Mapped[str] = mapped_column(String(60), nullable=False)
    model_version: Mapped[str] = mapped_column(String(30), nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    scope: Mapped[str] = mapped_column(String(10), nullable=False)  # full | subset
    # What selected the subset: explicit subjects and/or changes since a time.
    selection: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    evaluated: Mapped[int] = count_column()
    changed: Mapped[int] = count_column()
    grade_changed: Mapped[int] = count_column()
    removed: Mapped[int] = count_column()
    events: Mapped[int] = count_column()
    distribution: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    actor: Mapped[str] = actor_column()
    started_at: Mapped[dt.datetime] = now_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)


class EvaluationResult(Base):
    """The current result of a subject under a model. ``run_id`` / ``as_of``: the run that computed these values;
    a later run that finds the same values leaves the row as it is (the runs table says which runs covered it)."""

    __tablename__ = "evaluation_results"
    __table_args__ = (
        UniqueConstraint("model_code", "subject_id"),
        Index("ix_evaluation_results_subject", "subject_id"),
        Index("ix_evaluation_results_model_grade", "model_code", "grade"),
    )

    id: Mapped[int] = pk_column()
    model_code: Mapped[str] = mapped_column(String(60), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("evaluation_models.id"), nullable=False)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("evaluation_runs.id"), nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    grade: Mapped[str] = mapped_column(String(4), nullable=False)
    # The override that decided the grade (NULL: the score's threshold did).
    rule: Mapped[str | None] = mapped_column(String(40))
    # [[value, points], …] in the model version's indicator order. JSON text, also on PostgreSQL (migration 0024:
    # read and compared whole, never queried inside; jsonb stored it in five times the bytes).
    contributions: Mapped[list[list[float]]] = mapped_column(JSON, nullable=False)
    # When the grade or score last changed (the run that wrote the latest history row).
    changed_run_id: Mapped[int] = mapped_column(BigId, nullable=False)


class GradeHistory(Base):
    """Append-only: a subject's first result under a model, and every later change of grade or score."""

    __tablename__ = "evaluation_history"
    __table_args__ = (
        Index("ix_evaluation_history_subject_model", "subject_id", "model_code", "id"),
        Index("ix_evaluation_history_run", "run_id"),
    )

    id: Mapped[int] = pk_column()
    model_code: Mapped[str] = mapped_column(String(60), nullable=False)
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("evaluation_models.id"), nullable=False)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("evaluation_runs.id"), nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    from_grade: Mapped[str | None] = mapped_column(String(4))
    to_grade: Mapped[str | None] = mapped_column(String(4))  # NULL: the subject left the model's population
    from_score: Mapped[float | None] = mapped_column(Float)
    to_score: Mapped[float | None] = mapped_column(Float)
    rule: Mapped[str | None] = mapped_column(String(40))
    contributions: Mapped[list[list[float]] | None] = mapped_column(JSON)  # JSON text, as the results'
    note: Mapped[str | None] = mapped_column(Text)
