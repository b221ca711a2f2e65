"""Articles of the credit office: 信用动态 (news) and 政策法规 (policies), written in Markdown.

The life of an article: a draft (written and edited, previewed, never public) → published (on the portal from
``published_at``; still correctable, each correction audited) → withdrawn (with a reason: the portal keeps the
address and says that and when it was withdrawn, without the text). Only the admin writes, publishes and withdraws
(the credit office works in the console as the platform admin).

Every change is one conditional UPDATE on the row's ``revision`` (edits) or ``status`` (publish, withdraw), so two
editors or two clicks never both succeed on the same version: the second is a conflict telling them to reload.
Every change writes an audit event (the title and the body's length, not the body).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, clock
from xinyong.core.db import utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.publications.markdown import plain_summary, render_markdown
from xinyong.publications.models import CATEGORY_LABELS, STATUS_LABELS, Article, ArticleCategory, ArticleStatus

ENTITY = "article"
MAX_BODY = 100_000


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("只有平台管理员（信用办）可以编辑和发布文章", code="admin_only")


def _clean(category: str, title: str, summary: str, body: str, author: str) -> dict[str, str]:
    if category not in tuple(ArticleCategory):
        raise ValidationFailed(
            f"未知的栏目 {category!r}（news 信用动态 / policy 政策法规）",
            code="unknown_category",
            details={"allowed": [c.value for c in ArticleCategory]},
        )
    title, author = " ".join((title or "").split()), " ".join((author or "").split())
    if not title or len(title) > 200:
        raise ValidationFailed("标题不能为空，且不超过 200 字", code="invalid_title")
    if not author or len(author) > 100:
        raise ValidationFailed("署名不能为空，且不超过 100 字", code="invalid_author")
    body = (body or "").replace("\r\n", "\n").replace("\x00", "")
    if not body.strip():
        raise ValidationFailed("正文不能为空", code="invalid_body")
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"正文不超过 {MAX_BODY} 字", code="invalid_body")
    return {
        "category": category,
        "title": title,
        "summary": " ".join((summary or "").split())[:500],
        "body": body,
        "author": author,
    }


def _state(a: Article) -> dict[str, Any]:
    return {
        "category": a.category,
        "title": a.title,
        "author": a.author,
        "status": a.status,
        "body_chars": len(a.body),
        "revision": a.revision,
    }


def create_article(
    session: Session, *, actor: Principal, category: str, title: str, body: str, author: str, summary: str = ""
) -> Article:
    """A new draft."""
    _require_admin(actor)
    article = Article(
        **_clean(category, title, summary, body, author), status=ArticleStatus.DRAFT, created_by=actor.actor
    )
    session.add(article)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="publications.article.create",
        entity_type=ENTITY,
        entity_id=article.id,
        after=_state(article),
    )
    return article


def get_article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound("未找到该文章", code="article_not_found")
    return article


def _changed(session: Session, article: Article, stmt: Any, message: str, code: str) -> Article:
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        raise Conflict(message, code=code)
    session.refresh(article)
    return article


def update_article(
    session: Session,
    *,
    actor: Principal,
    article_id: int,
    revision: int,
    category: str,
    title: str,
    body: str,
    author: str,
    summary: str = "",
) -> Article:
    """Edit a draft or correct a published article, if nobody changed it since ``revision`` was read."""
    _require_admin(actor)
    article = get_article(session, article_id)
    if article.status == ArticleStatus.WITHDRAWN:
        raise Conflict("已撤回的文章不能修改", code="article_withdrawn")
    before = _state(article)
    values = _clean(category, title, summary, body, author)
    stmt = (
        update(Article)
        .where(Article.id == article_id, Article.revision == revision, Article.status != ArticleStatus.WITHDRAWN)
        .values(**values, revision=Article.revision + 1, updated_at=utcnow())
    )
    _changed(session, article, stmt, "文章已被他人修改或撤回，请刷新后重试", "stale_article")
    audit.record(
        session,
        actor=actor.actor,
        action="publications.article.update",
        entity_type=ENTITY,
        entity_id=article.id,
        before=before,
        after=_state(article),
    )
    return article


def publish_article(session: Session, *, actor: Principal, article_id: int) -> Article:
    """Publish a draft: on the portal from now on."""
    _require_admin(actor)
    article = get_article(session, article_id)
    before = _state(article)
    now = utcnow()
    stmt = (
        update(Article)
        .where(Article.id == article_id, Article.status == ArticleStatus.DRAFT)
        .values(status=ArticleStatus.PUBLISHED, published_at=now, revision=Article.revision + 1, updated_at=now)
    )
    _changed(session, article, stmt, "只有草稿可以发布（该文章已发布或已撤回）", "article_not_draft")
    audit.record(
        session,
        actor=actor.actor,
        action="publications.article.publish",
        entity_type=ENTITY,
        entity_id=article.id,
        before=before,
        after=_state(article),
    )
    return article


def withdraw_article(session: Session, *, actor: Principal, article_id: int, reason: str) -> Article:
    """Withdraw a published article (the portal then says it was withdrawn, without the text)."""
    _require_admin(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationFailed("请填写撤回原因", code="reason_required")
    article = get_article(session, article_id)
    before = _state(article)
    now = utcnow()
    stmt = (
        update(Article)
        .where(Article.id == article_id, Article.status == ArticleStatus.PUBLISHED)
        .values(
            status=ArticleStatus.WITHDRAWN,
            withdrawn_at=now,
            withdrawn_reason=reason[:500],
            revision=Article.revision + 1,
            updated_at=now,
        )
    )
    _changed(session, article, stmt, "只有已发布的文章可以撤回", "article_not_published")
    audit.record(
        session,
        actor=actor.actor,
        action="publications.article.withdraw",
        entity_type=ENTITY,
        entity_id=article.id,
        reason=reason,
        before=before,
        after=_state(article),
    )
    return article


def list_articles(
    session: Session,
    *,
    category: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Article]:
    stmt = select(Article)
    if category:
        stmt = stmt.where(Article.category == category)
    if status:
        stmt = stmt.where(Article.status == status)
    stmt = stmt.order_by(Article.published_at.desc().nulls_last(), Article.updated_at.desc(), Article.id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def public_articles(session: Session, *, category: str, limit: int = 20, offset: int = 0) -> list[Article]:
    """Published articles of a category, newest first (drafts and withdrawn ones never)."""
    return list_articles(session, category=category, status=ArticleStatus.PUBLISHED, limit=limit, offset=offset)


def count_public(session: Session, *, category: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Article)
            .where(Article.category == category, Article.status == ArticleStatus.PUBLISHED)
        )
        or 0
    )


def public_article(session: Session, article_id: int, *, category: str) -> Article:
    """A published or withdrawn article of ``category`` (the page of a withdrawn one says so); a draft, another
    category's article or an unknown id: not found."""
    article = session.get(Article, article_id)
    if article is None or article.category != category or article.status == ArticleStatus.DRAFT:
        raise NotFound("未找到该文章", code="article_not_found")
    return article


def article_view(a: Article, *, with_body: bool = True) -> dict[str, Any]:
    withdrawn = a.status == ArticleStatus.WITHDRAWN
    return {
        "id": a.id,
        "category": a.category,
        "category_label": CATEGORY_LABELS[ArticleCategory(a.category)],
        "title": a.title,
        "summary": a.summary or ("" if withdrawn else plain_summary(a.body)),
        "author": a.author,
        "status": a.status,
        "status_label": STATUS_LABELS[ArticleStatus(a.status)],
        "published_at": a.published_at,
        # Civil dates (China Standard Time) for the pages: an article published at 00:30 CST is of that day.
        "published_on": clock.local_date(a.published_at) if a.published_at else None,
        "withdrawn_at": a.withdrawn_at,
        "withdrawn_on": clock.local_date(a.withdrawn_at) if a.withdrawn_at else None,
        "withdrawn_reason": a.withdrawn_reason,
        "revision": a.revision,
        "updated_at": a.updated_at,
        "html": render_markdown(a.body) if with_body and not withdrawn else None,
    }
