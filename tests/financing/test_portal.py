"""The subject on the portal: 信易贷 authorisation after a one-time code (grant, revoke) and 查询记录 (its own
access log, without the reader's user or token, a person's ID never in full). Both databases."""

from __future__ import annotations

import re

from tests.cases.helpers import last_code
from tests.financing.helpers import PROFILE_URL, grant, setup

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
PASS = re.compile(r'name="pass" value="([^"]+)"')
CHALLENGE = re.compile(r'name="challenge" value="([^"]+)"')


def _csrf(client, url):
    page = client.get(url)
    assert page.status_code == 200, page.text[:300]
    return TOKEN.search(page.text).group(1)


def _verified(client, session, base, uscc):
    token = _csrf(client, f"/{base}")
    sent = client.post(f"/{base}/code", data={"csrf_token": token, "subject": uscc})
    assert sent.status_code == 200, sent.text[:500]
    challenge = CHALLENGE.search(sent.text).group(1)
    return token, challenge, last_code(session)


def test_subject_grants_and_revokes_on_the_portal(client, session):
    b = setup(session)
    token, challenge, code = _verified(client, session, "financing", b.env.uscc)
    other_code = "000000" if code != "000000" else "111111"
    wrong = client.post(
        "/financing/verify",
        data={"csrf_token": token, "subject": b.env.uscc, "challenge": challenge, "code": other_code},
    )
    assert wrong.status_code == 422 and "验证码错误" in wrong.text
    page = client.post(
        "/financing/verify", data={"csrf_token": token, "subject": b.env.uscc, "challenge": challenge, "code": code}
    )
    assert page.status_code == 200 and "尚无授权" in page.text and "沁阳农村商业银行" in page.text
    pass_ = PASS.search(page.text).group(1)
    bad = client.post(
        "/financing/grant",
        data={"csrf_token": token, "pass": pass_, "institution": "qyrcb", "scope": ["no_such"], "days": "30"},
    )
    assert bad.status_code == 422 and "不能授权" in bad.text
    made = client.post(
        "/financing/grant",
        data={
            "csrf_token": token,
            "pass": pass_,
            "institution": "qyrcb",
            "scope": ["registration", "penalty"],
            "days": "30",
        },
    )
    assert made.status_code == 200 and "已授权" in made.text, made.text[-2000:]
    assert client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank).status_code == 200
    ident = re.search(r'name="authorisation" value="(\d+)"', made.text).group(1)
    forged = client.post(
        "/financing/revoke", data={"csrf_token": token, "pass": pass_[:-2] + "00", "authorisation": ident}
    )
    assert forged.status_code == 422 and "验证已失效" in forged.text
    gone = client.post("/financing/revoke", data={"csrf_token": token, "pass": pass_, "authorisation": ident})
    assert gone.status_code == 200 and "已撤销授权" in gone.text
    refused = client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "authorisation_revoked"
    # A pass for the financing pages does not open the access log.
    other = client.post("/access-log", data={"csrf_token": token, "pass": pass_})
    assert other.status_code == 422


def test_subject_sees_who_looked(client, session):
    b = setup(session)
    grant(session, b)
    client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank)
    client.get(PROFILE_URL.format(b.env.uscc), params={"classes": "evaluation"}, headers=b.bank)
    token, challenge, code = _verified(client, session, "access-log", b.env.uscc)
    page = client.post(
        "/access-log", data={"csrf_token": token, "subject": b.env.uscc, "challenge": challenge, "code": code}
    )
    assert page.status_code == 200, page.text[:500]
    assert "共 2 条" in page.text and "沁阳农村商业银行" in page.text and "融资授信" in page.text
    assert "被拒绝" in page.text and "已查询" in page.text
    assert "token:" not in page.text  # the subject sees the institution, not the token behind it
    again = client.post(
        "/access-log",
        data={"csrf_token": token, "pass": PASS.search(page.text).group(1), "page": "99999999999999999999"},
    )
    assert again.status_code == 200 and "共 2 条" in again.text
    used = client.post(
        "/access-log", data={"csrf_token": token, "subject": b.env.uscc, "challenge": challenge, "code": code}
    )
    assert used.status_code == 422 and "已使用" in used.text


def test_console_shows_figures_per_bank_to_the_admin(client, session):
    from tests.factories import make_user
    from tests.web.test_console import login
    from xinyong.auth.roles import Role

    b = setup(session)
    a = grant(session, b)
    client.get(PROFILE_URL.format(b.env.uscc), headers=b.bank)
    client.post(
        "/api/v1/financing/feedback",
        headers=b.bank,
        json={"authorisation_id": a.id, "outcome": "granted", "amount_yuan": "300000", "rate_band": "lpr"},
    )
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="op-a", role=Role.DEPT_OPERATOR, department=b.env.dept)
    assert login(client, "op-a").status_code == 303
    assert client.get("/console/financing", headers={"accept": "text/html"}).status_code == 403
    home = client.get("/console", headers={"accept": "text/html"})
    assert "/console/financing" not in home.text
    client.cookies.clear()
    assert login(client, "chief").status_code == 303
    page = client.get("/console/financing", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "沁阳农村商业银行" in page.text and "300000.00" in page.text
    assert 'href="/console/financing"' in page.text
