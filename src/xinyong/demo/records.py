"""Three years of licences and penalties (双公示) for the demo city, submitted the way departments do.

Each department reports weekly (its decisions of Monday–Friday, received the next Monday), in its own format:
some send the Chinese column names of the current standard, others the coded names (CF_*/XK_*). A share of
rows is late (a backlog sent weeks after the decision; one department is notably sloppy) and a small share is
erroneous (bad check digits, impossible dates, negative fines, unknown penalty types), so batch reports, error
downloads and the timeliness ranking have something to show. Everything goes through the real ingest path.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.ingest import service as ingest
from xinyong.ingest.standards import FIELDS
from xinyong.records.inputs import RecordKind
from xinyong.subjects.models import Subject

SEED = 20190417
PENALISED_PROFESSIONS = frozenset({"doctor", "tour_guide"})


@dataclass(frozen=True)
class Profile:
    """How one department decides and reports."""

    code: str
    abbr: str  # in document numbers: 沁市监罚〔2025〕12号
    coded: bool  # sends CF_*/XK_* column names
    penalties_per_week: float
    licences_per_week: float
    late_share: float
    error_share: float
    violations: tuple[tuple[str, str, str, tuple[str, ...]], ...]  # (type, facts, basis, penalty types)
    licences: tuple[tuple[str, str, str], ...]  # (title, certificate, content)
    persons: bool = False  # also penalises natural persons in key professions


PROFILES = (
    Profile(
        "scjgj",
        "沁市监",
        False,
        6,
        10,
        0.03,
        0.02,
        (
            (
                "违反《中华人民共和国食品安全法》第三十四条",
                "经营超过保质期的食品",
                "《中华人民共和国食品安全法》第一百二十四条",
                ("警告", "罚款"),
            ),
            (
                "违反《中华人民共和国产品质量法》第三十二条",
                "销售以次充好的产品",
                "《中华人民共和国产品质量法》第五十条",
                ("罚款", "没收违法所得"),
            ),
            ("违反《中华人民共和国广告法》第二十八条", "发布虚假广告", "《中华人民共和国广告法》第五十五条", ("罚款",)),
            ("违反《中华人民共和国价格法》第十四条", "未明码标价", "《价格违法行为行政处罚规定》第十三条", ("警告",)),
        ),
        (
            ("食品经营许可决定书", "食品经营许可证", "预包装食品销售（含冷藏冷冻食品）"),
            ("食品生产许可决定书", "食品生产许可证", "糕点、速冻食品生产"),
        ),
    ),
    Profile(
        "swj",
        "沁税",
        True,
        4,
        0,
        0.02,
        0.01,
        (
            (
                "违反《中华人民共和国税收征收管理法》第二十五条",
                "未按照规定期限办理纳税申报",
                "《中华人民共和国税收征收管理法》第六十二条",
                ("罚款",),
            ),
            (
                "违反《中华人民共和国发票管理办法》第二十二条",
                "虚开增值税普通发票",
                "《中华人民共和国发票管理办法》第三十五条",
                ("罚款", "没收违法所得"),
            ),
        ),
        (),
    ),
    Profile(
        "zjj",
        "沁建",
        False,
        1.5,
        3,
        0.05,
        0.03,
        (
            (
                "违反《建设工程质量管理条例》第二十八条",
                "未按照工程设计图纸施工",
                "《建设工程质量管理条例》第六十四条",
                ("罚款", "责令停产停业"),
            ),
            (
                "违反《建筑工程施工许可管理办法》第三条",
                "未取得施工许可证擅自施工",
                "《建筑工程施工许可管理办法》第十二条",
                ("罚款",),
            ),
        ),
        (("建筑工程施工许可决定书", "建筑工程施工许可证", "住宅楼建设工程施工"),),
    ),
    Profile(
        "sthjj",
        "焦环沁",
        True,
        1.5,
        1,
        0.04,
        0.02,
        (
            (
                "违反《中华人民共和国大气污染防治法》第四十八条",
                "未采取措施控制无组织排放",
                "《中华人民共和国大气污染防治法》第一百零八条",
                ("罚款",),
            ),
            (
                "违反《中华人民共和国水污染防治法》第三十九条",
                "通过暗管排放水污染物",
                "《中华人民共和国水污染防治法》第八十三条",
                ("罚款", "责令停产停业"),
            ),
        ),
        (("排污许可决定书", "排污许可证", "废气、废水排放"),),
    ),
    Profile(
        "wjw",
        "沁卫",
        False,
        1,
        2,
        0.03,
        0.02,
        (
            (
                "违反《医疗机构管理条例》第二十四条",
                "使用非卫生技术人员从事医疗卫生技术工作",
                "《医疗机构管理条例》第四十七条",
                ("警告", "罚款"),
            ),
            (
                "违反《中华人民共和国医师法》第二十三条",
                "未按照注册的执业范围执业",
                "《中华人民共和国医师法》第五十七条",
                ("警告",),
            ),
        ),
        (("医疗机构执业许可决定书", "医疗机构执业许可证", "内科、外科诊疗科目"),),
        persons=True,
    ),
    Profile(
        "rsj",
        "沁人社",
        True,
        1,
        0.5,
        0.06,
        0.02,
        (
            (
                "违反《保障农民工工资支付条例》第十一条",
                "拖欠农民工工资",
                "《保障农民工工资支付条例》第五十四条",
                ("罚款",),
            ),
        ),
        (("人力资源服务许可决定书", "人力资源服务许可证", "职业中介活动"),),
    ),
    Profile(
        "jtj",
        "沁交",
        False,
        2,
        2,
        0.18,
        0.04,  # the sloppy one: late often
        (
            (
                "违反《中华人民共和国道路运输条例》第三十四条",
                "客运车辆不按批准的线路行驶",
                "《中华人民共和国道路运输条例》第七十条",
                ("罚款",),
            ),
            ("违反《道路货物运输及站场管理规定》第二十二条", "超限运输", "《公路安全保护条例》第六十四条", ("罚款",)),
        ),
        (("道路运输经营许可决定书", "道路运输经营许可证", "普通货运"),),
    ),
    Profile(
        "wlj",
        "沁文旅",
        True,
        0.5,
        0.5,
        0.03,
        0.02,
        (("违反《导游管理办法》第二十三条", "擅自变更旅游行程", "《旅游法》第一百条", ("警告", "罚款")),),
        (("旅行社业务经营许可决定书", "旅行社业务经营许可证", "国内旅游业务"),),
        persons=True,
    ),
    Profile(
        "yjj",
        "沁应急",
        True,
        1,
        0.5,
        0.04,
        0.02,
        (
            (
                "违反《中华人民共和国安全生产法》第四十一条",
                "未建立安全风险分级管控制度",
                "《中华人民共和国安全生产法》第一百零一条",
                ("罚款",),
            ),
        ),
        (("安全生产许可决定书", "安全生产许可证", "危险化学品经营"),),
    ),
)

PLANTED_ERRORS = (
    ("处罚决定日期", "2023-02-30"),
    ("罚款金额(万元)", "-2"),
    ("处罚类别", "打板子"),
    ("行政相对人代码_1(统一社会信用代码)", "91410882MA00000000"),
    ("行政处罚决定书文号", ""),
)
LICENCE_ERRORS = (("有效期至", "2019-13-01"), ("许可类别", "随便"), ("许可机关统一社会信用代码", "123"))


def _coded(kind: RecordKind, row: dict[str, Any]) -> dict[str, Any]:
    names = {f.zh: f.coded for f in FIELDS[kind] if f.zh and f.coded}
    return {names.get(k, k): v for k, v in row.items()}


def _mondays(start: dt.date, end: dt.date) -> list[dt.date]:
    day = start - dt.timedelta(days=start.weekday())
    out = []
    while day <= end:
        out.append(day)
        day += dt.timedelta(days=7)
    return out


def build(
    session: Session,
    *,
    actor: Principal,
    workdir: Path,
    persons: list[tuple[str, str, str]],
    scale: float = 1.0,
    today: dt.date | None = None,
    years: int = 3,
) -> dict[str, Any]:
    """Submit the departments' weekly batches of the last ``years`` years. Returns counts per department.

    ``persons``: the demo's (name, resident ID, profession); doctors and tour guides appear in penalties.
    """

    rng = random.Random(SEED)
    today = today or dt.date.today()
    depts = {d.code: d for d in session.scalars(select(Department))}
    orgs = session.execute(
        select(Subject.uscc, Subject.name, Subject.legal_rep, Subject.kind)
        .where(Subject.uscc.is_not(None))
        .order_by(Subject.id)
    ).all()
    people = [(name, number) for name, number, profession in persons if profession in PENALISED_PROFESSIONS][:500]
    counters: dict[tuple[str, int, str], int] = defaultdict(int)
    totals: dict[str, dict[str, int]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    start = today - dt.timedelta(days=365 * years)
    for profile in PROFILES:
        dept = depts.get(profile.code)
        if dept is None:
            continue
        authority_uscc = dept.uscc
        stats = {"batches": 0, "rows": 0, "accepted": 0, "rejected": 0, "late": 0}
        for monday in _mondays(start, today - dt.timedelta(days=7)):
            received = monday + dt.timedelta(days=7)
            for kind, per_week in (
                (RecordKind.PENALTY, profile.penalties_per_week),
                (RecordKind.LICENCE, profile.licences_per_week),
            ):
                n = _poisson(rng, per_week * scale)
                if n == 0:
                    continue
                rows = []
                for _ in range(n):
                    late = rng.random() < profile.late_share
                    decided = monday + dt.timedelta(days=rng.randrange(5))
                    if late:
                        decided -= dt.timedelta(days=rng.randrange(14, 60))
                    decided = max(decided, start)
                    year = decided.year
                    key = (profile.code, year, kind.value)
                    counters[key] += 1
                    doc = f"{profile.abbr}{'罚' if kind is RecordKind.PENALTY else '许'}〔{year}〕{counters[key]}号"
                    decision = _Decided(doc, decided, dept.name, authority_uscc)
                    row = (
                        _penalty(rng, profile, decision, orgs, people)
                        if kind is RecordKind.PENALTY
                        else _licence(rng, profile, decision, orgs)
                    )
                    if rng.random() < profile.error_share:
                        column, value = rng.choice(PLANTED_ERRORS if kind is RecordKind.PENALTY else LICENCE_ERRORS)
                        row[column] = value
                    rows.append(_coded(kind, row) if profile.coded else row)
                received_at = dt.datetime.combine(received, dt.time(9, rng.randrange(60)), tzinfo=dt.UTC)
                summary = ingest.ingest_rows(
                    session, actor=actor, department_id=dept.id, kind=kind, rows=rows, received_at=received_at
                )
                stats["batches"] += 1
                for k in ("rows", "accepted", "rejected", "late"):
                    stats[k] += summary[k]
                samples.setdefault(f"{profile.code}-{kind.value}", rows)
        totals[profile.code] = stats
    _write_samples(workdir, samples)
    return totals


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small rates here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _party(rng: random.Random, orgs: list[Any]) -> dict[str, Any]:
    code, name, rep, kind = rng.choice(orgs)
    return {
        "行政相对人名称": name,
        "行政相对人类别": "个体工商户" if kind == "individual_business" else "法人及非法人组织",
        "行政相对人代码_1(统一社会信用代码)": code,
        "法定代表人": rep or "",
    }


class _Decided(NamedTuple):
    """A decision's document number and date, and the department that took it (also the data's source)."""

    doc: str
    on: dt.date
    dept_name: str
    authority_uscc: str

    def tail(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}机关": self.dept_name,
            f"{prefix}机关统一社会信用代码": self.authority_uscc,
            "数据来源单位": self.dept_name,
            "数据来源单位统一社会信用代码": self.authority_uscc,
        }


def _penalty(
    rng: random.Random, profile: Profile, d: _Decided, orgs: list[Any], people: list[tuple[str, str]]
) -> dict[str, Any]:
    doc, decided = d.doc, d.on
    violation, facts, basis, types = rng.choice(profile.violations)
    if profile.persons and people and rng.random() < 0.3:
        name, number = rng.choice(people)
        party = {"行政相对人名称": name, "行政相对人类别": "自然人", "证件类型": "身份证", "证件号码": number}
    else:
        party = _party(rng, orgs)
    row = {
        **party,
        "行政处罚决定书文号": doc,
        "违法行为类型": violation,
        "违法事实": facts,
        "处罚依据": basis,
        "处罚类别": "、".join(types),
        "处罚决定日期": decided.isoformat(),
        "处罚有效期": (decided + dt.timedelta(days=365)).isoformat(),
        **d.tail("处罚"),
    }
    content = []
    if "警告" in types:
        content.append("警告")
    if "罚款" in types:
        fine = rng.choice([0.05, 0.2, 0.5, 1, 2, 3, 5, 10, 20])
        row["罚款金额(万元)"] = str(fine)
        content.append(f"罚款人民币{fine}万元")
    if "没收违法所得" in types:
        row["没收违法所得、没收非法财物的金额(万元)"] = str(rng.choice([0.1, 0.35, 1.2]))
        content.append("没收违法所得")
    if "责令停产停业" in types:
        content.append("责令停产停业整顿")
    row["处罚内容"] = "，".join(content)
    if rng.random() < 0.08:
        row["失信严重程度"] = "严重"
    return row


def _licence(rng: random.Random, profile: Profile, d: _Decided, orgs: list[Any]) -> dict[str, Any]:
    doc, decided = d.doc, d.on
    title, certificate, content = rng.choice(profile.licences)
    valid_to = decided + dt.timedelta(days=365 * rng.choice([1, 3, 5]) - 1)
    return {
        **_party(rng, orgs),
        "行政许可决定文书名称": title,
        "行政许可决定文书号": doc,
        "许可类别": "普通",
        "许可证书名称": certificate,
        "许可编号": f"{profile.abbr}{decided:%Y%m}{rng.randrange(10**5):05d}",
        "许可内容": content,
        "许可决定日期": decided.isoformat(),
        "有效期自": decided.isoformat(),
        "有效期至": valid_to.isoformat(),
        "当前状态": "1" if rng.random() > 0.02 else "2",
        **d.tail("许可"),
    }


def _write_samples(workdir: Path, samples: dict[str, list[dict[str, Any]]]) -> None:
    """One file per department and kind in its own format, to try `xinyong ingest` and the console upload."""

    out = workdir / "samples"
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, rows) in enumerate(sorted(samples.items())):
        headers = list(dict.fromkeys(k for r in rows for k in r))
        if i % 2:
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.append([f"{name} 双公示数据报送"])
            ws.append(headers)
            for r in rows:
                ws.append([r.get(h) for h in headers])
            wb.save(out / f"{name}.xlsx")
        else:
            with (out / f"{name}.csv").open("w", newline="", encoding="gb18030") as fh:
                w = csv.writer(fh)
                w.writerow(headers)
                w.writerows([[r.get(h) for h in headers] for r in rows])
