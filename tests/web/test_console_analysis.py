"""The console pages for the evaluation, classified supervision and the two analyses, through HTTP (TestClient,
both databases): who may open them (roles, and for the analyses the departments of ``risk.yaml``, as the API
decides), what they show, and that their forms act through the services (runs, draws and analyses audited)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from tests.evaluation.helpers import entry, org, seed
from tests.factories import ACTOR, DEFAULT_PASSWORD, make_department, make_user
from xinyong.analytics import trading
from xinyong.auth.roles import Role
from xinyong.core import clock
from xinyong.core.audit import AuditEvent
from xinyong.evaluation import service as evaluation
from xinyong.evaluation import supervision
from xinyong.identifiers import resident_id, uscc
from xinyong.subjects import service as subjects

HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NAV_RE = re.compile(r'<nav class="console-nav".*?</nav>', re.DOTALL)
#: A subject name that a spreadsheet would run as a formula if it were not escaped.
FORMULA_NAME = '=HYPERLINK("http://evil.example","沁阳市点我有限公司")'


def csrf(client, url: str = "/console/login") -> str:
    page = client.get(url, headers=HTML)
    assert page.status_code == 200, page.text[:300]
    return TOKEN_RE.search(page.text).group(1)


def login(client, username: str) -> None:
    client.cookies.clear()
    resp = client.post(
        "/console/login",
        data={"username": username, "password": DEFAULT_PASSWORD, "next": "/console", "csrf_token": csrf(client)},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:300]


def post(client, url: str, data: dict, *, page: str = "/console"):
    return client.post(url, data={**data, "csrf_token": csrf(client, page)}, headers=HTML, follow_redirects=False)


def audit_count(session, action: str) -> int:
    """Read in a transaction of its own: an SQLite snapshot kept open would stop the test session writing later."""
    session.commit()
    session.expire_all()
    n = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))
    session.commit()
    return n


def draw(session, seed: int) -> dict:
    """The list the service itself draws for scjgj (in a transaction rolled back: the test leaves no trace)."""
    session.commit()
    out = supervision.sample(session, actor=ACTOR, department="scjgj", period="2026-12", seed=seed)
    session.rollback()
    return out


def text_of(page: str) -> str:
    """The page's text without tags, whitespace collapsed: what a reader sees."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def city(session):
    """Catalog, list types and the departments scjgj / wjw / sthjj (evaluation helpers), plus the trading centre
    (ggzy) and the tax bureau (swj, in neither analysis); a user of each role where the tests need one."""
    depts = seed(session)
    depts["ggzy"] = make_department(session, code="ggzy", name="沁阳市公共资源交易中心")
    depts["swj"] = make_department(session, code="swj", name="沁阳市税务局")
    for username, role, dept in (
        ("chief", Role.ADMIN, None),
        ("op-scjgj", Role.DEPT_OPERATOR, "scjgj"),
        ("viewer-scjgj", Role.DEPT_VIEWER, "scjgj"),
        ("op-ggzy", Role.DEPT_OPERATOR, "ggzy"),
        ("viewer-ggzy", Role.DEPT_VIEWER, "ggzy"),
        ("op-swj", Role.DEPT_OPERATOR, "swj"),
        ("viewer-swj", Role.DEPT_VIEWER, "swj"),
        ("viewer-wjw", Role.DEPT_VIEWER, "wjw"),
    ):
        make_user(session, username=username, role=role, department=depts[dept] if dept else None)
    return depts


# Navigation and permissions ----------------------------------------------------------------------------------


