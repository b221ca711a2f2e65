"""A tender history for the demo city and the bidder benchmark, with planted collusion rings and innocent
look-alikes, so that both recall and precision of the red flags can be shown.

Planted rings (the truth is the set of tenders they took part in):
- ``contact``: bids prepared by one agent — members share a phone or the bidding computer's IP, prices agreed
  within a fraction of a percent;
- ``ladder``: four or five firms rotate the wins; the losers' bids climb from the winner's in equal steps;
- ``cover``: a dominant firm and two or three shell companies of one person (same legal representative) that only
  ever bid against it and lose;
- ``subtle``: a rotating group that shares nothing and prices independently — expected to be missed (medium risk
  at most), which keeps the recall figure honest.
Innocent look-alikes: subsidiaries of one group sharing the group's address and its parent as shareholder (and
sometimes bidding in the same tender), frequent honest losers who bid a lot and rarely win, and standard goods
whose honest prices cluster.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xinyong.analytics import trading
from xinyong.analytics.collusion import precision_recall
from xinyong.auth.roles import Principal
from xinyong.core import clock
from xinyong.identifiers import uscc
from xinyong.subjects.models import Subject

SEED = 20190501
CATEGORIES = ("工程", "货物", "服务")
PROJECTS = {
    "工程": ("道路改造工程", "排水管网工程", "校舍维修工程", "污水处理站建设工程", "农田水利工程"),
    "货物": ("办公设备采购", "医疗设备采购", "教学设备采购", "环卫车辆采购", "应急物资采购"),
    "服务": ("物业管理服务", "保洁服务", "监理服务", "造价咨询服务", "信息系统运维服务"),
}
TENDERERS = (
    "沁阳市住房和城乡建设局",
    "沁阳市教育局",
    "沁阳市人民医院",
    "沁阳市城市管理局",
    "沁阳市水利局",
    "沁阳市卫生健康委员会",
)


@dataclass
class Company:
    name: str
    uscc: str
    legal_rep: str
    address: str
    phone: str
    shareholders: list[str] = field(default_factory=list)
    in_registry: bool = False


@dataclass
class TradingData:
    tenders: list[dict[str, Any]]
    bids: list[dict[str, Any]]
    awards: list[dict[str, Any]]
    bidders: list[dict[str, Any]]
    truth: set[str]  # project numbers of tenders where a planted ring colluded
    planted: dict[str, Any]


class _Gen:
    def __init__(self, seed: int, companies: list[Company] | None) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.given = list(companies or [])
        self.used: set[str] = set()

    def phone(self) -> str:
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10**8, 10**9)}"

    def ip(self) -> str:
        return f"{self.rng.randint(36, 223)}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"

    def company(self) -> Company:
        while self.given:
            c = self.given.pop()
            if c.uscc not in self.used:
                self.used.add(c.uscc)
                return c
        while True:
            code = uscc.make(
                authority="9",
                category="1",
                region="410882",
                org_body="MA" + "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(6)),
            )
            if code not in self.used:
                self.used.add(code)
                break
        return Company(
            f"沁阳市{self.fake.company_prefix()}{self.rng.choice(('建设', '科技', '商贸', '工程', '服务'))}"
            f"{self.rng.randrange(1, 999)}有限公司",
            code,
            self.fake.name(),
            f"沁阳市{self.fake.street_name()}{self.rng.randrange(1, 300)}号",
            self.phone(),
        )


def generate(
    *,
    tenders: int,
    seed: int = SEED,
    companies: list[Company] | None = None,
    start: dt.date = dt.date(2023, 1, 2),
    days: int = 1095,
) -> TradingData:
    """A tender history of about ``tenders`` tenders (≈6 bids each) with rings and look-alikes planted."""
    g = _Gen(seed, companies)
    rng = g.rng
    pool_size = max(40, tenders // 12)
    pools = {c: [g.company() for _ in range(pool_size)] for c in CATEGORIES}
    # Look-alikes: groups of subsidiaries sharing the group's address and parent shareholder.
    groups = []
    for i in range(max(2, tenders // 300)):
        cat = CATEGORIES[i % 3]
        members = rng.sample(pools[cat], 3)
        parent = f"河南{g.fake.company_prefix()}控股集团有限公司"
        address = f"沁阳市{g.fake.street_name()}{rng.randrange(1, 300)}号集团大厦"
        for m in members:
            m.address, m.shareholders = address, [parent]
        groups.append(members)
    frequent_losers = {c.uscc for cat in CATEGORIES for c in rng.sample(pools[cat], max(2, pool_size // 25))}
    out_tenders: list[dict[str, Any]] = []
    bids: list[dict[str, Any]] = []
    awards: list[dict[str, Any]] = []
    truth: set[str] = set()
    serial = 0

    def tender(cat: str) -> tuple[str, int, dt.date]:
        nonlocal serial
        serial += 1
        opened = start + dt.timedelta(days=rng.randrange(days))
        no = f"QYGGZY-{opened.year}-{cat_code(cat)}{serial:06d}"
        budget = rng.randrange(200_000, 20_000_000) // 1000 * 1000
        out_tenders.append(
            {
                "项目编号": no,
                "项目名称": f"沁阳市{rng.choice(('城区', '开发区', '紫陵镇', '西向镇', '柏香镇'))}"
                f"{rng.choice(PROJECTS[cat])}",
                "招标人": rng.choice(TENDERERS),
                "项目类别": cat,
                "预算金额(元)": budget,
                "开标时间": opened.isoformat(),
            }
        )
        return no, budget, opened

    def bid(
        no: str,
        c: Company,
        price: float,
        opened: dt.date,
        *,
        phone: str | None = None,
        ip: str | None = None,
        legal_rep: str | None = None,
    ) -> None:
        omit_registry = c.in_registry and rng.random() < 0.5  # the registry fills legal rep / address for these
        bids.append(
            {
                "项目编号": no,
                "投标人名称": c.name,
                "投标人统一社会信用代码": c.uscc,
                "投标报价(元)": f"{price:.2f}",
                "投标时间": f"{opened.isoformat()} 0{rng.randint(8, 9)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                "联系人": g.fake.name(),
                "联系电话": phone or c.phone,
                "法定代表人": "" if omit_registry and legal_rep is None else (legal_rep or c.legal_rep),
                "地址": "" if omit_registry and not c.shareholders else c.address,
                "投标IP": ip or g.ip(),
            }
        )

    def award(no: str, c: Company, price: float, opened: dt.date) -> None:
        awards.append(
            {
                "项目编号": no,
                "中标人名称": c.name,
                "中标人统一社会信用代码": c.uscc,
                "中标金额(元)": f"{price:.2f}",
                "中标日期": (opened + dt.timedelta(days=rng.randint(3, 10))).isoformat(),
            }
        )

    def honest_prices(n: int, budget: int, spread: float = 0.15) -> list[float]:
        return [round(budget * rng.uniform(1 - spread, 0.995), 2) for _ in range(n)]

    def outsiders(cat: str, exclude: set[str], n: int) -> list[Company]:
        return [c for c in rng.sample(pools[cat], n + len(exclude)) if c.uscc not in exclude][:n]

    # Rings -----------------------------------------------------------------------------------------------------
    n_rings = max(4, tenders // 250)
    kinds = ["contact", "ladder", "cover", "subtle"]
    planted: dict[str, Any] = {"rings": [], "lookalike_groups": len(groups), "frequent_losers": len(frequent_losers)}
    ring_tenders = 0
    for r in range(n_rings):
        kind = kinds[r % 4] if r < 8 else rng.choice(kinds[:3] * 3 + ["subtle"])
        cat = rng.choice(CATEGORIES)
        size = {"contact": rng.randint(3, 4), "ladder": rng.randint(4, 5), "cover": rng.randint(3, 4), "subtle": 4}[
            kind
        ]
        members = [g.company() for _ in range(size)]
        keys = {m.uscc for m in members}
        shared_phone, shared_ip = g.phone(), g.ip()
        shell_owner = g.fake.name()
        count = rng.randint(6, 10)
        window_start = rng.randrange(max(1, days - 400))
        for k in range(count):
            no, budget, _ = tender(cat)
            opened = start + dt.timedelta(days=window_start + rng.randrange(365))
            out_tenders[-1]["开标时间"] = opened.isoformat()
            truth.add(no)
            ring_tenders += 1
            others = outsiders(cat, keys, rng.randint(1, 3))
            winner = members[k % size] if kind in ("ladder", "subtle") else members[0]
            low = budget * rng.uniform(0.86, 0.9)
            for o, p in zip(others, honest_prices(len(others), budget, 0.07), strict=True):
                bid(no, o, p, opened)
            if kind == "contact":
                use_ip = r % 2 == 0
                for m in members:
                    bid(
                        no,
                        m,
                        round(low * (1 + abs(rng.gauss(0, 0.002))), 2),
                        opened,
                        ip=shared_ip if use_ip else None,
                        phone=None if use_ip else shared_phone,
                    )
                price = min(float(b["投标报价(元)"]) for b in bids[-size:])
                winner = next(
                    m for m, b in zip(members, bids[-size:], strict=True) if float(b["投标报价(元)"]) == price
                )
                award(no, winner, price, opened)
            elif kind == "ladder":
                step = round(budget * rng.uniform(0.004, 0.008))
                losers = [m for m in members if m is not winner]
                bid(no, winner, round(low, 2), opened)
                for i, m in enumerate(losers, 1):
                    bid(no, m, round(low + i * step, 2), opened)
                award(no, winner, round(low, 2), opened)
            elif kind == "cover":
                bid(no, winner, round(low, 2), opened)
                for m in members[1:]:
                    bid(no, m, round(low * rng.uniform(1.03, 1.08), 2), opened, legal_rep=shell_owner)
                award(no, winner, round(low, 2), opened)
            else:
                bid(no, winner, round(low, 2), opened)
                for m in members:
                    if m is not winner:
                        bid(no, m, round(budget * rng.uniform(0.91, 0.99), 2), opened)
                award(no, winner, round(low, 2), opened)
        planted["rings"].append({"kind": kind, "members": [m.name for m in members], "tenders": count})
    # Honest tenders --------------------------------------------------------------------------------------------
    while len(out_tenders) < tenders:
        cat = rng.choice(CATEGORIES)
        no, budget, opened = tender(cat)
        n = rng.randint(3, 9)
        chosen = rng.sample(pools[cat], n)
        if rng.random() < 0.08:  # two subsidiaries of one group bid for the same tender, honestly
            group = rng.choice([grp for grp in groups if grp[0] in pools[cat]] or groups)
            chosen = [c for c in chosen if c not in group][: n - 2] + group[:2]
        spread = 0.02 if cat == "货物" and rng.random() < 0.1 else 0.15  # standard goods: prices cluster
        prices = honest_prices(len(chosen), budget, spread)
        for c, p in zip(chosen, prices, strict=True):
            bid(no, c, p * (1.12 if c.uscc in frequent_losers else 1.0), opened)
        ranked = sorted(
            zip(prices, chosen, strict=True), key=lambda pc: pc[0] * (1.12 if pc[1].uscc in frequent_losers else 1)
        )
        p, w = ranked[0] if rng.random() < 0.8 else rng.choice(ranked)
        award(no, w, p * (1.12 if w.uscc in frequent_losers else 1.0), opened)
    planted["ring_tenders"] = ring_tenders
    everyone = {c.uscc: c for cat in CATEGORIES for c in pools[cat]}
    bidders = [
        {"投标人名称": c.name, "投标人统一社会信用代码": c.uscc, "股东": "；".join(c.shareholders)}
        for c in everyone.values()
        if c.shareholders
    ]
    return TradingData(out_tenders, bids, awards, bidders, truth, planted)


def cat_code(cat: str) -> str:
    return {"工程": "GC", "货物": "HW", "服务": "FW"}[cat]


def write_files(data: TradingData, directory: Path) -> dict[str, Path]:
    """The trading centre's export: four UTF-8 CSV files with Chinese headers (the documented formats)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, rows in (
        ("tenders", data.tenders),
        ("bids", data.bids),
        ("awards", data.awards),
        ("bidders", data.bidders),
    ):
        path = directory / f"trading-{kind}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
        out[kind] = path
    return out


