"""Demo lists: department black and red lists, the court's 失信被执行人 list (a snapshot, then a later delta, as
the court publishes it: persons with masked ID numbers, some organisations by name only, a few innocent
look-alikes), the market regulator's 经营异常名录, and business systems' checks with feedback.

Everything goes through the real services (entry lifecycle, file sync, the check), so the demo exercises them.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.core import clock
from xinyong.lists import service as lists
from xinyong.lists import sync
from xinyong.lists import types as lists_types
from xinyong.lists.models import ListEntry
from xinyong.measures import service as measures
from xinyong.measures.check import SubjectQuery, run_check
from xinyong.measures.feedback import FeedbackInput, record_feedback
from xinyong.subjects.models import Subject

SEED = 20261126

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
COURT_GROUNDS = [
    "有履行能力而拒不履行生效法律文书确定义务",
    "违反财产报告制度",
    "违反限制消费令",
    "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行",
    "无正当理由拒不履行执行和解协议",
]
OBLIGATIONS = [
    "支付货款{n}元及利息",
    "偿还借款本金{n}元及逾期利息",
    "支付工程款{n}元",
    "赔偿经济损失{n}元",
    "支付劳动报酬{n}元",
]

#: (list code, department code, share of legal persons, reason, legal basis of the entry)
DEPARTMENT_LISTS: list[tuple[str, str, float, str]] = [
    ("tax_serious_dishonest", "swj", 0.004, "虚开增值税专用发票，涉案税额较大"),
    ("wage_arrears_dishonest", "rsj", 0.003, "克扣、无故拖欠农民工工资数额达到认定拒不支付劳动报酬罪数额标准"),
    ("procurement_dishonest", "czj", 0.002, "提供虚假材料谋取中标"),
    ("work_safety_dishonest", "yjj", 0.0015, "发生较大生产安全责任事故"),
    ("environment_dishonest", "sthjj", 0.0015, "通过暗管偷排污染物，受到按日连续处罚"),
    ("food_drug_dishonest", "scjgj", 0.0015, "生产经营添加非食用物质的食品，受到较重行政处罚"),
    ("construction_dishonest", "zjj", 0.0015, "转包、违法分包工程受到行政处罚"),
    ("market_serious_illegal", "scjgj", 0.002, "列入经营异常名录届满3年仍未履行相关义务"),
    ("tax_a_grade", "swj", 0.03, "年度纳税信用评价为A级"),
    ("contract_credit_enterprise", "scjgj", 0.01, "连续两年守合同重信用，经公示无异议"),
    ("labour_security_a_grade", "rsj", 0.01, "劳动保障守法诚信等级评价为A级"),
]

#: The plan's demonstration domains (issue #18.4): (list code, department code or None for the admin on behalf of
#: an authority outside the city (海关), subjects: "org" / "person", how many per 10,000 organisations (at least 2),
#: reason). Small on purpose; a few subjects are put on two lists (DOMAIN_OVERLAPS).
DOMAIN_LISTS: list[tuple[str, str | None, str, int, str]] = [
    ("trading_dishonest", "ggzy", "org", 3, "在工程建设项目招标投标中串通投标，受到行政监督部门行政处罚"),
    (
        "tourism_dishonest",
        "wlj",
        "org",
        2,
        "以不合理的低价组织旅游活动、诱骗旅游者购物，造成恶劣社会影响，受到较重行政处罚",
    ),
    ("tourism_uncivilised", "wlj", "person", 2, "在旅游景区刻划、涂污文物古迹，经劝阻拒不改正"),
    ("illegal_medical_practice", "wjw", "person", 2, "未取得医师资格擅自从事医疗活动（非医师行医），受到行政处罚"),
    ("illegal_medical_practice", "wjw", "org", 1, "未取得《医疗机构执业许可证》擅自执业，受到行政处罚"),
    ("social_insurance_dishonest", "rsj", "org", 2, "以伪造证明材料等手段骗取社会保险待遇，拒不退回"),
    ("medical_insurance_fraud", "ybj", "org", 2, "定点医疗机构虚构医药服务项目、伪造医疗文书骗取医疗保障基金支出"),
    ("medical_insurance_fraud", "ybj", "person", 1, "使用他人医疗保障凭证就医购药、骗取医疗保障基金"),
    ("ecommerce_dishonest", "scjgj", "org", 2, "组织虚假交易、编造用户评价（“炒信”），受到行政处罚"),
    ("intermediary_d_grade", "fgw", "org", 2, "中介服务机构年度信用等级评价为D级"),
    (
        "product_quality_dishonest",
        "scjgj",
        "org",
        2,
        "生产销售不符合保障人身、财产安全国家标准的产品，受到较重行政处罚",
    ),
    ("customs_dishonest", None, "org", 1, "被海关认定为失信企业（走私违规、拖欠应缴税款）"),
    ("transport_overload_dishonest", "jtj", "org", 2, "所属货运车辆一年内违法超限运输3次以上"),
    ("transport_overload_dishonest", "jtj", "person", 1, "驾驶货运车辆一年内违法超限运输3次以上"),
    ("ecommerce_honest_shop", "scjgj", "org", 5, "诚信网店创建活动评定，经公示无异议"),
    ("intermediary_a_grade", "fgw", "org", 4, "中介服务机构年度信用等级评价为A级"),
    ("customs_aeo", None, "org", 2, "经海关认证为高级认证企业"),
    ("transport_construction_trustworthy", "jtj", "org", 3, "交通运输工程建设从业单位信用评价为AA级，评为守信典型企业"),
]
#: Subjects also put on a second list, as happens: (first list, second list, how many).
DOMAIN_OVERLAPS = [
    ("trading_dishonest", "product_quality_dishonest", 1),
    ("tourism_dishonest", "social_insurance_dishonest", 1),
    ("medical_insurance_fraud", "illegal_medical_practice", 1),
    ("transport_overload_dishonest", "trading_dishonest", 1),
]


def _cn_date(d: dt.date) -> str:
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def court_rows(
    rng: random.Random,
    orgs: list[Any],
    people: list[tuple[str, str]],
    *,
    today: dt.date,
    n_orgs: int,
    n_people: int,
    n_lookalikes: int,
) -> list[dict[str, str]]:
    """The court's published list as of ``today``: organisations (code, legacy code or name only), persons with
    masked IDs, and persons who share a registry person's name but not their ID digits (innocent look-alikes)."""
    rows: list[dict[str, str]] = []
    serial = 0

    def case(filed: dt.date) -> str:
        nonlocal serial
        serial += 1
        return f"（{filed.year}）豫0882执{serial:04d}号"

    def base(filed: dt.date, published: dt.date) -> dict[str, str]:
        ground = rng.choice(COURT_GROUNDS)
        return {
            "执行法院": "沁阳市人民法院",
            "省份": "河南",
            "执行依据文号": f"（{filed.year - 1}）豫0882民初{rng.randrange(100, 9999)}号",
            "立案时间": _cn_date(filed),
            "案号": case(filed),
            "做出执行依据单位": "沁阳市人民法院",
            "生效法律文书确定的义务": rng.choice(OBLIGATIONS).format(n=rng.randrange(2, 500) * 1000),
            "被执行人的履行情况": rng.choice(["全部未履行", "全部未履行", "部分未履行"]),
            "失信被执行人行为具体情形": ground,
            "发布时间": _cn_date(published),
        }

    for org in rng.sample(orgs, min(n_orgs, len(orgs))):
        filed = today - dt.timedelta(days=rng.randrange(60, 900))
        published = min(today, filed + dt.timedelta(days=rng.randrange(20, 120)))
        roll = rng.random()
        code = org.uscc if roll < 0.7 else (f"{org.uscc[8:16]}-{org.uscc[16]}" if roll < 0.85 else "")
        name, legal_rep = org.name, org.legal_rep or ""
        if not code:
            shape = rng.random()
            if shape < 0.3:
                # The court wrote the name differently (no city, abbreviated legal form): nothing links it.
                for prefix in ("沁阳市", "焦作市"):
                    name = name.removeprefix(prefix)
                name = name.replace("有限责任公司", "公司").replace("有限公司", "公司")
            elif shape < 0.7:
                # The name alone, without the legal representative: a reviewer decides (review queue).
                legal_rep = ""
        row = {
            "被执行人姓名/名称": name,
            "性别": "",
            "年龄": "",
            "身份证号码/组织机构代码": code,
            "法定代表人或者负责人姓名": legal_rep,
        }
        row.update(base(filed, published))
        rows.append(row)
    chosen = rng.sample(people, min(n_people + n_lookalikes, len(people)))
    for i, (name, number) in enumerate(chosen):
        filed = today - dt.timedelta(days=rng.randrange(60, 900))
        published = min(today, filed + dt.timedelta(days=rng.randrange(20, 120)))
        birth_year = int(number[6:10])
        if i >= n_people:
            # Same name, different person: other region digits and birth year, other last four.
            other = (
                f"4108{rng.randrange(10, 99)}{birth_year + rng.randrange(3, 9)}{number[10:14]}"
                f"{rng.randrange(100, 999)}{rng.choice('0123456789X')}"
            )
            number = other
        # The court's usual mask keeps region, birth year and the last four; some courts mask the birth year too.
        masked = number[:10] + "****" + number[14:] if rng.random() < 0.8 else number[:6] + "********" + number[14:]
        row = {
            "被执行人姓名/名称": name,
            "性别": "男" if int(number[16]) % 2 else "女",
            "年龄": str(today.year - int(number[6:10])),
            "身份证号码/组织机构代码": masked,
            "法定代表人或者负责人姓名": "",
        }
        row.update(base(filed, published))
        rows.append(row)
    return rows


