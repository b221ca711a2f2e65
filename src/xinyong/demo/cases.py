"""Demo due process: objections, credit repairs and complaints of every kind, open and closed, some overdue;
registered contacts for a few subjects so that the portal's one-time codes can be tried (codes go to the log
channel, ``<data dir>/notifications.log``).

Everything goes through the cases services (state machines, deadlines, effects on records and lists), filed on
past days so that the deadlines fall where they would have: some cases are overdue today and get escalated.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.cases import complaints, objections, repair, service, verification
from xinyong.core.errors import XinyongError
from xinyong.records.models import CreditRecord
from xinyong.subjects.models import Subject

SEED = 20261127
#: Days before today a case was filed: mostly recent, a few old enough to be overdue.
RECENCY = (0, 1, 1, 2, 3, 4, 6, 9, 14, 30, 45)
#: A minimal, valid PDF: the evidence file a department scans in at the service window.
EVIDENCE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

OBJECTION_FACTS = [
    "处罚决定书载明的罚款金额与实际缴纳金额不一致",
    "当事人名称登记错误，与营业执照不符",
    "该行政处罚决定已被行政复议机关撤销",
    "列入事由所依据的事实认定有误",
]
COMPLAINT_FACTS = [
    "该企业长期拖欠供应商货款，拒不履行合同义务",
    "该店铺销售过期食品，消费者投诉未处理",
    "该公司以虚假宣传方式招揽客户",
    "该工地拖欠农民工工资",
]


def _operator(dept: Any) -> Principal:
    return Principal(
        kind=PrincipalKind.SYSTEM, name=f"demo:{dept.code}_op", role=Role.DEPT_OPERATOR, department_id=dept.id
    )


def build(session: Session, *, actor: Principal, today: dt.date) -> dict[str, Any]:

    rng = random.Random(SEED)
    depts = {d.id: d for d in session.scalars(select(Department))}
    by_code = {d.code: d for d in depts.values()}
    penalties = list(
        session.scalars(
            select(CreditRecord)
            .where(
                CreditRecord.kind == "penalty",
                CreditRecord.party_kind == "legal_person",
                CreditRecord.withdrawn_at.is_(None),
            )
            .order_by(CreditRecord.id)
        )
    )
    rng.shuffle(penalties)
    stats: dict[str, dict[str, int]] = {"objection": {}, "repair": {}, "complaint": {}}

    def count(kind: str, state: str) -> None:
        stats[kind][state] = stats[kind].get(state, 0) + 1

    def step(case_id: int, op: Principal, action: str, day: dt.date, **kw: Any) -> None:
        service.transition(session, actor=op, case_id=case_id, action=action, today=day, **kw)

    # Objections filed by departments at the service window over the last two months.
    for record in penalties[:24]:
        op = _operator(depts[record.department_id])
        filed = today - dt.timedelta(days=rng.choice(RECENCY))
        try:
            case, _ = objections.file_objection(
                session,
                actor=op,
                target_type="record",
                target_id=record.id,
                facts=rng.choice(OBJECTION_FACTS),
                applicant_name="企业经办人",
                today=filed,
            )
        except XinyongError:
            continue
        roll = rng.random()
        if roll < 0.35:
            count("objection", "submitted")  # waiting for acceptance; the older ones are overdue
            continue
        step(case.id, op, "accept", filed + dt.timedelta(days=1))
        if roll < 0.6:
            count("objection", "accepted")
            continue
        decided = min(today, filed + dt.timedelta(days=rng.randrange(3, 12)))
        step(
            case.id,
            op,
            "decide",
            decided,
            outcome="rejected",
            reason="经核查，处罚决定书记载的事实、金额与报送数据一致，异议不成立",
        )
        count("objection", "decided")

    # Credit repair of penalties past their minimum window.
    for record in penalties[24:80]:
        if (today - record.decision_date).days < 200:
            continue
        op = _operator(depts[record.department_id])
        filed = today - dt.timedelta(days=rng.choice(RECENCY))
        try:
            case, _ = repair.file_repair(
                session,
                actor=op,
                target_type="record",
                target_id=record.id,
                facts="已缴清罚款并完成整改，现申请提前终止公示",
                obligations_fulfilled=True,
                commitment_signed=True,
                applicant_name="企业经办人",
                today=filed,
            )
        except XinyongError:
            continue
        service.add_document(
            session, actor=op, case=case, kind="evidence", filename="缴款凭证及整改报告.pdf", content=EVIDENCE_PDF
        )
        roll = rng.random()
        if roll < 0.3:
            count("repair", "submitted")
            continue
        step(case.id, op, "accept", filed + dt.timedelta(days=1))
        if roll < 0.5:
            count("repair", "accepted")
        elif roll < 0.85:
            step(
                case.id,
                op,
                "approve",
                min(today, filed + dt.timedelta(days=3)),
                reason="已履行行政处罚决定并完成整改，作出信用承诺，符合提前终止公示条件",
            )
            count("repair", "approved")
        else:
            step(
                case.id,
                op,
                "refuse",
                min(today, filed + dt.timedelta(days=3)),
                reason="未能提供罚款缴纳凭证，不符合信用修复条件",
            )
            count("repair", "refused")
        if sum(stats["repair"].values()) >= 16:
            break

    # Complaints from the public (named and anonymous), routed to the market regulator.
    scjgj = by_code.get("scjgj")
    subjects = [r.subject_id for r in penalties[80:100]]

    for i, subject_id in enumerate(subjects[:12]):
        subject = session.get(Subject, subject_id)
        if subject is None or scjgj is None:
            continue
        filed = today - dt.timedelta(days=rng.choice(RECENCY))
        anonymous = i % 3 == 0
        case, _ = complaints.file_complaint(
            session,
            actor=actor,
            facts=rng.choice(COMPLAINT_FACTS),
            subject_code=subject.uscc,
            department=scjgj.id,
            anonymous=anonymous,
            reporter_name=None if anonymous else "王先生",
            reporter_channel=None if anonymous else "sms",
            reporter_address=None if anonymous else "13800138000",
            filed_via="public",
            today=filed,
        )
        op = _operator(scjgj)
        if i % 4 == 0:
            count("complaint", "submitted")
            continue
        step(case.id, op, "accept", filed + dt.timedelta(days=2))
        if i % 4 == 1:
            count("complaint", "investigating")
            continue
        step(
            case.id,
            op,
            "conclude",
            min(today, filed + dt.timedelta(days=10)),
            outcome="partly_substantiated",
            reason="经现场检查，部分举报事项属实，已立案查处",
        )
        count("complaint", "concluded")

    escalated = service.escalate_overdue(session, actor=actor, today=today)
    # Registered contacts: the portal's objection and repair forms send one-time codes to them.
    contacts = 0
    for record in penalties[:40]:
        try:
            verification.set_contact(
                session,
                actor=actor,
                subject_id=record.subject_id,
                channel="sms",
                address=f"139{record.subject_id % 10**8:08d}",
                source="demo:企业登记联系电话",
            )
            contacts += 1
        except XinyongError:
            continue
    return {"cases": stats, "escalated": len(escalated), "contacts": contacts}
