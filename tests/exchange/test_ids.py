"""Natural persons' ID numbers as the receiver requires (docs/exchange.md §4.3): masked (default), hashed, clear —
clear only in the push body at send time: never in the logs, the outbox at rest, the receipts, the rejections or
the error texts; and natural persons' data only where the catalog allows sharing."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import select, text, update

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.ingest.helpers import PERSON_ID
from xinyong.catalog.models import InfoClass
from xinyong.core.errors import ConfigurationError
from xinyong.exchange import feed, ids, push
from xinyong.identifiers.masking import mask_resident_id
from xinyong.models import Base

HASH_KEY = "agreed-with-the-province"
PERSON = {
    "行政相对人类别": "自然人",
    "行政相对人名称": "李明",
    "法定代表人": "",
    "行政相对人代码_1(统一社会信用代码)": "",
    "证件类型": "身份证",
    "证件号码": PERSON_ID,
    "处罚类别": "警告",
    "罚款金额(万元)": "",
}


def _settings(fake=None, **kw):
    url = fake.url if fake else "http://province.invalid/x"
    return push.ExchangeSettings(receiver_url=url, token=TOKEN, hmac_secret=SECRET, base_delay=0, **kw)


def _person_penalty(session, dept, n=1):
    rows = [penalty(**PERSON, **{"行政处罚决定书文号": f"榕鼓市监罚〔2024〕{i}号"}) for i in range(1, n + 1)]
    upsert(session, dept, rows)
    session.commit()


def _stored_text(session) -> str:
    """Every row of every table, as text."""
    session.rollback()
    parts = []
    for table in Base.metadata.sorted_tables:
        parts.extend(str(tuple(r)) for r in session.execute(select(table)))
    return "\n".join(parts)


def test_clear_ids_reach_the_receiver_and_nothing_else(database, session, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    dept = setup(session)
    _person_penalty(session, dept, 2)
    echo = ("bad_id", f"证件号码 {PERSON_ID} 与公安数据不符")  # a receiver that echoes the number back
    with FakeProvince(lambda m: echo if m["seq"] == 2 else None) as fake:
        result = push.push_once(database, settings=_settings(fake, id_mode="clear"))
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert fake.held[1]["row"]["CF_XDR_ZJHM"] == PERSON_ID  # clear in the body
    # A failure whose text echoes the number: stored masked.
    _person_penalty(session, dept, 3)

    def refuse(request: httpx.Request) -> httpx.Response:
        assert PERSON_ID.encode() in request.content
        return httpx.Response(400, text=f"拒收：{PERSON_ID} 格式错误")

    failed = push.push_once(
        database, settings=_settings(id_mode="clear"), transport=httpx.MockTransport(refuse), ignore_backoff=True
    )
    assert failed["ok"] is False
    stored = _stored_text(session)
    assert PERSON_ID not in stored  # outbox, receipts, rejections, push state, audit …
    assert mask_resident_id(PERSON_ID) in stored  # the masked form is what is kept
    out = capsys.readouterr()
    assert PERSON_ID not in caplog.text and PERSON_ID not in out.out + out.err
    assert PERSON_ID not in (failed["error"] or "")
    rows = session.execute(text("SELECT payload FROM exchange_feed")).scalars().all()
    assert rows and all(PERSON_ID not in str(p) for p in rows)


def test_hashed_and_masked_modes(database, session):
    dept = setup(session)
    _person_penalty(session, dept)
    with pytest.raises(ConfigurationError):
        push.push_once(database, settings=_settings(id_mode="hashed"))  # no key agreed: refused before sending
    with FakeProvince() as fake:
        push.push_once(database, settings=_settings(fake, id_mode="hashed", id_hash_key=HASH_KEY))
        sent = fake.held[1]["row"]["CF_XDR_ZJHM"]
        assert sent == ids.hashed(PERSON_ID, HASH_KEY) and len(sent) == 64
        assert ids.hashed(PERSON_ID.lower(), HASH_KEY) == sent  # normalised first
    _person_penalty(session, dept, 2)
    with FakeProvince() as fake:
        push.push_once(database, settings=_settings(fake))
        assert fake.held[2]["row"]["CF_XDR_ZJHM"] == mask_resident_id(PERSON_ID)  # the default


def test_companies_codes_are_untouched_and_scrub():
    assert ids.scrub(f"号码{PERSON_ID}有误；金额 12345") == f"号码{mask_resident_id(PERSON_ID)}有误；金额 12345"
    assert ids.scrub("91350100MA2XXXXX0X") == "91350100MA2XXXXX0X"


def test_natural_persons_only_where_the_catalog_allows_sharing(database, session):
    dept = setup(session)
    session.execute(update(InfoClass).where(InfoClass.code == "penalty").values(natural_person_attribute="restricted"))
    session.commit()
    _person_penalty(session, dept)
    upsert(session, dept, [penalty(**{"行政处罚决定书文号": "榕鼓市监罚〔2024〕9号"})])  # a company: shared
    session.commit()
    messages = feed.messages_after(session, 0)
    assert [m.payload.get("version_no") for m in messages] == [1]
    assert all(m.subject_id is not None for m in messages)


def test_a_persons_commitment_only_where_the_catalog_allows_sharing(database, session):
    import datetime as dt

    from tests.commitments.helpers import register_accepting_unit, row
    from tests.records.helpers import ADMIN
    from xinyong.commitments import importer

    dept = setup(session)
    register_accepting_unit(session, dept)
    person = {"承诺人名称": "李明", "承诺人类别": "自然人", "承诺人代码": PERSON_ID}

    def load(serial, **changes):
        importer.import_rows(
            session, actor=ADMIN, department_id=dept.id, rows=[row(serial, **changes)], today=dt.date(2024, 6, 1)
        )
        session.commit()

    load(1, **person)
    assert [m.kind for m in feed.messages_after(session, 0)] == ["commitment"]  # "commitment" is shared
    session.execute(
        update(InfoClass).where(InfoClass.code == "commitment").values(natural_person_attribute="restricted")
    )
    session.commit()
    load(2, **person)
    load(3)  # a company's: still shared
    messages = feed.messages_after(session, 0)
    assert len(messages) == 2 and messages[1].payload["承诺人代码"] != PERSON_ID
    assert "李明" not in str(messages[1].payload)
