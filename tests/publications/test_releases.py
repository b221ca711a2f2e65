"""红黑榜 releases through the CLI, the console and the portal (both databases): what a release publishes (the
public rule of list entries), numbering, refusals, the archive pages, the Atom feed and the audit."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from tests.factories import make_user
from tests.lists.entry_helpers import ADMIN, COMPANY, OTHER_COMPANY, PERSON, PERSON_ID, make_env
from tests.web.test_console import login
from xinyong.auth.roles import Role
from xinyong.catalog.models import InfoClass
from xinyong.cli import app
from xinyong.core import clock
from xinyong.core.audit import AuditEvent
from xinyong.core.errors import Conflict
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.lists import service as lists
from xinyong.publications import releases

HTML = {"accept": "text/html"}
ATOM = "{http://www.w3.org/2005/Atom}"


def last_month(today: dt.date) -> tuple[dt.date, str]:
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end, end.strftime("%Y-%m")


@pytest.fixture
def listed(session):
    env = make_env(session, tokens=False)
    end, period = last_month(clock.today())
    day = end.replace(day=5)
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_a_grade",
        subject_code=env.company,
        reason="纳税信用A级",
        decision_no="A-R-1",
        department="swj",
        listed_on=day,
    )
    black = lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_serious_dishonest",
        subject_code=env.other,
        reason="虚开增值税专用发票",
        decision_no="沁税严〔R〕1号",
        department="swj",
        notice_given_on=day - dt.timedelta(days=40),
        listed_on=day,
    )
    # A person on a black list whose class is not public for persons: never in a release.
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_serious_dishonest",
        subject_code=PERSON_ID,
        reason="逃避追缴欠税",
        decision_no="沁税严〔R〕2号",
        department="swj",
        notice_given_on=day - dt.timedelta(days=40),
        listed_on=day,
    )
    # Listed before the period: not in it.
    lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_a_grade",
        subject_code=env.other,
        reason="纳税信用A级（上期）",
        decision_no="A-R-0",
        department="swj",
        listed_on=end.replace(day=1) - dt.timedelta(days=3),
    )
    session.commit()
    env.black_id = black.id  # type: ignore[attr-defined]
    env.period = period  # type: ignore[attr-defined]
    return env


@pytest.fixture
def publish(database):
    def run(period: str):
        return CliRunner().invoke(
            app, ["--db", database.url, "portal", "releases", "publish", "--period", period, "--json"]
        )

    return run


def test_publish_by_command_archive_page_and_feed(client, session, database, listed, publish):
    result = publish(listed.period)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    year = clock.today().year
    assert out["number"] == f"{year}-1" and out["label"] == f"〔{year}〕第1期"
    assert out["total"] == 2
    assert {c["list_code"]: c["count"] for c in out["counts"]} == {"tax_a_grade": 1, "tax_serious_dishonest": 1}
    # A period is published once; a period that has not ended cannot be.
    again = publish(listed.period)
    assert again.exit_code == 2 and "已发布" in again.output
    assert publish(clock.today().strftime("%Y-%m")).exit_code == 2
    assert publish("2026-13").exit_code == 2
    runner = CliRunner()
    listed_out = runner.invoke(app, ["--db", database.url, "portal", "releases", "list", "--json"])
    assert listed_out.exit_code == 0 and [r["number"] for r in json.loads(listed_out.output)] == [f"{year}-1"]
    shown = runner.invoke(app, ["--db", database.url, "portal", "releases", "show", f"{year}-1", "--json"])
    assert shown.exit_code == 0 and len(json.loads(shown.output)["entries"]) == 2
    missing = runner.invoke(app, ["--db", database.url, "portal", "releases", "show", "1999-9", "--json"])
    assert missing.exit_code == 2

    archive = client.get("/releases", headers=HTML)
    assert archive.status_code == 200 and f"/releases/{year}-1" in archive.text and f"〔{year}〕第1期" in archive.text
    page = client.get(f"/releases/{year}-1", headers=HTML)
    assert page.status_code == 200
    assert COMPANY in page.text and OTHER_COMPANY in page.text and "虚开增值税专用发票" in page.text
    assert "纳税信用A级（上期）" not in page.text
    assert PERSON not in page.text and PERSON_ID not in page.text and "逃避追缴欠税" not in page.text
    assert f"/subject/{listed.company}" in page.text
    for bad in ("9999-1", "x", f"{year}-99", "../etc"):
        assert client.get(f"/releases/{bad}", headers=HTML).status_code == 404

    feed = client.get("/releases.atom")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert entries[0].find(f"{ATOM}link").get("href").endswith(f"/releases/{year}-1")
    assert "共 2 条" in entries[0].find(f"{ATOM}summary").text

    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "publications.release.publish")).all()
    assert len(events) == 1 and events[0].after["entries"] == 2
    assert PERSON_ID not in json.dumps(events[0].after, ensure_ascii=False)

    # An entry removed after publishing (revoked) is no longer shown; the count of the day stays, explained.
    lists.remove_entry(session, actor=ADMIN, entry_id=listed.black_id, reason="revoked", note="认定撤销")
    session.commit()
    page = client.get(f"/releases/{year}-1", headers=HTML)
    assert "虚开增值税专用发票" not in page.text and "不再展示" in page.text and COMPANY in page.text


def test_empty_archive_and_feed(client, session):
    assert "尚未发布红黑榜" in client.get("/releases", headers=HTML).text
    root = ET.fromstring(client.get("/releases.atom").content)
    assert root.tag == f"{ATOM}feed" and root.findall(f"{ATOM}entry") == []


def test_admin_publishes_in_console(client, session, listed):
    make_user(session, username="chief", role=Role.ADMIN)
    make_user(session, username="op-swj", role=Role.DEPT_OPERATOR, department=listed.swj)
    session.commit()
    assert login(client, "op-swj").status_code == 303
    assert client.get("/console/releases", headers=HTML, follow_redirects=False).status_code == 403
    client.cookies.clear()
    assert login(client, "chief").status_code == 303
    page = client.get("/console/releases", headers=HTML)
    assert page.status_code == 200 and "红黑榜发布" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # Without the CSRF token: refused.
    assert client.post("/console/releases", data={"period": listed.period}, headers=HTML).status_code == 403
    done = client.post(
        "/console/releases", data={"period": listed.period, "csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/releases/{clock.today().year}-1"
    twice = client.post("/console/releases", data={"period": listed.period, "csrf_token": token}, headers=HTML)
    assert twice.status_code == 409 and "已发布" in twice.text


def test_concurrent_publishing_numbers_each_release_once(database, session, listed):
    """Two admins publishing at once: the same period once (the other a conflict), two periods two numbers."""
    end, period = last_month(clock.today())
    before = (end.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def run(p: str) -> None:
        start_, end_ = releases.period_of(p)
        barrier.wait()
        try:
            with database.session() as s:
                r = releases.publish_release(s, actor=ADMIN, start=start_, end=end_)
                outcomes.append(releases.number_of(r))
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run, args=(p,)) for p in (period, period, before)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    year = clock.today().year
    assert sorted(outcomes) == sorted([f"{year}-1", f"{year}-2", "release_exists"]), outcomes


def test_persons_appear_only_where_public_and_masked(client, session, listed):
    """Where a list's class makes persons public, a release shows them — name and ID masked."""
    session.execute(
        update(InfoClass).where(InfoClass.code == "serious_dishonest_list").values(natural_person_attribute="public")
    )
    session.commit()
    start, end = releases.period_of(listed.period)
    release = releases.publish_release(session, actor=ADMIN, start=start, end=end)
    session.commit()
    assert releases.release_view(release)["total"] == 3
    page = client.get(f"/releases/{releases.number_of(release)}", headers=HTML).text
    assert "逃避追缴欠税" in page and mask_name(PERSON) in page
    assert PERSON not in page and PERSON_ID not in page and mask_resident_id(PERSON_ID) in page
    feed = client.get("/releases.atom").text
    assert PERSON not in feed and PERSON_ID not in feed
