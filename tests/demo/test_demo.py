"""The demo city builds deterministically through the real import, and serves."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.core.audit import verify_chain
from xinyong.core.db import Database
from xinyong.demo.city import DemoSize, write_registry_export
from xinyong.subjects.models import Subject


def test_export_is_deterministic(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert write_registry_export(a, DemoSize(500, 50, 0)) == write_registry_export(b, DemoSize(500, 50, 0))
    assert a.read_bytes() == b.read_bytes()
    a.read_bytes().decode("gb18030")


def test_demo_build_only(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from xinyong.demo import commands as demo_commands
    from xinyong.demo.city import BUILD_STEPS

    steps: list[str] = []
    shown: list[bool] = []

    @contextmanager
    def recorder(show):  # type: ignore[no-untyped-def]
        shown.append(show)
        yield steps.append

    monkeypatch.setattr(demo_commands, "_progress_display", recorder)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    r = runner.invoke(app, ["--db", url, "demo", "--build-only", "--size", "2000", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # nothing but the JSON on stdout
    assert shown == [False] and steps == list(BUILD_STEPS)  # --json: no progress display; every step announced
    assert out["built"] is True
    summary = out["credentials"]["summary"]
    planted = summary["planted_problems"]
    imp = summary["registry_import"]
    assert imp["rejected"] == planted["invalid_check"] + planted["duplicate_code"]
    assert {t["role"] for t in out["credentials"]["tokens"]} >= {"admin", "business_system", "dept_operator"}
    submissions = summary["submissions"]
    assert submissions["scjgj"]["accepted"] > 50 and submissions["jtj"]["late"] > 0
    assert sum(d["rejected"] for d in submissions.values()) > 0
    # Issue #18: every other information class has records, submitted by its owning department.
    others = summary["other_classes"]
    assert set(others) >= {"honour", "judicial", "tax_arrears", "spot_check"} and all(
        c["created"] > 0 and c["rejected"] == 0 for c in others.values()
    ), others
    financing = summary["financing"]
    assert financing["authorisations"] >= 3 and financing["queries"] >= 3 and financing["loans"] >= 1
    publications = summary["publications"]  # the portal's 红黑榜 and articles are not empty
    assert publications["release"].endswith("-1") and publications["articles"] == 2
    assert "bank" in {t["role"] for t in out["credentials"]["tokens"]}
    lists = summary["lists"]
    assert lists["department_lists"]["tax_a_grade"]["listed"] > 0
    assert lists["samr_abnormal"]["added"] > 0
    court = lists["court_dishonest_debtor"]
    assert court["snapshot"]["added"] > 0 and court["delta"]["removed"] > 0 and court["delta"]["changed"] > 0
    assert lists["checks"]["with_feedback"] > 0
    assert lists["checks"]["procurement_by_record"] > 0  # a procurement check names a penalty (重大违法记录)
    # The plan's demonstration domains (issue #18.4): entries on every new list, a few subjects on two.
    from xinyong.demo.lists import DOMAIN_LISTS, DOMAIN_OVERLAPS

    domain = lists["domain_lists"]
    assert {code for code, *_ in DOMAIN_LISTS} == set(domain) and all(d["listed"] >= 2 for d in domain.values())
    assert all(domain[second].get(f"also_on_{first}") == n for first, second, n in DOMAIN_OVERLAPS)
    # Related persons: a 失信被执行人 company whose legal representative is a registered person.
    debtor = summary["related_persons"]["debtor_company"]
    assert debtor is not None and debtor["uscc"] and summary["related_persons"]["officers"] > 0
    professions = summary["professions"]  # issue #18: the 14 groups, profession lists, a flagged public body
    assert len(professions["registrations"]) == 14 and sum(professions["registrations"].values()) > 300
    assert all(n > 0 for n in professions["listed"].values())
    assert professions["government"]["open_flags"] >= 1 and professions["government"]["civil_servant_files"] > 0
    assert professions["government"]["departments_as_bodies"] >= 6  # the 政务诚信率 of the assessment has data
    cases = summary["cases"]
    assert set(cases["cases"]) == {"objection", "repair", "complaint"} and cases["escalated"] > 0
    assert all(len(states) >= 2 for states in cases["cases"].values())  # open and closed of every kind
    # The exchange: the feed "pushed" to the in-process provincial receiver, some rows rejected, a backlog left.
    assert summary["province"]["accepted"] > 0 and summary["province"]["rejected"] == 0  # the way down
    ex = summary["exchange"]
    assert ex["receipts"] > 0 and ex["rejected"] > 0 and ex["backlog"] > 0
    assert ex["accepted"] + ex["rejected"] == ex["acknowledged"]
    st = json.loads(runner.invoke(app, ["--db", url, "exchange", "status", "--json"]).stdout)
    assert st["last_seq_acknowledged"] == ex["acknowledged"] and st["backlog"] == ex["backlog"]
    assert st["rejected_rows"] == ex["rejected"]
    r = runner.invoke(app, ["--db", url, "exchange", "rejections", "--limit", "5000", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == ex["rejected"]  # the departments' work
    r = runner.invoke(app, ["--db", url, "exchange", "figures", "--json"])
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout)
    # (messages of no department, e.g. a list no department manages, are in no department's figures)
    assert 0 < figures["totals"]["rejected"] <= ex["rejected"] and 0 < figures["totals"]["sent"] <= ex["acknowledged"]
    assert any(d["acceptance_rate"] is not None and d["acceptance_rate"] < 1 for d in figures["departments"])
    db = Database(url)
    with db.session() as s:
        from xinyong.lists.models import ListEntry
        from xinyong.records.models import CreditRecord

        statuses = dict(s.execute(select(ListEntry.match_status, func.count()).group_by(ListEntry.match_status)).all())
        assert statuses["code"] > 0 and statuses.get("matched", 0) > 0 and statuses.get("pending", 0) > 0

        assert s.scalar(select(func.count()).select_from(CreditRecord)) == sum(
            d["accepted"] for d in submissions.values()
        ) + summary["province"]["accepted"] + sum(c["created"] for c in summary["other_classes"].values())
        kinds = dict(s.execute(select(Subject.kind, func.count()).group_by(Subject.kind)).all())
        assert kinds["natural_person"] == 500 and kinds["individual_business"] == 300
        # the registry's organisations, and the city's departments as government bodies (政务诚信)
        assert kinds["legal_person"] == 2000 - imp["rejected"] + professions["government"]["departments_as_bodies"]
        assert verify_chain(s).ok
        from xinyong.auth.roles import system_principal
        from xinyong.measures.check import SubjectQuery, run_check

        answer = run_check(
            s,
            actor=system_principal("test"),
            subjects=[SubjectQuery(code=debtor["legal_rep_resident_id"])],
            scenario="hiring",
        )
        [res] = answer["results"]
        m = next(m for m in res["measures"] if m["code"] == "debtor_rep_appointment_restrict")
        assert m["related_reasons"][0]["company"]["uscc"] == debtor["uscc"]
    # Second run reuses the database.
    r = runner.invoke(app, ["--db", url, "demo", "--build-only", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["built"] is False
    # The demo's admin token works against the app.
    from fastapi.testclient import TestClient

    from xinyong.web.app import create_app

    token = next(t["token"] for t in out["credentials"]["tokens"] if t["role"] == "admin")
    with TestClient(create_app(db)) as c:
        assert c.get("/readyz").json()["status"] == "ready"
        assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert "沁阳市" in c.get("/", headers={"accept": "text/html"}).text
    db.dispose()


def test_cli_on_an_unmigrated_database_says_so(tmp_path):
    r = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'empty.db'}", "subjects", "show", "x", "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["error"]["code"] == "database_not_migrated"


def test_demo_progress_display_on_stderr(capsys):
    """Issue #17: ``xinyong demo`` on a terminal shows its build steps on stderr (stdout stays clean); off, nothing."""
    from xinyong.demo.city import BUILD_STEPS
    from xinyong.demo.commands import _progress_display

    with _progress_display(False) as progress:
        assert progress is None
    with _progress_display(True) as progress:
        assert progress is not None
        for step in BUILD_STEPS:
            progress(step)
    out, err = capsys.readouterr()
    assert out == ""
    assert "构建演示城市" in err and f"{len(BUILD_STEPS)}/{len(BUILD_STEPS)}" in err and "完成" in err
