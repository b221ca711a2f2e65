"""Console section 门户发布 (platform admin): publish a 红黑榜 release; write, preview, publish and withdraw
articles (信用动态, 政策法规).

Thin pages over ``publications.releases`` (the service the CLI calls) and ``publications.articles``, so numbering,
the public rule for the entries, the articles' states and the audit are those of the services. A preview renders
the form's Markdown exactly as the portal will (``publications.markdown``) without saving anything. Mounted by :func:`install` after ``web.console_financing.install``, which also
adds the entries to the admin's navigation.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Revision
from xinyong.core.errors import XinyongError
from xinyong.publications import articles, releases
from xinyong.publications.markdown import render_markdown
from xinyong.publications.models import CATEGORY_LABELS
from xinyong.web.console import AdminChange, add_admin_nav, admin, failed, render, see_other

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/releases", response_class=HTMLResponse)
def releases_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    today = clock.today()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return render(
        request,
        "console/releases.html",
        principal,
        active="releases",
        items=[releases.release_view(r) for r in releases.list_releases(session, limit=100)],
        default_period=last_month,
    )


@router.post("/releases", response_class=HTMLResponse)
def releases_publish(
    request: Request,
    period: str = Form(..., max_length=20),
    note: str = Form("", max_length=2000),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    try:
        start, end = releases.period_of(period)
        release = releases.publish_release(session, actor=principal, start=start, end=end, note=note)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/releases")
    return see_other(f"/releases/{releases.number_of(release)}")


# Articles ---------------------------------------------------------------------------------------------------------


def _editor(
    request: Request,
    principal: Principal,
    *,
    article: dict[str, Any] | None,
    form: dict[str, Any],
    preview: str | None,
    status_code: int = 200,
    message: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "console/article.html",
        principal,
        active="articles",
        article=article,
        form=form,
        preview=preview,
        categories=CATEGORY_LABELS,
        message=message,
        status_code=status_code,
    )


@router.get("/articles", response_class=HTMLResponse)
def articles_page(request: Request, principal: Principal = Depends(admin), session: Session = SessionDep) -> Response:
    items = [articles.article_view(a, with_body=False) for a in articles.list_articles(session, limit=200)]
    return render(request, "console/articles.html", principal, active="articles", items=items)


@router.get("/articles/new", response_class=HTMLResponse)
def article_new(request: Request, principal: Principal = Depends(admin)) -> Response:
    form = {"category": "news", "title": "", "summary": "", "body": "", "author": "", "revision": 0}
    return _editor(request, principal, article=None, form=form, preview=None)


class ArticleForm(BaseModel):
    """The editor's fields (create and update alike); ``action`` is 保存 or 预览."""

    category: str = Field(..., max_length=20)
    title: str = Field("", max_length=200)
    summary: str = Field("", max_length=500)
    body: str = Field("", max_length=articles.MAX_BODY)
    author: str = Field("", max_length=100)
    action: str = Field("save", max_length=20)

    def fields(self) -> dict[str, str]:
        return self.model_dump(include={"category", "title", "summary", "body", "author"})


class ArticleUpdateForm(ArticleForm):
    revision: Revision


@router.post("/articles", response_class=HTMLResponse)
def article_create(
    request: Request,
    data: Annotated[ArticleForm, Form()],
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    form = {**data.fields(), "revision": 0}
    if data.action == "preview":
        return _editor(request, principal, article=None, form=form, preview=render_markdown(data.body))
    try:
        article = articles.create_article(session, actor=principal, **data.fields())
    except XinyongError as exc:
        session.rollback()
        return _editor(
            request, principal, article=None, form=form, preview=None, message=exc.message, status_code=exc.status_code
        )
    return see_other(f"/console/articles/{article.id}")


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_edit(
    request: Request, article_id: Id, principal: Principal = Depends(admin), session: Session = SessionDep
) -> Response:
    try:
        a = articles.get_article(session, article_id)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/articles")
    view = articles.article_view(a)
    form = {k: getattr(a, k) for k in ("category", "title", "summary", "body", "author", "revision")}
    return _editor(request, principal, article=view, form=form, preview=render_markdown(a.body))


@router.post("/articles/{article_id}", response_class=HTMLResponse)
def article_update(
    request: Request,
    article_id: Id,
    data: Annotated[ArticleUpdateForm, Form()],
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    back = f"/console/articles/{article_id}"
    form = {**data.fields(), "revision": data.revision}
    try:
        current = articles.article_view(articles.get_article(session, article_id), with_body=False)
        if data.action == "preview":
            return _editor(request, principal, article=current, form=form, preview=render_markdown(data.body))
        articles.update_article(
            session, actor=principal, article_id=article_id, revision=data.revision, **data.fields()
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=back)
    return see_other(back)


@router.post("/articles/{article_id}/publish", response_class=HTMLResponse)
def article_publish(article_id: Id, form: AdminChange) -> Response:
    return form.make(
        lambda: articles.publish_article(form.session, actor=form.principal, article_id=article_id),
        back=f"/console/articles/{article_id}",
    )


@router.post("/articles/{article_id}/withdraw", response_class=HTMLResponse)
def article_withdraw(article_id: Id, form: AdminChange, reason: str = Form("", max_length=500)) -> Response:
    return form.make(
        lambda: articles.withdraw_article(form.session, actor=form.principal, article_id=article_id, reason=reason),
        back=f"/console/articles/{article_id}",
    )


NAV_ITEMS = [("releases", "/console/releases", "红黑榜发布"), ("articles", "/console/articles", "信用动态与政策")]


def install(app: FastAPI) -> None:
    """Mount the pages and add them to the admin's navigation (before 接口令牌)."""
    app.include_router(router)
    add_admin_nav(NAV_ITEMS)
