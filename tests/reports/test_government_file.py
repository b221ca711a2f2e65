"""The government credit file (政务共享, issue #15 point 1): shared classes of every department, the look-back,
withdrawn and repaired records, lists with history, commitments, objections, purposes and the access log."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from typer.testing import CliRunner

from tests.cases.helpers import build
from tests.factories import auth_headers, make_token
from tests.records.helpers import ADMIN, penalty
from xinyong.auth.roles import Role
from xinyong.core import clikit
from xinyong.core.db import utcnow
from xinyong.identifiers import resident_id
from xinyong.records import service as records_service
from xinyong.records import upsert as records_upsert
from xinyong.records.models import CreditRecord
from xinyong.reports import commands
from xinyong.reports.government_file import years_before
from xinyong.subjects.access_log import SubjectAccess

URL = "/api/v1/subjects/{}/file"
PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1988, 6, 1), sequence=35)


def _log(session, subject_id):  # type: ignore[no-untyped-def]
    session.commit()
    return list(
        session.scalars(select(SubjectAccess).where(SubjectAccess.subject_id == subject_id).order_by(SubjectAccess.id))
    )


def _setup(session):  # type: ignore[no-untyped-def]
    env = build(session, watch=False)
    t = env.today
    rows = [
        penalty(code=env.uscc, doc="沁市监罚〔回溯〕1号", decided=years_before(t, 4), types=["罚款"], fine_wan="5"),
        penalty(code=env.uscc, doc="沁市监罚〔过期〕1号", decided=years_before(t, 6), types=["罚款"], fine_wan="5"),
        penalty(
            code=env.uscc, doc="沁市监罚〔撤回〕1号", decided=t - dt.timedelta(days=30), types=["罚款"], fine_wan="5"
        ),
        penalty(
            code=env.uscc, doc="沁市监罚〔修复〕3号", decided=t - dt.timedelta(days=200), types=["罚款"], fine_wan="5"
        ),
    ]
    # the other department's records: the file shows every department's shared classes
    result = records_upsert.upsert_records(
        session, actor=ADMIN, department_id=env.other.id, batch_id=None, received_at=utcnow(), rows=rows
    )
    ids = {o.record_id for o in result.outcomes}
    assert len(ids) == 4, result.to_dict()
    by_doc = {r.doc_no: r for r in session.scalars(select(CreditRecord).where(CreditRecord.id.in_(ids)))}
    records_service.withdraw(session, actor=ADMIN, record_id=by_doc["沁市监罚〔撤回〕1号"].id, reason="处罚决定被撤销")
    by_doc["沁市监罚〔修复〕3号"].ended_on = t  # as cases.repair ends publicity (tested there)
    session.commit()
    return env, by_doc


def test_file_shows_shared_records_of_every_department_within_the_look_back(client, session):
    env, _by_doc = _setup(session)
    resp = client.get(URL.format(env.uscc), params={"purpose": "procurement"}, headers=env.operator)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    docs = {r["doc_no"]: r for r in data["records"]}
    assert "沁市监罚〔回溯〕1号" in docs and docs["沁市监罚〔回溯〕1号"]["public"] is False
    assert docs["沁市监罚〔回溯〕1号"]["department_id"] == env.other.id
    assert docs["沁市监罚〔回溯〕1号"]["share_label"] == "公示期满（回溯期内）"
    assert "沁市监罚〔过期〕1号" not in docs  # older than the 5-year look-back
    assert "沁市监罚〔撤回〕1号" not in docs  # withdrawn: never
    assert (
        docs["沁市监罚〔修复〕3号"]["repaired"] is True and docs["沁市监罚〔修复〕3号"]["share_label"] == "已信用修复"
    )
    assert {r["department_id"] for r in data["records"]} == {env.dept.id, env.other.id}
    assert data["purpose"] == "procurement"
    classes = {c["code"]: c for c in data["classes"]}
    assert classes["penalty"]["lookback_years"] == 5 and "penalty" not in data["not_shared"]
    # the access log names the department and the purpose
    rows = _log(session, env.subject_id)
    assert rows[-1].outcome == "allowed" and rows[-1].department_id == env.dept.id
    assert "政府采购" in rows[-1].purpose and rows[-1].endpoint == "GET /api/v1/subjects/{code}/file"
    assert "penalty" in rows[-1].scope


def test_look_back_is_set_per_class_in_the_catalog(client, session):
    from xinyong.catalog import service as catalog_service

    env, _ = _setup(session)
    catalog_service.update_class(
        session, actor=ADMIN, code="penalty", changes={"share_lookback_years": 3}, reason="政务共享回溯期调整为 3 年"
    )
    session.commit()
    data = client.get(URL.format(env.uscc), params={"purpose": "approval"}, headers=env.viewer).json()
    assert "沁市监罚〔回溯〕1号" not in {r["doc_no"] for r in data["records"]}
    with_bad = client.get(URL.format(env.uscc), params={"purpose": "approval"}, headers=env.viewer)
    assert with_bad.status_code == 200


def test_lists_commitments_grades_and_open_objection(client, session):
    from xinyong.cases import objections
    from xinyong.lists import service as lists

    env, _ = _setup(session)
    t = env.today
    entry = lists.create_entry(
        session,
        actor=ADMIN,
        list_code="market_serious_illegal",
        subject_code=env.uscc,
        reason="提交虚假材料取得登记",
        decision_no="沁市监严〔1〕1号",
        notice_given_on=t - dt.timedelta(days=60),
        listed_on=t - dt.timedelta(days=30),
        department="scjgj",
    )
    revoked = lists.create_entry(
        session,
        actor=ADMIN,
        list_code="market_serious_illegal",
        subject_code=env.uscc,
        reason="认定有误",
        decision_no="沁市监严〔2〕1号",
        notice_given_on=t - dt.timedelta(days=90),
        listed_on=t - dt.timedelta(days=60),
        department="scjgj",
    )
    session.commit()
    lists.remove_entry(session, actor=ADMIN, entry_id=revoked.id, reason="revoked", note="认定撤销")
    session.commit()
    objections.file_objection(
        session, actor=ADMIN, target_type="record", target_id=env.young_record_id, facts="处罚对象有误"
    )
    session.commit()
    from tests.commitments.helpers import register_accepting_unit
    from tests.commitments.helpers import row as commitment_row
    from xinyong.commitments import service as commitments
    from xinyong.commitments.validate import map_headers, validate_row

    register_accepting_unit(session, env.dept)
    data = commitment_row(1, **{"承诺人代码": env.uscc, "承诺人名称": "沁阳市宏达机械有限公司"})
    hm, _ = map_headers(list(data))
    made, issues = validate_row(hm, 2, list(data.values()), today=t)
    assert made is not None, issues
    done = commitments.upsert_commitments(
        session, actor=ADMIN, department_id=env.dept.id, batch_id=None, received_at=utcnow(), rows=[made]
    )
    session.commit()
    assert not getattr(done, "rejected", None), done
    data = client.get(
        URL.format(env.uscc),
        params={"purpose": "other", "purpose_text": "招商引资项目评审"},
        headers=env.other_operator,
    ).json()
    entries = {e["id"]: e for e in data["lists"]}
    assert entry.id in entries and entries[entry.id]["counts"] is True
    assert entries[entry.id]["history"], "the entry's history is part of the file"
    assert revoked.id not in entries  # a revoked listing: never
    objected = [r for r in data["records"] if r["id"] == env.young_record_id]
    assert objected and objected[0]["objection"] == "异议处理中"
    assert data["open_objections"] >= 1
    assert [c["code"] for c in data["commitments"]] == [made.code] and "fulfilments" in data["commitments"][0]
    assert isinstance(data["grades"], list)
    assert "招商引资项目评审" in _log(session, env.subject_id)[-1].purpose


def test_bad_purpose_and_persons_are_refused_and_logged(client, session):
    from xinyong.subjects.service import register_person

    env, _ = _setup(session)
    missing = client.get(URL.format(env.uscc), headers=env.operator)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "purpose_required"
    unknown = client.get(URL.format(env.uscc), params={"purpose": "gossip"}, headers=env.operator)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "purpose_unknown"
    assert "查询事由" in unknown.json()["error"]["message"]
    other = client.get(URL.format(env.uscc), params={"purpose": "other"}, headers=env.operator)
    assert other.status_code == 422 and other.json()["error"]["code"] == "purpose_text_required"
    rows = _log(session, env.subject_id)
    assert [(r.outcome, r.error_code) for r in rows[-3:]] == [
        ("denied", "purpose_required"),
        ("denied", "purpose_unknown"),
        ("denied", "purpose_text_required"),
    ]
    assert all(r.department_id == env.dept.id for r in rows[-3:])

    person = register_person(session, actor=ADMIN, name="李建国", id_number=PERSON_ID)
    session.commit()
    system = auth_headers(make_token(session, Role.BUSINESS_SYSTEM, env.dept))
    refused = client.get(URL.format(PERSON_ID), params={"purpose": "hiring"}, headers=system)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "person_not_allowed"
    prow = _log(session, person.id)
    assert [(r.outcome, r.error_code, r.role) for r in prow] == [("denied", "person_not_allowed", "business_system")]
    assert "公职人员录用" in prow[0].purpose
    ok = client.get(URL.format(PERSON_ID), params={"purpose": "hiring"}, headers=env.viewer)
    assert ok.status_code == 200, ok.text
    assert ok.json()["subject"]["resident_id"] != PERSON_ID
    # a business system may read an organisation's file
    assert client.get(URL.format(env.uscc), params={"purpose": "supervision"}, headers=system).status_code == 200
    # unknown subject: 404, nothing to log; anonymous: 401
    assert (
        client.get(URL.format("91410882MA0000000X"), params={"purpose": "approval"}, headers=env.operator).status_code
        == 404
    )
    assert client.get(URL.format(env.uscc), params={"purpose": "approval"}).status_code == 401
    # a bank is no department: refused, and the attempt is in the subject's log with its role
    session.commit()  # end the read snapshot the assertions above began (SQLite: the server has written since)
    bank = auth_headers(make_token(session, Role.BANK, name="某银行信贷系统"))
    session.commit()
    by_bank = client.get(URL.format(env.uscc), params={"purpose": "approval"}, headers=bank)
    assert by_bank.status_code == 403 and by_bank.json()["error"]["code"] == "role_not_allowed"
    assert "政府部门" in by_bank.json()["error"]["message"]
    last = _log(session, env.subject_id)[-1]
    assert (last.outcome, last.error_code, last.role) == ("denied", "role_not_allowed", "bank")


def test_cli_file(client, session, database):
    env, _ = _setup(session)
    clikit.state.db_url = database.url

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(commands.app, ["file", *args, "--json"])
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None

    code, data = invoke(env.uscc, "--department", "swj", "--purpose", "funding")
    assert code == 0, data
    assert "沁市监罚〔回溯〕1号" in {r["doc_no"] for r in data["records"]}
    code, data = invoke(env.uscc, "--department", "swj")
    assert code == 2 and data["error"]["code"] == "purpose_required"
    code, data = invoke(env.uscc, "--department", "swj", "--purpose", "nonsense")
    assert code == 2 and data["error"]["code"] == "purpose_unknown"
    rows = _log(session, env.subject_id)
    assert [(r.outcome, r.department_id) for r in rows[-3:]] == [
        ("allowed", env.other.id),
        ("denied", env.other.id),
        ("denied", env.other.id),
    ]
    # the same command as `xinyong subjects file`, as the issue names it
    from xinyong import cli

    result = CliRunner().invoke(
        cli.app,
        ["--db", database.url, "subjects", "file", env.uscc, "--department", "scjgj", "--purpose", "honour", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["purpose"] == "honour"
    assert "评优评先" in _log(session, env.subject_id)[-1].purpose
