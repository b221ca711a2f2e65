"""The personal credit report on the portal (both databases): one-time code to the registered contact, then the
person's own report (PDF, registered); without the code, with a wrong one, or for another person: refused."""

from __future__ import annotations

import datetime as dt
import re

from tests.records.helpers import ADMIN, PERSON_ID
from tests.reports.helpers import PERSON, build, last_code, pdf_text
from xinyong.identifiers import resident_id
from xinyong.subjects import service as subjects

HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CHALLENGE_RE = re.compile(r'name="challenge" value="([^"]+)"')


def ask_code(client, token: str, subject: str = PERSON_ID) -> str:
    sent = client.post("/my-report/code", data={"subject": subject, "csrf_token": token}, headers=HTML)
    assert sent.status_code == 200, sent.text[:500]
    assert "138****5678" in sent.text or "已发送" in sent.text
    return CHALLENGE_RE.search(sent.text).group(1)


def test_person_gets_own_report_after_code(client, session):
    build(session)
    other_id = resident_id.make(region="410882", birth_date=dt.date(1990, 1, 2), sequence=91)
    subjects.register_person(session, actor=ADMIN, name="赵其他", id_number=other_id)
    session.commit()
    start = client.get("/my-report", headers=HTML)
    assert start.status_code == 200 and "居民身份证号码" in start.text
    token = TOKEN_RE.search(start.text).group(1)
    assert client.post("/my-report/code", data={"subject": PERSON_ID}, headers=HTML).status_code == 403  # no CSRF

    # A wrong code: refused, no PDF.
    challenge = ask_code(client, token)
    wrong = client.post(
        "/my-report", data={"subject": PERSON_ID, "challenge": challenge, "code": "000000", "csrf_token": token}
    )
    assert wrong.status_code in (403, 422) and wrong.headers["content-type"].startswith("text/html")

    # A code proving one person never issues another person's report.
    challenge = ask_code(client, token)
    code = last_code(session)
    swapped = client.post(
        "/my-report", data={"subject": other_id, "challenge": challenge, "code": code, "csrf_token": token}
    )
    assert swapped.status_code in (403, 422) and "application/pdf" not in swapped.headers["content-type"]

    challenge = ask_code(client, token)
    code = last_code(session)
    issued = client.post(
        "/my-report", data={"subject": PERSON_ID, "challenge": challenge, "code": code, "csrf_token": token}
    )
    assert issued.status_code == 200 and issued.headers["content-type"] == "application/pdf"
    assert issued.headers["cache-control"] == "no-store" and issued.headers["x-report-number"]
    assert PERSON in pdf_text(issued.content)
    # The code is used up.
    again = client.post(
        "/my-report", data={"subject": PERSON_ID, "challenge": challenge, "code": code, "csrf_token": token}
    )
    assert again.status_code != 200 or "application/pdf" not in again.headers["content-type"]


def test_unknown_person_gets_no_code(client, session):
    build(session)
    token = TOKEN_RE.search(client.get("/my-report").text).group(1)
    unknown = resident_id.make(region="410882", birth_date=dt.date(1990, 1, 2), sequence=93)
    answer = client.post("/my-report/code", data={"subject": unknown, "csrf_token": token}, headers=HTML)
    assert answer.status_code in (404, 422) and 'name="challenge"' not in answer.text
