"""The applicant follows an objection on the portal with the case number and the access token."""

from __future__ import annotations

import re

from tests.cases.helpers import build
from tests.records.helpers import ADMIN
from xinyong.cases import objections, service


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/progress")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


def test_progress_with_the_access_token(session, client):
    env = build(session, watch=False)
    case, token = objections.file_objection(
        session,
        actor=ADMIN,
        target_type="record",
        target_id=env.record_id,
        facts="罚款金额登记错误",
        applicant_name="李会计",
    )
    service.transition(session, actor=ADMIN, case_id=case.id, action="accept")
    session.commit()
    csrf = _csrf(client)
    shown = client.post("/progress", data={"csrf_token": csrf, "case_no": case.case_no, "token": token})
    assert shown.status_code == 200
    assert case.case_no in shown.text and "已受理（核查中）" in shown.text and "受理" in shown.text
    wrong = client.post("/progress", data={"csrf_token": csrf, "case_no": case.case_no, "token": "ck_wrong"})
    assert wrong.status_code == 404 and "已受理" not in wrong.text
    assert (
        client.post(
            "/progress", data={"case_no": case.case_no, "token": token}, headers={"accept": "text/html"}
        ).status_code
        == 403
    )  # no CSRF token
    payload = client.post("/progress", data={"csrf_token": csrf, "case_no": "<script>alert(1)</script>", "token": "x"})
    assert payload.status_code == 404 and "<script>alert(1)</script>" not in payload.text
