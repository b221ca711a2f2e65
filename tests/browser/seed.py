"""The small, realistic city the browser tests run against, built through the real services (validated and audited
as in production) into a fresh database before the server starts.

- catalog, list types and the joint measures catalogue (built-in files);
- two departments (市场监管局 ``scjgj``, 税务局 ``swj``), an operator of 市场监管局 who logs in to the console, and an
  admin API token (used only to flush the notification outbox, as the ``xinyong cases notify`` job would);
- 沁阳市宏达机械有限公司: two licences, a public penalty, the 纳税信用A级 red-list entry, a registered phone;
- 沁阳市怀府食品有限公司: a public penalty and a registered phone (the objection goes against this penalty, so the
  citizen's flow on 宏达机械 does not depend on the order the tests run in);
- the court's dishonest-debtor list, synced: one entry (沁阳市宏达机械厂, a near name) waiting in the review queue,
  judged by the platform admin (``ADMIN_USER``) in the console.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import DEFAULT_PASSWORD, make_department, make_user
from tests.lists.test_sync import court_row, write_csv
from tests.records.helpers import AUTHORITY, company_uscc, licence, penalty
from xinyong.auth import tokens as auth_tokens
from xinyong.auth.roles import Role, system_principal
from xinyong.cases import verification
from xinyong.catalog import service as catalog_service
from xinyong.core import clock
from xinyong.core.db import utcnow
from xinyong.lists import service as lists_service
from xinyong.lists import sync
from xinyong.lists import types as lists_types
from xinyong.measures import service as measures_service
from xinyong.records import upsert as records_upsert
from xinyong.subjects import service as subjects_service
from xinyong.subjects.models import Subject

ACTOR = system_principal("browser-tests")
COMPANY = "沁阳市宏达机械有限公司"
FOOD = "沁阳市怀府食品有限公司"
OPERATOR = "op-scjgj"
ADMIN_USER = "chief-admin"
REVIEW_CASE = "(2025)豫0882执4号"
PASSWORD = DEFAULT_PASSWORD
YEAR = clock.today().year
COMPANY_PENALTY = f"沁市监罚〔{YEAR}〕31号"
FOOD_PENALTY = f"沁市监罚〔{YEAR}〕47号"
LICENCES = (f"沁市监许〔{YEAR}〕12号", f"沁市监许〔{YEAR}〕13号")
RED_LIST_REASON = "纳税信用A级纳税人"


@dataclass(frozen=True)
class City:
    company: str  # USCC of COMPANY
    food: str  # USCC of FOOD
    food_penalty_id: int  # the record the objection is filed against
    admin_token: str  # raw admin API token (outbox delivery only)
    today: dt.date


def build(session: Session) -> City:
    """Seed everything and commit."""
    catalog_service.seed_catalog(session, actor=ACTOR)
    lists_types.seed_list_types(session, actor=ACTOR)
    measures_service.seed_measures(session, actor=ACTOR)
    session.commit()
    # Its own USCC is the 处罚机关 code of the records and of the file the operator uploads (the authority rule).
    scjgj = make_department(session, code="scjgj", name="沁阳市市场监督管理局", short_name="市场监管局", uscc=AUTHORITY)
    make_department(session, code="swj", name="国家税务总局沁阳市税务局", short_name="税务局")
    make_user(
        session,
        username=OPERATOR,
        role=Role.DEPT_OPERATOR,
        department=scjgj,
        display_name="李明（市场监管局）",
        password=PASSWORD,
    )
    make_user(session, username=ADMIN_USER, role=Role.ADMIN, display_name="平台管理员", password=PASSWORD)
    _token, admin_token = auth_tokens.create_token(session, actor=ACTOR, name="浏览器测试：通知发送", role=Role.ADMIN)
    session.commit()

    today = clock.today()
    company, food = company_uscc(1), company_uscc(2)
    subjects_service.register_organisation(session, actor=ACTOR, name=COMPANY, code=company, legal_rep="张宏达")
    subjects_service.register_organisation(session, actor=ACTOR, name=FOOD, code=food, legal_rep="赵怀府")
    session.commit()
    recent = today - dt.timedelta(days=20)
    result = records_upsert.upsert_records(
        session,
        actor=ACTOR,
        department_id=scjgj.id,
        batch_id=None,
        received_at=utcnow(),
        rows=[
            licence(
                doc=LICENCES[0],
                decided=today - dt.timedelta(days=200),
                code=company,
                party=COMPANY,
                valid_to=today + dt.timedelta(days=1600),
                row=2,
            ),
            licence(
                doc=LICENCES[1],
                decided=recent,
                code=company,
                party=COMPANY,
                valid_to=today + dt.timedelta(days=1800),
                row=3,
            ),
            penalty(doc=COMPANY_PENALTY, decided=recent, code=company, party=COMPANY, fine_wan="2", row=4),
            penalty(
                doc=FOOD_PENALTY,
                decided=recent,
                code=food,
                party=FOOD,
                fine_wan="0.8",
                types=["警告", "罚款"],
                row=5,
                data={"违法事实": "标签标注的生产日期与实际不符"},
            ),
        ],
    )
    assert result.created == 4, result.to_dict()
    lists_service.create_entry(
        session,
        actor=ACTOR,
        list_code="tax_a_grade",
        subject_code=company,
        reason=RED_LIST_REASON,
        decision_no=f"沁税A〔{today.year - 1}〕8号",
        department="swj",
        listed_on=recent,
    )
    for code, phone in ((company, "13812345678"), (food, "13987654321")):
        subject = session.scalar(select(Subject).where(Subject.uscc == code))
        verification.set_contact(
            session, actor=ACTOR, subject_id=subject.id, channel="sms", address=phone, source="窗口登记"
        )
    session.commit()
    with tempfile.TemporaryDirectory() as folder:
        court = write_csv(Path(folder) / "court.csv", [court_row(REVIEW_CASE, "沁阳市宏达机械厂", "")])
        synced = sync.sync_list(session, actor=ACTOR, list_code="court_dishonest_debtor", path=court)
    assert synced.review_queued == 1, synced
    session.commit()
    return City(
        company=company, food=food, food_penalty_id=result.outcomes[3].record_id, admin_token=admin_token, today=today
    )
