"""Routes of `analytics` (prefix ``/analytics``): trading collusion analysis for the trading centre, food/drug risk
warning for the market regulator. Department roles are limited to the departments named in ``risk.yaml``
(``departments``: trading → ggzy, food_drug → scjgj); the platform admin may use everything.

The department assessment (督查考核): the ranking with each score's parts (the admin sees every department, a
department user his own row), and the expected volumes (应报尽报) the admin configures."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyong.analytics import assessment, food_drug, trading, volumes
from xinyong.analytics.models import ImportKind
from xinyong.analytics.risk_config import risk_config
from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Limit, Offset
from xinyong.core.errors import Forbidden

router = APIRouter(prefix="/analytics", tags=["analytics"], route_class=uploads.UploadRoute)
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
Level = Literal["high", "medium", "low"]
TradingKind = Literal["tenders", "bids", "awards", "bidders"]
operators = allow(Role.DEPT_OPERATOR)
readers = allow(Role.DEPT_OPERATOR, Role.DEPT_VIEWER)
admin = allow()
PERIOD_HELP = "考核期间：YYYY-MM（月度）、YYYY-Qn（季度）或 YYYY（年度汇总）；默认上一个完整月份"


def _require(session: Session, principal: Principal, area: str) -> None:
    """Department roles only from the departments configured for this analysis."""
    if principal.is_admin:
        return
    codes = risk_config()["departments"][area]
    dept = session.get(Department, principal.department_id) if principal.department_id else None
    if dept is None or dept.code not in codes:
        raise Forbidden(f"本分析仅限 {'、'.join(codes)} 部门使用", code="analytics_department_not_allowed")


# Public-resource trading ------------------------------------------------------------------------------------


@router.post("/trading/imports/{kind}", status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def import_trading(
    kind: TradingKind,
    file: UploadFile = File(..., description="CSV / XLSX / JSON 文件"),
    mode: Literal["reject_all", "keep_good"] = Query(
        "reject_all", description="reject_all：有错行则整份不导入；keep_good：导入正确的行，退回错行"
    ),
    principal: Principal = Depends(operators),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """导入招标项目、投标记录、中标结果或投标人属性文件（默认整份校验，有错行则不导入）。"""
    _require(session, principal, "trading")
    upload = uploads.received(file)
    return trading.import_file(session, actor=principal, kind=kind, path=upload, filename=upload.name, mode=mode)


@router.get("/trading/imports")
def trading_imports(
    limit: Limit = 50, principal: Principal = Depends(readers), session: Session = SessionDep
) -> list[dict[str, Any]]:
    """最近的交易数据导入。"""
    _require(session, principal, "trading")
    return [trading.import_view(r) for r in trading.list_imports(session, kinds=trading.TRADING_KINDS, limit=limit)]


@router.post("/trading/analyses", status_code=201)
def run_trading_analysis(principal: Principal = Depends(operators), session: Session = SessionDep) -> dict[str, Any]:
    """对全部投标记录运行串标围标风险分析，保存结果。"""
    _require(session, principal, "trading")
    return trading.analysis_view(trading.run_analysis(session, actor=principal))


@router.get("/trading/analyses/latest")
def latest_trading_analysis(principal: Principal = Depends(readers), session: Session = SessionDep) -> dict[str, Any]:
    """最近一次分析的概况。"""
    _require(session, principal, "trading")
    return trading.analysis_view(trading.get_analysis(session))


@router.get("/trading/tenders")
def risky_tenders(
    level: Level | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    analysis_id: Id | None = None,
    principal: Principal = Depends(readers),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """按风险分排序的项目及其风险标记与证据（默认最近一次分析）。"""
    _require(session, principal, "trading")
    return trading.ranked_tenders(trading.get_analysis(session, analysis_id), level=level, limit=limit, offset=offset)


@router.get("/trading/tenders/{project_no}")
def tender(project_no: str, principal: Principal = Depends(readers), session: Session = SessionDep) -> dict[str, Any]:
    """一个项目：投标人、报价（电话已脱敏）、风险标记与证据。"""
    _require(session, principal, "trading")
    return trading.tender_detail(session, project_no)


@router.get("/trading/groups")
def bidder_groups(
    level: Level | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    analysis_id: Id | None = None,
    principal: Principal = Depends(readers),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """关联投标人群体（共享属性图的连通分量），按风险排序。"""
    _require(session, principal, "trading")
    return trading.ranked_groups(trading.get_analysis(session, analysis_id), level=level, limit=limit, offset=offset)


@router.get("/trading/bidders")
def bidders(
    q: str | None = None,
    order: Literal["bids", "wins", "amount"] = "bids",
    limit: Limit = 50,
    offset: Offset = 0,
    principal: Principal = Depends(readers),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """投标人的投标参与情况与中标情况。"""
    _require(session, principal, "trading")
    return trading.bidder_stats(session, q=q, order=order, limit=limit, offset=offset)


@router.get("/trading/bidders/{bidder_key}")
def bidder(bidder_key: str, principal: Principal = Depends(readers), session: Session = SessionDep) -> dict[str, Any]:
    """一个投标人：参与与中标统计、最近投标、所在群体与被标记项目。"""
    _require(session, principal, "trading")
    return trading.bidder_profile(session, bidder_key)


# Food and drug ------------------------------------------------------------------------------------------------


@router.post("/food-drug/spot-checks", status_code=201)
@uploads.limit(MAX_UPLOAD_BYTES)
def import_spot_checks(
    file: UploadFile = File(..., description="抽检结果 CSV / XLSX / JSON"),
    principal: Principal = Depends(operators),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """导入食品药品抽检结果文件。"""
    _require(session, principal, "food_drug")
    upload = uploads.received(file)
    return trading.import_file(session, actor=principal, kind=ImportKind.SPOT_CHECKS, path=upload, filename=upload.name)


@router.get("/food-drug/risks")
def food_drug_risks(
    level: Level | None = None,
    limit: int = Query(100, ge=1, le=5000),
    principal: Principal = Depends(readers),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """各主体的食品药品风险等级及原因（处罚、抽检不合格、投诉举报）。"""
    _require(session, principal, "food_drug")
    return food_drug.risk_levels(session, level=level, limit=limit)


@router.get("/food-drug/watchlist")
def watchlist(
    include_medium: bool = False, principal: Principal = Depends(readers), session: Session = SessionDep
) -> list[dict[str, Any]]:
    """监管关注名单（高风险，可含中风险）。"""
    _require(session, principal, "food_drug")
    return food_drug.watch_list(session, include_medium=include_medium)


@router.get("/food-drug/watchlist.xlsx")
def watchlist_xlsx(
    include_medium: bool = False, principal: Principal = Depends(readers), session: Session = SessionDep
) -> Response:
    """监管关注名单（Excel）。"""
    _require(session, principal, "food_drug")
    today = clock.today()
    content = food_drug.watch_list_xlsx(
        food_drug.watch_list(session, today=today, include_medium=include_medium), today=today
    )
    return uploads.attachment(content, f"food-drug-watchlist-{today}.xlsx", uploads.XLSX)


# Department assessment (督查考核) ------------------------------------------------------------------------------


def ranking_for(result: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The admin sees every row; a department user only his own (and how many were ranked)."""
    rows = result["rows"]
    if not principal.is_admin:
        own = assessment.department_row(result, principal.department_id)
        rows = [own] if own else []
    return {**result, "ranked": len(result["rows"]), "rows": rows}


