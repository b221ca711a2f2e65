"""Food and drug risk warning: spot checks, complaints and penalties combine into levels with reasons."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import ACTOR, auth_headers, make_department, make_token
from xinyong.analytics import food_drug, trading
from xinyong.analytics.risk_config import risk_config
from xinyong.auth.roles import Role
from xinyong.cases.complaints import file_complaint
from xinyong.core import clock
from xinyong.identifiers import uscc
from xinyong.subjects import service as subjects

SHOP = uscc.make(authority="9", category="1", region="410882", org_body="MA000101")
CLEAN = uscc.make(authority="9", category="1", region="410882", org_body="MA000102")
CFG = risk_config()["food_drug"]


def test_assess_weights_recency_and_caps() -> None:
    score, level, reasons = food_drug.assess({"spot_check_failure": [2, 0], "penalty_serious": [0, 1]}, CFG)
    assert score == 25 * 2 + 20 and level == "high"
    assert {r["signal"] for r in reasons} == {"spot_check_failure", "penalty_serious"}
    score, level, reasons = food_drug.assess({"spot_check_failure": [5, 0]}, CFG)
    assert score == CFG["caps"]["spot_check"] and level == "high"
    assert any(r["signal"] == "spot_check_cap" for r in reasons)
    assert food_drug.assess({"complaint_open": [1, 0]}, CFG)[1] == "low"


def test_spot_checks_and_complaints_make_a_watch_list(client: TestClient, session: Session, tmp_path: Path) -> None:
    scjgj = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市好味食品有限公司", code=SHOP)
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市放心超市有限公司", code=CLEAN)
    today = clock.today()
    rows = [
        ["抽样编号", "被抽样单位名称", "统一社会信用代码", "产品名称", "类别", "抽样日期", "检验结论", "不合格项目"]
    ]
    rows += [
        [
            f"S{i}",
            "沁阳市好味食品有限公司",
            "",
            "糕点",
            "食品",
            (today - dt.timedelta(days=30 * i)).isoformat(),
            "不合格",
            "菌落总数",
        ]
        for i in range(2)
    ]
    rows += [["S9", "沁阳市放心超市有限公司", CLEAN, "酱油", "食品", today.isoformat(), "合格", ""]]
    path = tmp_path / "spot.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    out = trading.import_file(session, actor=ACTOR, kind="spot_checks", path=path)
    assert (
        out["report"]["linked_to_registry"] == 3 and out["report"]["failures"] == 2
    )  # the first two linked by their name
    file_complaint(session, actor=ACTOR, facts="出售过期食品", subject_code=SHOP, department="scjgj", anonymous=True)
    session.commit()

    [risk] = food_drug.risk_levels(session)
    assert risk["uscc"] == SHOP and risk["score"] == 50 + 5 and risk["level"] == "medium"
    assert food_drug.watch_list(session) == []
    assert [r["uscc"] for r in food_drug.watch_list(session, include_medium=True)] == [SHOP]

    viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, scjgj))
    other = auth_headers(make_token(session, Role.DEPT_VIEWER, make_department(session, code="ggzy")))
    r = client.get("/api/v1/analytics/food-drug/watchlist.xlsx?include_medium=true", headers=viewer)
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(3, 3).value == SHOP and "抽检不合格 2 起" in ws.cell(3, 6).value
    assert client.get("/api/v1/analytics/food-drug/risks", headers=other).status_code == 403
    assert client.get("/api/v1/analytics/food-drug/risks?level=medium", headers=viewer).json()[0]["uscc"] == SHOP


def test_a_poor_credit_grade_raises_the_risk_of_a_subject_already_flagged(session: Session) -> None:
    from sqlalchemy import update

    from xinyong.evaluation.models import EvaluationResult
    from xinyong.evaluation.service import run_evaluation

    score, _level, reasons = food_drug.assess({"spot_check_failure": [1, 0], "grade_D": [1, 0]}, CFG)
    assert score == 25 + CFG["grade_weights"]["D"] and "D级" in reasons[-1]["text"]
    assert food_drug.assess({"grade_C": [1, 0]}, CFG)[0] == CFG["grade_weights"]["C"]

    from xinyong.catalog.service import seed_catalog

    seed_catalog(session, actor=ACTOR)
    make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市好味食品有限公司", code=SHOP)
    subjects.register_organisation(session, actor=ACTOR, name="沁阳市放心超市有限公司", code=CLEAN)
    file_complaint(session, actor=ACTOR, facts="出售过期食品", subject_code=SHOP, department="scjgj", anonymous=True)
    run_evaluation(session, actor=ACTOR, model=CFG["grade_model"], subject_codes=[SHOP, CLEAN])
    # Both subjects graded D (as if seriously black-listed): only the one with a food signal is on the list.
    session.execute(update(EvaluationResult).values(grade="D"))
    session.commit()
    [risk] = food_drug.risk_levels(session)
    assert risk["uscc"] == SHOP and risk["score"] == 5 + CFG["grade_weights"]["D"]
    assert [r["signal"] for r in risk["reasons"]] == ["complaint_open", "grade_D"]
