"""The public credit website (信用网站): search, subject pages, 双公示, red and black lists, due-process forms,
report verification and open data.

Every page is server-rendered Chinese HTML that works without JavaScript. What a page may show is decided by the
domain services' public views (``records.public_record_view``, ``lists.public_entries``,
``commitments.subject_commitments_view(public=True)``, ``subjects.public_view``) — for a subject's page through the
PUBLIC subject profile (``reports.profile.build_profile``); this module never reads a
column those views leave out. Natural persons have no page and no search result: a person's code answers exactly
like an unknown one.

Query parameters arrive as text and are parsed here (a bad page number or date is corrected or reported on the
page, never a 422 JSON body or a 500).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.deps import ReadSessionDep, SessionDep, public
from xinyong.auth.roles import ANONYMOUS
from xinyong.auth.service import list_departments
from xinyong.cases import flows, objections, repair, service, verification
from xinyong.cases import service as cases
from xinyong.cases.models import Case, CaseKind
from xinyong.cases.targets import resolve as resolve_target
from xinyong.cases.targets import words as target_words
from xinyong.core import clock, uploads
from xinyong.core.bounds import parse_id
from xinyong.core.errors import NotFound, XinyongError
from xinyong.core.settings import get_settings
from xinyong.identifiers.masking import mask_resident_id
from xinyong.ingest.values import normalize_doc_no
from xinyong.lists.queries import list_sizes, public_entries, public_type_ids
from xinyong.lists.types import external_codes as external_list_codes
from xinyong.lists.types import list_types
from xinyong.records.queries import COUNT_CAP, RecordSearch, count_records, list_records
from xinyong.records.views import mark_objections, public_record_view
from xinyong.reports.api import pdf_response
from xinyong.reports.config import get_reports_settings
from xinyong.reports.profile import ENTRY_FIELDS, Audience, build_profile
from xinyong.reports.service import generate_report, verify_report
from xinyong.subjects.models import KIND_LABELS, Subject, SubjectKind
from xinyong.subjects.search import MATCH_CAP, clean_query, matching_subject_ids, search_subjects
from xinyong.web.security import rate_limit
from xinyong.web.templates import TEMPLATES

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)], route_class=uploads.UploadRoute)

PAGE_SIZE = 20
SEARCH_PAGE_SIZE = 20
#: Listing pages go this deep; beyond it the filters (department, date) narrow the list instead.
MAX_PAGE = 200
OPEN_DATA_MAX_ROWS = 10_000
RECORD_KIND_LABELS = {"licence": "行政许可", "penalty": "行政处罚"}
LIST_KIND_LABELS = {
    "red": "红名单（守信激励）",
    "black": "黑名单（严重失信主体）",
    "abnormal": "经营异常名录",
    "debtor": "失信被执行人",
    "other": "其他名单",
}
PUBLIC_KINDS = {k.value: KIND_LABELS[k] for k in SubjectKind if k is not SubjectKind.NATURAL_PERSON}
CASE_KINDS = {"objection": "提出异议", "repair": "申请信用修复"}
TARGET_LABELS = {"record": "信用记录", "list_entry": "名单条目"}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    ctx = {"city": get_settings().city_name, **context}
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status_code)


def parse_page(value: str | None, *, max_page: int = MAX_PAGE) -> int:
    """A page number from the query: anything unreadable is page 1, anything beyond ``max_page`` the last page."""
    try:
        page = int((value or "1").strip()[:12])
    except ValueError:
        return 1
    return min(max(page, 1), max_page)


def parse_date(value: str | None) -> tuple[dt.date | None, str | None]:
    if not value or not value.strip():
        return None, None
    try:
        return dt.date.fromisoformat(value.strip()[:10]), None
    except ValueError:
        return None, "日期格式应为 YYYY-MM-DD，已忽略该条件"


def _today() -> dt.date:
    return clock.today()


def public_subject(session: Session, ref: str) -> Subject:
    """The organisation a page address names (USCC, or ``id-<n>`` for a subject without one); never a person."""
    ref = (ref or "").strip()[:40]
    subject: Subject | None = None
    if ref.startswith("id-"):
        ident = parse_id(ref[3:])
        subject = None if ident is None else session.get(Subject, ident)
    elif len(ref) == 18:
        subject = session.scalar(select(Subject).where(Subject.uscc == ref.upper()))
    if subject is None or subject.kind == SubjectKind.NATURAL_PERSON.value:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    return subject


def subject_ref(subject: Any) -> str:
    return subject.uscc or f"id-{subject.id}"


def _not_found(request: Request, message: str = "未找到该信用主体") -> HTMLResponse:
    return render(request, "error.html", {"status": 404, "message": message}, status_code=404)


# Search --------------------------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse, dependencies=[Depends(rate_limit("search"))])
def search_page(
    request: Request,
    q: str | None = None,
    kind: str | None = None,
    page: str | None = None,
    session: Session = ReadSessionDep,
) -> HTMLResponse:
    max_page = math.ceil(MATCH_CAP / SEARCH_PAGE_SIZE)
    page_no = parse_page(page, max_page=max_page)
    kind = kind if kind in PUBLIC_KINDS else None
    results = None
    if q and q.strip():
        results = search_subjects(
            session, q=q, kind=kind, limit=SEARCH_PAGE_SIZE, offset=(page_no - 1) * SEARCH_PAGE_SIZE
        )
    pages = max(1, math.ceil(results.total / SEARCH_PAGE_SIZE)) if results else 1
    return render(
        request,
        "portal/search.html",
        {
            "q": (results.query if results else (q or "")[:100]),
            "kind": kind,
            "kinds": PUBLIC_KINDS,
            "results": results,
            "page": page_no,
            "pages": pages,
            "kind_labels": KIND_LABELS,
            "ref": subject_ref,
        },
    )


# Subject page --------------------------------------------------------------------------------------------------


def _public_list_codes(session: Session) -> set[str]:
    ids = set(public_type_ids(session))
    return {t.code for t in list_types(session) if t.id in ids}


_ENTRY_KEYS = (*ENTRY_FIELDS, "objection")


def subject_context(session: Session, subject: Subject, today: dt.date) -> dict[str, Any]:
    """Everything the public subject page shows: the PUBLIC subject profile (``reports.profile.build_profile``,
    the same the credit report prints)."""
    profile = build_profile(session, subject, audience=Audience.PUBLIC, today=today)
    external = external_list_codes(session) if profile.list_entries else set()
    entries = [{**{k: e[k] for k in _ENTRY_KEYS}, "external": e["list_code"] in external} for e in profile.list_entries]
    return {
        "subject": profile.basics,
        "ref": subject_ref(subject),
        "licences": profile.licences,
        "penalties": profile.penalties,
        "other_classes": profile.other_classes,
        "red": [e for e in entries if e["kind"] == "red"],
        "black": [e for e in entries if e["kind"] != "red"],
        "commitments": profile.commitments,
        "grades": profile.grades,
        "today": today,
    }


@router.get("/subject/{ref}", response_class=HTMLResponse)
def subject_page(request: Request, ref: str, session: Session = ReadSessionDep) -> HTMLResponse:
    try:
        subject = public_subject(session, ref)
    except NotFound:
        return _not_found(request)
    return render(request, "portal/subject.html", subject_context(session, subject, _today()))


@router.post("/subject/{ref}/report", dependencies=[Depends(rate_limit("report"))])
def subject_report(request: Request, ref: str, session: Session = SessionDep) -> Response:
    """Issue the public credit report of an organisation (PDF, registered and verifiable)."""
    try:
        subject = public_subject(session, ref)
        if not subject.uscc:
            raise NotFound("该主体没有统一社会信用代码，请到信用服务窗口申请报告", code="no_uscc")
        report, pdf_bytes = generate_report(session, subject_code=subject.uscc, requester=ANONYMOUS)
    except XinyongError as exc:
        return render(
            request, "error.html", {"status": exc.status_code, "message": exc.message}, status_code=exc.status_code
        )
    return pdf_response(report, pdf_bytes)


# Report verification -------------------------------------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
@router.get("/reports/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, code: str | None = None, number: str | None = None, session: Session = SessionDep
) -> HTMLResponse:
    """The verification page; the QR code printed on a report opens it with ``?code=`` and shows the answer."""
    result = None
    if (code and code.strip()) or (number and number.strip()):
        result = verify_report(
            session, number=(number or "").strip()[:40] or None, short_code=(code or "").strip()[:40] or None
        )
    return render(
        request, "portal/verify.html", {"result": result, "code": (code or "")[:40], "number": (number or "")[:40]}
    )


def _verify_limit() -> int:
    return get_reports_settings().max_verify_bytes + 1  # one byte over: the page's own message


@router.post("/verify", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
@uploads.limit(_verify_limit)
async def verify_upload(
    request: Request,
    number: str = Form(""),
    code: str = Form(""),
    file: UploadFile | None = File(None),
    session: Session = SessionDep,
) -> HTMLResponse:
    content = None
    error = None
    if file is not None and file.filename:
        limit = get_reports_settings().max_verify_bytes
        content = await file.read(limit + 1)
        if len(content) > limit:
            content, error = None, f"文件过大：上限 {limit // (1024 * 1024)} MB"
        elif not content:
            content, error = None, "上传的文件为空"
    result = None
    if error is None:
        try:
            result = verify_report(
                session, number=number.strip()[:40] or None, short_code=code.strip()[:40] or None, pdf_bytes=content
            )
        except XinyongError as exc:
            error = exc.message
    return render(
        request,
        "portal/verify.html",
        {"result": result, "error": error, "code": code[:40], "number": number[:40]},
        status_code=422 if error else 200,
    )


# 双公示 --------------------------------------------------------------------------------------------------------


def _departments(session: Session) -> list[Any]:
    return list_departments(session)


@router.get("/records", response_class=HTMLResponse)
def records_page(
    request: Request,
    kind: str | None = None,
    department: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: str | None = None,
    q: str | None = None,
    session: Session = ReadSessionDep,
) -> HTMLResponse:
    query = clean_query(q)[:60]
    # First: on a database without the search index yet, it is created before this transaction reads anything.
    search, notice = record_search(session, query)
    page_no = parse_page(page)
    kind = kind if kind in RECORD_KIND_LABELS else None
    departments = _departments(session)
    dept = next((d for d in departments if d.code == department), None)
    start, error1 = parse_date(date_from)
    end, error2 = parse_date(date_to)
    filters_ = {
        "kind": kind,
        "department_id": dept.id if dept else None,
        "date_from": start,
        "date_to": end,
        "public_only": True,
        "today": _today(),
        "search": search,
    }
    total = count_records(session, **filters_)  # type: ignore[arg-type]
    rows = list_records(session, limit=PAGE_SIZE + 1, offset=(page_no - 1) * PAGE_SIZE, **filters_)  # type: ignore[arg-type]
    items = mark_objections(session, [public_record_view(r) for r in rows[:PAGE_SIZE]])
    for item, row in zip(items, rows, strict=False):
        item["subject_ref"] = None if row.subject.kind == SubjectKind.NATURAL_PERSON.value else subject_ref(row.subject)
    filters = {
        "kind": kind or "",
        "department": dept.code if dept else "",
        "date_from": start.isoformat() if start else "",
        "date_to": end.isoformat() if end else "",
        "q": query,
    }
    return render(
        request,
        "portal/records.html",
        {
            "items": items,
            "page": page_no,
            "has_next": len(rows) > PAGE_SIZE and page_no < MAX_PAGE,
            "filters": filters,
            "departments": departments,
            "kinds": RECORD_KIND_LABELS,
            "errors": [e for e in (error1, error2) if e],
            "notice": notice,
            **pager_totals(total, PAGE_SIZE, COUNT_CAP),
        },
    )


def pager_totals(total: int, page_size: int, cap: int, max_page: int = MAX_PAGE) -> dict[str, Any]:
    """The pager's "共 N 条，第 x/y 页" of a count that stops at ``cap`` (``total_text``: "超过 10,000 条" then)."""
    over = total > cap
    counted = min(total, cap)
    return {
        "total": counted,
        "total_text": f"超过 {cap:,} 条" if over else f"共 {counted:,} 条",
        "pages": min(max_page, max(1, -(-counted // page_size))),
    }


def record_search(session: Session, q: str) -> tuple[RecordSearch | None, str | None]:
    """双公示's search within the list: the records of the organisations ``q`` names (name or code, through the
    subject search's indexes) or with the document number ``q``. Returns the search (``None`` without a query) and
    a note for the page (too short; more organisations matched than are searched)."""
    if not q:
        return None, None
    match = matching_subject_ids(session, q)
    search = RecordSearch(subject_ids=tuple(match.ids), doc_no_norm=normalize_doc_no(q))
    if match.mode == "too_short":
        return search, "按名称查询请至少输入两个字；已按决定文书号查找。"
    if match.capped:
        return (
            search,
            f"名称含“{q}”的主体超过 {MATCH_CAP:,} 个，只列出其中最相符的 {MATCH_CAP:,} 个主体的信息；请输入更完整的名称。",
        )
    return search, None


# Red and black lists -------------------------------------------------------------------------------------------


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request, session: Session = ReadSessionDep) -> HTMLResponse:
    codes = _public_list_codes(session)
    sizes = [s for s in list_sizes(session, _today()) if s["list_code"] in codes]
    groups = {kind: [s for s in sizes if s["kind"] == kind] for kind in LIST_KIND_LABELS}
    return render(
        request,
        "portal/lists.html",
        {"groups": {k: v for k, v in groups.items() if v}, "kind_labels": LIST_KIND_LABELS},
    )


@router.get("/lists/{code}", response_class=HTMLResponse)
def list_page(
    request: Request, code: str, page: str | None = None, q: str | None = None, session: Session = ReadSessionDep
) -> HTMLResponse:
    if code not in _public_list_codes(session):
        return _not_found(request, "未找到该名单")
    lt = next(t for t in list_types(session) if t.code == code)
    page_no = parse_page(page)
    search = (q or "").strip()[:60]
    total: list[int] = []
    items = masked_entries(
        public_entries(
            session,
            today=_today(),
            list_code=code,
            search=search or None,
            limit=PAGE_SIZE + 1,
            offset=(page_no - 1) * PAGE_SIZE,
            total=total,
        )
    )
    return render(
        request,
        "portal/list.html",
        {
            "list_type": lt,
            "kind_label": LIST_KIND_LABELS.get(lt.kind, lt.kind),
            "items": items[:PAGE_SIZE],
            "page": page_no,
            "has_next": len(items) > PAGE_SIZE and page_no < MAX_PAGE,
            "q": search,
            "total": total[0],
            "pages": min(MAX_PAGE, max(1, -(-total[0] // PAGE_SIZE))),
        },
    )


def masked_entries(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Public entries with a person's code masked again (synced court lists carry the number as published)."""
    for e in items:
        if (
            e.get("party_kind") == SubjectKind.NATURAL_PERSON.value
            and e.get("party_code")
            and "*" not in e["party_code"]
        ):
            e["party_code"] = mask_resident_id(e["party_code"])
    return items


# Objection and repair ------------------------------------------------------------------------------------------


def _target(session: Session, target_type: str | None, target_id: str | None) -> tuple[str, int] | None:
    ident = parse_id(target_id)
    if target_type not in TARGET_LABELS or ident is None:
        return None
    return target_type, ident


def _apply_context(kind: str, target: tuple[str, int], words: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "kind_label": CASE_KINDS[kind],
        "target_type": target[0],
        "target_id": target[1],
        "target_label": TARGET_LABELS[target[0]],
        "target_words": words,
        **extra,
    }


def _precheck(session: Session, kind: str, target: tuple[str, int]) -> tuple[str, XinyongError | None]:
    """The target in words, and why the application would be refused whoever files it (before any one-time code
    is sent): a missing target, an external list (objections), a case of this kind already open on it."""
    try:
        resolved = resolve_target(session, target[0], target[1], today=_today())
    except NotFound as exc:
        return TARGET_LABELS[target[0]], exc
    try:
        if kind == CaseKind.OBJECTION:
            objections.precheck(session, resolved)
        else:
            cases.refuse_open(session, kind, resolved.type, resolved.id)
    except XinyongError as exc:
        return target_words(resolved), exc
    return target_words(resolved), None


def _refused(request: Request, kind: str, target: tuple[str, int], words: str, exc: XinyongError) -> HTMLResponse:
    """The refusal in place of the form: nothing to fill in, no code to ask for."""
    if isinstance(exc, NotFound):
        return _not_found(request, "申请的对象不存在，请从信用主体页面进入")
    context = _apply_context(kind, target, words, step=0, error=exc.message, refusal=exc.code)
    return render(request, "portal/apply.html", context, status_code=exc.status_code)


@router.get("/apply/{kind}", response_class=HTMLResponse)
def apply_start(
    request: Request,
    kind: str,
    target_type: str | None = None,
    target_id: str | None = None,
    subject: str | None = None,
    session: Session = SessionDep,
) -> HTMLResponse:
    target = _target(session, target_type, target_id)
    if kind not in CASE_KINDS or target is None:
        return _not_found(request, "申请的对象不存在，请从信用主体页面进入")
    words, refusal = _precheck(session, kind, target)
    if refusal is not None:
        return _refused(request, kind, target, words, refusal)
    return render(
        request, "portal/apply.html", _apply_context(kind, target, words, step=1, subject=(subject or "")[:40])
    )


@router.post("/apply/{kind}/code", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def apply_send_code(
    request: Request,
    kind: str,
    target_type: str = Form(""),
    target_id: str = Form(""),
    subject: str = Form(""),
    session: Session = SessionDep,
) -> HTMLResponse:
    target = _target(session, target_type, target_id)
    if kind not in CASE_KINDS or target is None:
        return _not_found(request, "申请的对象不存在，请从信用主体页面进入")
    words, refusal = _precheck(session, kind, target)
    if refusal is not None:
        return _refused(request, kind, target, words, refusal)
    code = subject.strip()[:40]
    try:
        sent = verification.start(session, subject_code=code, purpose=kind)
    except XinyongError as exc:
        return render(
            request,
            "portal/apply.html",
            _apply_context(kind, target, words, step=1, subject=code, error=exc.message),
            status_code=exc.status_code,
        )
    return render(request, "portal/apply.html", _apply_context(kind, target, words, step=2, subject=code, sent=sent))


@router.post("/apply/{kind}", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def apply_submit(
    request: Request,
    kind: str,
    target_type: str = Form(""),
    target_id: str = Form(""),
    subject: str = Form(""),
    challenge: str = Form(""),
    code: str = Form(""),
    facts: str = Form(""),
    applicant_name: str = Form(""),
    obligations_fulfilled: str = Form(""),
    commitment_signed: str = Form(""),
    session: Session = SessionDep,
) -> HTMLResponse:
    target = _target(session, target_type, target_id)
    if kind not in CASE_KINDS or target is None:
        return _not_found(request, "申请的对象不存在，请从信用主体页面进入")
    words, _ = _precheck(session, kind, target)
    form = {
        "challenge": challenge[:40],
        "facts": facts[:4000],
        "applicant_name": applicant_name[:100],
        "obligations_fulfilled": bool(obligations_fulfilled),
        "commitment_signed": bool(commitment_signed),
    }
    problems = [
        m
        for ok, m in (
            (facts.strip(), "请填写事实与理由"),
            (applicant_name.strip(), "请填写申请人姓名或名称"),
            (len(facts) <= 4000, "事实与理由不超过 4000 字"),
        )
        if not ok
    ]

    def again(error: str, status_code: int) -> HTMLResponse:
        """The form once more, as filled in, with what was wrong."""
        context = _apply_context(
            kind,
            target,
            words,
            step=2,
            subject=subject[:40],
            form=form,
            error=error,
            sent={"challenge": challenge[:40]},
        )
        return render(request, "portal/apply.html", context, status_code=status_code)

    if problems:
        return again("；".join(problems), 422)
    try:
        subject_id, channel, address = verification.verified_applicant(
            session, challenge=challenge[:40], code=code[:12], purpose=kind
        )
        file_case: Callable[..., tuple[Case, str]] = (
            objections.file_objection
            if kind == CaseKind.OBJECTION
            else partial(
                repair.file_repair,
                obligations_fulfilled=bool(obligations_fulfilled),
                commitment_signed=bool(commitment_signed),
            )
        )
        case, token = file_case(
            session,
            actor=ANONYMOUS,
            target_type=target[0],
            target_id=target[1],
            facts=facts.strip(),
            subject_id=subject_id,
            applicant_name=applicant_name.strip(),
            applicant_channel=channel,
            applicant_address=address,
            filed_via="subject",
        )
    except XinyongError as exc:
        session.rollback()
        return again(exc.message, exc.status_code)
    view = service.case_view(session, case, applicant=True)
    return render(
        request, "portal/applied.html", {"kind_label": CASE_KINDS[kind], "case": view, "token": token}, status_code=201
    )


# Open data -----------------------------------------------------------------------------------------------------


_CSV_RISKY = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else (", ".join(map(str, value)) if isinstance(value, list) else str(value))
    return "'" + text if text.startswith(_CSV_RISKY) else text


def _download(rows: list[dict[str, Any]], columns: list[tuple[str, str]], fmt: str, name: str) -> Response:
    if fmt == "json":
        body = orjson.dumps(
            {"count": len(rows), "items": [{k: r.get(k) for k, _ in columns} for r in rows]}, default=str
        )
        return Response(
            body, media_type="application/json", headers={"content-disposition": f'attachment; filename="{name}.json"'}
        )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label for _, label in columns])
    for r in rows:
        writer.writerow([_cell(r.get(k)) for k, _ in columns])
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}.csv"'},
    )


RECORD_COLUMNS = [
    ("kind", "类别"),
    ("doc_no", "决定文书号"),
    ("party_name", "行政相对人"),
    ("party_uscc", "统一社会信用代码"),
    ("party_id", "证件号码（脱敏）"),
    ("authority", "决定机关"),
    ("decision_date", "决定日期"),
    ("penalty_types", "处罚类别"),
    ("fine_yuan", "罚款金额（元）"),
    ("licence_valid_from", "许可有效期自"),
    ("licence_valid_to", "许可有效期至"),
    ("objection", "异议状态"),
]
ENTRY_COLUMNS = [
    ("list_name", "名单"),
    ("party_name", "主体名称"),
    ("party_code", "代码"),
    ("authority", "认定机关"),
    ("reason", "列入事由"),
    ("legal_basis", "依据"),
    ("decision_no", "决定文书号"),
    ("listed_on", "列入日期"),
    ("term_end", "有效期至"),
    ("objection", "异议状态"),
]


# Case progress (the applicant's access token) ---------------------------------------------------------------


@router.get("/progress", response_class=HTMLResponse)
def progress_form(request: Request) -> HTMLResponse:
    """Where an applicant follows an objection or repair with the case number and the access token."""
    return render(request, "portal/progress.html", {})


@router.post("/progress", response_class=HTMLResponse, dependencies=[Depends(rate_limit("form"))])
def progress(
    request: Request, case_no: str = Form(""), token: str = Form(""), session: Session = SessionDep
) -> HTMLResponse:
    """The case's state, deadline and history as the applicant may see them (a wrong token finds nothing: the
    same answer whether or not the case exists)."""
    case_no, token = case_no.strip()[:40], token.strip()[:200]
    try:
        case = cases.case_by_token(session, case_no=case_no, token=token)
    except XinyongError:
        return render(
            request, "portal/progress.html", {"case_no": case_no, "error": "案件编号或查询凭证不正确"}, status_code=404
        )
    flow = flows.flow_for(case.kind)
    events = []
    for e in cases.public_events(session, case.id):
        t = flow.transitions.get(e["action"])
        state = flow.states.get(e["to_state"] or "")
        events.append(
            {
                **e,
                "label": t.label if t else ("提交申请" if e["action"] in ("file", "open") else e["action"]),
                "state_label": state.label if state else "",
            }
        )
    return render(
        request,
        "portal/progress.html",
        {
            "case_no": case_no,
            "case": cases.case_view(session, case, applicant=True),
            "events": events,
            "kind_label": flow.label,
        },
    )


@router.get("/open-data", response_class=HTMLResponse)
def open_data_page(request: Request, session: Session = ReadSessionDep) -> HTMLResponse:
    codes = _public_list_codes(session)
    return render(
        request,
        "portal/open_data.html",
        {
            "lists": [t for t in list_types(session) if t.code in codes and t.active],
            "kinds": RECORD_KIND_LABELS,
            "max_rows": OPEN_DATA_MAX_ROWS,
        },
    )


@router.get("/open-data/records.{fmt}", dependencies=[Depends(rate_limit("report"))])
def open_data_records(
    request: Request,
    fmt: str,
    kind: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: str | None = None,
    session: Session = ReadSessionDep,
) -> Response:
    """Public 双公示 records, newest first, at most ``OPEN_DATA_MAX_ROWS`` a file (``page`` for the next)."""
    if fmt not in ("csv", "json"):
        return _not_found(request, "仅提供 CSV 和 JSON 格式")
    start, _ = parse_date(date_from)
    end, _ = parse_date(date_to)
    page_no = parse_page(page, max_page=100)
    rows = list_records(
        session,
        kind=kind if kind in RECORD_KIND_LABELS else None,
        date_from=start,
        date_to=end,
        public_only=True,
        today=_today(),
        limit=OPEN_DATA_MAX_ROWS,
        offset=(page_no - 1) * OPEN_DATA_MAX_ROWS,
    )
    items = mark_objections(session, [public_record_view(r) for r in rows])
    for item in items:
        item["kind"] = RECORD_KIND_LABELS.get(item["kind"], item["kind"])
    return _download(items, RECORD_COLUMNS, fmt, f"shuang-gongshi-{_today().isoformat()}-{page_no}")


@router.get("/open-data/lists/{code}.{fmt}", dependencies=[Depends(rate_limit("report"))])
def open_data_list(request: Request, code: str, fmt: str, session: Session = ReadSessionDep) -> Response:
    if fmt not in ("csv", "json") or code not in _public_list_codes(session):
        return _not_found(request, "未找到该名单")
    items = masked_entries(public_entries(session, today=_today(), list_code=code, limit=OPEN_DATA_MAX_ROWS))
    return _download(items, ENTRY_COLUMNS, fmt, f"{code}-{_today().isoformat()}")
