"""The portal's objection entry points (both backends): the link is offered only where a filing can succeed, the
refusal comes before any one-time code, and the form names its target in words."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tests.lists.test_sync import court_row, write_csv
from tests.records.helpers import ADMIN, company_uscc
from tests.web.test_portal import HTML, city  # noqa: F401 (city: fixture)
from xinyong.cases import objections
from xinyong.cases.models import Case
from xinyong.core import clock
from xinyong.lists import sync
from xinyong.lists.models import ListEntry
from xinyong.records.models import CreditRecord


def _record_id(session, doc_no: str) -> int:
    return session.scalar(select(CreditRecord.id).where(CreditRecord.doc_no == doc_no))


def test_objection_offered_only_where_it_can_be_filed(client, session, city, tmp_path: Path) -> None:
    record_id = _record_id(session, "沁市监罚〔2099〕1号")
    other_id = _record_id(session, "沁市监许〔2099〕2号")
    form = client.get("/apply/objection", params={"target_type": "record", "target_id": record_id}, headers=HTML)
    assert form.status_code == 200
    assert "对象：行政处罚 沁市监罚〔2099〕1号" in form.text and "编号" not in form.text

    # An objection being handled: no link on the subject page, and a refusal before the code is asked for.
    objections.file_objection(
        session, actor=ADMIN, target_type="record", target_id=record_id, facts="处罚对象有误", today=clock.today()
    )
    session.commit()
    page = client.get(f"/subject/{city.company}", headers=HTML).text
    assert f"target_type=record&amp;target_id={record_id}&amp;" in page  # its repair link stays
    assert f"/apply/objection?target_type=record&amp;target_id={record_id}&amp;" not in page
    assert f"/apply/objection?target_type=record&amp;target_id={other_id}&amp;" in page
    again = client.get("/apply/objection", params={"target_type": "record", "target_id": record_id}, headers=HTML)
    assert again.status_code == 409 and "办结前不能重复申请" in again.text
    assert "行政处罚 沁市监罚〔2099〕1号" in again.text and 'name="subject"' not in again.text
    token = client.cookies.get("xinyong_csrf") or ""
    cases_before = session.scalar(select(func.count()).select_from(Case))
    posted = client.post(
        "/apply/objection/code",
        data={"target_type": "record", "target_id": str(record_id), "subject": city.company, "csrf_token": token},
        headers=HTML,
    )
    assert posted.status_code in (403, 409)  # 403 without the form's CSRF token; never a code sent
    assert session.scalar(select(func.count()).select_from(Case)) == cases_before

    # An entry of the court's list: "ask the court", no link, and the form refuses with the same words.
    rows = [court_row("(2099)豫0882执1号", "沁阳市宏达机械有限公司", company_uscc(1)[8:17])]
    sync.sync_list(session, actor=ADMIN, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "c.csv", rows))
    session.commit()
    entry = session.scalars(select(ListEntry).where(ListEntry.entry_key == "(2099)豫0882执1号")).one()
    assert entry.subject_id is not None
    page = client.get(f"/subject/{city.company}", headers=HTML).text
    assert "请向认定机关（沁阳市人民法院）提出" in page
    assert f"/apply/objection?target_type=list_entry&amp;target_id={entry.id}&amp;" not in page
    court = client.get("/apply/objection", params={"target_type": "list_entry", "target_id": entry.id}, headers=HTML)
    assert court.status_code == 422 and "请向认定机关提出" in court.text and 'name="subject"' not in court.text
    assert "失信被执行人" in court.text and "(2099)豫0882执1号" in court.text
