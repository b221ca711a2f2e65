"""External list sync (both backends): snapshot → delta → snapshot, idempotence, bad input, judgements remembered."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import ACTOR
from xinyong.catalog.service import seed_catalog
from xinyong.core import audit
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.identifiers import resident_id, uscc
from xinyong.lists import sync
from xinyong.lists.models import ListEntry, ListEntryEvent, ListSync, MatchJudgement
from xinyong.lists.types import seed_list_types
from xinyong.subjects import service as subjects

COURT_HEADERS = [
    "被执行人姓名/名称",
    "性别",
    "年龄",
    "身份证号码/组织机构代码",
    "法定代表人或者负责人姓名",
    "执行法院",
    "省份",
    "执行依据文号",
    "立案时间",
    "案号",
    "做出执行依据单位",
    "生效法律文书确定的义务",
    "被执行人的履行情况",
    "失信被执行人行为具体情形",
    "发布时间",
]
SAMR_HEADERS = ["统一社会信用代码/注册号", "企业名称", "列入经营异常名录原因", "列入日期", "作出决定机关"]
GROUND_1 = "有履行能力而拒不履行生效法律文书确定义务"
GROUND_4 = "违反财产报告制度"


def seed(session: Session) -> None:
    seed_catalog(session, actor=ACTOR)
    seed_list_types(session, actor=ACTOR)
    session.commit()


def court_row(
    case_no: str,
    name: str,
    code: str = "",
    *,
    legal_rep: str = "",
    conduct: str = GROUND_4,
    published: str = "2025年09月23日",
    performance: str = "全部未履行",
    sex: str = "",
    age: str = "",
    op: str | None = None,
) -> dict[str, str]:
    row = {
        "被执行人姓名/名称": name,
        "性别": sex,
        "年龄": age,
        "身份证号码/组织机构代码": code,
        "法定代表人或者负责人姓名": legal_rep,
        "执行法院": "沁阳市人民法院",
        "省份": "河南",
        "执行依据文号": "(2024)豫0882民初1号",
        "立案时间": "2025年01月05日",
        "案号": case_no,
        "做出执行依据单位": "沁阳市人民法院",
        "生效法律文书确定的义务": "支付货款10万元",
        "被执行人的履行情况": performance,
        "失信被执行人行为具体情形": conduct,
        "发布时间": published,
    }
    if op is not None:
        row["操作类型"] = op
    return row


def write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8") -> Path:
    headers = list(rows[0].keys()) if rows else COURT_HEADERS
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers)
        writer.writeheader()
        writer.writerows(rows)
    return path


class Registry:
    """A small registry: two companies and a person."""

    def __init__(self, session: Session) -> None:
        self.org_code = uscc.make(authority="9", category="1", region="410882", org_body="11112222")
        self.org = subjects.register_organisation(
            session, actor=ACTOR, name="沁阳市宏达机械有限责任公司", code=self.org_code, legal_rep="王建国"
        )
        self.other_code = uscc.make(authority="9", category="1", region="410882", org_body="55556666")
        self.other = subjects.register_organisation(
            session, actor=ACTOR, name="沁阳市远大化工有限公司", code=self.other_code
        )
        self.twin = subjects.register_organisation(
            session,
            actor=ACTOR,
            name="沁阳市远大化工有限公司（分）",
            code=uscc.make(authority="9", category="1", region="410882", org_body="77778888"),
        )
        self.person_id = resident_id.make(region="410882", birth_date=dt.date(1980, 6, 1), sequence=357)
        self.person = subjects.register_person(session, actor=ACTOR, name="李明", id_number=self.person_id)
        self.namesake_id = resident_id.make(region="410882", birth_date=dt.date(1975, 1, 2), sequence=111)
        self.namesake = subjects.register_person(session, actor=ACTOR, name="赵强", id_number=self.namesake_id)
        session.commit()

    @property
    def person_masked(self) -> str:
        return self.person_id[:10] + "****" + self.person_id[14:]


def entries(session: Session) -> dict[str, ListEntry]:
    session.expire_all()
    return {e.entry_key: e for e in session.scalars(select(ListEntry))}


def first_snapshot(reg: Registry) -> list[dict[str, str]]:
    return [
        court_row("(2025)豫0882执1号", "沁阳市宏达机械有限公司", reg.org_code[8:17], legal_rep="王建国"),
        court_row("(2025)豫0882执2号", "李明", reg.person_masked, sex="男", age="45"),
        court_row("(2025)豫0882执3号", "沁阳市远大化工有限公司", "", conduct=GROUND_1),
        court_row("(2025)豫0882执4号", "沁阳市宏达机械厂", ""),
        court_row("(2025)豫0882执5号", "完全陌生的公司", ""),
        court_row("(2025)豫0882执6号", "赵强", "4108821990****0000", sex="男", age="35"),
    ]


@pytest.fixture
def reg(session: Session) -> Registry:
    seed(session)
    return Registry(session)


def test_snapshot_delta_snapshot(session: Session, reg: Registry, tmp_path: Path) -> None:
    record = sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "s1.csv", first_snapshot(reg), encoding="gb18030"),
    )
    session.commit()
    assert (record.added, record.changed, record.removed, record.unchanged, record.rejected) == (6, 0, 0, 0, 0)
    got = entries(session)
    org = got["(2025)豫0882执1号"]
    assert org.subject_id == reg.org.id and org.match_status == "code" and org.listed_on == dt.date(2025, 9, 23)
    assert org.term_end == dt.date(2027, 9, 22)  # 2-year term for ground (4)
    assert got["(2025)豫0882执3号"].term_end is None  # ground (1): until the obligation is performed
    person = got["(2025)豫0882执2号"]
    assert person.subject_id == reg.person.id and person.match_status == "matched"
    assert person.party_code == reg.person_masked and "一致" in person.match_evidence["resident_id"]["text"]
    # Exact name but nothing else to confirm it (no code, no region): queued, the exact name ranked first.
    rival = got["(2025)豫0882执3号"]
    assert rival.match_status == "pending" and rival.subject_id is None
    assert [c["subject_id"] for c in rival.match_candidates][:2] == [reg.other.id, reg.twin.id]
    near = got["(2025)豫0882执4号"]
    assert near.match_status == "pending" and near.subject_id is None
    assert reg.org.id in [c["subject_id"] for c in near.match_candidates]
    assert got["(2025)豫0882执5号"].match_status == "unmatched"
    # Same name, contradicting ID digits: not this person.
    assert got["(2025)豫0882执6号"].subject_id is None
    assert record.report["review_queue_size"] == record.review_queued >= 1
    assert (
        session.scalar(
            select(func.count())
            .select_from(ListEntryEvent)
            .where(ListEntryEvent.action == "sync_add", ListEntryEvent.sync_id == record.id)
        )
        == 6
    )
    syncs_audited = session.scalar(
        select(func.count()).select_from(audit.AuditEvent).where(audit.AuditEvent.action == "lists.sync")
    )
    assert syncs_audited == 1

    # Idempotent: the same file again changes nothing.
    again = sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=tmp_path / "s1.csv")
    session.commit()
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 0, 6)

    # Delta: one change, one removal, one addition.
    delta = [
        court_row(
            "(2025)豫0882执1号",
            "沁阳市宏达机械有限公司",
            reg.org_code[8:17],
            legal_rep="王建国",
            performance="部分未履行",
            op="变更",
        ),
        court_row("(2025)豫0882执5号", "", "", op="删除"),
        court_row("(2025)豫0882执7号", "沁阳市远大化工有限公司", reg.other_code, op="新增"),
    ]
    d = sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "d1.csv", delta),
        mode="delta",
    )
    session.commit()
    assert (d.added, d.changed, d.removed, d.unchanged) == (1, 1, 1, 0)
    got = entries(session)
    assert got["(2025)豫0882执1号"].data["performance"] == "部分未履行" and got["(2025)豫0882执1号"].revision == 2
    gone = got["(2025)豫0882执5号"]
    assert gone.status == "removed" and gone.removal_reason == "sync_removed" and gone.removed_on is not None
    assert got["(2025)豫0882执7号"].subject_id == reg.other.id

    # Second snapshot: 执2 and 执7 absent → removed, history kept.
    rows = [r for r in first_snapshot(reg) if r["案号"] not in ("(2025)豫0882执2号", "(2025)豫0882执5号")]
    rows[0]["被执行人的履行情况"] = "部分未履行"
    s2 = sync.sync_list(
        session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "s2.csv", rows)
    )
    session.commit()
    assert (s2.added, s2.changed, s2.removed, s2.unchanged) == (0, 0, 2, 4)
    got = entries(session)
    assert got["(2025)豫0882执2号"].status == "removed" and got["(2025)豫0882执7号"].status == "removed"
    history = session.scalars(
        select(ListEntryEvent.action)
        .where(ListEntryEvent.entry_id == got["(2025)豫0882执2号"].id)
        .order_by(ListEntryEvent.id)
    ).all()
    assert history == ["sync_add", "sync_remove"]
    assert session.scalar(select(func.count()).select_from(ListSync)) == 4


def test_samr_xlsx_and_json(session: Session, reg: Registry, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["经营异常名录（导出）"])
    ws.append([*SAMR_HEADERS, "决定书文号"])
    ws.append(
        [
            reg.org_code,
            "沁阳市宏达机械有限公司",
            "未依照规定的期限公示年度报告",
            dt.date(2025, 7, 1),
            "沁阳市市场监督管理局",
            "沁市监异字〔2025〕1号",
        ]
    )
    ws.append(
        [
            reg.other_code,
            "沁阳市远大化工有限公司",
            "通过登记的住所或者经营场所无法联系",
            "2025年07月02日",
            "沁阳市市场监督管理局",
            None,
        ]
    )
    wb.save(tmp_path / "samr.xlsx")
    record = sync.sync_list(session, actor=ACTOR, list_code="samr_abnormal", path=tmp_path / "samr.xlsx")
    session.commit()
    assert record.added == 2
    got = entries(session)
    assert got["沁市监异字〔2025〕1号"].subject_id == reg.org.id and got["沁市监异字〔2025〕1号"].term_end is None
    assert got[f"{reg.other_code}:2025-07-02"].subject_id == reg.other.id
    # The same list as JSON with a removal (移出) in a delta.
    body = [
        {
            "统一社会信用代码/注册号": reg.other_code,
            "企业名称": "沁阳市远大化工有限公司",
            "列入日期": "2025-07-02",
            "移出日期": "2025-08-01",
            "移出原因": "恢复联系",
            "操作类型": "删除",
        }
    ]
    (tmp_path / "d.json").write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    d = sync.sync_list(session, actor=ACTOR, list_code="samr_abnormal", path=tmp_path / "d.json", mode="delta")
    session.commit()
    assert d.removed == 1
    gone = entries(session)[f"{reg.other_code}:2025-07-02"]
    assert gone.removed_on == dt.date(2025, 8, 1) and gone.removal_note == "恢复联系"


def _unchanged(session: Session) -> tuple[int, int]:
    session.rollback()
    return (
        session.scalar(select(func.count()).select_from(ListEntry)) or 0,
        session.scalar(select(func.count()).select_from(ListSync)) or 0,
    )


def test_bad_input_changes_nothing(session: Session, reg: Registry, tmp_path: Path) -> None:
    sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "s1.csv", first_snapshot(reg)),
    )
    session.commit()
    before = _unchanged(session)

    with pytest.raises(ValidationFailed) as wrong:
        sync.sync_list(session, actor=ACTOR, list_code="samr_abnormal", path=tmp_path / "s1.csv")
    assert wrong.value.code == "wrong_list_format" and wrong.value.details["detected_format"] == "court_debtor"
    assert wrong.value.status_code == 422
    assert _unchanged(session) == before

    bad_delete = [court_row("(2025)豫0882执99号", "", "", op="删除"), court_row("(2025)豫0882执1号", "", "", op="删除")]
    with pytest.raises(ValidationFailed) as unknown:
        sync.sync_list(
            session,
            actor=ACTOR,
            list_code="court_dishonest_debtor",
            path=write_csv(tmp_path / "d.csv", bad_delete),
            mode="delta",
        )
    assert unknown.value.code == "unknown_entry" and unknown.value.details["keys"] == ["(2025)豫0882执99号"]
    assert _unchanged(session) == before
    assert entries(session)["(2025)豫0882执1号"].status == "active"

    malformed = first_snapshot(reg)
    malformed[2]["身份证号码/组织机构代码"] = "12345"
    malformed[3]["发布时间"] = "去年"
    with pytest.raises(ValidationFailed) as invalid:
        sync.sync_list(
            session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "bad.csv", malformed)
        )
    assert invalid.value.code == "sync_rows_invalid"
    assert {p["code"] for p in invalid.value.details["problems"]} == {"code_malformed", "date_invalid"}
    assert {p["row"] for p in invalid.value.details["problems"]} == {4, 5}
    assert _unchanged(session) == before

    # Skipping invalid rows: they are rejected, and their entries are not removed for being unreadable.
    skipped = sync.sync_list(
        session, actor=ACTOR, list_code="court_dishonest_debtor", path=tmp_path / "bad.csv", skip_invalid=True
    )
    assert (skipped.rejected, skipped.removed, skipped.unchanged) == (2, 0, 4)
    session.rollback()

    with pytest.raises(ValidationFailed) as mode:
        sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=tmp_path / "d.csv")
    assert mode.value.code == "mode_mismatch"
    with pytest.raises(ValidationFailed) as not_syncable:
        sync.sync_list(session, actor=ACTOR, list_code="tax_serious_dishonest", path=tmp_path / "s1.csv")
    assert not_syncable.value.code == "list_not_syncable"
    with pytest.raises(NotFound):
        sync.sync_list(session, actor=ACTOR, list_code="no_such_list", path=tmp_path / "s1.csv")
    assert _unchanged(session) == before


def test_judgement_remembered_across_syncs(session: Session, reg: Registry, tmp_path: Path) -> None:
    rows = [court_row("(2025)豫0882执4号", "沁阳市宏达机械厂", "")]
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "a.csv", rows))
    session.commit()
    queue = sync.review_queue(session, list_code="court_dishonest_debtor")
    assert queue["total"] == 1
    item = queue["items"][0]
    assert reg.org.id in [c["subject_id"] for c in item["candidates"]]
    assert all(c["evidence"]["name"]["text"] for c in item["candidates"])

    entry = sync.judge(
        session,
        actor=ACTOR,
        entry_id=item["entry_id"],
        subject_id=reg.org.id,
        verdict="same",
        reason="经核对营业执照，宏达机械厂为该公司曾用字号",
    )
    session.commit()
    assert entry.subject_id == reg.org.id and entry.match_status == "judged"
    assert sync.review_queue(session)["total"] == 0
    assert session.scalar(select(func.count()).select_from(MatchJudgement)) == 1

    # A later sync brings a new case of the same party: the judgement links it without review.
    rows.append(court_row("(2025)豫0882执8号", "沁阳市宏达机械厂", ""))
    record = sync.sync_list(
        session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "b.csv", rows)
    )
    session.commit()
    assert record.added == 1 and record.review_queued == 0
    new = entries(session)["(2025)豫0882执8号"]
    assert new.subject_id == reg.org.id and new.match_status == "judged"

    # not_same: the subject leaves the candidates and is never proposed again for this party.
    rows2 = [court_row("(2025)豫0882执9号", "沁阳市远大化工厂", "")]
    sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "c.csv", rows2),
        mode="snapshot",
    )
    session.commit()
    pending = entries(session)["(2025)豫0882执9号"]
    assert pending.match_status == "pending"
    ids = [c["subject_id"] for c in pending.match_candidates]
    for sid in ids:
        sync.judge(session, actor=ACTOR, entry_id=pending.id, subject_id=sid, verdict="not_same", reason="地址不同")
    session.commit()
    assert entries(session)["(2025)豫0882执9号"].match_status == "unmatched"
    rows2.append(court_row("(2025)豫0882执10号", "沁阳市远大化工厂", ""))
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "d.csv", rows2))
    session.commit()
    assert entries(session)["(2025)豫0882执10号"].match_status == "unmatched"

    with pytest.raises(ValidationFailed) as no_reason:
        sync.judge(session, actor=ACTOR, entry_id=pending.id, subject_id=reg.org.id, verdict="same", reason=" ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(ValidationFailed):
        sync.judge(session, actor=ACTOR, entry_id=pending.id, subject_id=reg.org.id, verdict="maybe", reason="x")


def test_entered_and_left_are_announced(
    session: Session, reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, str, dict[str, Any]]] = []
    from xinyong.watches import service as watches

    monkeypatch.setattr(
        watches,
        "emit_subject_event",
        lambda s, *, subject_id, event, payload: calls.append((subject_id, event, payload)) or 1,
    )
    monkeypatch.setattr(sync.Announcer, "_watched", lambda self, ids: set(ids))
    today = dt.date.today()
    rows = [
        court_row(
            "(2025)豫0882执1号", "沁阳市宏达机械有限公司", reg.org_code[8:17], published=today.strftime("%Y年%m月%d日")
        )
    ]
    sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "a.csv", rows))
    assert [(s, e) for s, e, _ in calls] == [(reg.org.id, "list.entered")]
    assert calls[0][2]["list_type"] == "court_dishonest_debtor"
    sync.sync_list(
        session,
        actor=ACTOR,
        list_code="court_dishonest_debtor",
        path=write_csv(tmp_path / "b.csv", [court_row("(2025)豫0882执2号", "无关公司", "")]),
    )
    assert [(s, e) for s, e, _ in calls][1:] == [(reg.org.id, "list.left")]


def test_absurd_dates_are_row_problems(session: Session, reg: Registry, tmp_path: Path) -> None:
    """A day of 20 digits overflows a C long; a publication on 9999-12-31 puts the term past year 9999. Both are
    problems of their rows (refused with the rest of the file, or skipped), never a crash of the sync."""
    rows = first_snapshot(reg)
    rows[0]["发布时间"] = "2025年1月99999999999999999999日"
    rows[1]["发布时间"] = "9999-12-31"
    rows[2]["立案时间"] = "99999999999999999999-01-01"
    with pytest.raises(ValidationFailed) as invalid:
        sync.sync_list(
            session, actor=ACTOR, list_code="court_dishonest_debtor", path=write_csv(tmp_path / "c.csv", rows)
        )
    found = {(p["row"], p["code"]) for p in invalid.value.details["problems"]}
    assert found == {(2, "date_invalid"), (3, "date_out_of_range"), (4, "date_invalid")}
    session.rollback()
    samr = [
        dict(
            zip(
                SAMR_HEADERS,
                [reg.org_code, "沁阳市宏达机械有限责任公司", "未按规定报送年度报告", day, "沁阳市市场监督管理局"],
                strict=True,
            )
        )
        for day in ("2024-05-01", "2024-99999999999999999999-01")
    ]
    with pytest.raises(ValidationFailed) as invalid:
        sync.sync_list(session, actor=ACTOR, list_code="samr_abnormal", path=write_csv(tmp_path / "s.csv", samr))
    assert {(p["row"], p["code"]) for p in invalid.value.details["problems"]} == {(3, "date_invalid")}
