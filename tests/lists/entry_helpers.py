"""Shared set-up of the list-management tests: catalog and list types seeded, departments, subjects, tokens.

Everything is made through the real services (validated and audited as in production) and committed, so the app
under test and CLI commands see it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tests.factories import auth_headers, make_department, make_token
from xinyong.auth.models import Department
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog import service as catalog_service
from xinyong.core import workdays
from xinyong.identifiers import resident_id, uscc
from xinyong.lists import types
from xinyong.subjects import service as subjects

ADMIN = system_principal("tests")
API = "/api/v1/lists"
COMPANY = "沁阳市宏达机械有限公司"
OTHER_COMPANY = "沁阳市怀府食品有限公司"
PERSON = "王小明"
PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 9), sequence=77)


def company_uscc(n: int) -> str:
    return uscc.make(authority="9", category="1", region="410882", org_body=f"MA{n:06d}")


@dataclass
class Env:
    swj: Department  # manages tax_serious_dishonest (notice: 10 working days) and tax_a_grade (no notice)
    scjgj: Department  # manages food_drug_dishonest, contract_credit_enterprise, samr_abnormal (external)
    company: str  # USCC of COMPANY
    other: str  # USCC of OTHER_COMPANY
    company_id: int
    person_id: int
    swj_op: dict[str, str]
    swj_viewer: dict[str, str]
    scjgj_op: dict[str, str]
    admin: dict[str, str]


def seed(session: Session) -> None:
    catalog_service.seed_catalog(session, actor=ADMIN)
    types.seed_list_types(session, actor=ADMIN)
    session.commit()


def make_env(session: Session, *, tokens: bool = True) -> Env:
    seed(session)
    swj = make_department(session, code="swj", name="国家税务总局沁阳市税务局")
    scjgj = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    c = subjects.register_organisation(session, actor=ADMIN, name=COMPANY, code=company_uscc(1))
    subjects.register_organisation(session, actor=ADMIN, name=OTHER_COMPANY, code=company_uscc(2))
    p = subjects.register_person(session, actor=ADMIN, name=PERSON, id_number=PERSON_ID)
    session.commit()
    h = {}
    if tokens:
        h = {
            "swj_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, swj)),
            "swj_viewer": auth_headers(make_token(session, Role.DEPT_VIEWER, swj)),
            "scjgj_op": auth_headers(make_token(session, Role.DEPT_OPERATOR, scjgj)),
            "admin": auth_headers(make_token(session, Role.ADMIN)),
        }
    return Env(
        swj,
        scjgj,
        company_uscc(1),
        company_uscc(2),
        c.id,
        p.id,
        h.get("swj_op", {}),
        h.get("swj_viewer", {}),
        h.get("scjgj_op", {}),
        h.get("admin", {}),
    )


def workdays_ago(n: int, today: dt.date) -> dt.date:
    """A date ``n`` working days before ``today`` (so a notice given then has just run its period today)."""
    return workdays.add_workdays(today, -n)
