"""Government integrity (issue #18 part 3) on every backend: a public body synced onto the 失信被执行人 list is
flagged to the credit office at once (through core.hooks, in the sync's transaction); commitments made and kept
and contracts' payment on the dashboard; civil servants' integrity files for authorised HR use only, logged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from tests.commitments.helpers import company_uscc
from tests.commitments.helpers import row as commitment_row
from tests.factories import ACTOR
from tests.lists.test_sync import court_row, write_csv
from tests.professions.helpers import build, person_id
from xinyong.commitments import importer as commitments_importer
from xinyong.core.audit import AuditEvent
from xinyong.lists import sync
from xinyong.professions import government
from xinyong.professions.models import GovernmentFlag
from xinyong.subjects.access_log import SubjectAccess


def test_public_body_synced_onto_debtor_list_is_flagged_once(client, session, tmp_path: Path) -> None:
    env = build(session)
    rows = [
        court_row("(2025)豫0882执101号", "沁阳市某某局", env.body_uscc),
        court_row("(2025)豫0882执102号", "沁阳市人民医院", env.hospital_uscc),
        court_row("(2025)豫0882执103号", "沁阳市某公司", company_uscc(77)),
    ]
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "a.csv", rows))
    session.commit()
    flags = list(session.scalars(select(GovernmentFlag).order_by(GovernmentFlag.id)))
    # the 机关 and the 事业单位 (hospital, USCC 12…), not the company
    assert len(flags) == 2 and all(f.status == "open" for f in flags)
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "professions.government_flagged"))
    # the same snapshot again: no second flag
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "b.csv", rows))
    session.commit()
    assert len(list(session.scalars(select(GovernmentFlag)))) == 2

    queue = client.get("/api/v1/professions/government/flags", headers=env.admin)
    assert queue.status_code == 200 and {f["subject"]["uscc"] for f in queue.json()} == {
        env.body_uscc,
        env.hospital_uscc,
    }
    assert client.get("/api/v1/professions/government/flags", headers=env.wjw_op).status_code == 403
    fid = queue.json()[0]["id"]
    done = client.post(
        f"/api/v1/professions/government/flags/{fid}/handle", json={"note": "已约谈并督促履行"}, headers=env.admin
    )
    assert done.status_code == 200 and done.json()["status"] == "handled"
    again = client.post(f"/api/v1/professions/government/flags/{fid}/handle", json={"note": "再次"}, headers=env.admin)
    assert again.status_code == 409

    board = client.get("/api/v1/professions/government/dashboard", headers=env.wjw_viewer).json()
    assert board["on_debtor_list"] == 2 and board["open_flags"] == 1
    assert board["public_bodies"] == 2  # the body and the hospital (departments are not subjects here)


def test_commitments_and_contracts_make_the_rate(client, session) -> None:
    env = build(session)
    body = env.wjw  # the department's own body (机关 by its USCC)
    from xinyong.subjects import service as subjects

    subjects.register_organisation(session, actor=ACTOR, name=body.name, code=body.uscc)
    session.commit()
    unit = {"承诺受理单位": body.name, "承诺受理单位代码": body.uscc}
    today = dt.date.today()
    rows = [
        commitment_row(
            i,
            made_on=today - dt.timedelta(days=60),
            **unit,
            **{
                "承诺人名称": body.name,
                "承诺人代码": body.uscc,
                "承诺类型": "其他",
                "承诺事由": "政务服务承诺",
                "承诺履行状态": status,
                "履行状态认定日期": (today - dt.timedelta(days=5)).isoformat(),
                "履行状态认定单位": body.name,
                "履行状态认定单位代码": body.uscc,
                "未履行的承诺内容": "" if status == "全部履行" else "未按期办结",
                "违诺责任追究内容": "" if status == "全部履行" else "通报批评",
            },
        )
        for i, status in ((1, "全部履行"), (2, "全部履行"), (3, "全部未履行"))
    ]
    result = commitments_importer.import_rows(session, actor=ACTOR, department_id=body.id, rows=rows)
    session.commit()
    assert result["accepted"] == 3, result
    contract = {
        "body": body.uscc,
        "contract_no": "QYCG-2026-001",
        "kind": "procurement",
        "title": "办公设备采购",
        "status": "overdue",
        "amount_wan": 20,
        "overdue_amount_wan": 8,
        "due_on": (today - dt.timedelta(days=10)).isoformat(),
    }
    resp = client.post("/api/v1/professions/government/contracts", json=contract, headers=env.wjw_op)
    assert resp.status_code == 200 and resp.json()["op"] == "created", resp.text
    assert (
        client.post("/api/v1/professions/government/contracts", json=contract, headers=env.wjw_op).json()["op"]
        == "unchanged"
    )
    # another department may not report this body's contracts
    other = client.post("/api/v1/professions/government/contracts", json=contract, headers=env.other_op)
    assert other.status_code == 403 and other.json()["error"]["code"] == "authority_not_registered"
    board = client.get("/api/v1/professions/government/dashboard", headers=env.admin).json()
    assert board["commitments"]["kept"] == 2 and board["commitments"]["broken"] == 1
    assert board["contracts"] == {"total": 1, "overdue": 1, "overdue_wan": 8.0}
    from xinyong.analytics.dashboards import Period

    rows_by_dept = {r["department_id"]: r for r in government.by_department(session, period=Period.last_months(3))}
    assert rows_by_dept[body.id]["rate"] == 0.5  # 2 kept of 3 commitments + 1 overdue contract
    assert rows_by_dept[env.other.id]["rate"] is None
    from xinyong.analytics import assessment

    result = assessment.assess(session, period=Period.last_months(3))
    scored = {r["department_code"]: r["indicators"]["government_integrity"] for r in result["rows"]}
    assert scored["wjw"]["value"] == 0.5 and "拖欠 1 份" in scored["wjw"]["explanation"]
    assert scored["scjgj"]["value"] is None and scored["scjgj"]["points"] == 0


def test_civil_servant_file_only_for_hr_and_logged(client, session) -> None:
    env = build(session)
    from xinyong.subjects import service as subjects

    subjects.register_person(session, actor=ACTOR, name="张公", id_number=person_id(50))
    session.commit()
    entry = {"person": person_id(50), "kind": "annual_review", "year": 2025, "result": "优秀", "body": env.body_uscc}
    assert client.post("/api/v1/professions/civil-servants/entries", json=entry, headers=env.wjw_op).status_code == 403
    resp = client.post("/api/v1/professions/civil-servants/entries", json=entry, headers=env.zzb_op)
    assert resp.status_code == 200, resp.text
    url = f"/api/v1/professions/file/{person_id(50)}"
    refused = client.get(url, params={"purpose": "civil_service"}, headers=env.wjw_op)
    assert refused.status_code == 403
    ok = client.get(url, params={"purpose": "civil_service"}, headers=env.zzb_op)
    assert ok.status_code == 200, ok.text
    cs = ok.json()["civil_servant"]["entries"]
    assert cs[0]["result"] == "优秀" and cs[0]["body"] == "沁阳市某某局"
    session.commit()
    log = list(session.scalars(select(SubjectAccess).order_by(SubjectAccess.id)))
    assert [r.outcome for r in log] == ["denied", "allowed"] and "civil_servant_file" in log[-1].scope


def test_body_linked_by_a_reviewer_is_flagged(session, tmp_path: Path) -> None:
    """The court names the body without a code: the entry waits for review; the reviewer's 'same' flags it."""
    env = build(session)
    rows = [court_row("(2025)豫0882执201号", "沁阳市某某局")]
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "c.csv", rows))
    session.commit()
    from xinyong.lists.models import ListEntry
    from xinyong.subjects.service import find_subject

    entry = session.scalar(select(ListEntry))
    assert entry is not None and entry.subject_id is None
    assert session.scalar(select(GovernmentFlag.id)) is None
    body = find_subject(session, env.body_uscc)
    assert body is not None
    sync.judge(session, actor=ACTOR, entry_id=entry.id, subject_id=body.id, verdict="same", reason="名称、地址一致")
    session.commit()
    assert session.scalar(select(GovernmentFlag.subject_id)) == body.id