def import_files(session: Session, *, actor: Principal, files: dict[str, Path]) -> dict[str, Any]:

    return {
        kind: trading.import_file(session, actor=actor, kind=kind, path=files[kind])
        for kind in ("tenders", "bids", "awards", "bidders")
    }


def evaluate(flagged_high: set[str], data: TradingData) -> dict[str, Any]:

    return precision_recall(flagged_high, data.truth)


def _spot_checks(session: Session, rng: random.Random, path: Path, today: dt.date) -> int:

    food = list(
        session.execute(
            select(Subject.name, Subject.uscc)
            .where(
                Subject.uscc.is_not(None),
                or_(
                    *(
                        Subject.name.like(f"%{w}%")
                        for w in ("食品", "餐饮", "超市", "药店", "医药", "农产品", "副食", "烩面", "小吃")
                    )
                ),
            )
            .order_by(Subject.id)
            .limit(400)
        )
    )
    if not food:
        return 0
    repeat = set(rng.sample(range(len(food)), min(4, len(food))))
    rows = []
    for i in range(len(food) * 2):
        idx = rng.randrange(len(food))
        name, code = food[idx]
        drug = any(w in name for w in ("药", "医"))
        failed = rng.random() < (0.6 if idx in repeat else 0.05)
        rows.append(
            {
                "抽样编号": f"SC{today.year}{i:06d}",
                "被抽样单位名称": name,
                "统一社会信用代码": code,
                "产品名称": rng.choice(
                    ("阿莫西林胶囊", "板蓝根颗粒") if drug else ("小麦粉", "食用植物油", "糕点", "酱油", "熟肉制品")
                ),
                "类别": "药品" if drug else "食品",
                "抽样日期": (today - dt.timedelta(days=rng.randrange(900))).isoformat(),
                "检验结论": "不合格" if failed else "合格",
                "不合格项目": rng.choice(("菌落总数", "苯甲酸及其钠盐", "含量测定", "铅(以Pb计)")) if failed else "",
                "抽检部门": "沁阳市市场监督管理局",
            }
        )
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def build(session: Session, *, actor: Principal, workdir: Path, scale: float = 1.0) -> dict[str, Any]:
    """The demo city's tender history (bidders from the registry) and food/drug spot checks, imported through the
    real paths, and a first collusion analysis with its precision and recall on the planted rings."""

    rng = random.Random(SEED)
    rows = session.execute(
        select(Subject.name, Subject.uscc, Subject.legal_rep, Subject.address)
        .where(
            Subject.kind == "legal_person",
            Subject.org_type == "enterprise",
            Subject.uscc.is_not(None),
            Subject.legal_rep.is_not(None),
        )
        .order_by(Subject.id)
        .limit(3000)
    ).all()
    companies = [
        Company(n, c, rep, addr or "", f"1{rng.choice('3456789')}{rng.randrange(10**8, 10**9)}", in_registry=True)
        for n, c, rep, addr in rows
    ]
    rng.shuffle(companies)
    data = generate(tenders=max(120, int(1200 * scale)), companies=companies)
    files = write_files(data, workdir / "trading")
    imports = import_files(session, actor=actor, files=files)
    run = trading.run_analysis(session, actor=actor)
    high = {t["project_no"] for t in run.tenders if t["level"] == "high"}
    spot = workdir / "trading" / "food-drug-spot-checks.csv"
    checks = _spot_checks(session, rng, spot, clock.today())
    if checks:
        trading.import_file(session, actor=actor, kind="spot_checks", path=spot)
    return {
        "tenders": len(data.tenders),
        "bids": len(data.bids),
        "rings": len(data.planted["rings"]),
        "ring_tenders": len(data.truth),
        "flagged_high": len(high),
        "quality": evaluate(high, data),
        "imports": {k: v["rows"] for k, v in imports.items()},
        "spot_checks": checks,
    }
