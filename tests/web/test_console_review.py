"""The console's match review queue (both backends): what a reviewer needs to judge a candidate is on the page;
and the demo outbox of one-time codes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import ACTOR, make_department, make_user
from tests.lists.test_sync import Registry, court_row, seed, write_csv
from tests.web.test_console import HTML, TOKEN_RE, login
from xinyong.auth.roles import Role
from xinyong.cases import notify, verification
from xinyong.core.settings import reset_settings
from xinyong.identifiers import resident_id
from xinyong.lists import sync
from xinyong.lists.models import ListEntry
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject


def test_review_page_shows_the_evidence_once_per_candidate(client, session: Session, tmp_path: Path) -> None:
    seed(session)
    reg = Registry(session)
    org = session.get(Subject, reg.org.id)
    assert org is not None
    org.address = "沁阳市太行路18号"
    # A second 李明 of the same county: the visible ID digits cannot tell them apart, so the entry waits.
    subjects.register_person(
        session,
        actor=ACTOR,
        name="李明",
        id_number=resident_id.make(region="410882", birth_date=dt.date(1991, 3, 4), sequence=246),
    )
    rows = [
        court_row("(2025)豫0882执4号", "沁阳市宏达机械厂", "", legal_rep="王建国"),
        court_row("(2025)豫0882执2号", "李明", "410882" + "*" * 12),
    ]
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "c.csv", rows))
    entry = session.scalars(select(ListEntry).where(ListEntry.entry_key == "(2025)豫0882执4号")).one()
    assert entry.match_candidates
    # A candidate stored twice (an older sync's duplicate) is shown once.
    entry.match_candidates = [*entry.match_candidates, dict(entry.match_candidates[0])]
    make_user(session, username="chief", role=Role.ADMIN)
    session.commit()

    assert login(client, "chief").status_code == 303
    page = client.get("/console/lists/review", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "失信被执行人" in text and "court_dishonest_debtor</dd>" not in text
    assert "(2025)豫0882执4号" in text and "沁阳市人民法院" in text
    # The candidate: its code, legal representative, address and the parts of its score.
    assert reg.org_code in text and "王建国" in text and "沁阳市太行路18号" in text
    assert "相似度构成" in text and "名称相近" in text and "法定代表人一致" in text
    assert text.count(f'name="subject_id" value="{reg.org.id}"') == 1
    # The person: the masked ID digits compared, side by side.
    assert "身份证号码比对" in text and reg.person.resident_id_masked in text
    assert "/static/review.js" in text and "<kbd>Y</kbd>" in text
    total = sync.review_queue(session)["total"]
    assert total >= 2 and f"共 {total} 条，第 1/1 页" in text  # issue #17: totals in the pager

    # The API item carries the same names.
    queue = sync.review_queue(session, list_code="court_dishonest_debtor")
    item = next(i for i in queue["items"] if i["decision_no"] == "(2025)豫0882执4号")
    assert item["list_name"].startswith("失信被执行人") and item["court"] == "沁阳市人民法院"
    assert [c["subject_id"] for c in item["candidates"]].count(reg.org.id) == 1
    assert TOKEN_RE.search(text)


def test_demo_outbox_shows_the_demo_contacts_codes(client, session: Session, monkeypatch) -> None:
    seed(session)
    reg = Registry(session)
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="op-fy", role=Role.DEPT_OPERATOR, department=make_department(session, code="fy"))
    verification.set_contact(
        session,
        actor=ACTOR,
        subject_id=reg.org.id,
        channel="sms",
        address="13900000001",
        source="demo:企业登记联系电话",
    )
    verification.set_contact(
        session, actor=ACTOR, subject_id=reg.other.id, channel="sms", address="13900000002", source="窗口登记"
    )
    verification.start(session, subject_code=reg.org_code, purpose="objection")
    verification.start(session, subject_code=reg.other_code, purpose="objection")
    session.commit()

    assert login(client, "chief").status_code == 303
    # Not the demo: no page, no menu entry.
    assert client.get("/console/outbox", headers=HTML).status_code == 404
    assert "演示发件箱" not in client.get("/console", headers=HTML).text

    monkeypatch.setenv("XINYONG_DEMO", "1")
    reset_settings()
    assert "/console/outbox" in client.get("/console", headers=HTML).text
    page = client.get("/console/outbox", headers=HTML)
    assert page.status_code == 200 and "13900000001" in page.text and ">待发送<" in page.text
    assert "13900000002" not in page.text  # a real contact's code is never shown
    # which subjects a visitor can try the forms with: the demo contact's subject, not the real one's
    listed = page.text.split("有登记联系方式的演示主体", 1)[1]
    assert reg.org_code in listed and reg.other_code not in listed and "短信" in listed
    code = re.search(r"验证码 (\d{6})", page.text)
    assert code is not None

    # Delivered through the log channel (xinyong cases notify): still shown, as sent, with the same code.
    notify.deliver_pending(session)
    session.commit()
    sent = client.get("/console/outbox", headers=HTML).text
    assert ">已发送<" in sent and ">待发送<" not in sent and f"验证码 {code.group(1)}" in sent

    client.post("/console/logout", data={"csrf_token": TOKEN_RE.search(sent).group(1)}, headers=HTML)
    assert login(client, "op-fy").status_code == 303
    assert client.get("/console/outbox", headers=HTML).status_code == 403
