"""Shared set-up for the professions tests: catalog, list types and measures seeded; the supervising departments
(卫健委 wjw, 文旅局 wlj, 组织部 zzb) and another (scjgj) with tokens; an employer hospital; a government body."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tests.factories import ACTOR, auth_headers, make_department, make_token, make_uscc
from tests.records.helpers import seed_catalog
from xinyong.auth.models import Department
from xinyong.auth.roles import Role
from xinyong.identifiers import resident_id
from xinyong.identifiers import uscc as uscc_rules
from xinyong.lists.types import seed_list_types
from xinyong.measures.service import seed_measures
from xinyong.subjects import service as subjects


def person_id(n: int) -> str:
    return resident_id.make(region="410882", birth_date=dt.date(1980, 1, 1) + dt.timedelta(days=n), sequence=10 + n)


@dataclass
class Env:
    wjw: Department
    zzb: Department
    other: Department
    wjw_op: dict[str, str]
    wjw_viewer: dict[str, str]
    zzb_op: dict[str, str]
    other_op: dict[str, str]
    business: dict[str, str]
    admin: dict[str, str]
    hospital_uscc: str
    body_uscc: str


def build(session: Session) -> Env:
    seed_catalog(session)
    seed_list_types(session, actor=ACTOR)
    seed_measures(session, actor=ACTOR)
    wjw = make_department(session, code="wjw", name="沁阳市卫生健康委员会")
    zzb = make_department(session, code="zzb", name="中共沁阳市委组织部")
    other = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    hospital = uscc_rules.make(authority="1", category="2", region="410882", org_body="70000001")
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市人民医院", code=hospital)
    body = make_uscc(900001)
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市某某局", code=body)
    session.commit()
    return Env(
        wjw=wjw,
        zzb=zzb,
        other=other,
        wjw_op=auth_headers(make_token(session, Role.DEPT_OPERATOR, wjw)),
        wjw_viewer=auth_headers(make_token(session, Role.DEPT_VIEWER, wjw)),
        zzb_op=auth_headers(make_token(session, Role.DEPT_OPERATOR, zzb)),
        other_op=auth_headers(make_token(session, Role.DEPT_OPERATOR, other)),
        business=auth_headers(make_token(session, Role.BUSINESS_SYSTEM, other)),
        admin=auth_headers(make_token(session, Role.ADMIN)),
        hospital_uscc=hospital,
        body_uscc=body,
    )


def doctor_rows(env: Env, n: int = 3, *, status: str = "有效") -> list[dict[str, str]]:
    return [
        {
            "姓名": f"医生{i}",
            "身份证号码": person_id(i),
            "证书编号": f"11041088200{i:04d}",
            "资格等级": "执业医师",
            "执业单位统一社会信用代码": env.hospital_uscc,
            "有效期起": "2020-01-01",
            "状态": status,
        }
        for i in range(n)
    ]
