"""The department console through the browser's eyes (TestClient, both databases): session, CSRF, collection
with corrections, queues, admin pages, dashboards and the assessment export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import openpyxl
import pytest

from tests.factories import DEFAULT_PASSWORD, make_department, make_user, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, penalty_row, zh_headers
from xinyong.auth import service as auth_service
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.core import clock
from xinyong.core.errors import NotFound
from xinyong.ingest.models import IngestBatch
from xinyong.records.inputs import RecordKind

HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client, url: str = "/console/login") -> str:
    page = client.get(url, headers=HTML)
    assert page.status_code == 200, page.text[:300]
    return TOKEN_RE.search(page.text).group(1)


def login(client, username: str, password: str = DEFAULT_PASSWORD):
    token = csrf(client)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "next": "/console", "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )


@pytest.fixture
def people(session):
    seed_catalog(session, actor=system_principal("tests"))
    a = make_department(session, code="scjgj", name="沁阳市市场监督管理局", short_name="市场监管局")
    b = make_department(session, code="swj", name="沁阳市税务局")
    register_authority(session, a, uscc=AUTHORITY, name=AUTHORITY_NAME)  # the authority of penalty_row()
    make_user(session, username="op-a", role=Role.DEPT_OPERATOR, department=a)
    make_user(session, username="viewer-a", role=Role.DEPT_VIEWER, department=a)
    make_user(session, username="op-b", role=Role.DEPT_OPERATOR, department=b)
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="bank-1", role=Role.BANK)
    return {"a": a, "b": b}


def test_logged_out_browser_is_sent_to_login_and_api_clients_get_401(client, people):
    for url in ("/console", "/console/cases?scope=overdue", "/console/users", "/console/batches/1"):
        resp = client.get(url, headers=HTML, follow_redirects=False)
        assert resp.status_code == 303, url
        assert resp.headers["location"].startswith("/console/login?next=%2Fconsole")
    assert client.get("/console", follow_redirects=False).status_code == 401
    # A form post without a session: to the login page too (not a CSRF refusal, not a 500).
    resp = client.post("/console/upload", data={"kind": "penalty"}, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/login"
    page = client.get("/console/login?next=/console/cases", headers=HTML)
    assert page.status_code == 200 and "登录部门工作台" in page.text
    assert 'value="/console/cases"' in page.text
    # Only console paths are accepted as the place to go after login.
    assert 'value="/console"' in client.get("/console/login?next=//evil.example/x", headers=HTML).text


def test_login_session_logout(client, session, people):
    resp = login(client, "op-a")
    assert resp.status_code == 303 and resp.headers["location"] == "/console"
    cookie = resp.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("xinyong_session="))
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    home = client.get("/console", headers=HTML)
    assert home.status_code == 200 and "沁阳市市场监督管理局" in home.text and "op-a" in home.text
    raw = client.cookies.get("xinyong_session")
    # The API never accepts the cookie.
    assert client.get("/api/v1/auth/me").status_code == 401
    token = TOKEN_RE.search(home.text).group(1)
    out = client.post("/console/logout", data={"csrf_token": token}, headers=HTML, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert client.get("/console", headers=HTML, follow_redirects=False).status_code == 303
    # The old cookie is worthless: its login token was revoked.
    client.cookies.set("xinyong_session", raw)
    assert client.get("/console", headers=HTML, follow_redirects=False).status_code == 303


def test_wrong_password_bank_user_and_csrf_refusal(client, session, people):
    bad = login(client, "op-a", "wrong-password-1")
    assert bad.status_code == 401 and "用户名或密码错误" in bad.text
    session.expire_all()
    assert auth_service.get_user(session, ref="op-a").failed_logins == 1  # committed although the login failed
    refused = login(client, "bank-1")
    assert refused.status_code == 403 and "不能登录部门工作台" in refused.text
    assert client.get("/console", headers=HTML, follow_redirects=False).status_code == 303
    # No CSRF token: refused before the password is even looked at.
    csrf(client)
    resp = client.post(
        "/console/login", data={"username": "op-a", "password": DEFAULT_PASSWORD}, headers=HTML, follow_redirects=False
    )
    assert resp.status_code == 403
    # Logged in, a form without the token is refused and changes nothing.
    assert login(client, "chief").status_code == 303
    resp = client.post(
        "/console/users",
        data={"username": "sneaky", "display_name": "x", "password": "abcdefgh123", "role": "admin"},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 403
    with pytest.raises(NotFound):
        auth_service.get_user(session, ref="sneaky")


def _csv(rows: list[dict]) -> bytes:
    headers = zh_headers(RecordKind.PENALTY)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=headers)
    writer.writeheader()
    for r in rows:
        writer.writerow({h: r.get(h, "") for h in headers})
    return buf.getvalue().encode("utf-8-sig")


def test_upload_with_errors_report_and_corrected_resend(client, session, people):
    assert login(client, "op-a").status_code == 303
    good = penalty_row(**{"行政处罚决定书文号": "沁市监罚〔2024〕101号"})
    broken = penalty_row(**{"行政处罚决定书文号": "沁市监罚〔2024〕102号", "行政相对人名称": ""})
    token = csrf(client, "/console/upload")
    resp = client.post(
        "/console/upload",
        data={"kind": "penalty", "csrf_token": token},
        files={"file": ("处罚.csv", _csv([good, broken]), "text/csv")},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:500]
    report_url = resp.headers["location"]
    report = client.get(report_url, headers=HTML)
    assert report.status_code == 200
    assert "部分退回" in report.text and "退回的数据（1 行）" in report.text and "为必填项" in report.text
    assert 'aria-invalid="true"' in report.text
    batch_id = int(report_url.rsplit("/", 1)[1])
    # A person reads labels and China Standard Time, not codes and UTC.
    assert "必填项为空" in report.text and "问题代码" not in report.text
    received = session.get(IngestBatch, batch_id).received_at
    assert f"<dd>{clock.local_text(received)}</dd>" in report.text
    # The error report downloads in the department's own columns.
    errors = client.get(f"/console/batches/{batch_id}/errors.xlsx")
    assert errors.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(errors.content)).active
    assert "行政相对人名称" in [c.value for c in sheet[1]]
    # Correct the name in the editable grid and resend the row.
    headers = zh_headers(RecordKind.PENALTY)
    row_no = int(re.search(r'name="row" value="(\d+)"', report.text).group(1))
    form = {"csrf_token": TOKEN_RE.search(report.text).group(1), "row": str(row_no)}
    for i, h in enumerate(headers):
        form[f"c_{row_no}_{i}"] = broken.get(h, "") or ("沁阳市更正商贸有限公司" if h == "行政相对人名称" else "")
    resent = client.post(f"/console/batches/{batch_id}/resend", data=form, headers=HTML, follow_redirects=False)
    assert resent.status_code == 303, resent.text[:500]
    new_report = client.get(resent.headers["location"], headers=HTML)
    assert "全部入库" in new_report.text and "接口推送" in new_report.text
    listing = client.get("/console/batches", headers=HTML).text
    assert f"#{batch_id}" in listing
    assert "共 2 条，第 1/1 页" in listing  # the upload and its corrected resend (issue #17: totals in the pager)
    # A viewer reads the report but gets no correction form; another department does not see the batch at all.
    client.cookies.clear()
    assert login(client, "viewer-a").status_code == 303
    page = client.get(report_url, headers=HTML)
    assert page.status_code == 200 and "/resend" not in page.text
    assert client.get("/console/upload", headers=HTML).status_code == 403
    client.cookies.clear()
    assert login(client, "op-b").status_code == 303
    assert client.get(report_url, headers=HTML).status_code == 404


def test_upload_in_another_departments_name_is_a_refused_row(client, session, people):
    """Issue #13: the console's upload is held to the authority rule like the API and the CLI."""
    from sqlalchemy import func, select

    from xinyong.records.models import CreditRecord

    a = people["a"]
    theirs = penalty_row(
        **{"行政处罚决定书文号": "沁市监罚〔2024〕201号", "处罚机关": a.name, "处罚机关统一社会信用代码": a.uscc}
    )
    assert login(client, "op-b").status_code == 303
    token = csrf(client, "/console/upload")
    resp = client.post(
        "/console/upload",
        data={"kind": "penalty", "csrf_token": token},
        files={"file": ("处罚.csv", _csv([theirs]), "text/csv")},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:500]
    report = client.get(resp.headers["location"], headers=HTML)
    assert report.status_code == 200 and "退回的数据（1 行）" in report.text
    assert "不是沁阳市税务局可报送的机关" in report.text
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CreditRecord)) == 0


