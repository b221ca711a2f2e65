"""Console page 信用核查 (issue #15 point 1, "a check form"): the form over ``measures.check.run_check`` — the API's
answer (list-based and record-based reasons, legal basis), recorded as every check is; refusals are shown in
Chinese and record nothing; business systems and banks use the API, not the page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.factories import auth_headers, make_department, make_token, make_user
from tests.measures.helpers import entry, org, seed_all
from tests.measures.test_record_triggers import penalty
from tests.web.test_console_analysis import HTML, NAV_RE, login, post, text_of
from xinyong.auth.roles import Role
from xinyong.core import clock
from xinyong.measures.models import Check as CheckRecord
from xinyong.web import console_check


@pytest.fixture
def env(session):
    seed_all(session)
    dept = make_department(session, code="czj", name="沁阳市财政局")
    make_user(session, username="op-czj", role=Role.DEPT_OPERATOR, department=dept)
    make_user(session, username="viewer-czj", role=Role.DEPT_VIEWER, department=dept)
    make_user(session, username="chief", role=Role.ADMIN)
    today = clock.today()
    listed = org(session, "沁阳市失信测试有限公司")
    entry(
        session,
        listed,
        "court_dishonest_debtor",
        listed_on=today - dt.timedelta(days=90),
        term_end=today + dt.timedelta(days=600),
    )
    stopped = org(session, "沁阳市停产测试有限公司")
    rec = penalty(session, stopped, dept, decided=today - dt.timedelta(days=400), types=("罚款", "责令停产停业"))
    clean = org(session, "沁阳市守法测试有限公司")
    session.commit()
    return {"dept": dept, "listed": listed, "stopped": stopped, "clean": clean, "doc": rec.doc_no}


def _checks(session) -> int:
    session.commit()
    return session.scalar(select(func.count()).select_from(CheckRecord)) or 0


def test_page_renders_for_operators_viewers_and_the_admin(client, session, env) -> None:
    for username in ("op-czj", "viewer-czj", "chief"):
        login(client, username)
        page = client.get("/console/check", headers=HTML)
        assert page.status_code == 200, page.text[:300]
        assert ">信用核查</a>" in NAV_RE.search(page.text).group(0), username
        assert 'value="procurement"' in page.text and "核查场景" in text_of(page.text)


def test_check_names_the_list_entry_and_the_penalty_and_is_recorded(client, session, env) -> None:
    login(client, "op-czj")
    before = _checks(session)
    codes = f"{env['listed']}\n\n{env['stopped']}\n{env['clean']}\n"
    page = post(
        client,
        "/console/check",
        {"codes": codes, "scenario": "procurement", "reference": "CG-2026-001"},
        page="/console/check",
    )
    assert page.status_code == 200, page.text[:500]
    text = text_of(page.text)
    assert "沁阳市失信测试有限公司" in text and "失信被执行人" in text
    # the record-based measure names the decision (重大违法记录: 责令停产停业 within three years) and its basis
    assert "沁阳市停产测试有限公司" in text and env["doc"] in text
    assert "政府采购法实施条例" in text
    assert "未发现处于有效期内的红黑名单记录" in text  # the clean company
    assert "CG-2026-001" in text
    assert _checks(session) == before + 1
    record = session.scalar(select(CheckRecord).order_by(CheckRecord.id.desc()).limit(1))
    assert record.reference == "CG-2026-001" and record.scenario == "procurement" and record.subject_count == 3
    assert record.department_id == env["dept"].id


def test_refusals_are_shown_in_chinese_and_record_nothing(client, session, env) -> None:
    login(client, "viewer-czj")
    before = _checks(session)
    bad = post(client, "/console/check", {"codes": env["listed"], "scenario": "lottery"}, page="/console/check")
    assert bad.status_code == 422 and "未知的核查场景" in text_of(bad.text) and "unknown_scenario" in bad.text
    empty = post(client, "/console/check", {"codes": " \n ", "scenario": "approval"}, page="/console/check")
    assert empty.status_code == 422 and "请至少填写一个核查主体" in text_of(empty.text)
    many = "\n".join([env["clean"]] * (console_check.MAX_LINES + 1))
    too_many = post(client, "/console/check", {"codes": many, "scenario": "approval"}, page="/console/check")
    assert too_many.status_code == 422 and "batch_too_large" in too_many.text
    assert _checks(session) == before


def test_a_name_line_is_checked_by_name_and_offers_the_candidates(client, session, env) -> None:
    login(client, "op-czj")
    page = post(
        client, "/console/check", {"codes": "沁阳市失信测试有限公司", "scenario": "approval"}, page="/console/check"
    )
    text = text_of(page.text)
    # a name alone does not decide a measure: the page names the candidate with its code, to check again by code
    assert page.status_code == 200 and "可能的主体" in text and f"沁阳市失信测试有限公司（{env['listed']}）" in text


def test_business_systems_and_banks_cannot_open_the_page(client, session, env) -> None:
    for role in (Role.BUSINESS_SYSTEM, Role.BANK):
        headers = auth_headers(make_token(session, role, env["dept"] if role is Role.BUSINESS_SYSTEM else None))
        session.commit()
        client.cookies.clear()
        assert client.get("/console/check", headers={**headers, **HTML}).status_code == 403, role
        data = {"codes": env["listed"], "scenario": "approval"}
        assert client.post("/console/check", data=data, headers=headers).status_code == 403
