"""The way down (docs/exchange.md §7): the province's records and lists for this city's subjects arrive through the
ingest and the list sync, submitted by the external pseudo-department 省平台 — kept with their deciding authority,
shown in the government file and the check with 来源：省平台, never counted or published as the city's own, never
sent back up."""

from __future__ import annotations

import csv
import datetime as dt
import json

from sqlalchemy import select
from typer.testing import CliRunner

from tests.exchange.helpers import penalty, setup, upsert
from tests.ingest.helpers import AUTHORITY_NAME, COMPANY, penalty_row
from tests.records.helpers import ADMIN
from xinyong.analytics import dashboards
from xinyong.auth import service as auth_service
from xinyong.auth.authorities import Authorities
from xinyong.cli import app as cli
from xinyong.exchange import feed, province
from xinyong.ingest import service as ingest_service
from xinyong.records import queries
from xinyong.records.models import CreditRecord
from xinyong.reports.government_file import read_file

TODAY = dt.date(2024, 6, 30)
PROVINCE_DOC = "豫郑市监罚〔2024〕88号"


def _csv(path, rows):
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _pull(database, tmp_path, *extra):
    path = _csv(tmp_path / "province.csv", [penalty_row(**{"行政处罚决定书文号": PROVINCE_DOC})])
    return CliRunner().invoke(
        cli, ["--db", database.url, "exchange", "pull", str(path), "--kind", "penalty", "--json", *extra]
    )


def test_open_authorities_refuse_nothing():
    assert Authorities("省平台", (), open=True).check(name="任何机关", uscc="11410000000000000T") is None


def test_pull_keeps_provenance_and_authority_and_stays_out_of_city_figures(database, session, tmp_path):
    dept = setup(session)
    own_id = upsert(session, dept, [penalty()]).outcomes[0].record_id
    session.commit()
    messages_before = feed.last_seq(session)

    r = _pull(database, tmp_path)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["source"] == "省平台" and summary["accepted"] == 1 and summary["rejected"] == 0

    session.rollback()
    prov = province.province(session)
    assert prov is not None and prov.external
    record = session.scalar(select(CreditRecord).where(CreditRecord.doc_no == PROVINCE_DOC))
    assert record is not None and record.department_id == prov.id
    assert record.authority == AUTHORITY_NAME  # the deciding authority, not the 省平台

    # No echo: nothing of the 省平台 enters the outbound feed.
    assert feed.last_seq(session) == messages_before

    # Not published on the city portal as the city's own; both held.
    everything = queries.list_records(session, public_only=False, today=TODAY, status="all")
    assert {row.record.id for row in everything} == {own_id, record.id}
    public = queries.list_records(session, public_only=True, today=TODAY)
    assert [row.record.id for row in public] == [own_id]

    # Not the city's figures: dashboards (and so the assessment) report on the city's departments only.
    assert prov.id not in {d.id for d in dashboards.departments(session)}
    assert prov.id in auth_service.external_department_ids(session)
    assert "province" not in {r["department"] for r in ingest_service.timeliness(session)}

    # The government file shows it with its authority and 来源：省平台.
    data = read_file(session, actor=ADMIN, code=COMPANY, purpose="procurement", today=TODAY)
    session.commit()  # the access log
    shown = {r["doc_no"]: r for r in data["records"]}
    assert shown[PROVINCE_DOC]["source"] == "省平台"
    assert shown[PROVINCE_DOC]["authority"] == AUTHORITY_NAME
    assert "source" not in shown[penalty().doc_no]

    # Pulled again: the same file is the same batch (idempotent), nothing new.
    r = _pull(database, tmp_path)
    assert r.exit_code == 0, r.output
    session.rollback()
    assert len(list(session.scalars(select(CreditRecord)))) == 2


def test_a_city_department_is_still_held_to_its_authorities(session):
    dept = setup(session)
    authorities = auth_service.authorities_of(session, department_id=dept.id)
    assert not authorities.open
    assert authorities.check(name=AUTHORITY_NAME, uscc=None) is not None


def test_pull_of_a_list_not_managed_by_the_province_is_refused(database, session, tmp_path):
    setup(session)
    path = _csv(tmp_path / "list.csv", [{"a": "1"}])
    r = CliRunner().invoke(
        cli, ["--db", database.url, "exchange", "pull", str(path), "--list", "no_such_list", "--json"]
    )
    assert r.exit_code != 0


def test_a_provincial_list_is_synced_as_the_province_and_not_echoed(database, session, tmp_path):
    from tests.lists.test_sync import Registry, first_snapshot, seed, write_csv
    from xinyong.lists.models import ListEntry, ListType

    seed(session)
    reg = Registry(session)
    lt = session.scalar(select(ListType).where(ListType.code == "court_dishonest_debtor"))
    lt.managing_departments = [province.CODE]  # registered as a list the province provides
    session.commit()
    path = write_csv(tmp_path / "list.csv", first_snapshot(reg))
    r = CliRunner().invoke(
        cli, ["--db", database.url, "exchange", "pull", str(path), "--list", "court_dishonest_debtor", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["source"] == "省平台"
    session.rollback()
    prov = province.province(session)
    got = list(session.scalars(select(ListEntry)))
    assert got and {e.department_id for e in got} == {prov.id}
    assert not [m for m in feed.messages_after(session, 0) if m.kind == "list_entry"]  # no echo
    period = dashboards.Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    sizes = dashboards.list_sizes_and_flows(session, period=period)
    assert all(x["active"] == 0 for x in sizes["sizes"])
    theirs = dashboards.list_sizes_and_flows(session, period=period, department_id=prov.id)
    assert sum(x["active"] for x in theirs["sizes"]) > 0  # held, just not the city's figures