def test_refused_upload_shows_the_reason(client, people):
    assert login(client, "op-a").status_code == 303
    token = csrf(client, "/console/upload")
    resp = client.post(
        "/console/upload",
        data={"kind": "penalty", "csrf_token": token},
        files={"file": ("x.csv", "甲,乙\n1,2\n".encode(), "text/csv")},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 422 and "未能完成" in resp.text


def test_case_queue_shows_due_dates_and_only_own_department(client, session, people):
    from xinyong.cases import service as cases_service

    actor = system_principal("tests")
    today = dt.date.today()
    case, _ = cases_service.open_case(
        session,
        actor=actor,
        kind="complaint",
        target_type="subject",
        target_id=None,
        subject_id=None,
        department_id=people["a"].id,
        filed_via="public",
        facts="无证经营",
        data={},
        subject_name="某小吃店",
        today=today,
    )
    overdue, _ = cases_service.open_case(
        session,
        actor=actor,
        kind="complaint",
        target_type="subject",
        target_id=None,
        subject_id=None,
        department_id=people["a"].id,
        filed_via="public",
        facts="价格欺诈",
        data={},
        subject_name="某超市",
        today=today - dt.timedelta(days=60),
    )
    session.commit()
    assert login(client, "op-a").status_code == 303
    queue = client.get("/console/cases", headers=HTML)
    assert queue.status_code == 200
    assert case.case_no in queue.text and str(case.due_on) in queue.text
    assert "已超期" in queue.text and queue.text.index(overdue.case_no) < queue.text.index(case.case_no)
    only_overdue = client.get("/console/cases?scope=overdue", headers=HTML).text
    assert overdue.case_no in only_overdue and case.case_no not in only_overdue
    # Issue #17: totals in the pager, and a search by subject name or case number that the pager keeps.
    assert "共 2 条，第 1/1 页" in queue.text
    by_name = client.get("/console/cases", params={"q": "超市"}, headers=HTML).text
    assert overdue.case_no in by_name and case.case_no not in by_name and "共 1 条" in by_name
    by_no = client.get("/console/cases", params={"q": case.case_no}, headers=HTML).text
    assert case.case_no in by_no and overdue.case_no not in by_no
    later = client.get("/console/cases", params={"q": "某", "page": "2"}, headers=HTML).text
    assert "q=%E6%9F%90&amp;page=1" in later
    detail = client.get(f"/console/cases/{case.id}", headers=HTML)
    assert detail.status_code == 200 and "受理" in detail.text
    token = TOKEN_RE.search(detail.text).group(1)
    acted = client.post(
        f"/console/cases/{case.id}/action",
        data={"action": "accept", "version": str(case.version), "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert acted.status_code == 303
    session.expire_all()
    assert cases_service.get_case(session, case.id).state == "investigating"
    # A second decision on the version already used: a conflict page, not a 500.
    stale = client.post(
        f"/console/cases/{case.id}/action",
        data={"action": "accept", "version": str(case.version), "csrf_token": token},
        headers=HTML,
    )
    assert stale.status_code == 409
    client.cookies.clear()
    assert login(client, "op-b").status_code == 303
    assert case.case_no not in client.get("/console/cases?scope=all", headers=HTML).text
    assert client.get(f"/console/cases/{case.id}", headers=HTML).status_code == 404


def test_admin_pages_are_refused_to_departments(client, session, people):
    assert login(client, "op-a").status_code == 303
    for url in ("/console/users", "/console/assessment.xlsx"):
        resp = client.get(url, headers=HTML)
        assert resp.status_code == 403 and "当前角色无权执行此操作" in resp.text
    tokens = client.get("/console/tokens", headers=HTML)  # an operator manages his department's API tokens
    assert tokens.status_code == 200 and '<option value="admin">' not in tokens.text
    client.cookies.clear()
    assert login(client, "viewer-a").status_code == 303
    assert client.get("/console/tokens", headers=HTML).status_code == 403
    client.cookies.clear()
    assert login(client, "chief").status_code == 303
    users = client.get("/console/users", headers=HTML)
    assert users.status_code == 200 and "op-a" in users.text
    token = TOKEN_RE.search(users.text).group(1)
    made = client.post(
        "/console/users",
        data={
            "username": "new-op",
            "display_name": "新操作员",
            "password": "long-enough-42",
            "role": "dept_operator",
            "department": "swj",
            "csrf_token": token,
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 303
    session.expire_all()
    assert auth_service.get_user(session, ref="new-op").department_id == people["b"].id
    issued = client.post(
        "/console/tokens",
        data={"name": "审批系统", "role": "business_system", "department": "scjgj", "csrf_token": token},
        headers=HTML,
    )
    assert issued.status_code == 201 and "离开本页后将无法再次查看" in issued.text
    assert issued.headers["cache-control"] == "no-store"
    raw = re.search(r'value="(xy_[^"]+)"', issued.text).group(1)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {raw}"}).json()["role"] == "business_system"


def test_dashboards_and_assessment_pages(client, session, people):
    from tests.records.helpers import ADMIN, penalty
    from xinyong.records import upsert as records_upsert

    # One on-time record of scjgj in the current month.
    now = dt.datetime.now(dt.UTC)
    records_upsert.upsert_records(
        session,
        actor=ADMIN,
        department_id=people["a"].id,
        batch_id=None,
        received_at=now,
        rows=[penalty(decided=dt.date.today())],
    )
    session.commit()
    assert login(client, "chief").status_code == 303
    page = client.get("/console/dashboards", headers=HTML)
    assert page.status_code == 200
    assert 'id="dashboard-data"' in page.text and "/static/vendor/echarts/echarts.min.js" in page.text
    assert "市场监管局" in page.text and "<script>" not in page.text  # no inline script (CSP)
    # Each department its own colour from a fixed palette, picked by its id (the same on every page and day).
    from xinyong.web.console_dashboards import DEPARTMENT_PALETTE, department_colour

    assert len(set(DEPARTMENT_PALETTE)) == len(DEPARTMENT_PALETTE) >= 12
    assert len({department_colour(i) for i in range(1, 13)}) == 12
    chart = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', page.text, re.S).group(1))
    assert chart["colours"][str(people["a"].id)] == department_colour(people["a"].id)
    month = dt.date.today().strftime("%Y-%m")
    ranking = client.get(f"/console/assessment?month={month}", headers=HTML)
    assert ranking.status_code == 200 and "沁阳市税务局" in ranking.text and "导出 Excel" in ranking.text
    xlsx = client.get(f"/console/assessment.xlsx?month={month}")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["考核排名"]
    assert {row[1] for row in sheet.iter_rows(min_row=3, values_only=True)} == {"scjgj", "swj"}
    assert client.get("/console/assessment?month=2024-13", headers=HTML).status_code == 422
    # A department user sees his own figures only.
    client.cookies.clear()
    assert login(client, "op-b").status_code == 303
    own = client.get("/console/dashboards", headers=HTML).text
    assert "沁阳市税务局" in own and "市场监管局" not in own
    mine = client.get(f"/console/assessment?month={month}", headers=HTML).text
    assert "排名第" in mine and "沁阳市市场监督管理局" not in mine and "导出 Excel" not in mine
    assert client.get("/static/vendor/echarts/echarts.min.js").status_code == 200
    assert client.get("/static/console.js").status_code == 200


def test_admin_registers_and_removes_a_departments_authorities(client, session, people):
    from sqlalchemy import select

    from tests.factories import make_uscc
    from xinyong.core.audit import AuditEvent

    unit, unit_name = make_uscc(8802), "焦作市生态环境局沁阳分局"
    url = "/console/departments/swj/authorities"
    assert login(client, "op-a").status_code == 303  # a department operator: refused like the other admin pages
    resp = client.get(url, headers=HTML)
    assert resp.status_code == 403 and "当前角色无权执行此操作" in resp.text
    client.cookies.clear()
    assert login(client, "chief").status_code == 303
    assert url in client.get("/console/users", headers=HTML).text
    page = client.get(url, headers=HTML)
    assert page.status_code == 200 and people["b"].uscc in page.text and "部门自身，自动计入" in page.text
    token = TOKEN_RE.search(page.text).group(1)

    added = client.post(
        url,
        data={"uscc": unit.lower(), "name": unit_name, "reason": "分局的决定由市局报送", "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == url
    page = client.get(url, headers=HTML)
    assert unit in page.text and unit_name in page.text and "分局的决定由市局报送" in page.text
    session.rollback()  # a fresh snapshot: the console committed in its own session
    assert auth_service.authorities_of(session, department_id=people["b"].id).usccs == {people["b"].uscc, unit}
    events = select(AuditEvent).where(AuditEvent.entity_id == str(people["b"].id))
    [event] = session.scalars(events.where(AuditEvent.action == "department.authority_add"))
    assert event.actor and event.reason == "分局的决定由市局报送" and event.after["uscc"] == unit

    # Refusals are shown like every other refused console form, and nothing is kept.
    for uscc, code in (
        ("12345", "invalid_uscc"),
        (AUTHORITY, "authority_taken"),
        (people["b"].uscc, "authority_is_own"),
    ):
        bad = client.post(url, data={"uscc": uscc, "name": "某机关", "reason": "试", "csrf_token": token}, headers=HTML)
        assert bad.status_code in (409, 422) and "未能完成" in bad.text, (uscc, bad.text[:300])
        if code != "invalid_uscc":
            assert code in bad.text
        else:
            assert "错误代码" in bad.text
    session.rollback()
    assert auth_service.authorities_of(session, department_id=people["b"].id).usccs == {people["b"].uscc, unit}

    removed = client.post(
        f"{url}/{unit}/remove", data={"reason": "分局撤销", "csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert removed.status_code == 303 and removed.headers["location"] == url
    assert unit not in client.get(url, headers=HTML).text
    session.rollback()
    assert auth_service.authorities_of(session, department_id=people["b"].id).usccs == {people["b"].uscc}
    [event] = session.scalars(events.where(AuditEvent.action == "department.authority_remove"))
    assert event.reason == "分局撤销" and event.before["uscc"] == unit
    gone = client.post(f"{url}/{unit}/remove", data={"reason": "再次", "csrf_token": token}, headers=HTML)
    assert gone.status_code == 404 and "authority_not_found" in gone.text

    client.cookies.clear()
    assert login(client, "op-b").status_code == 303  # the department's own operator cannot change it either
    refused = client.post(
        url,
        data={"uscc": unit, "name": unit_name, "reason": "自己登记", "csrf_token": csrf(client, "/console")},
        headers=HTML,
    )
    assert refused.status_code == 403


def test_console_list_page_links_searches_and_counts(client, session, people):
    """Issue #17: the console's list entries link each organisation to its page, a 当事人 search (name or code,
    server-side) narrows them and the pager keeps it, and the pager says 共 N 条，第 x/y 页."""
    from tests.factories import make_uscc
    from xinyong.lists import service as lists_service
    from xinyong.lists import types as list_types
    from xinyong.subjects import service as subjects_service

    actor = system_principal("tests")
    list_types.seed_list_types(session, actor=actor)
    names = ("沁阳市甲乙商贸有限公司", "沁阳市丙丁机械有限公司")
    ids = []
    for i, name in enumerate(names):
        code = make_uscc(7700 + i)
        ids.append(subjects_service.register_organisation(session, actor=actor, name=name, code=code).id)
        lists_service.create_entry(
            session,
            actor=actor,
            list_code="tax_a_grade",
            subject_code=code,
            reason="纳税信用A级",
            decision_no=f"A-{i}",
            department="swj",
            listed_on=clock.today() - dt.timedelta(days=3),
        )
    session.commit()
    assert login(client, "chief").status_code == 303
    page = client.get("/console/lists", headers=HTML).text
    assert "共 2 条，第 1/1 页" in page
    assert f'href="/console/evaluation/subjects/{ids[0]}">{names[0]}</a>' in page
    assert client.get(f"/console/evaluation/subjects/{ids[0]}", headers=HTML).status_code == 200
    by_name = client.get("/console/lists", params={"q": "甲乙"}, headers=HTML).text
    assert names[0] in by_name and names[1] not in by_name and "共 1 条" in by_name
    by_code = client.get("/console/lists", params={"q": make_uscc(7701).lower()}, headers=HTML).text
    assert names[1] in by_code and names[0] not in by_code
    later = client.get("/console/lists", params={"q": "有限公司", "page": "2"}, headers=HTML).text
    assert "q=%E6%9C%89%E9%99%90%E5%85%AC%E5%8F%B8&amp;page=1" in later  # the pager keeps the search