def test_navigation_and_refusals_follow_the_apis_rules(client, session, city) -> None:
    assert (
        client.get("/console/evaluation", headers=HTML, follow_redirects=False)
        .headers["location"]
        .startswith("/console/login?next=%2Fconsole%2Fevaluation")
    )
    assert client.get("/console/trading", follow_redirects=False).status_code == 401

    expected = {
        "chief": {"信用评价", "分级分类监管", "公共资源交易", "食品药品风险"},
        "viewer-ggzy": {"信用评价", "分级分类监管", "公共资源交易"},
        "op-scjgj": {"信用评价", "分级分类监管", "食品药品风险"},
        "viewer-swj": {"信用评价", "分级分类监管"},
    }
    for username, labels in expected.items():
        login(client, username)
        nav = NAV_RE.search(client.get("/console", headers=HTML).text).group(0)
        shown = {
            label for label in ("信用评价", "分级分类监管", "公共资源交易", "食品药品风险") if f">{label}</a>" in nav
        }
        assert shown == labels, username
        # The new entries come before the API tokens (operators) and the users (admin).
        if "接口令牌" in nav:
            assert nav.index("信用评价") < nav.index("接口令牌")

    # A department outside risk.yaml's list: refused as the API refuses it (403, the same reason).
    login(client, "viewer-swj")
    for url in (
        "/console/trading",
        "/console/trading/groups",
        "/console/trading/bidders",
        "/console/trading/tenders/P1",
        "/console/food-drug",
        "/console/food-drug/watchlist",
        "/console/food-drug/watchlist.xlsx",
    ):
        resp = client.get(url, headers=HTML)
        assert resp.status_code == 403 and "本分析仅限" in resp.text, url
    api = client.get("/console/food-drug")  # not a browser: the API's JSON error
    assert api.status_code == 403 and api.json()["error"]["code"] == "analytics_department_not_allowed"
    # Each analysis is open to its own department only.
    login(client, "viewer-ggzy")
    assert client.get("/console/food-drug", headers=HTML).status_code == 403
    assert client.get("/console/trading", headers=HTML).status_code == 200
    # Running an analysis needs an operator of the department; a run of the evaluation needs the admin.
    assert post(client, "/console/trading/analyses", {}).status_code == 403
    login(client, "op-swj")
    refused = post(client, "/console/trading/analyses", {})
    assert refused.status_code == 403 and "analytics_department_not_allowed" in refused.text
    assert post(client, "/console/evaluation/runs", {"scope": "full"}).status_code == 403
    assert audit_count(session, "evaluation.run") == 0 and audit_count(session, "analytics.trading_analysis") == 0
    # No CSRF token: refused before anything runs.
    login(client, "chief")
    resp = client.post("/console/evaluation/runs", data={"scope": "full"}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 403 and audit_count(session, "evaluation.run") == 0


# 信用评价 -----------------------------------------------------------------------------------------------------


def test_evaluation_runs_distribution_and_subject_explanation(client, session, city) -> None:
    a, b, _ = (org(session) for _ in range(3))
    login(client, "chief")
    page = client.get("/console/evaluation", headers=HTML)
    assert page.status_code == 200 and "尚未加载评价模型" in page.text and "还没有评价运行" in page.text

    ran = post(client, "/console/evaluation/runs", {"model": "public_credit_legal_person", "scope": "full"})
    assert ran.status_code == 303 and ran.headers["location"].startswith("/console/evaluation?ran=")
    page = client.get(ran.headers["location"], headers=HTML).text
    text = text_of(page)
    assert "公共信用综合评价（法人和非法人组织）" in text and "评价已完成" in text
    # The grade bands with their thresholds, ratios and measures; the distribution of the 3 graded subjects.
    assert "A 诚信优良 分数≥90 3%" in text and "D 严重失信 其余 50%" in text
    assert "共 3 个主体" in text and "B 基本诚信 分数≥75 5% 信用风险一般：按常规比例和频次抽查 3 100.0%" in text
    assert re.search(r"全量 \d{4}-\d\d-\d\d 3 3 0 0 B 3", text), text
    assert audit_count(session, "evaluation.run") == 1

    # A serious black-list entry, then an incremental run: only the changed subject, now D.
    entry(session, a, "tax_serious_dishonest")
    assert (
        post(
            client, "/console/evaluation/runs", {"model": "public_credit_legal_person", "scope": "incremental"}
        ).status_code
        == 303
    )
    text = text_of(client.get("/console/evaluation", headers=HTML).text)
    assert "增量" in text and "（1 个）" in text and "D 1" in text
    assert "B 基本诚信 分数≥75 5% 信用风险一般：按常规比例和频次抽查 2 66.7%" in text

    # The subject look-up: a form post that leads to the page addressed by id.
    found = post(client, "/console/evaluation/lookup", {"code": a.uscc}, page="/console/evaluation")
    assert found.status_code == 303 and found.headers["location"] == f"/console/evaluation/subjects/{a.id}"
    detail = text_of(client.get(found.headers["location"], headers=HTML).text)
    assert a.name in detail and "信用等级 D 严重失信" in detail
    assert "失信惩戒 严重失信主体名单（有效期内） 1条 -30" in detail
    assert "修正规则「处于有效期内的严重失信主体名单条目，直接评为D级」" in detail
    assert "B → D 严重失信 86 → 56" in detail and "首次评为 B 基本诚信 86" in detail
    missing = post(client, "/console/evaluation/lookup", {"code": "91410882MA00000000"}, page="/console/evaluation")
    assert missing.status_code == 404 and "未找到该信用主体" in missing.text

    # A department viewer reads models, distribution and grades (shared data), but neither runs nor their form.
    login(client, "viewer-wjw")
    page = client.get("/console/evaluation", headers=HTML).text
    assert "共 3 个主体" in text_of(page) and "/console/evaluation/runs" not in page and "评价运行" not in page
    assert "信用等级 D 严重失信" in text_of(client.get(f"/console/evaluation/subjects/{a.id}", headers=HTML).text)
    assert post(client, "/console/evaluation/runs", {"scope": "full"}).status_code == 403
    # When the catalog stops sharing evaluation results, the department sees none; the admin still does.
    from xinyong.catalog import service as catalog_service

    catalog_service.update_class(
        session, actor=ACTOR, code="evaluation", changes={"public_attribute": "restricted"}, reason="测试：不予共享"
    )
    session.commit()
    assert "暂无可查看的评价结果" in client.get(f"/console/evaluation/subjects/{b.id}", headers=HTML).text
    login(client, "chief")
    assert "信用等级 B 基本诚信" in text_of(client.get(f"/console/evaluation/subjects/{b.id}", headers=HTML).text)
    assert client.get("/console/evaluation/subjects/999999", headers=HTML).status_code == 404


def test_looking_up_a_person_is_audited_and_the_id_stays_out_of_urls(client, session, city) -> None:
    number = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 9), sequence=77)
    person = subjects.register_person(session, actor=ACTOR, name="王某", id_number=number)
    session.commit()
    login(client, "viewer-scjgj")
    found = post(client, "/console/evaluation/lookup", {"code": number}, page="/console/evaluation")
    assert found.status_code == 303 and number not in found.headers["location"]
    page = client.get(found.headers["location"], headers=HTML).text
    assert "王某" in page and person.resident_id_masked in page and number not in page
    assert audit_count(session, "subjects.person_viewed") == 1


