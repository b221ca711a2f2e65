"""Portal sections of the credit office's publications (issue #17): the 红黑榜 archive (``/releases``, one release
``/releases/{number}``, the Atom feed ``/releases.atom``), 信用动态 (``/news``, ``/news/{id}``) and 政策法规
(``/policies``, ``/policies/{id}``; the policies page also lists the legal bases of the public lists and of the
joint measures, ``publications.legal``).

Only published articles are listed; a draft's address is a 404 (as an unknown one); a withdrawn article's address
answers 410 with its title and the date and reason of withdrawal, never its text.

Pages only read: releases and articles are published by ``xinyong portal releases publish`` or by the admin in the console
(``web.console_content``), both through ``publications.releases``. A release's entries are those its service
returns — the public rule of ``lists.queries.public_entries`` applied on the day the page is read, a person's
code masked.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, public
from xinyong.core import clock
from xinyong.core.bounds import parse_id
from xinyong.core.errors import NotFound
from xinyong.core.settings import get_settings
from xinyong.publications import articles, releases
from xinyong.publications.legal import legal_documents
from xinyong.web.portal import LIST_KIND_LABELS, parse_page, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])

RELEASES_PAGE = 24
FEED_ITEMS = 50
ATOM_NS = "http://www.w3.org/2005/Atom"


def _not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", {"status": 404, "message": message}, status_code=404)


# 红黑榜 ----------------------------------------------------------------------------------------------------------


@router.get("/releases", response_class=HTMLResponse)
def releases_page(request: Request, page: str | None = None, session: Session = SessionDep) -> HTMLResponse:
    page_no = parse_page(page)
    found = releases.list_releases(session, limit=RELEASES_PAGE + 1, offset=(page_no - 1) * RELEASES_PAGE)
    return render(
        request,
        "portal/releases.html",
        {
            "items": [releases.release_view(r) for r in found[:RELEASES_PAGE]],
            "page": page_no,
            "has_next": len(found) > RELEASES_PAGE,
        },
    )


@router.get("/releases.atom")
def releases_feed(request: Request, session: Session = SessionDep) -> Response:
    """The releases as an Atom feed (RFC 4287), newest first."""
    ET.register_namespace("", ATOM_NS)
    base = str(request.base_url).rstrip("/")
    city = get_settings().city_name
    items = releases.list_releases(session, limit=FEED_ITEMS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "title", f"信用{city} · 红黑榜")
    sub(feed, "id", f"{base}/releases")
    sub(feed, "link", href=f"{base}/releases.atom", rel="self")
    sub(feed, "link", href=f"{base}/releases", rel="alternate", type="text/html")
    newest = items[0].published_at if items else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    sub(feed, "updated", newest.isoformat())
    author = sub(feed, "author")
    sub(author, "name", f"{city}社会信用体系建设领导小组办公室")
    for r in items:
        v = releases.release_view(r)
        entry = sub(feed, "entry")
        sub(entry, "title", f"{v['label']} {v['title']}")
        sub(entry, "id", f"{base}/releases/{v['number']}")
        sub(entry, "link", href=f"{base}/releases/{v['number']}", rel="alternate", type="text/html")
        sub(entry, "updated", r.published_at.isoformat())
        sub(entry, "published", r.published_at.isoformat())
        lines = [f"统计期 {v['period']}，共 {v['total']} 条。"] + [
            f"{c['list_name']} {c['count']} 条" for c in v["counts"]
        ]
        sub(entry, "summary", "；".join(lines))
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/releases/{number}", response_class=HTMLResponse)
def release_page(request: Request, number: str, session: Session = SessionDep) -> HTMLResponse:
    try:
        release = releases.get_release(session, number)
    except NotFound as exc:
        return _not_found(request, exc.message)
    entries = releases.release_entries(session, release, today=clock.today())
    groups: dict[str, dict[str, Any]] = {}
    for e in entries:
        g = groups.setdefault(e["list_code"], {"list_name": e["list_name"], "kind": e["kind"], "entries": []})
        g["entries"].append(e)
    view = releases.release_view(release)
    return render(
        request,
        "portal/release.html",
        {
            "release": view,
            "groups": sorted(groups.values(), key=lambda g: (g["kind"] != "red", g["list_name"])),
            "shown": len(entries),
            "kind_labels": LIST_KIND_LABELS,
        },
    )


# 信用动态, 政策法规 -------------------------------------------------------------------------------------------------

ARTICLES_PAGE = 20
SECTIONS = {
    "news": {"category": "news", "title": "信用动态", "path": "/news"},
    "policies": {"category": "policy", "title": "政策法规", "path": "/policies"},
}


def _article_list(request: Request, section: str, page: str | None, session: Session, **extra: Any) -> HTMLResponse:
    s = SECTIONS[section]
    page_no = parse_page(page)
    found = articles.public_articles(
        session, category=s["category"], limit=ARTICLES_PAGE + 1, offset=(page_no - 1) * ARTICLES_PAGE
    )
    return render(
        request,
        "portal/articles.html",
        {
            "section": s,
            "items": [articles.article_view(a, with_body=False) for a in found[:ARTICLES_PAGE]],
            "page": page_no,
            "has_next": len(found) > ARTICLES_PAGE,
            **extra,
        },
    )


def _article_page(request: Request, section: str, article_id: str, session: Session) -> HTMLResponse:
    s = SECTIONS[section]
    ident = parse_id(article_id)
    try:
        if ident is None:
            raise NotFound("未找到该文章", code="article_not_found")
        article = articles.public_article(session, ident, category=s["category"])
    except NotFound as exc:
        return _not_found(request, exc.message)
    view = articles.article_view(article)
    # A withdrawn article keeps its address and says so (410 Gone), without its text.
    status = 410 if view["status"] == "withdrawn" else 200
    return render(request, "portal/article.html", {"section": s, "article": view}, status_code=status)


@router.get("/news", response_class=HTMLResponse)
def news_page(request: Request, page: str | None = None, session: Session = SessionDep) -> HTMLResponse:
    return _article_list(request, "news", page, session)


@router.get("/news/{article_id}", response_class=HTMLResponse)
def news_article(request: Request, article_id: str, session: Session = SessionDep) -> HTMLResponse:
    return _article_page(request, "news", article_id, session)


@router.get("/policies", response_class=HTMLResponse)
def policies_page(request: Request, page: str | None = None, session: Session = SessionDep) -> HTMLResponse:
    return _article_list(request, "policies", page, session, legal=legal_documents(session))


@router.get("/policies/{article_id}", response_class=HTMLResponse)
def policy_article(request: Request, article_id: str, session: Session = SessionDep) -> HTMLResponse:
    return _article_page(request, "policies", article_id, session)
