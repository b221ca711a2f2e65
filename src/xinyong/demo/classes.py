"""The information classes beyond 双公示 (issue #18) for the demo city: honours, court judgments and execution,
qualifications, contract performance, tax arrears, social-insurance arrears and fraud, annual reports and spot
checks — a few dozen rows each, submitted through the real collection path (``ingest.service.ingest_rows``) by the
department that owns the class, with the Chinese column names of each class's data standard.

:func:`sample_row` builds one valid row of a class (also used by the tests and ``bench/ingest.py --kind``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.catalog.fields import generic_kinds

SEED = 20261207


@dataclass(frozen=True)
class Party:
    name: str
    uscc: str | None = None  # organisations
    id_number: str | None = None  # natural persons
    legal_rep: str | None = None


HONOURS = (
    ("诚信示范企业", "市级", "诚信示范企业"),
    ("守信激励先进单位", "市级", "表彰奖励"),
    ("信用村", "县级", "信用村"),
    ("文明诚信个体工商户", "县级", "荣誉称号"),
)
QUALIFICATIONS = (
    ("企业资质", "建筑工程施工总承包", "二级"),
    ("企业资质", "市政公用工程施工总承包", "三级"),
    ("企业资质", "工程监理", "乙级"),
)
SPOT_RESULTS = (
    "未发现问题",
    "未发现问题",
    "未发现问题",
    "发现问题已责令改正",
    "未按规定公示应当公示的信息",
    "通过登记的住所（经营场所）无法联系",
)


def _party_cells(party: Party, *, persons: bool) -> dict[str, Any]:
    if party.id_number and persons:
        return {
            "当事人类别": "自然人",
            "证件类型": "身份证",
            "证件号码": party.id_number,
        }
    kind = "个体工商户" if (party.uscc or "").startswith("92") else "法人及非法人组织"
    out: dict[str, Any] = {"当事人类别": kind, "统一社会信用代码": party.uscc}
    if party.legal_rep:
        out["法定代表人（负责人）"] = party.legal_rep
    return out


def sample_row(
    code: str,
    n: int,
    *,
    party: Party,
    authority: str,
    authority_uscc: str,
    day: dt.date,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """One valid row of class ``code`` (Chinese column names); ``n`` makes its identity unique."""
    rng = rng or random.Random(n)
    year = day.year
    if code == "honour":
        name, level, kind = HONOURS[n % len(HONOURS)]
        row = {
            "受表彰主体名称": party.name,
            **_party_cells(party, persons=True),
            "荣誉名称": f"{year}年度{name}",
            "荣誉类别": "信用户" if party.id_number else kind,
            "荣誉级别": level,
            "授予文号": f"沁文明〔{year}〕{n}号",
            "授予日期": day.isoformat(),
            "有效期至": dt.date(year + 2, 12, 31).isoformat(),
            "当前状态": "有效",
            "授予机关": authority,
            "授予机关统一社会信用代码": authority_uscc,
        }
    elif code == "judicial":
        info = ("生效裁判", "执行信息", "终结本次执行")[n % 3]
        row = {
            "当事人名称": party.name,
            **_party_cells(party, persons=True),
            "案号": f"（{year}）豫0882{'民初' if info == '生效裁判' else '执'}{1000 + n}号",
            "信息类别": info,
            "案由": rng.choice(("买卖合同纠纷", "借款合同纠纷", "劳动争议", "建设工程施工合同纠纷")),
            "当事人诉讼地位": "被告" if info == "生效裁判" else "被执行人",
            "裁判日期（立案日期）": day.isoformat(),
            "执行标的（元）": "" if info == "生效裁判" else str(rng.randrange(20, 900) * 1000),
            "履行情况": rng.choice(("未履行", "部分履行", "全部履行")),
            "当前状态": "有效",
            "法院名称": authority,
            "法院名称统一社会信用代码": authority_uscc,
        }
    elif code == "qualification":
        kind, name, grade = QUALIFICATIONS[n % len(QUALIFICATIONS)]
        row = {
            "持证主体名称": party.name,
            **_party_cells(party, persons=True),
            "资质资格类别": "执业证书" if party.id_number else kind,
            "资质资格名称": "注册建造师" if party.id_number else name,
            "等级": grade,
            "证书编号": f"D{410882 + n:06d}{n:05d}",
            "发证日期": day.isoformat(),
            "有效期至": dt.date(year + 5, day.month, min(day.day, 28)).isoformat(),
            "当前状态": "有效",
            "发证机关": authority,
            "发证机关统一社会信用代码": authority_uscc,
        }
    elif code == "contract":
        domain = ("政府采购", "招标投标", "政府和社会资本合作", "守合同重信用")[n % 4]
        row = {
            "合同主体名称": party.name,
            **_party_cells(party, persons=False),
            "领域": domain,
            "合同编号（认定文号）": f"QYHT-{year}-{n:04d}",
            "合同名称（项目名称）": "守合同重信用企业认定" if domain == "守合同重信用" else f"沁阳市第{n}标段采购项目",
            "合同金额（元）": "" if domain == "守合同重信用" else str(rng.randrange(10, 500) * 10000),
            "履约情况": "守合同重信用" if domain == "守合同重信用" else rng.choice(("正常履约", "正常履约", "违约")),
            "认定日期": day.isoformat(),
            "有效期至": dt.date(year + 2, 12, 31).isoformat() if domain == "守合同重信用" else "",
            "当前状态": "有效",
            "认定单位": authority,
            "认定单位统一社会信用代码": authority_uscc,
        }
    elif code == "tax_arrears":
        row = {
            "纳税人名称": party.name,
            **_party_cells(party, persons=True),
            "公告期次": f"{year}年第{(day.month - 1) // 3 + 1}季度-{n}",
            "经营地点": "河南省沁阳市怀府中路" + str(n % 300) + "号",
            "欠税税种": rng.choice(("增值税", "企业所得税", "增值税、城市维护建设税", "房产税")),
            "欠税余额（元）": f"{rng.randrange(5_000, 900_000)}.{rng.randrange(100):02d}",
            "当期新发生欠税金额（元）": str(rng.randrange(0, 50_000)),
            "公告日期": day.isoformat(),
            "缴清日期": "",
            "税务机关": authority,
            "税务机关统一社会信用代码": authority_uscc,
        }
    elif code == "social_insurance":
        info = ("欠缴社会保险费", "欠缴社会保险费", "骗取社会保险待遇")[n % 3]
        row = {
            "当事人名称": party.name,
            **_party_cells(party, persons=True),
            "失信类别": info,
            "险种": "企业职工基本养老保险、失业保险",
            "失信事实": "未按时足额缴纳社会保险费，经责令限期缴纳逾期仍未缴纳"
            if info.startswith("欠缴")
            else "以伪造证明材料手段骗取社会保险待遇",
            "涉及金额（元）": str(rng.randrange(2_000, 300_000)),
            "认定文书号": f"沁人社监〔{year}〕{n}号",
            "认定日期": day.isoformat(),
            "当前状态": "有效",
            "认定机关": authority,
            "认定机关统一社会信用代码": authority_uscc,
        }
    elif code == "annual_report":
        status = ("已按时公示", "已按时公示", "逾期公示", "未公示")[n % 4]
        row = {
            "市场主体名称": party.name,
            **_party_cells(party, persons=False),
            "年报年度": str(year - 1),
            "年报状态": status,
            "报送日期": "" if status == "未公示" else day.isoformat(),
            "认定日期": day.isoformat(),
            "登记机关": authority,
            "登记机关统一社会信用代码": authority_uscc,
        }
    elif code == "spot_check":
        row = {
            "检查对象名称": party.name,
            **_party_cells(party, persons=False),
            "抽查任务名称": f"{year}年度沁阳市“双随机、一公开”联合抽查（第{n % 4 + 1}批）",
            "检查类型": "双随机抽查",
            "检查编号": f"QYCC{year}{n:05d}",
            "检查结果": SPOT_RESULTS[n % len(SPOT_RESULTS)],
            "检查日期": day.isoformat(),
            "检查机关": authority,
            "检查机关统一社会信用代码": authority_uscc,
        }
    else:
        raise ValueError(f"no sample rows for class {code!r}")
    return {k: v for k, v in row.items() if v is not None}


#: The demo department that submits each class (demo/city.py's departments), and rows per class.
OWNERS = {
    "honour": "fgw",
    "judicial": "fy",
    "qualification": "zjj",
    "contract": "czj",
    "tax_arrears": "swj",
    "social_insurance": "rsj",
    "annual_report": "scjgj",
    "spot_check": "scjgj",
}
ROWS_PER_CLASS = 40


def build(
    session: Session,
    *,
    actor: Principal,
    organisations: list[Party],
    persons: list[Party],
    today: dt.date,
    seed: int = SEED,
) -> dict[str, Any]:
    """Submit ``ROWS_PER_CLASS`` rows of every class through the collection API's service; returns the counts."""
    from xinyong.ingest import service as ingest

    rng = random.Random(seed)
    departments = {d.code: d for d in session.scalars(select(Department))}
    fallback = next(iter(departments.values()))
    out: dict[str, Any] = {}
    for code in generic_kinds():
        dept = departments.get(OWNERS.get(code, ""), fallback)
        rows = []
        for n in range(1, ROWS_PER_CLASS + 1):
            use_person = persons and code in ("honour", "judicial", "tax_arrears", "social_insurance") and n % 5 == 0
            party = rng.choice(persons) if use_person else rng.choice(organisations)
            day = today - dt.timedelta(days=rng.randrange(1, 700))
            rows.append(
                sample_row(code, n, party=party, authority=dept.name, authority_uscc=dept.uscc, day=day, rng=rng)
            )
        summary = ingest.ingest_rows(session, actor=actor, department_id=dept.id, kind=code, rows=rows)
        out[code] = {"department": dept.code, "created": summary["created"], "rejected": summary["rejected"]}
    return out
