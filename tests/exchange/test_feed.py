"""The outbox feed: every change of a record, list entry or commitment is a message, in the change's transaction."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.exchange.helpers import penalty, setup, upsert
from tests.records.helpers import ADMIN
from xinyong.exchange import feed, render
from xinyong.exchange.models import FeedMessage
from xinyong.records import service as records_service


def test_ingested_corrected_withdrawn_three_messages_in_order(session):
    dept = setup(session)
    result = upsert(session, dept, [penalty()])
    session.commit()
    record_id = result.outcomes[0].record_id
    records_service.correct_record(
        session, actor=ADMIN, record_id=record_id, changes={"fine_yuan": "20000"}, reason="异议核实，金额有误"
    )
    session.commit()
    records_service.withdraw(session, actor=ADMIN, record_id=record_id, reason="决定已被撤销")
    session.commit()
    messages = feed.messages_after(session, 0)
    assert [(m.seq, m.kind, m.op, m.entity_id) for m in messages] == [
        (1, "penalty", "created", record_id),
        (2, "penalty", "corrected", record_id),
        (3, "penalty", "withdrawn", record_id),
    ]
    assert all(m.department_id == dept.id and m.subject_id for m in messages)
    rows = [r["row"] for r in render.render_messages(session, messages)]
    assert rows[0]["CF_NR_FK"] == "1.5" and rows[1]["CF_NR_FK"] == "2"
    assert [r["CF_ZT"] for r in rows] == ["1", "1", "2"]
    assert rows[2]["撤销原因"] == "决定已被撤销"


def test_rollback_leaves_no_gap(session):
    dept = setup(session)
    upsert(session, dept, [penalty(**{"行政处罚决定书文号": "榕鼓市监罚〔2024〕1号"})])
    session.rollback()
    upsert(session, dept, [penalty(**{"行政处罚决定书文号": "榕鼓市监罚〔2024〕2号"})])
    session.commit()
    assert session.scalars(select(FeedMessage.seq)).all() == [1]
    assert feed.last_seq(session) == 1


def test_publicity_ended_after_repair(session):
    dept = setup(session)
    record_id = upsert(session, dept, [penalty()]).outcomes[0].record_id
    session.commit()
    records_service.end_publicity_early(
        session, actor=ADMIN, record_id=record_id, on=dt.date(2024, 6, 1), reason="信用修复"
    )
    session.commit()
    last = feed.messages_after(session, 1)
    assert [(m.op, m.payload["ended_on"]) for m in last] == [("publicity_ended", "2024-06-01")]
    row = render.render_messages(session, last)[0]["row"]
    assert row["提前终止公示日期"] == "2024-06-01"


def _person_penalty(doc):
    from tests.ingest.helpers import PERSON_ID

    return penalty(
        **{
            "行政处罚决定书文号": doc,
            "行政相对人名称": "张三",
            "行政相对人类别": "自然人",
            "行政相对人代码_1(统一社会信用代码)": "",
            "法定代表人": "",
            "证件类型": "身份证",
            "证件号码": PERSON_ID,
        }
    )


def test_natural_persons_only_where_the_catalog_allows_and_never_in_clear(session):
    import json

    from sqlalchemy import update

    from tests.ingest.helpers import PERSON_ID
    from xinyong.catalog.models import InfoClass

    dept = setup(session)
    upsert(session, dept, [_person_penalty("榕鼓市监罚〔2024〕31号")])
    session.commit()
    [message] = feed.messages_after(session, 0)
    [item] = render.render_messages(session, [message])
    assert item["row"]["CF_XDR_MC"] == "张三" and item["row"]["CF_XDR_ZJHM"]
    assert PERSON_ID not in json.dumps(item, ensure_ascii=False)
    session.execute(update(InfoClass).where(InfoClass.code == "penalty").values(natural_person_attribute="restricted"))
    session.commit()
    upsert(session, dept, [_person_penalty("榕鼓市监罚〔2024〕32号")])
    session.commit()
    assert feed.last_seq(session) == 1
