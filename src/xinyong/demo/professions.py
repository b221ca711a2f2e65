"""Demo professions and government integrity (issue #18): the supervising departments' registration files for the
14 key professions (several hundred of the demo's persons, employed by registry organisations — doctors and
teachers by 事业单位, civil servants by 机关, the others by enterprises), a few of them on profession lists; the
service commitments of some public bodies, their contracts' payment, one body put on the 失信被执行人 list by the
court's next delta (flagged to the credit office through the real sync and hook), and civil servants' files.

Everything goes through the production services (``professions.service.import_file``, ``lists.sync``,
``commitments.importer``, ``professions.government``), as the rest of the demo does.
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
from xinyong.auth.roles import Principal
from xinyong.commitments import importer as commitments_importer
from xinyong.demo.lists import COURT_HEADERS
from xinyong.lists import service as lists_service
from xinyong.lists import sync
from xinyong.lists.types import get_list_type
from xinyong.professions import catalog, government, service
from xinyong.subjects.models import Subject
from xinyong.subjects.service import find_subject, register_organisation

SEED = 20261207
#: Registrations per profession (at most; fewer when the demo has fewer persons of that profession).
PER_PROFESSION = 45
#: Persons put on each profession list.
LISTED_PER_LIST = 3
INSTITUTION_PROFESSIONS = {"doctor", "teacher", "pharmacist"}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _orgs(session: Session) -> dict[str, list[tuple[int, str, str]]]:
    out: dict[str, list[tuple[int, str, str]]] = {"enterprise": [], "public_institution": [], "government": []}
    for sid, code, name, org_type in session.execute(
        select(Subject.id, Subject.uscc, Subject.name, Subject.org_type)
        .where(Subject.kind == "legal_person", Subject.uscc.is_not(None), Subject.org_type.in_(list(out)))
        .order_by(Subject.id)
        .limit(20_000)
    ):
        out[org_type].append((sid, code, name))
    return out


def build(
    session: Session,
    *,
    actor: Principal,
    workdir: Path,
    persons: list[tuple[str, str, str]],
    today: dt.date,
) -> dict[str, Any]:
    rng = random.Random(SEED)
    out = workdir / "professions"
    out.mkdir(parents=True, exist_ok=True)
    orgs = _orgs(session)
    enterprises = orgs["enterprise"][:3000] or orgs["public_institution"]
    institutions = orgs["public_institution"] or enterprises
    bodies = orgs["government"] or institutions
    professions = catalog.professions()
    departments = set(session.scalars(select(Department.code)))
    summary: dict[str, Any] = {"registrations": {}, "listed": {}}
    registered: dict[str, list[tuple[str, str]]] = {}
    for code, prof in professions.items():
        if not set(prof.departments) & departments:
            continue
        # The demo's persons have no 审计 profession of their own: auditors are drawn from the accountants not
        # registered as accountants (会计审计人员 are one group of the city plan).
        wanted = "accountant" if code == "auditor" else code
        group = [(n, rid) for n, rid, p in persons if p == wanted]
        split = min(PER_PROFESSION, (len(group) + 1) // 2)  # accountants first, auditors after them
        if code == "accountant":
            people = group[:split]
        elif code == "auditor":
            people = group[split : split + PER_PROFESSION]
        else:
            people = group[:PER_PROFESSION]
        if not people:
            continue
        pool = bodies if code == "civil_servant" else institutions if code in INSTITUTION_PROFESSIONS else enterprises
        rows = []
        for i, (name, rid) in enumerate(people):
            employer = pool[rng.randrange(len(pool))]
            start = today - dt.timedelta(days=rng.randrange(200, 4000))
            roll = rng.random()
            status = "暂停执业" if roll < 0.04 else "吊销" if roll < 0.06 else "有效"
            end = start + dt.timedelta(days=5 * 365) if code not in ("civil_servant", "teacher") else None
            rows.append(
                {
                    "姓名": name,
                    "身份证号码": rid,
                    "证书编号": f"{code[:3].upper()}41088{i:05d}",
                    "资格等级": rng.choice(["初级", "中级", "高级"]) if code not in ("civil_servant",) else "",
                    "执业单位统一社会信用代码": employer[1],
                    "执业单位名称": employer[2],
                    "有效期起": start.isoformat(),
                    "有效期止": end.isoformat() if end else "",
                    "状态": status,
                }
            )
        result = service.import_file(session, actor=actor, path=_write(out / f"{code}.csv", rows), profession=code)
        summary["registrations"][code] = result["created"] + result["updated"] + result["unchanged"]
        registered[code] = people
    # Profession lists: a few members each (notice given a month ago, as the list types require).
    for code, prof in professions.items():
        for list_code in prof.lists:
            people = registered.get(code, [])
            managing = list(get_list_type(session, list_code).managing_departments or []) if people else []
            if not people or not set(managing) & departments:
                continue
            for j, (_name, rid) in enumerate(rng.sample(people, min(LISTED_PER_LIST, len(people)))):
                lists_service.create_entry(
                    session,
                    actor=actor,
                    list_code=list_code,
                    subject_code=rid,
                    reason=f"{prof.name}执业中的失信行为（演示）",
                    decision_no=f"沁{list_code[:6]}〔{today.year}〕{j + 1}号",
                    department=managing[0],
                    notice_given_on=today - dt.timedelta(days=60),
                    listed_on=today - dt.timedelta(days=rng.randrange(1, 20)),
                )
            summary["listed"][list_code] = min(LISTED_PER_LIST, len(people))
    summary["government"] = _government(
        session,
        actor=actor,
        rng=rng,
        bodies=bodies,
        institutions=institutions,
        registered=registered,
        out=out,
        today=today,
    )
    return summary


def _government(
    session: Session,
    *,
    actor: Principal,
    rng: random.Random,
    bodies: list[tuple[int, str, str]],
    institutions: list[tuple[int, str, str]],
    registered: dict[str, list[tuple[str, str]]],
    out: Path,
    today: dt.date,
) -> dict[str, Any]:
    credit_office = session.scalar(select(Department).where(Department.code == "fgw"))
    # The city's departments are government bodies too: each is registered as a subject (its own USCC), so the
    # department assessment's 政务诚信率 has their commitments and contracts to score (docs/professions.md).
    departments = []
    for d in session.scalars(
        select(Department).where(Department.uscc.is_not(None), Department.external.is_(False)).order_by(Department.code)
    ):
        body = find_subject(session, d.uscc or "") or register_organisation(
            session, actor=actor, name=d.name, code=d.uscc or "", source="demo", reason="演示：本市部门作为政务诚信主体"
        )
        departments.append((body.id, d.uscc or "", d.name))
    chosen = departments[:6] + bodies[:2] + institutions[:2]
    if credit_office is None or not chosen:
        return {}
    rows = []
    for i, (_sid, code, name) in enumerate(chosen):
        for k in range(3):
            made = today - dt.timedelta(days=120 + 30 * k)
            status = ["全部履行", "全部履行", "全部未履行" if i == 1 else ""][k]
            rows.append(
                {
                    "承诺编码": f"410882{made:%Y%m%d}{9000 + i * 10 + k:06d}",
                    "承诺人名称": name,
                    "承诺人类别": "法人及非法人组织",
                    "承诺人代码": code,
                    "承诺类型": "其他",
                    "承诺事由": "政务服务承诺（办理时限、服务质量）",
                    "承诺内容": "对职权范围内的服务事项，按公布的时限和标准办结，不额外增加材料。",
                    "违诺责任": "未按承诺办理的，向社会说明并接受绩效考核扣分。",
                    "承诺作出日期": made.isoformat(),
                    "承诺有效期": (today + dt.timedelta(days=365)).isoformat(),
                    "承诺履行状态": status,
                    "未履行的承诺内容": "部分事项超期办结" if status == "全部未履行" else "",
                    "违诺责任追究内容": "通报批评、绩效扣分" if status == "全部未履行" else "",
                    "履行状态认定日期": (made + dt.timedelta(days=60)).isoformat() if status else "",
                    "履行状态认定单位": credit_office.name if status else "",
                    "履行状态认定单位代码": credit_office.uscc if status else "",
                    "承诺受理单位": credit_office.name,
                    "承诺受理单位代码": credit_office.uscc,
                    "公开类型": "可向社会公开",
                    "备注": "",
                }
            )
    batch = commitments_importer.import_rows(session, actor=actor, department_id=credit_office.id, rows=rows)
    contracts = 0
    for i, (_sid, code, _name) in enumerate(chosen[:4]):
        overdue = i == 2
        government.record_contract(
            session,
            actor=actor,
            body_code=code,
            contract_no=f"QY{'PPP' if i == 0 else 'CG'}-{today.year}-{i + 1:03d}",
            kind="ppp" if i == 0 else "procurement",
            title=["城区污水处理 PPP 项目", "办公设备采购", "物业服务采购", "信息系统运维采购"][i],
            status="overdue" if overdue else "paid",
            amount_wan=[12000, 35, 80, 120][i],
            overdue_amount_wan=40 if overdue else None,
            due_on=today - dt.timedelta(days=30 + 10 * i),
            paid_on=None if overdue else today - dt.timedelta(days=25 + 10 * i),
            department="czj",
        )
        contracts += 1
    # One body on the court's list (a registry body, not a department): the court's next delta names it; the sync
    # flags it through the hook.
    debtor = bodies[0] if bodies else chosen[0]
    row = {
        "被执行人姓名/名称": debtor[2],
        "身份证号码/组织机构代码": debtor[1],
        "法定代表人或者负责人姓名": "",
        "执行法院": "沁阳市人民法院",
        "省份": "河南",
        "执行依据文号": f"（{today.year - 1}）豫0882民初8801号",
        "立案时间": f"{today.year}年01月05日",
        "案号": f"（{today.year}）豫0882执9901号",
        "做出执行依据单位": "沁阳市人民法院",
        "生效法律文书确定的义务": "支付工程款 320000 元",
        "被执行人的履行情况": "全部未履行",
        "失信被执行人行为具体情形": "有履行能力而拒不履行生效法律文书确定义务",
        "发布时间": f"{today:%Y年%m月%d日}",
        "操作类型": "新增",
    }
    path = out / "失信被执行人-增量-政务.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=[*COURT_HEADERS, "操作类型"], extrasaction="ignore")
        w.writeheader()
        w.writerow({h: row.get(h, "") for h in [*COURT_HEADERS, "操作类型"]})
    sync.sync_list(session, actor=actor, list_code="court_dishonest_debtor", path=path, mode="delta")
    flags = government.list_flags(session, actor=actor)
    # Civil servants' integrity files.
    civil = registered.get("civil_servant", [])[:8]
    for i, (_name, rid) in enumerate(civil):
        for year in (today.year - 2, today.year - 1):
            government.add_civil_servant_entry(
                session,
                actor=actor,
                person_code=rid,
                kind="annual_review",
                year=year,
                result="优秀" if (i + year) % 4 == 0 else "称职",
                body_code=bodies[i % len(bodies)][1],
                department="zzb" if session.scalar(select(Department.id).where(Department.code == "zzb")) else None,
            )
        if i == 3:
            government.add_civil_servant_entry(
                session,
                actor=actor,
                person_code=rid,
                kind="integrity",
                result="诫勉谈话",
                detail="违反中央八项规定精神（演示）",
                body_code=bodies[i % len(bodies)][1],
            )
    return {
        "bodies": len(chosen),
        "departments_as_bodies": len(departments),
        "commitments": batch["accepted"],
        "contracts": contracts,
        "debtor_body": {"name": debtor[2], "uscc": debtor[1]},
        "open_flags": len(flags),
        "civil_servant_files": len(civil),
    }
