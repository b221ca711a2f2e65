"""The demo city's portal publications: last month's 红黑榜 release and two articles (one 信用动态, one 政策法规),
made through the real services (``publications.releases``, ``publications.articles``) so the portal's pages are
not empty."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core.settings import get_settings
from xinyong.publications import articles, releases

NEWS = """{city}公共信用信息平台开通**红黑榜**定期发布栏目，每月公布上月新列入红名单（守信激励）和黑名单（严重失信主体名单）、
依法公开的信用主体。

## 查询和异议

- 在[红黑名单](/lists)页面查看各名单当前的条目；
- 对名单信息有异议的，可在信用主体页面提出异议或申请信用修复；
- 发现失信行为的，可通过[举报页面](/complaint)实名或匿名举报。

订阅：[红黑榜 Atom](/releases.atom)。
"""

POLICY = """为推进{city}社会信用体系建设，规范公共信用信息的归集、公示和使用，依据国家和省有关规定，制定本办法。

## 一、公示范围

行政许可、行政处罚信息自作出决定之日起 7 个工作日内上网公示；严重失信主体名单按认定部门的规定公开。

## 二、信用修复

符合条件的信用主体可以申请信用修复，具体条件和程序见[国家公共信用信息中心](https://www.creditchina.gov.cn)。

（演示文本，非正式文件。）
"""


def build(session: Session, *, actor: Principal, today: dt.date) -> dict[str, Any]:
    city = get_settings().city_name
    end = today.replace(day=1) - dt.timedelta(days=1)
    release = releases.publish_release(
        session, actor=actor, start=end.replace(day=1), end=end, today=today, note="演示数据：上月新列入的红黑名单。"
    )
    news = articles.create_article(
        session,
        actor=actor,
        category="news",
        title=f"{city}信用网站开通红黑榜定期发布",
        body=NEWS.format(city=city),
        author=f"{city}社会信用体系建设领导小组办公室",
    )
    policy = articles.create_article(
        session,
        actor=actor,
        category="policy",
        title=f"{city}公共信用信息管理办法（演示）",
        body=POLICY.format(city=city),
        author=f"{city}发展和改革委员会",
    )
    for a in (news, policy):
        articles.publish_article(session, actor=actor, article_id=a.id)
    return {"release": releases.number_of(release), "entries": releases.release_view(release)["total"], "articles": 2}
