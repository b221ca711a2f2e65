"""A deterministic synthetic county-level city (沁阳市, 410882) for demos, tests and benchmarks.

Everything comes from a fixed seed, so two builds are identical. The registry is written as a market
regulator's export file (with the data-quality problems real exports have: invalid codes, duplicate codes,
legacy subjects without a USCC) and loaded through the real import path, so the demo shows the real report.
Later capabilities (records, lists, cases …) add their own generators here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.roles import Principal, Role
from xinyong.catalog import service as catalog
from xinyong.core import clock
from xinyong.demo import cases as demo_cases
from xinyong.demo import evaluation as demo_evaluation
from xinyong.demo import exchange as demo_exchange
from xinyong.demo import financing as demo_financing
from xinyong.demo import lists as demo_lists
from xinyong.demo import records as demo_records
from xinyong.demo import related as demo_related
from xinyong.demo import trading as demo_trading
from xinyong.identifiers import resident_id, uscc
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject

SEED = 20190430  # the city plan's date
REGION = "410882"  # 沁阳市
PREFECTURE = "410800"  # 焦作市
TOWNSHIPS = [
    "覃怀街道",
    "怀庆街道",
    "太行街道",
    "沁园街道",
    "崇义镇",
    "西向镇",
    "西万镇",
    "柏香镇",
    "山王庄镇",
    "紫陵镇",
    "王曲乡",
    "王召乡",
    "常平乡",
]
INDUSTRIES = [
    "机械制造",
    "建材",
    "化工",
    "食品",
    "纺织",
    "建筑工程",
    "物流",
    "商贸",
    "农业科技",
    "医药",
    "餐饮管理",
    "旅游开发",
    "电子科技",
    "环保科技",
    "新材料",
    "汽车配件",
    "铝业",
    "造纸",
    "房地产开发",
    "物业管理",
    "劳务",
    "教育咨询",
    "信息技术",
    "印刷",
    "农产品",
]
LEGAL_FORMS = ["有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司", "实业有限公司"]
SHOPS = [
    "小吃店",
    "超市",
    "五金店",
    "理发店",
    "副食店",
    "家电维修部",
    "服装店",
    "烩面馆",
    "药店",
    "农资店",
    "快递服务部",
    "汽车修理部",
    "建材经营部",
    "水果店",
    "茶叶店",
]
PROFESSIONS = [
    ("lawyer", "律师"),
    ("doctor", "医师"),
    ("teacher", "教师"),
    ("civil_servant", "公务员"),
    ("tour_guide", "导游"),
    ("pharmacist", "执业药师"),
    ("accountant", "会计人员"),
    ("legal_rep", "企业法定代表人"),
    ("tax_agent", "税务师"),
    ("valuer", "评估师"),
    ("fire_engineer", "注册消防工程师"),
    ("estate_agent", "房地产中介从业人员"),
    ("certifier", "认证人员"),
    ("finance", "金融从业人员"),
]

#: The city's departments: (code, name, category of their USCC: 11 机关 / 12 事业单位).
DEPARTMENTS = [
    ("fgw", "沁阳市发展和改革委员会", "11"),
    ("scjgj", "沁阳市市场监督管理局", "11"),
    ("swj", "国家税务总局沁阳市税务局", "11"),
    ("zjj", "沁阳市住房和城乡建设局", "11"),
    ("sthjj", "焦作市生态环境局沁阳分局", "11"),
    ("wjw", "沁阳市卫生健康委员会", "11"),
    ("rsj", "沁阳市人力资源和社会保障局", "11"),
    ("jtj", "沁阳市交通运输局", "11"),
    ("wlj", "沁阳市文化广电和旅游局", "11"),
    ("yjj", "沁阳市应急管理局", "11"),
    ("mzj", "沁阳市民政局", "11"),
    ("sfj", "沁阳市司法局", "11"),
    ("czj", "沁阳市财政局", "11"),
    ("fy", "沁阳市人民法院", "11"),
    ("ggzy", "沁阳市公共资源交易中心", "12"),
    ("ybj", "沁阳市医疗保障局", "11"),
    # issue #18: the supervisors of key professions the list above lacks (公务员 组织部, 教师 教育局, 金融从业人员)
    ("zzb", "中共沁阳市委组织部", "11"),
    ("jyj", "沁阳市教育局", "11"),
    ("jrb", "沁阳市金融工作服务中心", "12"),
]


@dataclass
class DemoSize:
    legal_persons: int = 20_000
    individual_businesses: int = 3_000
    natural_persons: int = 5_000

    @classmethod
    def scaled(cls, legal_persons: int) -> DemoSize:
        return cls(legal_persons, max(1, legal_persons * 3 // 20), max(1, legal_persons // 4))


class _Codes:
    """Unique, valid organisation bodies and USCCs from a seeded RNG."""

    ALNUM = "0123456789ABCDEFGHJKLMNPQRTUWXY"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def org_body(self) -> str:
        while True:
            # Codes assigned since 2015 start with MA (市场监管) as real ones do; older ones are numeric.
            if self.rng.random() < 0.7:
                body = "MA" + "".join(self.rng.choice(self.ALNUM) for _ in range(6))
            else:
                body = "".join(self.rng.choice("0123456789") for _ in range(8))
            if body not in self.used:
                self.used.add(body)
                return body

    def uscc(self, authority: str, category: str, region: str = REGION) -> str:
        return uscc.make(authority=authority, category=category, region=region, org_body=self.org_body())


#: Characters of shop names (字号) as they are commonly chosen.
TRADE_CHARS = (
    "宏达鑫盛华瑞丰源恒泰金利永兴昌隆福祥嘉和中天宇博创新远航康宁怀沁覃神农太行山河润德信诚聚汇邦凯旭晨星"
    "东方明光辉正大通安顺吉豪佳益鼎晟锦亿万福海龙腾飞跃腾峰岳林森茂乐欣悦阳春秋"
)


def _company_name(rng: random.Random, taken: set[str]) -> str:
    """A plausible, unique company name: place + 字号 (2 characters, 3 once the 2-character ones crowd) + trade + form."""
    length = 2
    for attempt in range(1000):
        if attempt and attempt % 20 == 0:
            length += 1
        place = "沁阳市" if rng.random() < 0.8 else "焦作市"
        trade = "".join(rng.choice(TRADE_CHARS) for _ in range(length))
        name = f"{place}{trade}{rng.choice(INDUSTRIES)}{rng.choice(LEGAL_FORMS)}"
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError("could not find a unique company name")


def write_registry_export(path: Path, size: DemoSize, *, seed: int = SEED) -> dict[str, int]:
    """The market regulator's export of the city's registry, as a GB18030 CSV like real exports.

    Returns the counts of deliberately planted problems, so tests can check the import report finds them.
    """
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    codes = _Codes(rng)
    taken: set[str] = set()
    planted = {"invalid_check": 0, "duplicate_code": 0, "without_uscc": 0}
    header = [
        "统一社会信用代码",
        "企业名称",
        "注册号",
        "组织机构代码",
        "法定代表人",
        "企业类型",
        "成立日期",
        "登记状态",
        "住所",
        "登记机关",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    start = dt.date(1995, 1, 1)
    with path.open("w", newline="", encoding="gb18030") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        mix = [
            ("9", "1", "有限责任公司", 0.86),
            ("9", "3", "农民专业合作社", 0.04),
            ("1", "2", "事业单位", 0.03),
            ("5", "1", "社会团体", 0.02),
            ("5", "2", "民办非企业单位", 0.02),
            ("N", "2", "村级集体经济组织", 0.02),
            ("5", "3", "基金会", 0.002),
            ("1", "1", "机关", 0.008),
        ]
        weights = [m[3] for m in mix]
        last_code = None
        for _ in range(size.legal_persons):
            authority, category, label, _ = rng.choices(mix, weights)[0]
            code = codes.uscc(authority, category)
            if label == "农民专业合作社":
                name = f"沁阳市{rng.choice(TOWNSHIPS)}{fake.last_name()}{rng.choice(['种植', '养殖', '农机', '蔬菜'])}专业合作社"
            elif label == "村级集体经济组织":
                name = f"沁阳市{rng.choice(TOWNSHIPS)}{fake.last_name()}庄村股份经济合作社"
            elif label in ("社会团体", "民办非企业单位", "基金会"):
                name = f"沁阳市{rng.choice(INDUSTRIES)}{rng.choice(['协会', '商会', '培训学校', '服务中心', '促进会'])}"
            else:
                name = _company_name(rng, taken)
            registered = start + dt.timedelta(days=rng.randrange(0, 30 * 365 - 400))
            reg_no = ""
            if registered.year < 2015 and authority == "9":
                reg_no = f"{REGION}{rng.randrange(10**8, 10**9)}"
            org = code[8:17]
            org_display = f"{org[:8]}-{org[8]}" if rng.random() < 0.5 else org
            status = rng.choices(["存续", "在业", "吊销", "注销"], [0.82, 0.1, 0.04, 0.04])[0]
            roll = rng.random()
            if roll < 0.002:  # a typo in the check digit
                bad = code[:17] + ("0" if code[17] != "0" else "1")
                code_out = bad
                planted["invalid_check"] += 1
            elif roll < 0.003 and last_code:  # 重码: another subject exported with the previous row's code
                code_out = last_code
                planted["duplicate_code"] += 1
            elif roll < 0.006 and reg_no:  # legacy subject still without a USCC
                code_out = ""
                org_display = ""
                planted["without_uscc"] += 1
            else:
                code_out = code
            last_code = code if code_out == code else None
            w.writerow(
                [
                    code_out,
                    name,
                    reg_no,
                    org_display,
                    fake.name(),
                    label,
                    registered.isoformat(),
                    status,
                    f"沁阳市{rng.choice(TOWNSHIPS)}{fake.street_name()}{rng.randrange(1, 300)}号",
                    "沁阳市市场监督管理局",
                ]
            )
        for _ in range(size.individual_businesses):
            code = codes.uscc("9", "2")
            owner = fake.name()
            registered = start + dt.timedelta(days=rng.randrange(15 * 365, 30 * 365 - 400))
            w.writerow(
                [
                    code,
                    f"沁阳市{rng.choice(TOWNSHIPS)}{owner}{rng.choice(SHOPS)}",
                    "",
                    "",
                    owner,
                    "个体工商户",
                    registered.isoformat(),
                    rng.choices(["存续", "注销"], [0.9, 0.1])[0],
                    f"沁阳市{rng.choice(TOWNSHIPS)}{fake.street_name()}{rng.randrange(1, 300)}号",
                    "沁阳市市场监督管理局",
                ]
            )
    return planted


def persons(size: DemoSize, *, seed: int = SEED) -> list[tuple[str, str, str]]:
    """(name, resident ID, profession) of the natural persons in key professions."""
    rng = random.Random(seed + 1)
    fake = Faker("zh_CN")
    fake.seed_instance(seed + 1)
    out: list[tuple[str, str, str]] = []
    used: set[str] = set()
    while len(out) < size.natural_persons:
        birth = dt.date(1955, 1, 1) + dt.timedelta(days=rng.randrange(0, 45 * 365))
        number = resident_id.make(region=REGION, birth_date=birth, sequence=rng.randrange(0, 1000))
        if number in used:
            continue
        used.add(number)
        out.append((fake.name(), number, rng.choice(PROFESSIONS)[0]))
    return out


def department_uscc(index: int, category: str) -> str:
    """A stable code for the index-th department (8-digit organisation body, checks computed)."""
    return uscc.make(authority="1", category=category, region=REGION, org_body=f"{41088200 + index * 7:08d}")


def build_departments(session: Session, *, actor: Principal) -> dict[str, Any]:
    """Departments, one operator and one viewer each, an admin, a business system and a bank; with credentials."""

    password = "Xinyong2026demo"
    creds: dict[str, Any] = {"password": password, "users": [], "tokens": []}
    admin = auth.create_user(
        session, actor=actor, username="admin", password=password, role=Role.ADMIN, display_name="信用办管理员"
    )
    creds["users"].append({"username": admin.username, "role": "admin", "department": None})
    for i, (code, name, category) in enumerate(DEPARTMENTS, 1):
        dept = auth.create_department(session, actor=actor, code=code, name=name, uscc=department_uscc(i, category))
        for role, suffix in ((Role.DEPT_OPERATOR, "op"), (Role.DEPT_VIEWER, "view")):
            user = auth.create_user(
                session,
                actor=actor,
                username=f"{code}_{suffix}",
                password=password,
                role=role,
                department_id=dept.id,
                display_name=f"{name}{'操作员' if suffix == 'op' else '查看员'}",
            )
            creds["users"].append({"username": user.username, "role": role.value, "department": code})
        if code in ("ggzy", "czj", "zjj"):
            _, raw = auth_tokens.create_token(
                session, actor=actor, name=f"{name}业务系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id
            )
            creds["tokens"].append(
                {"name": f"{name}业务系统", "role": "business_system", "department": code, "token": raw}
            )
        if code == "scjgj":
            _, raw = auth_tokens.create_token(
                session, actor=actor, name="市场监管局数据报送", role=Role.DEPT_OPERATOR, department_id=dept.id
            )
            creds["tokens"].append(
                {"name": "市场监管局数据报送", "role": "dept_operator", "department": code, "token": raw}
            )
    bank = auth.create_user(
        session,
        actor=actor,
        username="bank_demo",
        password=password,
        role=Role.BANK,
        display_name="信易贷客户经理",
        organisation="沁阳农村商业银行",
    )
    creds["users"].append({"username": bank.username, "role": "bank", "department": None})
    _, raw = auth_tokens.create_token(session, actor=actor, name="平台管理令牌", role=Role.ADMIN)
    creds["tokens"].append({"name": "平台管理令牌", "role": "admin", "department": None, "token": raw})
    return creds


#: The steps of :func:`build`, in order, as ``progress`` announces them (``xinyong demo`` shows them on a terminal).
BUILD_STEPS = (
    "目录与部门",
    "法人登记库",
    "自然人",
    "双公示记录",
    "其他信息类别",
    "信用名单",
    "关联人员",
    "重点职业与政务诚信",
    "公共资源交易",
    "异议与信用修复案件",
    "信易贷",
    "新闻与红黑榜发布",
    "信用评价",
)


def build(
    session: Session,
    *,
    actor: Principal,
    workdir: Path,
    size: DemoSize | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build the whole demo city in the caller's transaction. Returns credentials and the import report.

    ``progress`` is called with each step's name (:data:`BUILD_STEPS`) as it starts."""

    def step(name: str) -> None:
        assert name in BUILD_STEPS
        if progress is not None:
            progress(name)

    size = size or DemoSize()
    step("目录与部门")
    catalog.seed_catalog(session, actor=actor)
    creds = build_departments(session, actor=actor)
    step("法人登记库")
    export = workdir / "registry-export.csv"
    planted = write_registry_export(export, size)
    report = subjects.import_registry(session, actor=actor, path=export)
    step("自然人")
    people = persons(size)
    registered = subjects.bulk_register_persons(session, actor=actor, persons=people, source="demo:重点职业人群")

    step("双公示记录")
    submissions = demo_records.build(
        session, actor=actor, workdir=workdir, persons=people, scale=size.legal_persons / DemoSize().legal_persons
    )

    step("其他信息类别")
    from xinyong.demo import classes as demo_classes

    orgs = session.execute(
        select(Subject.uscc, Subject.name, Subject.legal_rep)
        .where(Subject.uscc.is_not(None), Subject.kind != "natural_person")
        .order_by(Subject.id)
        .limit(2_000)
    ).all()
    classes_summary = demo_classes.build(
        session,
        actor=actor,
        organisations=[demo_classes.Party(name, uscc=code, legal_rep=rep) for code, name, rep in orgs],
        persons=[demo_classes.Party(name, id_number=number) for name, number, _ in people[:200]],
        today=clock.today(),
    )

    step("信用名单")
    lists_summary = demo_lists.build(session, actor=actor, workdir=workdir, persons=people)
    step("关联人员")
    related_summary = demo_related.build(session, actor=actor, persons=people, today=clock.today())

    step("重点职业与政务诚信")
    from xinyong.demo import professions as demo_professions

    professions_summary = demo_professions.build(
        session, actor=actor, workdir=workdir, persons=people, today=clock.today()
    )

    step("公共资源交易")
    trading_summary = demo_trading.build(
        session, actor=actor, workdir=workdir, scale=size.legal_persons / DemoSize().legal_persons
    )

    step("异议与信用修复案件")
    cases_summary = demo_cases.build(session, actor=actor, today=clock.today())

    step("信易贷")
    financing_summary = demo_financing.build(session, actor=actor, creds=creds)
    step("新闻与红黑榜发布")
    from xinyong.demo import publications as demo_publications

    publications_summary = demo_publications.build(session, actor=actor, today=clock.today())
    summary = {
        "size": size.__dict__,
        "lists": lists_summary,
        "related_persons": related_summary,
        "professions": professions_summary,
        "trading": trading_summary,
        "cases": cases_summary,
        "financing": financing_summary,
        "publications": publications_summary,
        "registry_import": {
            k: report[k]
            for k in ("rows", "created", "rejected", "duplicate_rows", "uscc_conversion_rate", "problem_counts")
        },
        "planted_problems": planted,
        "natural_persons": registered,
        "submissions": submissions,
        "other_classes": classes_summary,
    }

    step("信用评价")
    summary["evaluation"] = demo_evaluation.build(session, actor=actor)  # models run on the city's data
    summary["province"] = demo_exchange.build_province(session, actor=actor, today=clock.today())
    summary["exchange"] = demo_exchange.build(session)  # the feed "pushed" to the province, a few rows rejected
    creds["summary"] = summary
    (workdir / "demo-credentials.json").write_text(json.dumps(creds, ensure_ascii=False, indent=2))
    return creds
