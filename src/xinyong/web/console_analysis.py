"""Console pages of the credit office and the departments for the evaluation and the analyses (部门工作台):
信用评价 (models, runs, grade distribution, a subject's grades explained), 分级分类监管 (the reproducible 双随机
sampling list), 公共资源交易 (collusion red flags with their evidence, bidder groups, bidder statistics) and 食品药品风险
(risk levels with reasons, the watch list).

Every route is a thin page over the service functions the API calls (``evaluation.service``,
``evaluation.supervision``, ``analytics.trading``, ``analytics.food_drug``), with the API's policies: the same roles
(``allow``), and for the two analyses the same department check (``analytics.api._require``: only the departments
named in ``risk.yaml`` and the admin). What the services refuse, the pages refuse; what they audit (runs, draws,
analyses, a look-up of a natural person) is audited the same way. The helpers of ``web.console`` (rendering,
refusals, the role policies) are reused, so these pages look and behave like the rest of the console.
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.analytics import food_drug, trading
from xinyong.analytics.api import _require as require_area
from xinyong.analytics.collusion import FLAG_LABELS, LEVEL_LABELS
from xinyong.auth import service as auth_service
from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock, uploads
from xinyong.core.bounds import Id, Offset
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed, XinyongError
from xinyong.evaluation import service, supervision
from xinyong.evaluation.models import EvaluationResult
from xinyong.evaluation.supervision import MAX_SEED, sample_csv
from xinyong.subjects.models import KIND_LABELS, Subject, SubjectKind
from xinyong.subjects.service import find_subject
from xinyong.web.console import (
    CONSOLE_ROLES,
    PAGE,
    _all_departments,
    admin,
    failed,
    operator,
    pager,
    render,
    see_other,
    viewer,
)
from xinyong.web.templates import TEMPLATES

router = APIRouter(prefix="/console", include_in_schema=False)

Level = Literal["", "high", "medium", "low"]
#: The console pages of this module, placed in the navigation before the API tokens and the users.
#: (key, url, label, area): ``area`` names the analysis whose department check (``risk.yaml``) applies.
NAV = [
    ("evaluation", "/console/evaluation", "信用评价", None),
    ("supervision", "/console/supervision", "分级分类监管", None),
    ("trading", "/console/trading", "公共资源交易", "trading"),
    ("food_drug", "/console/food-drug", "食品药品风险", "food_drug"),
]
SCOPE_LABELS = {"full": "全量", "subset": "增量"}
POOL_LABELS = {"licensees": "本部门有效行政许可的持有人", "population": "该模型评价的全部主体"}
SOURCE_LABELS = {"bid": "投标文件", "bidder_file": "投标人属性文件", "registry": "登记信息"}
ATTRIBUTE_LABELS = {
    "ip": "投标IP",
    "phone": "联系电话",
    "legal_rep": "法定代表人",
    "address": "地址",
    "shareholder": "股东",
}


# Navigation and presentation helpers (Jinja globals and filters) ------------------------------------------------


def _allowed_areas(request: Request, principal: Principal) -> set[str]:
    """The analyses this principal may open, decided by the API's own check (``analytics.api._require``)."""
    if principal.is_admin:
        return {"trading", "food_drug"}
    cached = getattr(request.state, "analysis_areas", None)
    if cached is not None:
        return set(cached)
    areas = set()
    with request.app.state.db.session(write=False) as session:
        for area in ("trading", "food_drug"):
            try:
                require_area(session, principal, area)
            except Forbidden:
                continue
            areas.add(area)
    request.state.analysis_areas = frozenset(areas)
    return areas