# 分级分类监管 ---------------------------------------------------------------------------------------------------


def test_sampling_form_reproducible_list_and_escaped_csv(client, session, city) -> None:
    for _ in range(20):
        org(session)
    odd = org(session, name=FORMULA_NAME)
    entry(session, odd, "samr_abnormal")  # the only C subject: ceil(1 × 15 %) = 1, so it is always drawn
    evaluation.run_evaluation(session, actor=ACTOR)
    session.commit()

    login(client, "op-scjgj")
    form = client.get("/console/supervision", headers=HTML).text
    assert '<input type="hidden" name="department" value="scjgj">' in form
    assert "C 失信观察 15% 信用风险较高" in text_of(form) and clock.today().strftime("%Y-%m") in form

    drawn = post(
        client,
        "/console/supervision/sample",
        {"model": "public_credit_legal_person", "period": "2026-12", "seed": "42"},
        page="/console/supervision",
    )
    assert drawn.status_code == 200, drawn.text[:500]
    expected = draw(session, 42)
    text = text_of(drawn.text)
    assert "随机种子 42" in text and expected["digest"] in drawn.text
    assert f"抽中 {expected['drawn']}" in text and expected["drawn"] == 2  # B: ceil(20 × 5 %) = 1; C: 1
    assert "B 基本诚信 20 5% 1" in text and "C 失信观察 1 15% 1" in text
    for s in expected["subjects"]:
        assert f"/console/evaluation/subjects/{s['subject_id']}" in drawn.text
    assert "按随机种子 42 排序第 1 位被抽中" in text
    assert audit_count(session, "evaluation.sample") == 1

    # Without a seed one is drawn at random and shown: the same seed gives the same list again.
    fresh = post(
        client,
        "/console/supervision/sample",
        {"model": "public_credit_legal_person", "period": "2026-12", "seed": ""},
        page="/console/supervision",
    )
    shown = int(re.search(r'name="seed" value="(\d+)"', fresh.text).group(1))
    assert draw(session, shown)["digest"] in fresh.text

    # The CSV: same list, a formula-like name kept as text.
    resp = post(
        client,
        "/console/supervision/sample.csv",
        {"model": "public_credit_legal_person", "department": "scjgj", "period": "2026-12", "seed": "42"},
        page="/console/supervision",
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "名称", "统一社会信用代码"] and len(rows) == 1 + expected["drawn"]
    assert [r[2] for r in rows[1:]] == [s["uscc"] for s in expected["subjects"]]
    assert "'" + FORMULA_NAME in [r[1] for r in rows[1:]]

    # Another department's list is refused (and not drawn); the admin must choose a department.
    login(client, "op-swj")
    other = post(
        client,
        "/console/supervision/sample",
        {"model": "public_credit_legal_person", "department": "scjgj", "period": "2026-12", "seed": "1"},
        page="/console/supervision",
    )
    assert other.status_code == 403 and "只能生成本部门的抽查名单" in other.text
    bad = post(
        client,
        "/console/supervision/sample",
        {"model": "public_credit_legal_person", "period": "2026-13", "seed": "1"},
        page="/console/supervision",
    )
    assert bad.status_code == 422 and "期间应为" in bad.text
    login(client, "chief")
    assert 'name="department" required' in client.get("/console/supervision", headers=HTML).text
    none = post(
        client,
        "/console/supervision/sample",
        {"model": "public_credit_legal_person", "period": "2026-12", "seed": "1"},
        page="/console/supervision",
    )
    assert none.status_code == 422 and "请选择部门" in none.text
    assert audit_count(session, "evaluation.sample") == 3  # the two page draws and the CSV; refusals left nothing


