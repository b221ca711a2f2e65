"""National formats out, by round trip: what the exchange writes for a record, the ingest validator reads back to
the same record fields."""

from __future__ import annotations

import pytest

from tests.exchange.helpers import licence, penalty, setup, upsert
from tests.ingest.helpers import LICENCE, PENALTY
from xinyong.exchange import feed, render
from xinyong.ingest.standards import detect_format
from xinyong.ingest.validate import validate_row

FIELDS = (
    "kind",
    "party_name",
    "party_kind",
    "party_uscc",
    "legal_rep",
    "doc_no",
    "doc_no_norm",
    "decision_date",
    "authority",
    "authority_uscc",
    "source_unit",
    "source_unit_uscc",
    "licence_valid_from",
    "licence_valid_to",
    "licence_category",
    "current_status_valid",
    "penalty_types",
    "fine_wan",
    "confiscated_wan",
    "penalty_valid_to",
    "publicity_end",
)


def _read_back(kind, row):
    headers = list(row)
    hm = detect_format(kind, headers)
    assert hm.format == "current_coded"
    record, issues = validate_row(kind, hm, 2, [row[h] for h in headers])
    assert issues == [], [i.message for i in issues]
    return record


@pytest.mark.parametrize(
    ("kind", "make"),
    [(PENALTY, penalty), (LICENCE, licence)],
)
def test_round_trip_through_the_validator(session, kind, make):
    dept = setup(session)
    original = make()
    upsert(session, dept, [original])
    session.commit()
    [message] = render.render_messages(session, feed.messages_after(session, 0))
    assert all(name.startswith(("CF_", "XK_", "BZ")) for name in message["row"])
    back = _read_back(kind, message["row"])
    # Penalty types are stored normalised (records.publicity.normalise_types: sorted), and so they go out.
    fields = lambda r: {f: sorted(getattr(r, f)) if f == "penalty_types" else getattr(r, f) for f in FIELDS}  # noqa: E731
    assert fields(back) == fields(original)
    assert back.data.get("facts") == original.data.get("facts")


def test_withdrawn_licence_reads_back_invalid(session):
    dept = setup(session)
    upsert(session, dept, [licence()])
    upsert(session, dept, [licence(**{"当前状态": "2"})])
    session.commit()
    messages = feed.messages_after(session, 0)
    assert [m.op for m in messages] == ["created", "withdrawn"]
    rows = [m["row"] for m in render.render_messages(session, messages)]
    assert _read_back(LICENCE, rows[1]).current_status_valid is False
    assert _read_back(LICENCE, rows[0]).current_status_valid is True
