"""Feed producers beyond records: list entries (per change and from a file import) and commitments (batch upsert
and fulfilment)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.commitments.helpers import register_accepting_unit, row
from tests.factories import make_department
from tests.lists.entry_helpers import ADMIN, make_env
from tests.records.helpers import seed_catalog
from xinyong.commitments import importer as commitment_importer
from xinyong.commitments import service as commitment_service
from xinyong.commitments.models import Commitment
from xinyong.core import clock
from xinyong.exchange import feed, render
from xinyong.lists import service as lists


def test_list_entry_listed_then_removed(session):
    env = make_env(session, tokens=False)
    today = clock.today()
    entry = lists.create_entry(
        session,
        actor=ADMIN,
        list_code="tax_a_grade",
        subject_code=env.other,
        reason="纳税信用A级",
        decision_no="A级〔2024〕7号",
        listed_on=today,
        department="swj",
    )
    session.commit()
    lists.remove_entry(session, actor=ADMIN, entry_id=entry.id, reason="revoked", note="决定撤销")
    session.commit()
    messages = [m for m in feed.messages_after(session, 0) if m.kind == "list_entry"]
    assert [(m.op, m.entity_id, m.department_id) for m in messages] == [
        ("listed", entry.id, env.swj.id),
        ("removed", entry.id, env.swj.id),
    ]
    rows = [i["row"] for i in render.render_messages(session, messages)]
    assert rows[0]["名单代码"] == "tax_a_grade" and rows[0]["列入决定文书号"] == "A级〔2024〕7号"
    assert rows[1]["移出原因"] == "revoked" and rows[1]["移出日期"]


def test_commitments_batch_and_fulfilment(session):
    seed_catalog(session)
    dept = make_department(session, code="depa")
    register_accepting_unit(session, dept)
    today = dt.date(2024, 6, 1)
    commitment_importer.import_rows(session, actor=ADMIN, department_id=dept.id, rows=[row(1), row(2)], today=today)
    session.commit()
    first = session.scalars(select(Commitment).order_by(Commitment.code)).first()
    assert first is not None
    commitment_service.record_fulfilment(session, actor=ADMIN, commitment_id=first.id, status="全部履行", today=today)
    session.commit()
    messages = feed.messages_after(session, 0)
    assert [(m.kind, m.op) for m in messages] == [
        ("commitment", "created"),
        ("commitment", "created"),
        ("commitment", "fulfilment_changed"),
    ]
    assert messages[2].entity_id == first.id and messages[2].payload["承诺编码"] == first.code
    assert all(m.department_id == dept.id for m in messages)


def test_list_sync_batch_is_in_the_feed(session, tmp_path):
    from tests.lists.test_sync import ACTOR, Registry, first_snapshot, seed, write_csv
    from xinyong.lists import sync

    seed(session)
    reg = Registry(session)
    sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "s1.csv", first_snapshot(reg), encoding="gb18030"),
    )
    session.commit()
    messages = [m for m in feed.messages_after(session, 0) if m.kind == "list_entry"]
    assert len(messages) == 6 and {m.op for m in messages} == {"listed"}
    assert {m.payload["名单代码"] for m in messages} == {"court_dishonest_debtor"}
