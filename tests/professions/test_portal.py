"""The person's own profession file on the portal (both backends): after the personal report's one-time code, the
proven person's file; a proof for one person never opens another's (refused and logged); the read is logged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.publications.test_personal_report import HTML, TOKEN_RE
from tests.records.helpers import ADMIN, PERSON_ID
from tests.reports.helpers import build, last_code
from xinyong.identifiers import resident_id
from xinyong.professions import service
from xinyong.subjects import service as subjects
from xinyong.subjects.access_log import SubjectAccess

CHALLENGE = r'name="challenge" value="([^"]+)"'


def _code(client, token: str) -> str:  # type: ignore[no-untyped-def]
    import re

    sent = client.post("/my-profession-file/code", data={"subject": PERSON_ID, "csrf_token": token}, headers=HTML)
    assert sent.status_code == 200, sent.text[:300]
    return re.search(CHALLENGE, sent.text).group(1)


def test_own_profession_file_after_code(client, session) -> None:
    build(session)
    other_id = resident_id.make(region="410882", birth_date=dt.date(1990, 1, 2), sequence=91)
    subjects.register_person(session, actor=ADMIN, name="赵其他", id_number=other_id)
    row = {"name": "本人", "resident_id": PERSON_ID, "certificate_no": "ZYYS-0001", "status": "有效"}
    service.upsert_registrations(session, actor=ADMIN, profession="pharmacist", rows=[(1, row)], department="scjgj")
    session.commit()
    home = client.get("/", headers=HTML).text
    assert 'href="/my-profession-file"' in home  # reachable from the portal (home page and footer)
    token = TOKEN_RE.search(client.get("/my-profession-file", headers=HTML).text).group(1)

    challenge = _code(client, token)
    swapped = client.post(
        "/my-profession-file",
        data={"subject": other_id, "challenge": challenge, "code": last_code(session), "csrf_token": token},
        headers=HTML,
    )
    assert swapped.status_code == 403 and "ZYYS-0001" not in swapped.text

    challenge = _code(client, token)
    shown = client.post(
        "/my-profession-file",
        data={"subject": PERSON_ID, "challenge": challenge, "code": last_code(session), "csrf_token": token},
        headers=HTML,
    )
    assert shown.status_code == 200 and "ZYYS-0001" in shown.text and "执业药师" in shown.text
    assert shown.headers["cache-control"] == "no-store" and PERSON_ID not in shown.text
    session.commit()
    log = [(r.outcome, r.purpose) for r in session.scalars(select(SubjectAccess).order_by(SubjectAccess.id))]
    assert log[0][0] == "denied" and log[-1] == ("allowed", "本人查询职业信用档案")