# 公共资源交易 --------------------------------------------------------------------------------------------------

A, B, C, D = (uscc.make(authority="9", category="1", region="410882", org_body=f"MA{i:06d}") for i in range(1, 5))
P1 = "沁公资〔2024〕/工程-001"  # project numbers may hold slashes and full-width brackets
TENDERS = [
    ["项目编号", "项目名称", "招标人", "项目类别", "预算金额(元)", "开标时间"],
    [P1, "道路改造工程", "沁阳市住房和城乡建设局", "工程", "1,200,000", "2024-03-01"],
    ["P2", "办公设备采购", "沁阳市教育局", "货物", "300000", "2024-04-01"],
]
BIDS = [
    ["项目编号", "投标人名称", "投标人统一社会信用代码", "投标报价(元)", "联系电话", "法定代表人", "地址", "投标IP"],
    [P1, "甲建设有限公司", A, "1000000", "138-1234-5678", "", "", "10.1.1.1"],
    [P1, "乙建设有限公司", B, "1001000", "+86 13812345678", "李四", "", "10.1.1.2"],
    [P1, "丙建设有限公司", C, "1100000", "13900000000", "王五", "", ""],
    ["P2", "甲建设有限公司", A, "250000", "13812345678", "", "", ""],
    ["P2", "丁商贸有限公司", D, "280000", "13700000000", "赵六", "", ""],
]
AWARDS = [
    ["项目编号", "中标人名称", "中标人统一社会信用代码", "中标金额(元)", "中标日期"],
    [P1, "甲建设有限公司", A, "1000000", "2024-03-08"],
    ["P2", "甲建设有限公司", A, "250000", "2024-04-09"],
]


def _import_trading(session, tmp_path: Path) -> None:
    subjects.register_organisation(session, actor=ACTOR, name="甲建设有限公司", code=A, legal_rep="李四")
    for kind, rows in (("tenders", TENDERS), ("bids", BIDS), ("awards", AWARDS)):
        path = tmp_path / f"{kind}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        trading.import_file(session, actor=ACTOR, kind=kind, path=path)
    session.commit()


def test_trading_analysis_tenders_evidence_groups_and_bidders(client, session, city, tmp_path) -> None:
    _import_trading(session, tmp_path)
    login(client, "viewer-ggzy")
    first = client.get("/console/trading", headers=HTML).text
    assert "尚无串标围标风险分析结果" in first and "/console/trading/analyses" not in first
    assert "投标记录" in first and "bids.csv" in first  # the recent imports
    assert client.get("/console/trading/groups", headers=HTML).status_code == 404

    login(client, "op-ggzy")
    assert "运行分析" in client.get("/console/trading", headers=HTML).text
    ran = post(client, "/console/trading/analyses", {}, page="/console/trading")
    assert ran.status_code == 303 and ran.headers["location"] == "/console/trading"
    assert audit_count(session, "analytics.trading_analysis") == 1

    page = client.get("/console/trading", headers=HTML).text
    text = text_of(page)
    assert "高风险项目 1" in text and "风险项目（1）" in text
    assert "同一项目投标人联系电话相同" in text and "道路改造工程" in text
    link = re.search(r'href="(/console/trading/tenders/[^"]+)"', page).group(1)
    assert "%2F" not in link and "/" in link.split("/tenders/", 1)[1]  # the slash of the number is kept in the path
    assert "没有符合条件的项目" in client.get("/console/trading?level=low", headers=HTML).text

    tender = client.get(link, headers=HTML)
    assert tender.status_code == 200
    t = text_of(tender.text)
    assert P1 in t and "高风险" in t and "共同的联系电话：138****5678" in t
    assert "共同的法定代表人：李四" in t and "取自登记信息" in t  # 甲's legal representative came from the registry
    assert "13812345678" not in tender.text and "1,000,000.00" in t and "中标" in t
    assert client.get("/console/trading/tenders/NO-SUCH", headers=HTML).status_code == 404

    groups = text_of(client.get("/console/trading/groups", headers=HTML).text)
    assert "共 1 个群体" in groups and "甲建设有限公司" in groups and "乙建设有限公司" in groups
    assert "同一项目投标人联系电话相同 × 1" in groups
    assert "共 1 条，第 1/1 页" in groups  # issue #17: totals in the pager

    bidders = client.get("/console/trading/bidders?order=wins", headers=HTML).text
    assert "共 4 个投标人" in text_of(bidders) and "共 4 条，第 1/1 页" in text_of(bidders)
    assert re.search(r"甲建设有限公司 " + A + r" 2 2 100.0% 1,250,000.00", text_of(bidders))
    only = text_of(client.get("/console/trading/bidders?q=丁", headers=HTML).text)
    assert "共 1 个投标人" in only and "丁商贸有限公司" in only and "甲建设有限公司" not in only
    profile = client.get(f"/console/trading/bidders/{B}", headers=HTML)
    p = text_of(profile.text)
    assert profile.status_code == 200 and "乙建设有限公司" in p and "被标记的项目（1）" in p and P1 in p
    assert "第 1 名群体" in p
    assert client.get("/console/trading/bidders/name:nobody", headers=HTML).status_code == 404


