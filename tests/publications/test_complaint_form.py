"""The portal's 举报 form (both databases): CSRF, validation with the form kept, named and anonymous reports over
the complaint service, the confirmation with case number and access token, following the case on /progress, and
the reporter's identity kept from the subject and the public."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.lists.entry_helpers import COMPANY, make_env
from xinyong.auth.roles import Principal, Role
from xinyong.cases import service
from xinyong.cases.models import Case

HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def env(session):
    return make_env(session, tokens=False)


def csrf(client, url: str = "/complaint") -> str:
    page = client.get(url, headers=HTML)
    assert page.status_code == 200
    return TOKEN_RE.search(page.text).group(1)


def test_named_report_confirmation_progress_and_protection(client, session, env):
    form = client.get(f"/complaint?subject={env.company}", headers=HTML)
    assert form.status_code == 200 and f'value="{env.company}"' in form.text and "举报人信息只有承办部门" in form.text
    token = TOKEN_RE.search(form.text).group(1)
    body = {
        "subject": env.company,
        "department": "scjgj",
        "facts": "该公司在城区违规倾倒工业废料",
        "reporter_name": "李举报",
        "reporter_channel": "sms",
        "reporter_address": "13912345678",
    }
    assert client.post("/complaint", data=body, headers=HTML).status_code == 403  # no CSRF token
    missing = client.post("/complaint", data={**body, "facts": " ", "csrf_token": token}, headers=HTML)
    assert missing.status_code == 422 and "请填写举报的事实" in missing.text and "李举报" in missing.text
    no_name = client.post("/complaint", data={**body, "reporter_name": "", "csrf_token": token}, headers=HTML)
    assert no_name.status_code == 422 and "实名举报须填写举报人姓名" in no_name.text
    filed = client.post("/complaint", data={**body, "csrf_token": token}, headers=HTML)
    assert filed.status_code == 201, filed.text
    case_no = re.search(r"<dt>案件编号</dt><dd>([^<]+)</dd>", filed.text).group(1)
    access = re.search(r"<dt>查询凭证</dt><dd><code>([^<]+)</code>", filed.text).group(1)
    progress = client.post("/progress", data={"case_no": case_no, "token": access, "csrf_token": token})
    assert progress.status_code == 200 and case_no in progress.text

    session.rollback()
    case = session.scalar(select(Case).where(Case.case_no == case_no))
    assert case.kind == "complaint" and case.subject_id == env.company_id and case.applicant_name == "李举报"
    # The reporter is seen by the handling department, not by another department nor on the subject's page.
    other = Principal(kind="user", name="swj-op", role=Role.DEPT_OPERATOR, department_id=env.swj.id)
    handler = Principal(kind="user", name="scjgj-op", role=Role.DEPT_OPERATOR, department_id=env.scjgj.id)
    assert service.case_view(session, case, actor=other)["applicant"] is None
    assert service.case_view(session, case, actor=handler)["applicant"]["name"] == "李举报"
    page = client.get(f"/subject/{env.company}", headers=HTML)
    assert page.status_code == 200 and "李举报" not in page.text and "13912345678" not in page.text
    assert f"/complaint?subject={env.company}" in page.text


def test_anonymous_report_by_name_only(client, session, env):
    token = csrf(client)
    filed = client.post(
        "/complaint",
        data={
            "subject_name": COMPANY,
            "facts": "虚假宣传",
            "anonymous": "1",
            "reporter_name": "不应保存",
            "reporter_address": "a@b.cn",
            "reporter_channel": "email",
            "csrf_token": token,
        },
        headers=HTML,
    )
    assert filed.status_code == 201 and "案件编号" in filed.text
    session.rollback()
    case = session.scalar(select(Case).where(Case.kind == "complaint"))
    assert case.anonymous and case.applicant_name is None and case.applicant_address is None
    unknown = client.post(
        "/complaint", data={"subject": "91410882MA9999999X", "facts": "x", "csrf_token": token}, headers=HTML
    )
    assert unknown.status_code in (404, 422) and "error" in unknown.text
    assert client.post("/complaint", data={"facts": "x", "csrf_token": token}, headers=HTML).status_code == 422
