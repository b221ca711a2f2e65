"""Tables of `publications`: 红黑榜 releases and the credit office's articles.

A :class:`Release` is one numbered publication (〔2026〕第12期) of the entries that joined the public red and black
lists in a period (a month by default). It keeps the entries it published (:class:`ReleaseEntry`) and a count per list at the
time of publishing; the pages show those entries through the public rule of ``lists.queries.public_entries``, so
an entry that has since left its list (credit repair, revocation, end of term) is no longer shown, only counted.

An :class:`Article` is a news item (信用动态) or a policy document (政策法规) written in Markdown: a draft until the
admin publishes it, public while published, withdrawn (with a reason) afterwards. ``revision`` guards against two
editors overwriting each other.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, in_list, now_column, pk_column
from xinyong.core.db import Base, BigId, Json, UTCDateTime


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("year", "seq"),
        UniqueConstraint("period_start", "period_end"),
        CheckConstraint("period_end >= period_start", name="period_order"),
    )

    id: Mapped[int] = pk_column()
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    # The day the entries were judged public (the day of publishing).
    published_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    # Per list at publishing: {"list_code", "list_name", "kind", "count"}.
    counts: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    published_by: Mapped[str] = actor_column()
    published_at: Mapped[dt.datetime] = now_column()


class ReleaseEntry(Base):
    """One list entry a release published."""

    __tablename__ = "release_entries"

    release_id: Mapped[int] = mapped_column(BigId, ForeignKey("releases.id"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("list_entries.id"), primary_key=True)


class ArticleCategory(StrEnum):
    NEWS = "news"  # 信用动态
    POLICY = "policy"  # 政策法规


class ArticleStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


CATEGORY_LABELS = {ArticleCategory.NEWS: "信用动态", ArticleCategory.POLICY: "政策法规"}
STATUS_LABELS = {ArticleStatus.DRAFT: "草稿", ArticleStatus.PUBLISHED: "已发布", ArticleStatus.WITHDRAWN: "已撤回"}


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(f"category IN {in_list(tuple(ArticleCategory))}", name="category"),
        CheckConstraint(f"status IN {in_list(tuple(ArticleStatus))}", name="status"),
        Index("ix_articles_category_status_published", "category", "status", "published_at"),
    )

    id: Mapped[int] = pk_column()
    category: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False)  # Markdown
    # The author as the article names him (署名: a person or an office), not the account.
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=ArticleStatus.DRAFT)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_by: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()
    updated_at: Mapped[dt.datetime] = now_column()
