"""The subject profile read model (``reports.profile``): the portal's subject page and the credit report show the
same public list entries — the one public rule of ``lists.queries.public_entries``."""

from __future__ import annotations

from sqlalchemy import select

from tests.reports.helpers import build, pdf_text
from xinyong.auth.roles import ANONYMOUS
from xinyong.lists.models import ListType
from xinyong.reports import service
from xinyong.reports.profile import Audience, Section, build_profile
from xinyong.subjects.models import Subject
from xinyong.web.portal import subject_context


def _portal_and_report(session, env):  # type: ignore[no-untyped-def]
    subject = session.get(Subject, env.company_id)
    ctx = subject_context(session, subject, env.today)
    portal = {e["decision_no"]: e["kind"] for e in ctx["red"] + ctx["black"]}
    report, data = service.generate_report(session, subject_code=env.uscc, requester=ANONYMOUS)
    session.commit()
    return portal, report, pdf_text(data)


def test_portal_and_report_show_the_same_list_entries(session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    portal, report, text = _portal_and_report(session, env)
    assert sorted(portal) == ["沁市监失信〔报告〕1号", "沁市监守〔报告〕1号"]
    for decision_no in portal:
        assert decision_no in text, decision_no
    assert report.sections["black"] == 1 and report.sections["red"] == 1


def test_entry_on_an_inactive_list_is_in_neither(session) -> None:  # type: ignore[no-untyped-def]
    """Before the read model the portal kept an entry of a deactivated (public-class) list that the report left
    out; both now follow ``public_entries``: only active lists."""
    env = build(session)
    black = session.scalar(select(ListType).where(ListType.code == "food_drug_dishonest"))
    black.active = False
    session.commit()
    portal, report, text = _portal_and_report(session, env)
    assert list(portal) == ["沁市监守〔报告〕1号"]
    assert report.sections["black"] == 0 and "沁市监失信〔报告〕1号" not in text


def test_audiences(session) -> None:  # type: ignore[no-untyped-def]
    env = build(session)
    company = session.get(Subject, env.company_id)
    public = build_profile(session, company, audience=Audience.PUBLIC, today=env.today)
    assert public.basics is not None and public.basics["kind_label"]
    assert [r["doc_no"] for r in public.licences] == ["沁市监许〔报告〕1号"]
    assert [r["doc_no"] for r in public.penalties] == ["沁市监罚〔报告〕1号"]  # the old penalty's window is over
    assert len(public.list_entries) == 2 and len(public.commitments) == 1 and public.grades == []
    assert public.objection_marks() == {"records": [], "list_entries": []}
    admin = build_profile(
        session, company, audience=Audience.ADMIN, today=env.today, sections=(Section.RECORDS, Section.LIST_ENTRIES)
    )
    assert len(admin.records) == 3 and admin.basics is None and admin.commitments == []
    assert {r["doc_no"] for r in admin.records} >= {"沁市监罚〔报告〕旧号"}
    person = session.get(Subject, env.person_id)
    assert build_profile(session, person, audience=Audience.PUBLIC, today=env.today).list_entries == []
    own = build_profile(session, person, audience=Audience.OWN, today=env.today)
    assert [r["doc_no"] for r in own.penalties] == ["沁市监罚〔报告〕9号"]
