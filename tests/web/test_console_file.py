"""Console page 政府信用档案 (政务共享): the form over ``reports.government_file.read_file`` — the same file, the
same refusals, the same access log as ``GET /api/v1/subjects/{code}/file``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.factories import auth_headers, make_token, make_user
from tests.reports.test_government_file import _setup
from tests.web.test_console_analysis import HTML, NAV_RE, login, post, text_of
from xinyong.auth.roles import Role
from xinyong.subjects.access_log import SubjectAccess

ENDPOINT = "GET /api/v1/subjects/{code}/file"


@pytest.fixture
def env(session):
    env, _by_doc = _setup(session)
    make_user(session, username="op-scjgj", role=Role.DEPT_OPERATOR, department=env.dept)
    make_user(session, username="viewer-swj", role=Role.DEPT_VIEWER, department=env.other)
    make_user(session, username="chief", role=Role.ADMIN)
    session.commit()
    return env


def _log(session, subject_id):  # type: ignore[no-untyped-def]
    session.commit()
    session.expire_all()
    rows = list(
        session.scalars(select(SubjectAccess).where(SubjectAccess.subject_id == subject_id).order_by(SubjectAccess.id))
    )
    session.commit()
    return rows


def test_page_renders_for_operators_viewers_and_the_admin(client, session, env) -> None:
    for username in ("op-scjgj", "viewer-swj", "chief"):
        login(client, username)
        page = client.get("/console/file", headers=HTML)
        assert page.status_code == 200, page.text[:300]
        assert ">信用档案</a>" in NAV_RE.search(page.text).group(0), username
        text = text_of(page.text)
        assert "政府信用档案" in text and "公职人员录用与聘用" in text and 'value="procurement"' in page.text


def test_file_shows_another_departments_shared_record_and_logs_the_read(client, session, env) -> None:
    from tests.records.helpers import ADMIN
    from xinyong.lists import service as lists

    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="market_serious_illegal",
        subject_code=env.uscc,
        reason="提交虚假材料取得登记",
        decision_no="沁市监严〔1〕1号",
        notice_given_on=env.today - dt.timedelta(days=60),
        listed_on=env.today - dt.timedelta(days=30),
        department="scjgj",
    )
    session.commit()
    login(client, "op-scjgj")  # the records below were reported by the tax bureau (swj)
    page = post(client, "/console/file", {"code": env.uscc, "purpose": "procurement"}, page="/console/file")
    assert page.status_code == 200, page.text[:500]
    text = text_of(page.text)
    # a penalty of the tax bureau (the other department), past publicity but within the look-back
    assert "沁市监罚〔回溯〕1号" in text and "沁阳市税务局" in text and "公示期满（回溯期内）" in text
    assert "沁市监罚〔修复〕3号" in text and "已信用修复" in text
    assert "沁市监罚〔撤回〕1号" not in text and "沁市监罚〔过期〕1号" not in text
    assert "政务共享（政府采购）" in text
    rows = _log(session, env.subject_id)
    assert rows[-1].outcome == "allowed" and rows[-1].endpoint == ENDPOINT and "政府采购" in rows[-1].purpose
    assert rows[-1].department_id == env.dept.id
    # the list entry with its history, and the grades / commitments sections
    assert "沁市监严〔1〕1号" in text and "历史" in text and "信用评价结果" in text and "信用承诺及履约" in text


def test_missing_purpose_is_refused_on_the_page_and_logged(client, session, env) -> None:
    login(client, "viewer-swj")
    before = len(_log(session, env.subject_id))
    refused = post(client, "/console/file", {"code": env.uscc, "purpose": ""}, page="/console/file")
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "未能完成" in text and "查询事由" in text and "purpose_required" in text
    assert "沁市监罚〔回溯〕1号" not in text
    other = post(client, "/console/file", {"code": env.uscc, "purpose": "other"}, page="/console/file")
    assert other.status_code == 422 and "purpose_text_required" in other.text
    rows = _log(session, env.subject_id)
    assert len(rows) == before + 2
    assert [(r.outcome, r.error_code, r.endpoint) for r in rows[-2:]] == [
        ("denied", "purpose_required", ENDPOINT),
        ("denied", "purpose_text_required", ENDPOINT),
    ]
    assert all(r.department_id == env.other.id for r in rows[-2:])
    unknown = post(client, "/console/file", {"code": "91410882MA00000000", "purpose": "approval"}, page="/console/file")
    assert unknown.status_code == 404 and "未找到该信用主体" in unknown.text


def test_business_systems_and_banks_cannot_open_the_page(client, session, env) -> None:
    for role in (Role.BUSINESS_SYSTEM, Role.BANK):
        headers = auth_headers(make_token(session, role, env.dept if role is Role.BUSINESS_SYSTEM else None))
        session.commit()
        client.cookies.clear()
        assert client.get("/console/file", headers={**headers, **HTML}).status_code == 403, role
        assert (
            client.post("/console/file", data={"code": env.uscc, "purpose": "approval"}, headers=headers).status_code
            == 403
        )
    assert all(r.endpoint != ENDPOINT for r in _log(session, env.subject_id))
