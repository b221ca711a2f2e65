"""Console pages 职业档案 and 政务诚信 (both backends): the file read by a post with a purpose (logged, refusals too),
the dashboard, and the credit office handling a flag."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.factories import ACTOR, make_user
from tests.lists.test_sync import court_row, write_csv
from tests.professions.helpers import build, doctor_rows, person_id
from tests.web.test_console import HTML, TOKEN_RE, csrf, login
from xinyong.auth.roles import Role
from xinyong.lists import sync
from xinyong.professions.models import GovernmentFlag
from xinyong.subjects.access_log import SubjectAccess


def test_profession_file_page_and_integrity_page(client, session, tmp_path: Path) -> None:
    env = build(session)
    assert (
        client.post(
            "/api/v1/professions/doctor/registrations", json={"rows": doctor_rows(env, 1)}, headers=env.wjw_op
        ).status_code
        == 200
    )
    make_user(session, username="wjw-viewer", role=Role.DEPT_VIEWER, department=env.wjw)
    make_user(session, username="chief", role=Role.ADMIN)
    assert login(client, "wjw-viewer").status_code == 303
    token = csrf(client, "/console/professions")
    refused = client.post(
        "/console/professions", data={"code": person_id(0), "purpose": "", "csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 422 and "查询事由" in refused.text
    page = client.post(
        "/console/professions", data={"code": person_id(0), "purpose": "hiring", "csrf_token": token}, headers=HTML
    )
    assert page.status_code == 200 and "沁阳市人民医院" in page.text and "执业医师" in page.text
    assert person_id(0) not in page.text
    session.commit()
    assert [r.outcome for r in session.scalars(select(SubjectAccess).order_by(SubjectAccess.id))] == [
        "denied",
        "allowed",
    ]
    board = client.get("/console/integrity", headers=HTML)
    assert board.status_code == 200 and "政务诚信" in board.text and "信用办待办" not in board.text

    # a flag for the credit office (the body synced onto the court's list), handled on the page
    sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "court.csv", [court_row("(2026)豫0882执9号", "沁阳市某某局", env.body_uscc)]),
    )
    session.commit()
    client.post("/console/logout", data={"csrf_token": TOKEN_RE.search(board.text).group(1)}, headers=HTML)
    assert login(client, "chief").status_code == 303
    admin_page = client.get("/console/integrity", headers=HTML)
    assert admin_page.status_code == 200 and "信用办待办" in admin_page.text and "沁阳市某某局" in admin_page.text
    flag_id = session.scalar(select(GovernmentFlag.id))
    done = client.post(
        f"/console/integrity/flags/{flag_id}",
        data={"note": "已约谈", "csrf_token": TOKEN_RE.search(admin_page.text).group(1)},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303
    session.commit()
    assert session.scalar(select(GovernmentFlag.status)) == "handled"