# 食品药品风险 ---------------------------------------------------------------------------------------------------

SHOP = uscc.make(authority="9", category="1", region="410882", org_body="MA000101")
ODD = uscc.make(authority="9", category="1", region="410882", org_body="MA000103")


def test_food_drug_risks_watch_list_and_escaped_xlsx(client, session, city, tmp_path) -> None:
    from xinyong.cases.complaints import file_complaint

    subjects.register_organisation(session, actor=ACTOR, name="沁阳市好味食品有限公司", code=SHOP)
    subjects.register_organisation(session, actor=ACTOR, name=FORMULA_NAME, code=ODD)
    today = clock.today()
    rows = [
        ["抽样编号", "被抽样单位名称", "统一社会信用代码", "产品名称", "类别", "抽样日期", "检验结论", "不合格项目"]
    ]
    rows += [
        [
            f"S{i}",
            "沁阳市好味食品有限公司",
            SHOP,
            "糕点",
            "食品",
            (today - dt.timedelta(days=30 * i)).isoformat(),
            "不合格",
            "菌落总数",
        ]
        for i in range(2)
    ]
    rows += [[f"T{i}", FORMULA_NAME, ODD, "饮料", "食品", today.isoformat(), "不合格", "防腐剂"] for i in range(3)]
    path = tmp_path / "spot.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    trading.import_file(session, actor=ACTOR, kind="spot_checks", path=path)
    file_complaint(session, actor=ACTOR, facts="出售过期食品", subject_code=SHOP, department="scjgj", anonymous=True)
    session.commit()

    login(client, "viewer-scjgj")
    page = client.get("/console/food-drug", headers=HTML)
    assert page.status_code == 200
    text = text_of(page.text)
    assert "高风险 1 中风险 1 低风险 0" in text and "共 2 个主体" in text
    # Highest first: the formula-named shop (3 failures, capped at 60), then the other (2 failures + an open complaint).
    assert text.index(FORMULA_NAME) < text.index("沁阳市好味食品有限公司")
    assert "抽检不合格 2 起（+50 分）" in text and "投诉举报正在处理 1 起（+5 分）" in text
    assert "同类事项计分上限 60 分（-15 分）" in text
    high = text_of(client.get("/console/food-drug?level=high", headers=HTML).text)
    assert "共 1 个主体" in high and "沁阳市好味食品有限公司" not in high

    watch = text_of(client.get("/console/food-drug/watchlist", headers=HTML).text)
    assert "高风险主体 1 个" in watch and "沁阳市好味食品有限公司" not in watch
    both = text_of(client.get("/console/food-drug/watchlist?include_medium=true", headers=HTML).text)
    assert "高风险和中风险主体 2 个" in both and "沁阳市好味食品有限公司" in both

    xlsx = client.get("/console/food-drug/watchlist.xlsx?include_medium=true")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [sheet.cell(r, 3).value for r in (3, 4)] == [ODD, SHOP]
    assert sheet.cell(3, 2).value == "'" + FORMULA_NAME and sheet.cell(3, 2).data_type == "s"
    assert "抽检不合格 3 起" in sheet.cell(3, 6).value
