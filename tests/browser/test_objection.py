"""An objection from the portal to the department's queue and back: the company objects to its penalty with a
one-time code sent to its registered phone (read from the notification log channel, as an operator without an SMS
gateway would), the record is marked “异议处理中”, the department is notified and finds the case in its console
queue, accepts it and upholds it by withdrawing the record; the penalty leaves the portal and the applicant is told
(notification, and the case status behind the access token)."""

from __future__ import annotations

import re

from tests.browser.conftest import Live, login, shot
from tests.browser.seed import FOOD, FOOD_PENALTY, YEAR

PHONE = "13987654321"  # the registered contact of FOOD (seed.build)


def test_objection_portal_to_queue_and_back(new_page, live: Live) -> None:
    citizen = new_page()
    citizen.goto(f"/subject/{live.city.food}")
    penalty = citizen.locator("#penalties tbody tr", has_text=FOOD_PENALTY)
    assert "公示中" in penalty.inner_text()
    penalty.get_by_role("link", name="提出异议").click()
    citizen.wait_for_url(re.compile(r"/apply/objection\?target_type=record&target_id=\d+"))
    assert citizen.get_by_label("信用主体的统一社会信用代码").input_value() == live.city.food
    citizen.get_by_role("button", name="发送验证码").click()
    sent = citizen.get_by_role("status").inner_text()
    assert PHONE not in sent and re.search(r"139\*+4321", sent), sent  # masked

    code = live.one_time_code(PHONE)
    citizen.get_by_label("验证码").fill(code)
    citizen.get_by_label("申请人（经办人姓名或单位名称）").fill(f"{FOOD}（经办人：赵小红）")
    citizen.get_by_label("异议的事实与理由").fill(
        f"该处罚决定已于复议中被撤销，复议决定书文号沁政复〔{YEAR}〕9号，请核查后撤回公示。"
    )
    shot(citizen, "objection-01-form")
    citizen.get_by_role("button", name="提交申请").click()
    facts = citizen.locator("dl.facts").inner_text()
    case_no = re.search(r"案件编号\s+(\S+)", facts).group(1)
    token = re.search(r"查询凭证\s+(\S+)", facts).group(1)
    assert "异议已提交" in citizen.locator("h1").inner_text()
    shot(citizen, "objection-02-filed")

    citizen.goto(f"/subject/{live.city.food}")
    marked = citizen.locator("#penalties tbody tr", has_text=FOOD_PENALTY)
    assert "异议处理中" in marked.inner_text()
    # Decided before asking (issue #17): a second objection would be refused, so it is no longer offered.
    assert marked.get_by_role("link", name="提出异议").count() == 0
    shot(citizen, "objection-03-subject-marked")
    live.deliver_notifications()
    assert any(case_no in m["body"] for m in live.messages("department:scjgj")), "the department was not notified"

    # The department's operator finds the case in the queue and decides it.
    operator = new_page()
    login(operator)
    operator.get_by_role("navigation", name="工作台导航").get_by_role("link", name="案件办理").click()
    queued = operator.locator("main table tbody tr", has_text=case_no)
    assert FOOD in queued.inner_text() and "已提交（待受理）" in queued.inner_text()
    shot(operator, "objection-04-console-queue")
    queued.get_by_role("link", name=case_no).click()
    assert "该处罚决定已于复议中被撤销" in operator.locator("main").inner_text()
    shot(operator, "objection-05-console-case")
    operator.locator("form.action", has=operator.get_by_role("heading", name="受理", exact=True)).get_by_role(
        "button", name="受理", exact=True
    ).click()
    decide = operator.locator("form.action", has=operator.get_by_role("heading", name="作出核查决定"))
    decide.get_by_label("结果").select_option("upheld")
    decide.get_by_label("对信息的处理").select_option("withdraw")
    decide.get_by_label("理由").fill("经核查，该处罚决定已被复议机关撤销，异议成立，撤回公示。")
    decide.get_by_role("button", name="作出核查决定").click()
    status = operator.locator("dl.meta").inner_text()
    assert "已办结" in status and "异议成立" in status, status
    shot(operator, "objection-06-console-decided")

    # Back on the portal: the penalty is no longer published, and the applicant learns the outcome.
    citizen.goto(f"/subject/{live.city.food}")
    assert FOOD_PENALTY not in citizen.locator("#penalties").inner_text()
    assert "暂无公示期内的行政处罚信息" in citizen.locator("#penalties").inner_text()
    shot(citizen, "objection-07-subject-after")
    live.deliver_notifications()
    told = [m for m in live.messages(PHONE) if case_no in m["body"] or "异议" in m["title"]]
    assert len(told) >= 2, told  # filed, then decided
    progress = citizen.request.get(f"/api/v1/cases/public/{case_no}", headers={"X-Case-Token": token})
    assert progress.ok, progress.text()
    assert progress.json()["case"]["state"] == "decided"
    assert citizen.request.get(f"/api/v1/cases/public/{case_no}", headers={"X-Case-Token": "wrong"}).status == 404
