"""The (minimal) Chinese home page, its headline figures and the error pages."""

from __future__ import annotations

from tests.subjects.test_registry_import import A, B, row, write_csv
from xinyong.auth.roles import system_principal
from xinyong.subjects import service


def test_home_shows_registry_figures_and_caches_them(client, session, tmp_path):
    service.import_registry(
        session,
        actor=system_principal("t"),
        path=write_csv(
            tmp_path / "r.csv", [row(A, "沁阳市宏达机械有限公司"), row(B, "沁阳市怀府小吃店", kind="个体工商户")]
        ),
    )
    session.commit()
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "沁阳市公共信用信息平台" in page.text
    assert "<dd>1</dd>" in page.text
    # Headline figures are cached: a new subject shows after the TTL, not on every view (no count per request).
    from tests.subjects.test_registry_import import C
    from xinyong.web import pages

    service.import_registry(
        session, actor=system_principal("t"), path=write_csv(tmp_path / "s.csv", [row(C, "沁阳市丙有限公司")])
    )
    session.commit()
    assert "<dd>2</dd>" not in client.get("/").text
    pages._headline_cache.clear()
    assert "<dd>2</dd>" in client.get("/").text


def test_html_404_is_a_chinese_page_and_api_404_is_json(client):
    page = client.get("/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404 and "返回首页" in page.text
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_home_says_what_the_subject_figures_count(client, session, tmp_path):
    """Operating subjects are the headline; cancelled and revoked ones are left out and said so (issue #17)."""
    from tests.subjects.test_registry_import import C

    service.import_registry(
        session,
        actor=system_principal("t"),
        path=write_csv(
            tmp_path / "r.csv",
            [
                row(A, "沁阳市宏达机械有限公司"),
                [*row(B, "沁阳市乙有限公司")[:7], "注销", *row(B, "x")[8:]],
                [*row(C, "沁阳市丙有限公司")[:7], "吊销，未注销", *row(C, "x")[8:]],
            ],
        ),
    )
    session.commit()
    page = client.get("/", headers={"accept": "text/html"}).text
    assert "<dt>法人和非法人组织</dt><dd>1</dd>" in page
    assert "不含注销、吊销的法人和非法人组织 2 户" in page
