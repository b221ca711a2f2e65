"""信用动态 and 政策法规 (both databases): the admin writes, previews, publishes, corrects and withdraws in the console;
the portal lists only published articles, never a draft, and a withdrawn one answers 410 without its text; the
Markdown is rendered without raw HTML or script links; the policies page lists the legal bases of lists and
measures."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import make_user
from tests.lists.entry_helpers import ADMIN, make_env
from tests.web.test_console import login
from xinyong.auth.roles import Principal, Role
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import Conflict, Forbidden
from xinyong.measures import service as measures
from xinyong.publications import articles
from xinyong.publications.markdown import render_markdown, safe_link

HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
BODY = """## 一、总体要求

沁阳市公共信用信息平台上线**信用动态**栏目。

- 第一条
- 第二条

<script>alert(1)</script> [恶意](javascript:alert(1)) [名单](/lists) [官网](https://www.creditchina.gov.cn)
"""


def test_markdown_is_safe():
    html = render_markdown(BODY + "\n<img src=x onerror=alert(1)> [x](JAVASCRIPT:alert(1)) [y](//evil.example)")
    assert "<h2>" in html and "<li>第一条</li>" in html and "<strong>信用动态</strong>" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace("(javascript:", "")
    assert 'href="javascript' not in html.lower() and 'href="//evil' not in html
    assert '<a href="/lists">名单</a>' in html
    assert 'href="https://www.creditchina.gov.cn" rel="nofollow noopener noreferrer"' in html
    for url in ("javascript:x", "data:text/html,1", "vbscript:x", "//a.example", "\\\\a", "java\nscript:x"):
        assert not safe_link(url), url
    for url in ("https://a.cn/x", "http://a.cn", "mailto:a@b.cn", "/news/1", "#top"):
        assert safe_link(url), url


@pytest.fixture
def admin_client(client, session):
    make_user(session, username="chief", role=Role.ADMIN)
    session.commit()
    assert login(client, "chief").status_code == 303
    return client


def token(client, url: str = "/console/articles/new") -> str:
    return TOKEN_RE.search(client.get(url, headers=HTML).text).group(1)


def test_write_preview_publish_correct_withdraw(admin_client, session):
    c = admin_client
    csrf = token(c)
    form = {"category": "news", "title": "平台上线", "author": "市信用办", "summary": "", "body": BODY}
    preview = c.post("/console/articles", data={**form, "action": "preview", "csrf_token": csrf}, headers=HTML)
    assert preview.status_code == 200 and "<h2>一、总体要求</h2>" in preview.text and "&lt;script&gt;" in preview.text
    assert session.scalar(select(AuditEvent).where(AuditEvent.action.like("publications.article%"))) is None
    saved = c.post(
        "/console/articles", data={**form, "action": "save", "csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert saved.status_code == 303
    aid = int(saved.headers["location"].rsplit("/", 1)[1])
    # A draft is never public: not listed, its address a 404 like an unknown one.
    assert "平台上线" not in c.get("/news", headers=HTML).text
    assert c.get(f"/news/{aid}", headers=HTML).status_code == 404
    assert c.get(f"/policies/{aid}", headers=HTML).status_code == 404

    edit = c.get(f"/console/articles/{aid}", headers=HTML)
    assert edit.status_code == 200 and "发布到门户" in edit.text
    assert (
        c.post(f"/console/articles/{aid}/publish", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    listing = c.get("/news", headers=HTML)
    assert listing.status_code == 200 and f"/news/{aid}" in listing.text and "平台上线" in listing.text
    page = c.get(f"/news/{aid}", headers=HTML)
    assert page.status_code == 200 and "<li>第二条</li>" in page.text and "市信用办" in page.text
    assert "<script>alert(1)</script>" not in page.text and 'href="javascript' not in page.text
    assert c.get(f"/policies/{aid}", headers=HTML).status_code == 404  # another section's address
    # Publishing twice: refused.
    again = c.post(f"/console/articles/{aid}/publish", data={"csrf_token": csrf}, headers=HTML)
    assert again.status_code == 409

    # A correction with a stale revision is refused; with the current one it is applied.
    revision = int(re.search(r'name="revision" value="(\d+)"', c.get(f"/console/articles/{aid}").text).group(1))
    fix = {**form, "title": "平台正式上线", "action": "save", "csrf_token": csrf}
    assert c.post(f"/console/articles/{aid}", data={**fix, "revision": revision - 1}, headers=HTML).status_code == 409
    ok = c.post(f"/console/articles/{aid}", data={**fix, "revision": revision}, follow_redirects=False)
    assert ok.status_code == 303 and "平台正式上线" in c.get(f"/news/{aid}").text

    # Withdrawn: gone from the list, the address says so (410) without the text.
    assert c.post(f"/console/articles/{aid}/withdraw", data={"csrf_token": csrf}, headers=HTML).status_code == 422
    w = c.post(
        f"/console/articles/{aid}/withdraw", data={"csrf_token": csrf, "reason": "内容有误"}, follow_redirects=False
    )
    assert w.status_code == 303
    assert "平台正式上线" not in c.get("/news", headers=HTML).text
    gone = c.get(f"/news/{aid}", headers=HTML)
    assert gone.status_code == 410 and "撤回" in gone.text and "内容有误" in gone.text and "第二条" not in gone.text

    session.rollback()  # end the read snapshot taken before the requests
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_type == "article").order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "publications.article.create",
        "publications.article.publish",
        "publications.article.update",
        "publications.article.withdraw",
    ]


def test_only_the_admin_writes(client, session):
    env = make_env(session, tokens=False)
    make_user(session, username="op-swj", role=Role.DEPT_OPERATOR, department=env.swj)
    session.commit()
    assert login(client, "op-swj").status_code == 303
    assert client.get("/console/articles", headers=HTML, follow_redirects=False).status_code == 403
    with pytest.raises(Forbidden):
        articles.create_article(
            session,
            actor=Principal(kind="user", name="op-swj", role=Role.DEPT_OPERATOR, department_id=env.swj.id),
            category="news",
            title="t",
            body="b",
            author="a",
        )


def test_service_states_and_policies_page(client, session):
    make_env(session, tokens=False)
    measures.seed_measures(session, actor=ADMIN)
    draft = articles.create_article(
        session, actor=ADMIN, category="policy", title="沁阳市社会信用体系建设规划", body="正文", author="市发改委"
    )
    with pytest.raises(Conflict):
        articles.withdraw_article(session, actor=ADMIN, article_id=draft.id, reason="x")
    articles.publish_article(session, actor=ADMIN, article_id=draft.id)
    session.commit()
    page = client.get("/policies", headers=HTML)
    assert page.status_code == 200 and f"/policies/{draft.id}" in page.text
    # The legal bases of the public lists (list_types.yaml) and of the measures (measures.yaml), with what cites them.
    assert "重大税收违法失信主体信息公布管理办法" in page.text and 'href="/lists/tax_serious_dishonest"' in page.text
    assert "关于对失信被执行人实施联合惩戒的合作备忘录" in page.text
    assert client.get("/policies/abc", headers=HTML).status_code == 404
    assert client.get("/news/999999", headers=HTML).status_code == 404