def write_csv(path: Path, headers: list[str], rows: list[dict[str, str]], *, encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _orgs(session: Session) -> list[Any]:

    return session.execute(
        select(Subject.id, Subject.uscc, Subject.name, Subject.legal_rep, Subject.kind)
        .where(Subject.uscc.is_not(None), Subject.kind == "legal_person")
        .order_by(Subject.id)
    ).all()


def _department_entries(
    session: Session, *, actor: Principal, rng: random.Random, orgs: list[Any], today: dt.date
) -> dict[str, dict[str, int]]:
    """Each department lists a realistic share of subjects over the last three years: most listed after a notice
    given a month earlier, some still in their notice period, some removed after repair, many red-list entries
    expired at the end of their term."""

    stats: dict[str, dict[str, int]] = {}
    serial = 0
    for code, dept, share, reason in DEPARTMENT_LISTS:
        lt = lists_types.get_list_type(session, code)
        counts = {"listed": 0, "notified": 0, "removed": 0}
        for org in rng.sample(orgs, max(1, int(len(orgs) * share))):
            serial += 1
            decision_no = f"沁{dept}信〔{today.year}〕{serial:05d}号"
            decision: dict[str, Any] = {
                "actor": actor,
                "list_code": code,
                "subject_code": org.uscc,
                "reason": reason,
                "decision_no": decision_no,
                "facts": f"{org.name}{reason}。",
                "department": dept,
            }
            if lt.requires_notice and rng.random() < 0.06:
                notice_on = today - dt.timedelta(days=rng.randrange(0, 6))
                lists.give_notice(session, notice_given_on=notice_on, **decision)
                counts["notified"] += 1
                continue
            listed_on = today - dt.timedelta(days=rng.randrange(0, 3 * 365))
            notice_on = listed_on - dt.timedelta(days=30) if lt.requires_notice else None
            entry = lists.create_entry(session, notice_given_on=notice_on, listed_on=listed_on, **decision)
            counts["listed"] += 1
            if lt.kind == "black" and (today - listed_on).days > 400 and rng.random() < 0.15:
                lists.remove_entry(
                    session,
                    actor=actor,
                    entry_id=entry.id,
                    reason="repaired",
                    note="已履行义务、完成整改并作出信用承诺，经认定单位审核同意提前移出（信用修复）",
                )
                counts["removed"] += 1
        stats[code] = counts
    return stats


def _domain_entries(
    session: Session, *, actor: Principal, orgs: list[Any], people: list[tuple[str, str]], today: dt.date
) -> dict[str, dict[str, int]]:
    """Entries on the plan's demonstration-domain lists (DOMAIN_LISTS), through the real lifecycle: black lists
    after a notice a month earlier, red lists only for subjects on no black list, a few subjects on two lists
    (DOMAIN_OVERLAPS). A random generator of its own, so the rest of the demo is unchanged."""
    rng = random.Random(SEED + 18)
    stats: dict[str, dict[str, int]] = {}
    placed: dict[str, list[tuple[str, str]]] = {}  # list code -> [(subject code, name)]
    black: set[str] = set()
    pool = list(orgs)
    rng.shuffle(pool)
    persons = list(people)
    rng.shuffle(persons)
    serial = 0

    def put(code: str, dept: str | None, subject: str, name: str, reason: str) -> None:
        nonlocal serial
        serial += 1
        lt = lists_types.get_list_type(session, code)
        listed_on = today - dt.timedelta(days=rng.randrange(15, 320))
        lists.create_entry(
            session,
            actor=actor,
            list_code=code,
            subject_code=subject,
            reason=reason,
            decision_no=f"沁{dept or 'hg'}信〔{listed_on.year}〕D{serial:04d}号",
            facts=f"{name}{reason}。",
            department=dept,
            notice_given_on=listed_on - dt.timedelta(days=30) if lt.requires_notice else None,
            listed_on=listed_on,
        )
        placed.setdefault(code, []).append((subject, name))
        if lt.kind != "red":
            black.add(subject)
        stats.setdefault(code, {"listed": 0})["listed"] += 1

    for code, dept, kind, per_10k, reason in DOMAIN_LISTS:
        n = max(2, len(orgs) * per_10k // 10_000)
        if kind == "person":
            for _ in range(min(n, len(persons))):
                name, number = persons.pop()
                put(code, dept, number, name, reason)
            continue
        is_red = lists_types.get_list_type(session, code).kind == "red"
        chosen = 0
        while chosen < n and pool:
            org = pool.pop()
            if is_red and org.uscc in black:
                continue
            put(code, dept, org.uscc, org.name, reason)
            chosen += 1
    reasons = {code: reason for code, _, _, _, reason in DOMAIN_LISTS}
    depts = {code: dept for code, dept, _, _, _ in DOMAIN_LISTS}
    for first, second, n in DOMAIN_OVERLAPS:
        for subject, name in placed.get(first, [])[:n]:
            put(second, depts[second], subject, name, reasons[second])
            stats[second]["also_on_" + first] = stats[second].get("also_on_" + first, 0) + 1
    return stats


def _abnormal_rows(rng: random.Random, orgs: list[Any], today: dt.date) -> list[dict[str, str]]:
    reasons = [
        "未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告",
        "通过登记的住所或者经营场所无法联系",
        "未在市场监督管理部门依照《企业信息公示暂行条例》第十条规定责令的期限内公示有关企业信息",
        "公示企业信息隐瞒真实情况、弄虚作假",
    ]
    rows = []
    for org in rng.sample(orgs, max(1, len(orgs) * 3 // 100)):
        listed = today - dt.timedelta(days=rng.randrange(10, 3 * 365))
        rows.append(
            {
                "统一社会信用代码/注册号": org.uscc,
                "企业名称": org.name,
                "列入经营异常名录原因": rng.choices(reasons, weights=[70, 20, 7, 3])[0],
                "列入日期": listed.isoformat(),
                "作出决定机关": "沁阳市市场监督管理局",
            }
        )
    return rows


def _checks(session: Session, *, rng: random.Random, orgs: list[Any], today: dt.date, n: int) -> dict[str, int]:
    """Business systems check subjects before they act, and report back what they did with the answer."""

    depts = {d.code: d for d in session.scalars(select(Department))}
    listed = [
        uscc
        for (uscc,) in session.execute(
            select(ListEntry.party_code).where(
                ListEntry.subject_id.is_not(None), ListEntry.party_code.is_not(None), ListEntry.status == "active"
            )
        )
        if uscc and len(uscc) == 18 and "*" not in uscc
    ]
    systems = [("ggzy", "trading"), ("czj", "procurement"), ("zjj", "approval"), ("czj", "subsidy")]
    stats = {"checks": 0, "with_measures": 0, "with_feedback": 0}
    for _ in range(n):
        dept_code, scenario = rng.choice(systems)
        dept = depts[dept_code]
        principal = Principal(
            kind=PrincipalKind.SYSTEM,
            name=f"{dept_code}-business-system",
            role=Role.BUSINESS_SYSTEM,
            department_id=dept.id,
        )
        size = rng.choice([1, 1, 1, 3, 8])
        codes = [rng.choice(listed) if listed and rng.random() < 0.4 else rng.choice(orgs).uscc for _ in range(size)]
        answer = run_check(
            session,
            actor=principal,
            subjects=[SubjectQuery(code=c) for c in codes],
            scenario=scenario,
            reference=f"{dept_code.upper()}-{today.year}-{rng.randrange(10**6):06d}",
        )
        stats["checks"] += 1
        items = [(item, m) for item in answer["results"] for m in item.get("measures", [])]
        if not items:
            continue
        stats["with_measures"] += 1
        if rng.random() < 0.75:
            feedback = [
                FeedbackInput(
                    item_id=item["item_id"],
                    measure_code=m["code"],
                    applied=(applied := rng.random() < 0.85),
                    reason=None if applied else "该措施与本次业务事项无关，经集体研究不予实施",
                )
                for item, m in items
            ]
            record_feedback(session, actor=principal, check_id=answer["check_id"], items=feedback)
            stats["with_feedback"] += 1
    stats["procurement_by_record"] = _procurement_by_record(session, depts["czj"].id, today)
    return stats


def _procurement_by_record(session: Session, department_id: int, today: dt.date, n: int = 5) -> int:
    """The procurement system checks suppliers that were ordered to stop production within three years (重大违法记录,
    政府采购法实施条例 第十九条): checks whose answer names the penalty, not a list. Returns how many named one."""
    from xinyong.auth.roles import Role
    from xinyong.measures.check import SubjectQuery, run_check
    from xinyong.records.models import CreditRecord
    from xinyong.subjects.models import Subject

    since = today - dt.timedelta(days=3 * 365)
    codes = session.scalars(
        select(Subject.uscc)
        .join(CreditRecord, CreditRecord.subject_id == Subject.id)
        .where(
            CreditRecord.kind == "penalty",
            CreditRecord.withdrawn_at.is_(None),
            CreditRecord.decision_date >= since,
            CreditRecord.penalty_types_key.contains("|责令停产停业|"),
            Subject.uscc.is_not(None),
        )
        .group_by(Subject.uscc)
        .order_by(Subject.uscc)
        .limit(n)
    ).all()
    principal = Principal(
        kind="system", name="czj-business-system", role=Role.BUSINESS_SYSTEM, department_id=department_id
    )
    named = 0
    for i, code in enumerate(codes):
        answer = run_check(
            session,
            actor=principal,
            subjects=[SubjectQuery(code=code)],
            scenario="procurement",
            reference=f"CZJ-{today.year}-CG{i:04d}",
        )
        named += any(m.get("record_reasons") for item in answer["results"] for m in item.get("measures", []))
    return named


def build(
    session: Session,
    *,
    actor: Principal,
    workdir: Path,
    persons: list[tuple[str, str, str]],
    today: dt.date | None = None,
    checks: int = 300,
) -> dict[str, Any]:
    """Seed the list types and measures, fill the lists, sync the court's and the regulator's lists, run checks."""

    today = today or clock.today()
    rng = random.Random(SEED)
    lists_types.seed_list_types(session, actor=actor)
    measures.seed_measures(session, actor=actor)
    orgs = _orgs(session)
    summary: dict[str, Any] = {
        "department_lists": _department_entries(session, actor=actor, rng=rng, orgs=orgs, today=today)
    }
    out = workdir / "lists"
    out.mkdir(parents=True, exist_ok=True)

    abnormal_rows = _abnormal_rows(rng, orgs, today)
    abnormal = write_csv(out / "经营异常名录-全量.csv", list(abnormal_rows[0].keys()), abnormal_rows)
    s = sync.sync_list(session, actor=actor, list_code="samr_abnormal", path=abnormal, mode="snapshot")
    summary["samr_abnormal"] = {"added": s.added, "review_queued": s.review_queued}

    # The court's list: a snapshot two months ago, then the delta published since.
    people = [(name, number) for name, number, _ in persons]
    n_orgs = max(5, len(orgs) // 70)
    n_people = max(3, len(people) // 50)
    rows = court_rows(
        rng,
        orgs,
        people,
        today=today - dt.timedelta(days=60),
        n_orgs=n_orgs,
        n_people=n_people,
        n_lookalikes=max(1, n_people // 8),
    )
    snapshot = write_csv(out / "失信被执行人-全量.csv", COURT_HEADERS, rows)
    first = sync.sync_list(session, actor=actor, list_code="court_dishonest_debtor", path=snapshot)
    delta_rows: list[dict[str, str]] = []
    for row in rng.sample(rows, len(rows) // 10):  # obligations performed: deleted by the court
        delta_rows.append({**row, "操作类型": "删除"})
    removed = {r["案号"] for r in delta_rows}
    for row in rng.sample([r for r in rows if r["案号"] not in removed], len(rows) // 10):
        delta_rows.append({**row, "被执行人的履行情况": "部分未履行", "操作类型": "变更"})
    fresh = court_rows(
        random.Random(SEED + 2),
        orgs,
        people,
        today=today,
        n_orgs=max(2, n_orgs // 10),
        n_people=max(1, n_people // 10),
        n_lookalikes=0,
    )
    known = {r["案号"] for r in rows}
    for i, row in enumerate(fresh):
        row["案号"] = f"（{today.year}）豫0882执{9000 + i:04d}号"
        if row["案号"] not in known:
            delta_rows.append({**row, "操作类型": "新增"})
    delta = write_csv(out / "失信被执行人-增量.csv", [*COURT_HEADERS, "操作类型"], delta_rows)
    second = sync.sync_list(session, actor=actor, list_code="court_dishonest_debtor", path=delta, mode="delta")
    summary["court_dishonest_debtor"] = {
        "snapshot": {"added": first.added, "review_queued": first.review_queued},
        "delta": {
            "added": second.added,
            "changed": second.changed,
            "removed": second.removed,
            "review_queued": second.review_queued,
        },
        "files": [snapshot.name, delta.name],
    }
    summary["checks"] = _checks(session, rng=rng, orgs=orgs, today=today, n=checks)
    summary["domain_lists"] = _domain_entries(session, actor=actor, orgs=orgs, people=people, today=today)
    return summary
