"""Tables of `catalog`: the information classes and the catalog's edition.

History is not kept in a table of its own: every change of a class writes an audit event (entity_type
``info_class``, entity_id = the class code) with the actor, time, reason and the changed fields before and after,
so ``xinyong audit log --type info_class --id penalty`` answers who changed what, when and why.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import count_column, now_column, pk_column
from xinyong.core.db import Base, Json

_ATTRIBUTES = "('public', 'conditional', 'shared', 'restricted')"


class InfoClass(Base):
    """One class of credit information: what it is, who owns it, whether it is public and for how long.

    The nested rule blocks (``publicity``, ``repair``, ``legal_basis`` …) are JSON documents validated by
    ``catalog.spec.InfoClassSpec`` on every write; read them through ``catalog.service.publicity_rule``.
    """

    __tablename__ = "catalog_classes"
    __table_args__ = (
        CheckConstraint(f"public_attribute IN {_ATTRIBUTES}", name="public_attribute"),
        CheckConstraint(f"natural_person_attribute IN {_ATTRIBUTES}", name="natural_person_attribute"),
        CheckConstraint("origin IN ('seed', 'admin')", name="origin"),
    )

    id: Mapped[int] = pk_column()
    code: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    name_zh: Mapped[str] = mapped_column(String(100), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    public_attribute: Mapped[str] = mapped_column(String(20), nullable=False)
    natural_person_attribute: Mapped[str] = mapped_column(String(20), nullable=False)
    applies_legal_person: Mapped[bool] = mapped_column(Boolean, nullable=False)
    applies_individual_business: Mapped[bool] = mapped_column(Boolean, nullable=False)
    applies_natural_person: Mapped[bool] = mapped_column(Boolean, nullable=False)
    owner_departments: Mapped[list[str]] = mapped_column(Json, nullable=False)
    legal_basis: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    natural_person_basis: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    publicity: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    repair: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    # 政务共享 look-back: how many years after its public window (or validity) a record of this class stays in the
    # government credit file (reports.government_file); None: the platform default (5).
    share_lookback_years: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sort_order: Mapped[int] = count_column()
    # "seed": as loaded from a catalog file (a later seed may update it); "admin": edited by the platform admin
    # (a later seed keeps it unless told to replace it).
    origin: Mapped[str] = mapped_column(String(10), nullable=False)
    seed_edition: Mapped[str | None] = mapped_column(String(60))
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # +1 on every change
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()


class CatalogMeta(Base):
    """The single row describing the catalog as a whole: its edition, sources and vocabularies."""

    __tablename__ = "catalog_meta"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition: Mapped[str] = mapped_column(String(60), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sources: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    categories: Mapped[list[str]] = mapped_column(Json, nullable=False)
    department_kinds: Mapped[dict[str, str]] = mapped_column(Json, nullable=False)
    seeded_at: Mapped[dt.datetime] = now_column()