@router.get("/assessment")
def assessment_ranking(
    period: str | None = Query(None, max_length=10, description=PERIOD_HELP),
    principal: Principal = Depends(readers),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """督查考核：各部门总分、排名，以及每项得分的构成（应报、已报、按时、迟报、退回行数……）。"""
    result = assessment.assess(session, period=assessment.parse_period(period))
    return ranking_for(result, principal)


class ExpectedVolumeIn(BaseModel):
    monthly: int = Field(ge=0, le=volumes.MAX_MONTHLY, description="每月应报条数")
    note: str | None = Field(None, max_length=200, description="依据或备注")


@router.get("/assessment/expected-volumes")
def expected_volumes(
    period: str | None = Query(None, max_length=10, description=PERIOD_HELP),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """应报尽报：管理员配置的每月应报量，以及考核期间各部门实际采用的应报量（配置或历史中位数）与已报量。"""
    p = assessment.parse_period(period)
    return {
        "period": {**p.to_dict(), **assessment.period_label(p)},
        "configured": volumes.list_expected(session),
        "departments": volumes.volume(session, period=p),
    }


@router.put("/assessment/expected-volumes/{department_code}/{info_class}")
def set_expected_volume(
    department_code: str,
    info_class: str,
    body: ExpectedVolumeIn,
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """配置一个部门某类信息（licence 行政许可 / penalty 行政处罚）的每月应报量（记入审计日志）。"""
    return volumes.set_expected(
        session,
        actor=principal,
        department_code=department_code,
        info_class_=info_class,
        monthly=body.monthly,
        note=body.note,
    )


@router.delete("/assessment/expected-volumes/{department_code}/{info_class}")
def delete_expected_volume(
    department_code: str, info_class: str, principal: Principal = Depends(admin), session: Session = SessionDep
) -> dict[str, Any]:
    """删除配置的应报量（此后按该部门近 12 个月报送量中位数；记入审计日志）。"""
    return volumes.delete_expected(session, actor=principal, department_code=department_code, info_class_=info_class)