def console_nav(request: Request, me: Principal | None, nav: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The console's navigation with this module's pages added: only those the user may open (the two analyses
    only for the departments that may use them, as the API decides)."""
    if me is None or me.role not in CONSOLE_ROLES or not nav:
        return nav
    areas = _allowed_areas(request, me)
    mine = [(key, url, label) for key, url, label, area in NAV if area is None or area in areas]
    at = next((i for i, (key, _, _) in enumerate(nav) if key == "tokens"), len(nav))
    return nav[:at] + mine + nav[at:]


def yuan(value: float | None) -> str:
    """An amount in yuan with thousands separators."""
    return "—" if value is None else f"{value:,.2f}"


def _names(flag: dict[str, Any]) -> dict[str, str]:
    return {b["key"]: b["name"] for b in flag.get("bidders", [])}


def evidence_lines(flag: dict[str, Any]) -> list[str]:
    """A red flag's evidence as Chinese sentences for the reviewer (the stored evidence is a dictionary whose keys
    depend on the kind of flag; unknown keys are shown as they are, so nothing stored is hidden)."""
    ev = dict(flag.get("evidence") or {})
    names = _names(flag)
    lines = []
    if "attribute" in ev:
        attribute = ev.pop("attribute")
        lines.append(f"共同的{ATTRIBUTE_LABELS.get(attribute, attribute)}：{ev.pop('value', '')}")
    if "coefficient_of_variation" in ev:
        cv, threshold = ev.pop("coefficient_of_variation"), ev.pop("threshold", None)
        lines.append(f"报价离散系数 {cv:.3%}" + (f"（低于 {threshold:.2%} 即标记）" if threshold is not None else ""))
    if "step" in ev:
        lines.append(f"相邻报价等差，步长约 {yuan(ev.pop('step'))} 元")
    if "difference" in ev:
        lines.append(f"两家报价相差 {yuan(ev.pop('difference'))} 元")
    if "prices" in ev:
        lines.append("报价（元）：" + "、".join(yuan(p) for p in ev.pop("prices")))
    if "window" in ev:
        first, last = ev.pop("window")
        lines.append(
            f"{first} 至 {last}，{ev.pop('members', len(names))} 家共同投标 {ev.pop('tenders_together', '?')} 次"
        )
    if "wins" in ev:
        wins = ev.pop("wins")
        lines.append("其间中标次数：" + "、".join(f"{names.get(k, k)} {n} 次" for k, n in wins.items()))
    if "loser" in ev:
        loser, winner = ev.pop("loser"), ev.pop("winner", None)
        lines.append(
            f"{names.get(loser, loser)} 投标 {ev.pop('bids', '?')} 次从未中标，其中 "
            f"{ev.pop('losses_to_winner', '?')} 次输给 {names.get(winner, winner)}"
        )
    lines.extend(f"{k}：{v}" for k, v in ev.items())
    return lines


# 信用评价 -----------------------------------------------------------------------------------------------------


def grade_distribution(session: Session) -> dict[str, dict[str, int]]:
    """Current results per model and grade: one GROUP BY over the (model, grade) index."""
    r = EvaluationResult
    out: dict[str, dict[str, int]] = {}
    for model, grade, n in session.execute(select(r.model_code, r.grade, func.count()).group_by(r.model_code, r.grade)):
        out.setdefault(model, {})[grade] = n
    return out


@router.get("/evaluation", response_class=HTMLResponse)
def evaluation_page(
    request: Request, ran: Id | None = None, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """Models in force with their grade bands and the current grade distribution, the subject look-up; for the
    admin also the recent runs and the form that starts one (the API: ``GET /models``, ``GET /runs``)."""
    models = [service.model_view(m) for m in service.current_models(session)]
    counts = grade_distribution(session)
    for m in models:
        per_grade = counts.get(m["code"], {})
        total = sum(per_grade.values())
        m["distribution"] = {
            "total": total,
            "grades": [
                {
                    "grade": g["code"],
                    "label": g["label"],
                    "count": per_grade.get(g["code"], 0),
                    "share": per_grade.get(g["code"], 0) / total if total else None,
                }
                for g in m["grades"]
            ],
        }
    runs = [service.run_view(r) for r in service.list_runs(session, limit=20)] if principal.is_admin else []
    return render(
        request,
        "console/evaluation.html",
        principal,
        active="evaluation",
        models=models,
        runs=runs,
        ran=ran,
        scope_labels=SCOPE_LABELS,
    )


@router.post("/evaluation/runs", response_class=HTMLResponse)
def evaluation_run(
    request: Request,
    model: str = Form("", max_length=60),
    scope: Literal["full", "incremental"] = Form("incremental"),
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    """Run one or every current model (``service.run_evaluation``, audited there): in full, or incrementally
    (subjects whose data changed since the model's last run; a model never run is run in full)."""
    try:
        runs = service.run_evaluation(
            session, actor=principal, model=model or None, changed_since="last" if scope == "incremental" else None
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/evaluation")
    return see_other(f"/console/evaluation?ran={min(r['id'] for r in runs)}#runs" if runs else "/console/evaluation")


@router.post("/evaluation/lookup", response_class=HTMLResponse)
def evaluation_lookup(
    request: Request,
    code: str = Form(..., max_length=60),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Find the subject a code names and show its grades. A form post, so a resident ID number never appears in a
    URL (browser history, server logs); the result page is addressed by the subject's internal id."""
    subject = find_subject(session, code)
    if subject is None:
        return failed(
            request,
            session,
            principal,
            NotFound("未找到该信用主体", code="subject_not_found"),
            back="/console/evaluation#lookup",
        )
    return see_other(f"/console/evaluation/subjects/{subject.id}")


@router.get("/evaluation/subjects/{subject_id}", response_class=HTMLResponse)
def evaluation_subject(
    request: Request, subject_id: Id, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """A subject's current grades with the line-by-line explanation and the grade history (``subject_results``,
    with what the catalog lets the user's role see); viewing a natural person is recorded, as in the API."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    results = service.read_subject_results(
        session, subject, actor=principal, endpoint="GET /console/evaluation/subjects/{id}"
    )
    return render(
        request,
        "console/evaluation_subject.html",
        principal,
        active="evaluation",
        subject=subject,
        kind_label=KIND_LABELS.get(SubjectKind(subject.kind), subject.kind),
        results=results,
    )


# 分级分类监管 ---------------------------------------------------------------------------------------------------


def _supervision_models(session: Session) -> list[dict[str, Any]]:
    out = []
    for m in service.current_models(session):
        spec = service.spec_of(m)
        out.append(
            {
                "code": m.code,
                "name": m.name,
                "version": m.version,
                "pool": spec.supervision.pool,
                "grades": supervision.intensity(spec),
            }
        )
    return out


def _own_department_code(session: Session, principal: Principal) -> str:
    if principal.department_id is None:
        return ""
    return auth_service.get_department(session, ref=principal.department_id).code


def _seed(value: str) -> int:
    """The seed as typed; blank: a fresh random one (shown with the list, so the draw can be repeated)."""
    text = value.strip()
    if not text:
        return secrets.randbelow(10**9)
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_SEED:
        raise ValidationFailed("随机种子应为非负整数", code="bad_seed")
    return int(text)


def _supervision_form(session: Session, principal: Principal, **values: Any) -> dict[str, Any]:
    return {
        "models": _supervision_models(session),
        "departments": _all_departments(session, principal),
        "own_department": _own_department_code(session, principal),
        "pool_labels": POOL_LABELS,
        "form": {
            "model": "public_credit_legal_person",
            "department": "",
            "period": clock.today().strftime("%Y-%m"),
            "seed": "",
            **values,
        },
    }


@router.get("/supervision", response_class=HTMLResponse)
def supervision_page(
    request: Request, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """Per model and grade the sampling ratio and supervision measures, and the 双随机 sampling form."""
    return render(
        request,
        "console/supervision.html",
        principal,
        active="supervision",
        result=None,
        **_supervision_form(session, principal),
    )


def _draw(
    session: Session, principal: Principal, *, model: str, department: str, period: str, seed: int
) -> dict[str, Any]:
    department = department or _own_department_code(session, principal)
    if not department:
        raise ValidationFailed("请选择部门", code="department_required")
    return supervision.sample(
        session, actor=principal, department=department, period=period.strip(), seed=seed, model=model
    )


@router.post("/supervision/sample", response_class=HTMLResponse)
def supervision_sample(
    request: Request,
    model: str = Form("public_credit_legal_person", max_length=60),
    department: str = Form("", max_length=32),
    period: str = Form(..., max_length=10),
    seed: str = Form("", max_length=20),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Draw the department's sampling list (``supervision.sample``: own department only, audited). A form post:
    a draw is an official act recorded under the user's name, so it is protected against cross-site requests."""
    try:
        chosen = _seed(seed)
        result = _draw(session, principal, model=model, department=department, period=period, seed=chosen)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/supervision")
    return render(
        request,
        "console/supervision.html",
        principal,
        active="supervision",
        result=result,
        **_supervision_form(
            session,
            principal,
            model=model,
            department=result["department"],
            period=result["period"],
            seed=str(result["seed"]),
        ),
    )


@router.post("/supervision/sample.csv")
def supervision_sample_csv(
    request: Request,
    seed: Annotated[Offset, Form()],
    model: str = Form(..., max_length=60),
    department: str = Form("", max_length=32),
    period: str = Form(..., max_length=10),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The same draw (same model, department, period and seed: the same list) as a CSV file."""
    try:
        result = _draw(session, principal, model=model, department=department, period=period, seed=seed)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/supervision")
    filename = f"双随机抽查名单-{result['department']}-{result['period']}-{result['seed']}.csv"
    return uploads.attachment(sample_csv(result), filename, uploads.CSV)


# 公共资源交易 --------------------------------------------------------------------------------------------------


def _level(level: str) -> str | None:
    return level or None


@router.get("/trading", response_class=HTMLResponse)
def trading_page(
    request: Request,
    level: Level = "",
    page: int = Query(1, ge=1, le=10_000),
    analysis_id: Id | None = None,
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The latest analysis (or ``analysis_id``): summary and the tenders ranked by risk with their red flags."""
    require_area(session, principal, "trading")
    try:
        run = trading.get_analysis(session, analysis_id)
    except NotFound:
        if analysis_id:
            raise
        run = None
    ranked = trading.ranked_tenders(run, level=_level(level), limit=PAGE, offset=(page - 1) * PAGE) if run else None
    imports = [trading.import_view(r) for r in trading.list_imports(session, kinds=trading.TRADING_KINDS, limit=5)]
    return render(
        request,
        "console/trading.html",
        principal,
        active="trading",
        analysis=trading.analysis_view(run) if run else None,
        ranked=ranked,
        level=level,
        page=page,
        more=bool(ranked and ranked["total"] > page * PAGE),
        **(pager(ranked["total"]) if ranked else {}),
        imports=imports,
        can_run=principal.role in (Role.ADMIN, Role.DEPT_OPERATOR),
        level_labels=LEVEL_LABELS,
        flag_labels=FLAG_LABELS,
    )


@router.post("/trading/analyses", response_class=HTMLResponse)
def trading_analyse(
    request: Request, principal: Principal = Depends(operator), session: Session = SessionDep
) -> Response:
    """Run the collusion analysis over every bid (``trading.run_analysis``: stored and audited)."""
    try:
        require_area(session, principal, "trading")
        trading.run_analysis(session, actor=principal)
    except XinyongError as exc:
        return failed(request, session, principal, exc, back="/console/trading")
    return see_other("/console/trading")


@router.get("/trading/tenders/{project_no:path}", response_class=HTMLResponse)
def trading_tender(
    request: Request, project_no: str, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """One tender: its bids (phones masked, where a legal representative or address came from) and its red flags
    with their evidence in the latest analysis."""
    require_area(session, principal, "trading")
    detail = trading.tender_detail(session, project_no)
    names = {b["bidder_key"]: b["bidder_name"] for b in detail["bids"]}
    return render(
        request,
        "console/trading_tender.html",
        principal,
        active="trading",
        t=detail,
        winner_name=names.get(detail["winner_key"] or "", detail["winner_key"]),
        level_labels=LEVEL_LABELS,
        source_labels=SOURCE_LABELS,
    )


@router.get("/trading/groups", response_class=HTMLResponse)
def trading_groups(
    request: Request,
    level: Level = "",
    page: int = Query(1, ge=1, le=10_000),
    analysis_id: Id | None = None,
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Bidder groups tied by shared contacts, rotation or cover bidding, ranked by risk."""
    require_area(session, principal, "trading")
    run = trading.get_analysis(session, analysis_id)
    ranked = trading.ranked_groups(run, level=_level(level), limit=PAGE, offset=(page - 1) * PAGE)
    return render(
        request,
        "console/trading_groups.html",
        principal,
        active="trading",
        ranked=ranked,
        analysis=trading.analysis_view(run),
        level=level,
        page=page,
        more=ranked["total"] > page * PAGE,
        **pager(ranked["total"]),
        level_labels=LEVEL_LABELS,
        flag_labels=FLAG_LABELS,
    )


@router.get("/trading/bidders", response_class=HTMLResponse)
def trading_bidders(
    request: Request,
    q: str = Query("", max_length=100),
    order: Literal["bids", "wins", "amount"] = "bids",
    page: int = Query(1, ge=1, le=10_000),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """投标参与情况与中标情况: bids, wins, win rate and amount won per bidder, searchable by name or USCC."""
    require_area(session, principal, "trading")
    stats = trading.bidder_stats(session, q=q.strip() or None, order=order, limit=PAGE, offset=(page - 1) * PAGE)
    return render(
        request,
        "console/trading_bidders.html",
        principal,
        active="trading",
        stats=stats,
        q=q,
        order=order,
        page=page,
        more=stats["total"] > page * PAGE,
        **pager(stats["total"]),
    )


@router.get("/trading/bidders/{bidder_key:path}", response_class=HTMLResponse)
def trading_bidder(
    request: Request, bidder_key: str, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    """One bidder: statistics, latest bids, the groups and flagged tenders it appears in."""
    require_area(session, principal, "trading")
    return render(
        request,
        "console/trading_bidder.html",
        principal,
        active="trading",
        b=trading.bidder_profile(session, bidder_key),
        level_labels=LEVEL_LABELS,
        flag_labels=FLAG_LABELS,
    )


# 食品药品风险 ---------------------------------------------------------------------------------------------------


@router.get("/food-drug", response_class=HTMLResponse)
def food_drug_page(
    request: Request,
    level: Level = "",
    page: int = Query(1, ge=1, le=10_000),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Every subject with a food or drug signal, highest risk first, with the reasons and their points."""
    require_area(session, principal, "food_drug")
    everyone = food_drug.risk_levels(session)  # computed whole in any case: the counts per level come with it
    counts = Counter(r["level"] for r in everyone)
    rows = [r for r in everyone if not level or r["level"] == level]
    start = (page - 1) * PAGE
    return render(
        request,
        "console/food_drug.html",
        principal,
        active="food_drug",
        rows=rows[start : start + PAGE],
        **pager(len(rows)),
        counts=counts,
        level=level,
        page=page,
        more=len(rows) > start + PAGE,
        level_labels=food_drug.LEVEL_LABELS,
    )


@router.get("/food-drug/watchlist", response_class=HTMLResponse)
def food_drug_watchlist(
    request: Request,
    include_medium: bool = False,
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The regulator's watch list (高, optionally also 中) and its Excel download."""
    require_area(session, principal, "food_drug")
    return render(
        request,
        "console/food_drug_watchlist.html",
        principal,
        active="food_drug",
        rows=food_drug.watch_list(session, include_medium=include_medium),
        include_medium=include_medium,
    )


@router.get("/food-drug/watchlist.xlsx")
def food_drug_watchlist_xlsx(
    include_medium: bool = False, principal: Principal = Depends(viewer), session: Session = SessionDep
) -> Response:
    require_area(session, principal, "food_drug")
    today = clock.today()
    content = food_drug.watch_list_xlsx(
        food_drug.watch_list(session, today=today, include_medium=include_medium), today=today
    )
    filename = f"食品药品风险监管名单-{today}.xlsx"
    return uploads.attachment(content, filename, uploads.XLSX)


# Installation -----------------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Mount these pages (after ``web.console.install``, whose refusal pages and login gate cover them too) and
    give the templates their helpers."""
    app.include_router(router)
    TEMPLATES.env.globals["console_nav"] = console_nav
    TEMPLATES.env.globals["evidence_lines"] = evidence_lines
    TEMPLATES.env.filters["yuan"] = yuan
