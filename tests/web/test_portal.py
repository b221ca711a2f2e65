"""The public portal through HTTP: search, subject page sections and masking, listings, forms, open data, bad input."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.lists.entry_helpers import COMPANY, PERSON, PERSON_ID, make_env
from tests.records.helpers import ADMIN, company_uscc, licence, penalty
from xinyong.catalog.rules import PartyKind
from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.lists import service as lists
from xinyong.records import upsert as records_upsert
from xinyong.subjects.models import Subject

HTML = {"accept": "text/html"}


@pytest.fixture
def city(session):
    env = make_env(session, tokens=False)
    today = clock.today()
    recent = today - dt.timedelta(days=20)
    records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=env.scjgj.id,
        batch_id=None,
        rows=[
            penalty(doc="沁市监罚〔2099〕1号", decided=recent, code=company_uscc(1), party=COMPANY, row=2),
            licence(
                doc="沁市监许〔2099〕2号",
                decided=recent,
                code=company_uscc(1),
                party=COMPANY,
                valid_to=today + dt.timedelta(days=400),
                row=3,
            ),
            penalty(
                doc="沁市监罚〔2099〕3号",
                decided=recent,
                party=PERSON,
                kind=PartyKind.NATURAL_PERSON,
                id_number=PERSON_ID,
                row=4,
            ),
        ],
        received_at=utcnow(),
    )
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_a_grade",
        subject_code=env.company,
        reason="纳税信用A级",
        decision_no="A-2099-1",
        department="swj",
        listed_on=recent,
    )
    session.commit()
    return env


def test_home_search_and_subject_page(client, city, session):
    home = client.get("/", headers=HTML)
    assert home.status_code == 200 and 'action="/search"' in home.text
    found = client.get("/search", params={"q": "宏达机械"})
    assert found.status_code == 200 and COMPANY in found.text and f"/subject/{city.company}" in found.text
    # A person is never a search result, by name or by ID, and has no page.
    by_name = client.get("/search", params={"q": PERSON})
    assert by_name.status_code == 200 and 'class="results"' not in by_name.text and "未找到" in by_name.text
    # Searching an existing person's ID answers exactly like searching an unknown one.
    unknown_id = "11010519491231002X"
    known, unknown = (client.get("/search", params={"q": q}).text for q in (PERSON_ID, unknown_id))
    assert "不提供自然人信息查询" in known and known.replace(PERSON_ID, unknown_id) == unknown
    person = session.get(Subject, city.person_id)
    assert client.get(f"/subject/id-{person.id}", headers=HTML).status_code == 404
    subject = client.get(f"/subject/{city.company}")
    text = subject.text
    assert subject.status_code == 200
    for section in (
        "基本信息",
        "行政许可",
        "行政处罚",
        "红名单",
        "信用承诺",
        "沁市监罚〔2099〕1号",
        "沁市监许〔2099〕2号",
        "纳税信用A级",
    ):
        assert section in text
    assert "沁市监罚〔2099〕3号" not in text  # the person's penalty belongs to the person, not to this page
    assert "/apply/objection?target_type=record" in text


def test_listing_filters_masking_and_paging(client, city):
    page = client.get("/records", params={"kind": "penalty"})
    assert page.status_code == 200 and "沁市监罚〔2099〕1号" in page.text and "沁市监许〔2099〕2号" not in page.text
    assert PERSON not in page.text and PERSON_ID not in page.text  # a person's penalty is not public (catalog)
    assert "沁市监许〔2099〕2号" in client.get("/records", params={"kind": "licence", "department": "scjgj"}).text
    assert "沁市监罚〔2099〕1号" not in client.get("/records", params={"department": "swj"}).text
    odd = client.get("/records", params={"page": "-1", "date_from": "2024-13-45", "kind": "<script>"})
    assert odd.status_code == 200 and "日期格式" in odd.text and "<script>" not in odd.text
    assert client.get("/records", params={"page": str(10**9)}).status_code == 200
    assert "纳税信用A级" in client.get("/lists/tax_a_grade").text
    assert "纳税信用" in client.get("/lists").text
    assert client.get("/lists/no_such_list", headers=HTML).status_code == 404


def test_open_data_downloads(client, city):
    data = client.get("/open-data/records.json").json()
    docs = {item["doc_no"] for item in data["items"]}
    assert {"沁市监罚〔2099〕1号", "沁市监许〔2099〕2号"} <= docs and "沁市监罚〔2099〕3号" not in docs
    csv_text = client.get("/open-data/records.csv", params={"kind": "penalty"}).text
    assert csv_text.startswith("\ufeff类别") and "沁市监罚〔2099〕1号" in csv_text and "沁市监许" not in csv_text
    entries = client.get("/open-data/lists/tax_a_grade.json").json()
    assert entries["count"] == 1 and entries["items"][0]["party_name"] == COMPANY
    assert client.get("/open-data/records.xml").status_code == 404
    assert "开放数据" in client.get("/open-data").text


def test_objection_form_needs_csrf_and_reports_errors(client, city):
    form = client.get("/apply/objection", params={"target_type": "record", "target_id": "1", "subject": city.company})
    assert form.status_code == 200
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)
    body = {"target_type": "record", "target_id": "1", "subject": city.company}
    refused = client.post("/apply/objection/code", data=body, headers=HTML)
    assert refused.status_code == 403 and "刷新页面" in refused.text
    # No registered contact: a clear message on the form, not a 500.
    answer = client.post("/apply/objection/code", data={**body, "csrf_token": token})
    assert answer.status_code in (404, 422) and "联系方式" in answer.text
    bad = client.post(
        "/apply/objection",
        data={
            **body,
            "csrf_token": token,
            "challenge": "vc_x",
            "code": "1",
            "facts": "<script>alert(1)</script>",
            "applicant_name": "张",
        },
    )
    assert bad.status_code == 422 and "<script>alert(1)" not in bad.text and "验证码无效" in bad.text
    assert (
        client.get("/apply/other", params={"target_type": "record", "target_id": "1"}, headers=HTML).status_code == 404
    )


@pytest.mark.parametrize(
    "q",
    [
        "'; DROP TABLE subjects; --",
        "<script>alert(1)</script>",
        "a" * 10_000,
        "宏" * 5_000,
        "%_%",
        "\x00",
        '" OR ""="',
        "../../etc/passwd",
    ],
)
def test_bad_search_input_is_safe(client, q):
    page = client.get("/search", params={"q": q, "page": "-1", "kind": "natural_person"})
    assert page.status_code == 200 and "<script>alert" not in page.text
    assert client.get("/search", params={"q": "宏达", "page": str(10**9)}).status_code == 200


def test_pages_carry_security_headers_and_search_is_rate_limited(client):
    from xinyong.web.security import RateLimiter, Rule

    page = client.get("/search", params={"q": "x"})
    assert "script-src 'self'" in page.headers["content-security-policy"]
    client.app.state.rate_limiter = RateLimiter({"search": Rule(per_minute=1, burst=2)})
    codes = [client.get("/search", params={"q": "宏达"}, headers=HTML).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_no_500_on_odd_paths(client):
    for path in (
        "/subject/" + "x" * 5000,
        "/subject/id-99999999999999999999",
        "/subject/%3Cscript%3E",
        "/subject/id-abc",
        "/lists/%00",
        "/open-data/lists/x.csv",
        "/apply/objection?target_id=-1",
    ):
        response = client.get(path, headers=HTML)
        assert response.status_code == 404 and "<script>" not in response.text


def test_report_download_and_verification(client, city):
    page = client.get(f"/subject/{city.company}")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    assert client.post(f"/subject/{city.company}/report", headers=HTML).status_code == 403  # no CSRF token
    issued = client.post(f"/subject/{city.company}/report", data={"csrf_token": token})
    assert issued.status_code == 200 and issued.content.startswith(b"%PDF")
    number, code = issued.headers["x-report-number"], issued.headers["x-report-code"]
    by_code = client.get("/reports/verify", params={"code": code})
    assert by_code.status_code == 200 and number in by_code.text and COMPANY in by_code.text
    assert 'data-verdict="pass"' in by_code.text and "验证通过" in by_code.text and "验证未通过" not in by_code.text
    same = client.post(
        "/verify", data={"csrf_token": token}, files={"file": ("r.pdf", issued.content, "application/pdf")}
    )
    assert same.status_code == 200 and "未被修改" in same.text
    assert 'class="notice verdict-pass"' in same.text and "✔" in same.text and "verdict-fail" not in same.text
    modified = issued.content.replace(b"/Producer", b"/Producex", 1) + b"\n% tampered"
    changed = client.post(
        "/verify", data={"csrf_token": token, "number": number}, files={"file": ("r.pdf", modified, "application/pdf")}
    )
    assert changed.status_code == 200 and "已被修改" in changed.text
    # A failure looks like one: the red box, a cross, 验证未通过 and the reason; never the pass's box.
    assert 'class="notice verdict-fail" role="alert"' in changed.text and "✘" in changed.text
    assert "验证未通过" in changed.text and "原因：" in changed.text and "verdict-pass" not in changed.text
    forged = client.get("/verify", params={"number": "XY20990101<script>"})
    assert forged.status_code == 200 and "未找到" in forged.text and "<script>" not in forged.text
    assert 'data-verdict="fail"' in forged.text and "验证未通过" in forged.text
    person = client.post(f"/subject/id-{city.person_id}/report", data={"csrf_token": token}, headers=HTML)
    assert person.status_code == 404


def test_favicon_is_served_and_linked(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and "<svg" in svg.text
    for path in ("/", "/console/login"):
        page = client.get(path, headers=HTML)
        assert 'href="/static/favicon.svg"' in page.text and 'href="/favicon.ico"' in page.text


def test_list_page_links_subjects_searches_and_counts(client, city, session):
    """Issue #17: a list page links each organisation to its page, finds one by name or code (server-side, the pager
    keeps the search) and says how many there are: 共 N 条，第 x/y 页."""
    page = client.get("/lists/tax_a_grade")
    assert page.status_code == 200 and "共 1 条，第 1/1 页" in page.text
    subject_id = session.scalar(select(Subject.id).where(Subject.uscc == city.company))
    assert f'href="/subject/id-{subject_id}">{COMPANY}</a>' in page.text
    assert client.get(f"/subject/id-{subject_id}").status_code == 200
    for q in (COMPANY[2:6], city.company.lower()):
        found = client.get("/lists/tax_a_grade", params={"q": q})
        assert COMPANY in found.text and "共 1 条" in found.text, q
    none = client.get("/lists/tax_a_grade", params={"q": "不存在的单位%"})
    assert none.status_code == 200 and COMPANY not in none.text and "共 0 条" in none.text and "没有与" in none.text
    # The pager keeps the search.
    many = client.get("/lists/tax_a_grade", params={"q": "公司", "page": "2"})
    assert many.status_code == 200 and 'href="?q=%E5%85%AC%E5%8F%B8&amp;page=1"' in many.text


def test_records_search_within_the_list_and_totals(client, city, session):
    """Issue #17: 双公示 finds records by the organisation's name or code or by the document number (server-side,
    the pager and the filters keep the search) and says how many there are: 共 N 条，第 x/y 页."""
    page = client.get("/records")
    assert page.status_code == 200 and "共 2 条，第 1/1 页" in page.text  # the person's penalty is not public
    assert 'name="q"' in page.text
    for q in ("宏达机械", city.company, city.company.lower()):
        found = client.get("/records", params={"q": q})
        assert "沁市监罚〔2099〕1号" in found.text and "沁市监许〔2099〕2号" in found.text, q
        assert "共 2 条，第 1/1 页" in found.text, q
    # A document number, as written or with other brackets and spaces (its identity key, ingest.values).
    for q in ("沁市监许〔2099〕2号", "沁市监许[2099] 2号"):
        found = client.get("/records", params={"q": q})
        assert "沁市监许〔2099〕2号" in found.text and "沁市监罚〔2099〕1号" not in found.text, q
        assert "共 1 条，第 1/1 页" in found.text, q
    # With the other filters, and the pager's links keep them all.
    both = client.get("/records", params={"q": "宏达机械", "kind": "licence"})
    assert "沁市监许〔2099〕2号" in both.text and "沁市监罚〔2099〕1号" not in both.text and "共 1 条" in both.text
    none = client.get("/records", params={"q": "不存在的单位%"})
    assert none.status_code == 200 and "共 0 条" in none.text and "没有符合条件的公示信息" in none.text
    # A person is never found: not by name, not by ID number (it answers like any unknown text).
    for q in (PERSON, PERSON_ID):
        found = client.get("/records", params={"q": q})
        assert found.status_code == 200 and "沁市监罚〔2099〕3号" not in found.text and "共 0 条" in found.text, q
    short = client.get("/records", params={"q": "宏"})
    assert short.status_code == 200 and "至少输入两个字" in short.text
    paged = client.get("/records", params={"q": "宏达", "page": "2"})
    assert 'href="?q=%E5%AE%8F%E8%BE%BE&amp;kind=&amp;department=&amp;date_from=&amp;date_to=&amp;page=1"' in paged.text


def test_record_counts_stop_at_the_cap(session, city):
    """A huge list is counted only up to the cap; the page then says so (超过 N 条)."""
    from xinyong.records.queries import count_records
    from xinyong.web.portal import pager_totals

    today = clock.today()
    assert count_records(session, public_only=True, today=today) == 2
    assert count_records(session, public_only=True, today=today, cap=1) == 2  # cap + 1: "more than one"
    assert pager_totals(2, 20, 1) == {"total": 1, "total_text": "超过 1 条", "pages": 1}
    assert pager_totals(45, 20, 10_000) == {"total": 45, "total_text": "共 45 条", "pages": 3}
    assert pager_totals(10_001, 20, 10_000, max_page=200)["total_text"] == "超过 10,000 条"


def test_subject_records_read_at_once_match_list_records(session, city, monkeypatch):
    """The subject page's records in one statement (``subject_public_records``) are list_records' per kind, also
    when a subject has more than a page of them (the general path, forced here with a page of one row)."""
    from xinyong.records import queries

    today = clock.today()
    subject_id = session.scalar(select(Subject.id).where(Subject.uscc == city.company))
    expected = {
        kind: [
            r.record.id
            for r in queries.list_records(
                session, subject_id=subject_id, kind=kind, public_only=True, today=today, limit=5
            )
        ]
        for kind in ("licence", "penalty")
    }
    assert expected["licence"] and expected["penalty"]
    for page in (500, 1):
        monkeypatch.setattr(queries, "_STREAM_PAGE", page)
        got = queries.subject_public_records(session, subject_id, ("licence", "penalty"), today=today, limit=5)
        assert {k: [r.record.id for r in v] for k, v in got.items()} == expected, page
    person_rows = queries.subject_public_records(session, city.person_id, ("licence", "penalty"), today=today, limit=5)
    assert person_rows == {"licence": [], "penalty": []}  # a person's penalty is not public (catalog)


def test_subject_entries_read_at_once_match_the_general_query(session, city):
    """A subject's public list entries through the statement built once (subject and day bound) are those of the
    general query, on the day and on days before the listing and after the term."""
    from xinyong.lists.queries import public_entries

    today = clock.today()
    for day in (today, today - dt.timedelta(days=400), today + dt.timedelta(days=4000)):
        for subject_id in (city.company_id, city.person_id):
            fast = public_entries(session, today=day, subject_id=subject_id, limit=None)
            general = public_entries(session, today=day, subject_id=subject_id, limit=10_000)
            assert fast == general, (day, subject_id)
    assert [e["reason"] for e in public_entries(session, today=today, subject_id=city.company_id, limit=None)] == [
        "纳税信用A级"
    ]
