"""The province's per-row rejections as the departments' work (docs/exchange.md §4.1): listed per department with
the province's reason (service, CLI, API — a department token sees its own rows only, console), superseded when the
correction is rejected again, resolved when the corrected message is accepted."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.exchange.helpers import penalty, setup, upsert
from tests.exchange.receiver import SECRET, TOKEN, FakeProvince
from tests.factories import auth_headers, make_department, make_token
from tests.records.helpers import ADMIN
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.cli import app as cli
from xinyong.core.errors import Forbidden
from xinyong.exchange import push, rejections

REFUSED = "测试拒收有限公司"
DOC = "榕鼓市监罚〔2024〕2号"


def _refuse(message):
    return ("party_refused", "行政相对人名称与登记不符") if message["row"].get("CF_XDR_MC") == REFUSED else None


def _settings(fake):
    return push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, batch_size=50, base_delay=0)


def _open(session, **kw):
    session.rollback()
    return rejections.list_rejections(session, actor=ADMIN, **kw)


def test_rejection_is_the_departments_work_until_its_correction_is_accepted(database, session, client):
    dept = setup(session)
    other = make_department(session, code="wjw")
    upsert(
        session,
        dept,
        [
            penalty(**{"行政处罚决定书文号": "榕鼓市监罚〔2024〕1号", "行政相对人名称": "甲公司"}),
            penalty(**{"行政处罚决定书文号": DOC, "行政相对人名称": REFUSED}),
        ],
    )
    session.commit()
    with FakeProvince(_refuse) as fake:
        settings = _settings(fake)
        assert push.push_once(database, settings=settings)["rejected"] == 1
        listed = _open(session)
        assert listed["total"] == 1
        row = listed["rejections"][0]
        assert (row["seq"], row["code"], row["message"], row["status"]) == (
            2,
            "party_refused",
            "行政相对人名称与登记不符",
            "open",
        )
        assert row["reference"] == DOC and row["department_id"] == dept.id and row["kind"] == "penalty"
        from xinyong.exchange import status

        assert status.status(session)["open_rejections"] == 1

        # A department sees its own rows only: the API with its token, the service with its principal.
        own, foreign = make_token(session, Role.DEPT_VIEWER, dept), make_token(session, Role.DEPT_OPERATOR, other)
        r = client.get("/api/v1/exchange/rejections", headers=auth_headers(own))
        assert r.status_code == 200 and [x["seq"] for x in r.json()["rejections"]] == [2]
        r = client.get("/api/v1/exchange/rejections", headers=auth_headers(foreign))
        assert r.status_code == 200 and r.json()["total"] == 0
        r = client.get("/api/v1/exchange/rejections?department=scjgj", headers=auth_headers(foreign))
        assert r.status_code == 403
        assert client.get("/api/v1/exchange/rejections").status_code == 401
        viewer = Principal(kind=PrincipalKind.USER, name="v", role=Role.DEPT_VIEWER, department_id=other.id)
        with pytest.raises(Forbidden):
            rejections.list_rejections(session, actor=viewer, department="scjgj")

        # The correction rejected again: the first rejection is superseded, the new one is open.
        upsert(session, dept, [penalty(**{"行政处罚决定书文号": DOC, "行政相对人名称": REFUSED, "违法事实": "补正"})])
        session.commit()
        assert push.push_once(database, settings=settings)["rejected"] == 1
        everything = {r["seq"]: r for r in _open(session, status=None)["rejections"]}
        assert everything[2]["status"] == "superseded" and everything[2]["resolved_seq"] == 3
        assert everything[3]["status"] == "open" and everything[3]["op"] == "corrected"

        # Corrected for good (a new version through the ingest): sent, accepted, the rejection resolved.
        upsert(session, dept, [penalty(**{"行政处罚决定书文号": DOC, "行政相对人名称": "乙公司"})])
        session.commit()
        result = push.push_once(database, settings=settings)
        assert (result["sent"], result["accepted"], result["rejected"]) == (1, 1, 0)
        assert fake.held[4]["op"] == "corrected" and fake.held[4]["row"]["CF_XDR_MC"] == "乙公司"
    assert _open(session)["total"] == 0
    resolved = _open(session, status="resolved")["rejections"]
    assert [(r["seq"], r["resolved_seq"]) for r in resolved] == [(3, 4)]

    # The CLI: --department, --status, --json; an unknown status exits non-zero.
    runner = CliRunner()
    db = ["--db", database.url]
    r = runner.invoke(cli, [*db, "exchange", "rejections", "--department", "scjgj", "--status", "all", "--json"])
    assert r.exit_code == 0, r.output
    assert [x["status"] for x in json.loads(r.output)["rejections"]] == ["resolved", "superseded"]
    r = runner.invoke(cli, [*db, "exchange", "rejections", "--department", "wjw", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["total"] == 0
    r = runner.invoke(cli, [*db, "exchange", "rejections", "--status", "nonsense", "--json"])
    assert r.exit_code != 0


def test_console_lists_the_departments_own_rejections(database, session, client):
    from tests.factories import make_user
    from tests.web.test_console import HTML, login

    dept = setup(session)
    other = make_department(session, code="wjw")
    upsert(session, dept, [penalty(**{"行政处罚决定书文号": DOC, "行政相对人名称": REFUSED})])
    session.commit()
    with FakeProvince(_refuse) as fake:
        push.push_once(database, settings=_settings(fake))
    make_user(session, username="viewer-a", role=Role.DEPT_VIEWER, department=dept)
    make_user(session, username="op-b", role=Role.DEPT_OPERATOR, department=other)
    assert login(client, "viewer-a").status_code == 303
    page = client.get("/console/exchange/rejections", headers=HTML)
    assert page.status_code == 200 and DOC in page.text and "行政相对人名称与登记不符" in page.text
    client.cookies.clear()
    assert login(client, "op-b").status_code == 303
    page = client.get("/console/exchange/rejections?department=scjgj", headers=HTML)
    assert page.status_code == 200 and DOC not in page.text  # another department's rows are never shown
