"""Credit reports (公共信用信息报告): generate a verifiable PDF, and verify one.

Who gets a report:
- an organisation's (legal person, unincorporated organisation, individual business) — anyone, free: it holds
  only what the domains already publish (records' public view, public list entries in force, public commitments);
- a natural person's — only the person, proven by a one-time code sent to the contact registered for them
  (``cases.verification``, purpose ``report``), or an official printing it at a service window after checking the
  person's ID card (admin, with a reason, audited). It holds the person's own information currently in effect,
  including what is not published, with the ID number masked.

Every report gets a number and a short code, both random; the register (:class:`IssuedReport`) keeps the SHA-256
of the exact PDF bytes. Verification looks a report up by number or short code (the QR code carries the short
code), and compares an uploaded file's hash with the stored one: a PDF changed by one byte no longer verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.cases import verification
from xinyong.core import audit, clock
from xinyong.core.db import utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed, XinyongError
from xinyong.core.settings import get_settings
from xinyong.identifiers.masking import mask_name
from xinyong.reports import pdf
from xinyong.reports.config import get_reports_settings
from xinyong.reports.models import IssuedReport, RequesterKind, VerificationStatus
from xinyong.reports.profile import Audience, Section, build_profile
from xinyong.subjects.models import KIND_LABELS, ORG_TYPE_LABELS, Subject, SubjectKind
from xinyong.subjects.service import find_subject

PURPOSE = "report"
#: Characters of numbers and short codes: no 0/O, 1/I (read aloud and typed from paper).
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_NUMBER = re.compile(rf"XY[0-9]{{8}}[{ALPHABET}]{{{CODE_LENGTH}}}")
_ID_SHAPE = re.compile(r"[0-9]{15}|[0-9]{17}[0-9Xx]")
_CLAIMED_NUMBER = re.compile(rb"report-number:(XY[0-9]{8}[A-Z0-9]{10})")
NO_EVALUATION = "暂无公开的信用评价结果"


class TooManyReports(XinyongError):
    status_code = 429
    code = "too_many_reports"


# Numbers and codes -------------------------------------------------------------------------------------------


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def display_code(code: str) -> str:
    """``ABCD-EFGH-JK``: how the short code is printed (input accepts it with or without the hyphens)."""
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normalize_short_code(raw: str | None) -> str | None:
    """The short code in canonical form, or ``None`` when it cannot be one (wrong length or characters)."""
    code = re.sub(r"[\s\-]", "", (raw or "")).upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def normalize_number(raw: str | None) -> str | None:
    number = re.sub(r"\s", "", raw or "").upper()
    return number if _NUMBER.fullmatch(number) else None


def _unique(session: Session, column: Any, make: Any) -> str:
    for _ in range(5):
        value = make()
        if session.scalar(select(func.count()).select_from(IssuedReport).where(column == value)) == 0:
            return value
    raise XinyongError("无法生成唯一的报告编号，请重试", code="number_exhausted", status_code=503)


# Who may have the report -------------------------------------------------------------------------------------


def start_person_verification(session: Session, *, subject_code: str) -> dict[str, Any]:
    """Send a one-time code to a natural person's registered contact (the first step of a personal report)."""
    return verification.start(session, subject_code=subject_code, purpose=PURPOSE)


def confirm_person(session: Session, *, challenge: str, code: str) -> int:
    """The subject id a one-time code proves (used up; wrong attempts count). Call it first in a request."""
    return verification.confirm(session, challenge=challenge, code=code, purpose=PURPOSE)


def _person_refusal() -> Forbidden:
    return Forbidden(
        "自然人的公共信用信息报告仅向本人提供：请先通过登记的联系方式获取验证码完成身份核验",
        code="person_verification_required",
    )


def _resolve(
    session: Session, subject_code: str, *, requester: Principal, verified_subject_id: int | None, reason: str | None
) -> tuple[Subject, RequesterKind, str]:
    """The subject, the requester kind and how the register names the requester; refuses what is not allowed.

    Without a proof, a resident ID gets the same refusal whether or not the person is in the database: the
    public answer never confirms that a person has a credit record."""
    raw = (subject_code or "").strip()
    if not raw:
        raise ValidationFailed("请输入统一社会信用代码或身份证号码", code="subject_required")
    staff = requester.is_admin and bool((reason or "").strip())
    subject = find_subject(session, raw)
    if subject is None:
        # Shape only (not the check digit): a mistyped ID number gets the same refusal as a registered one. A
        # legacy 15-digit registration number of a company is found above, so it never lands here.
        if _ID_SHAPE.fullmatch(re.sub(r"\s", "", raw)) and verified_subject_id is None and not staff:
            raise _person_refusal()
        raise NotFound("未找到该代码的信用主体", code="subject_not_found")
    if subject.kind != SubjectKind.NATURAL_PERSON:
        return subject, RequesterKind.PUBLIC, requester.actor
    if verified_subject_id is not None:
        if verified_subject_id != subject.id:
            raise Forbidden("验证码核验的主体与申请报告的主体不一致", code="verification_subject_mismatch")
        return subject, RequesterKind.SELF, f"本人（验证码核验）{requester.actor}"
    if staff:
        return subject, RequesterKind.STAFF, f"{requester.actor}（{(reason or '').strip()[:120]}）"
    raise _person_refusal()


def _check_rate(session: Session, subject: Subject, now: dt.datetime) -> None:
    limit = get_reports_settings().per_subject_per_hour
    recent = (
        session.scalar(
            select(func.count())
            .select_from(IssuedReport)
            .where(IssuedReport.subject_id == subject.id, IssuedReport.issued_at > now - dt.timedelta(hours=1))
        )
        or 0
    )
    if recent >= limit:
        raise TooManyReports(
            f"该主体的报告申请过于频繁：每小时最多出具 {limit} 份，请稍后再试", details={"per_hour": limit}
        )


# Sections ----------------------------------------------------------------------------------------------------


def _d(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _local(ts: dt.datetime) -> str:
    return ts.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M")


def _limited(rows: list[Any], cap: int) -> tuple[list[Any], str | None]:
    if len(rows) > cap:
        return rows[:cap], f"记录较多，本报告列出最近的 {cap} 条；其余记录请在信用网站查询。"
    return rows, None


def _objection(view: dict[str, Any]) -> str:
    return "（异议处理中）" if view.get("objection") else ""


def _licence_section(views: list[dict[str, Any]], cap: int, own: bool) -> pdf.Section:
    shown, note = _limited(views, cap)
    rows = [
        [
            v["doc_no"] + _objection(v),
            v["authority"],
            _d(v["decision_date"]),
            f"{_d(v['licence_valid_from'])} 至 {_d(v['licence_valid_to'])}",
            v["status_reason"] if own else "有效",
        ]
        for v in shown
    ]
    return pdf.Section(
        "licences",
        "行政许可信息",
        ["许可决定文书号", "许可机关", "许可决定日期", "有效期", "状态"],
        rows,
        "暂无行政许可信息。",
        [3, 3, 1.6, 2.6, 2.2],
        note,
    )


def _penalty_section(views: list[dict[str, Any]], cap: int) -> pdf.Section:
    shown, note = _limited(views, cap)
    rows = [
        [
            v["doc_no"] + _objection(v),
            v["authority"],
            _d(v["decision_date"]),
            "、".join(v["penalty_types"]) or "—",
            _d(v["fine_yuan"]),
            v["status_reason"],
        ]
        for v in shown
    ]
    return pdf.Section(
        "penalties",
        "行政处罚信息",
        ["处罚决定文书号", "处罚机关", "处罚决定日期", "处罚类别", "罚款金额（元）", "公示状态"],
        rows,
        "公示期内暂无行政处罚信息。",
        [3, 2.8, 1.6, 1.8, 1.5, 2.8],
        (note + " " if note else "") + "行政处罚信息按《失信行为纠正后的信用信息修复管理办法（试行）》"
        "的公示期限列示：公示期届满、已撤销或经信用修复终止公示的不再列出。",
    )


def _class_section(c: dict[str, Any], cap: int) -> pdf.Section:
    """The records of one other information class (issue #18): its public fields, as the portal shows them."""
    shown, note = _limited(c["rows"], cap)
    rows = [
        [
            v["doc_no"] + _objection(v),
            v["authority"],
            _d(v["decision_date"]),
            "；".join(f"{f['label']}：{f['value']}" for f in v.get("fields", [])) or "—",
            v["status_reason"],
        ]
        for v in shown
    ]
    return pdf.Section(
        f"class_{c['code']}",
        c["name"],
        ["文号 / 编号", "机关", "日期", "信息内容", "公示状态"],
        rows,
        "暂无。",
        [2.6, 2.6, 1.6, 4.4, 2.3],
        note,
    )


_LIST_SECTIONS = (
    ("black", "严重失信主体名单信息", "暂无严重失信主体名单信息。"),
    ("abnormal", "经营异常名录信息", "暂无经营异常名录信息。"),
    ("debtor", "司法判决及执行信息（失信被执行人）", "暂无失信被执行人信息。"),
    ("other", "其他名单信息", None),
    ("red", "守信激励（诚信荣誉）信息", "暂无守信激励（诚信荣誉）信息。"),
)


def _list_section(kind: str, title: str, empty: str, entries: list[dict[str, Any]], cap: int) -> pdf.Section:
    shown, note = _limited([e for e in entries if e["kind"] == kind], cap)
    rows = [
        [
            e["list_name"] + _objection(e),
            _d(e["decision_no"]),
            e["authority"] or "—",
            _d(e["listed_on"]),
            _d(e["term_end"]) if e["term_end"] else "长期（至移出）",
            e["reason"],
        ]
        for e in shown
    ]
    label = "授予/认定单位" if kind == "red" else "认定单位"
    return pdf.Section(
        kind,
        title,
        ["名单", "决定文书号", label, "列入日期", "有效期至", "列入事由"],
        rows,
        empty,
        [2.6, 2.4, 2.4, 1.5, 1.6, 3],
        note,
    )


def _commitment_section(views: list[dict[str, Any]], cap: int) -> pdf.Section:
    shown, note = _limited(views, cap)
    rows = [
        [
            v["code"],
            v["commitment_type_label"],
            v["reason"] or "—",
            _d(v["made_on"]),
            _d(v["valid_until"]),
            v["accepting_unit"] or "—",
            v["fulfilment_status_label"],
        ]
        for v in shown
    ]
    return pdf.Section(
        "commitments",
        "信用承诺及履行情况",
        ["承诺编码", "承诺类型", "承诺事由", "作出日期", "有效期至", "受理单位", "履行状态"],
        rows,
        "暂无可公开的信用承诺信息。",
        [2.9, 1.5, 2.6, 1.5, 1.5, 2.2, 1.4],
        note,
    )


def _evaluation_section(results: list[dict[str, Any]]) -> pdf.Section:
    """The current evaluation grades the public may see (the profile's grades: ``evaluation.service.subject_results``
    with no role: only models whose catalog class 信用评价结果信息 is public; by default it is 政务共享, so the section
    says plainly that there is no public result — never a made-up grade)."""
    rows = [[r["model_name"], f"{r['grade']}（{r['grade_label']}）", _d(r["score"]), _d(r["as_of"])] for r in results]
    return pdf.Section(
        "evaluation",
        "信用评价结果",
        ["评价模型", "评价等级", "得分", "评价基准日"],
        rows,
        NO_EVALUATION + "。",
        [4, 2, 1.2, 1.6],
    )


def _basics(subject: Subject) -> list[tuple[str, str]]:
    kind_label = KIND_LABELS.get(SubjectKind(subject.kind), subject.kind)
    if subject.kind == SubjectKind.NATURAL_PERSON.value:
        return [("姓名", subject.name), ("身份证号码", subject.resident_id_masked or "—"), ("主体类别", kind_label)]
    org = ORG_TYPE_LABELS.get(subject.org_type or "")
    return [
        ("名称", subject.name),
        ("统一社会信用代码", subject.uscc or "—"),
        ("主体类别", f"{kind_label}（{org}）" if org else kind_label),
        ("法定代表人（负责人）", subject.legal_rep or "—"),
        ("成立日期", _d(subject.registered_on)),
        ("登记状态", subject.status or "—"),
        ("住所", subject.address or "—"),
        ("登记机关", subject.registration_authority or "—"),
    ]


def _sources(subject: Subject, *groups: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    if subject.registration_authority:
        seen[subject.registration_authority] = None
    for group in groups:
        for name in group:
            if name and name.strip():
                seen.setdefault(name.strip(), None)
    return list(seen)


def _statements(city: str, as_of: str, *, person: bool, own: bool, staff: bool) -> list[str]:
    lines = [f"1. 本报告依据{city}公共信用信息平台截至 {as_of} 归集的信用信息生成，内容以出具时平台数据为准。"]
    if person:
        lines.append(
            "2. 本报告仅向信用主体本人提供，列示平台归集的本人现行有效的信用信息（含不向社会公开的信息），"
            "身份证号码已作掩码处理。请妥善保管，不得用于法律法规禁止的用途。"
            + ("本报告由信用服务窗口工作人员核验本人身份后代为出具。" if staff else "")
        )
    else:
        lines.append(
            "2. 本报告仅列示依法可以向社会公开的信用信息；行政处罚信息仅列示公示期内的记录，"
            "名单信息仅列示出具之日仍然有效的条目。"
        )
    lines += [
        "3. 标注“异议处理中”的信息，信用主体已提出异议，正在处理。对报告内容有异议的，可通过信用网站或信用服务窗口提出。",
        "4. 本报告的真伪可凭报告编号或验证码在信用网站核验；核验时上传本 PDF 文件可确认其未被修改，"
        "任何修改（包括一个字节）都将导致核验失败。",
    ]
    return lines


# Generation --------------------------------------------------------------------------------------------------


def generate_report(
    session: Session,
    *,
    subject_code: str,
    requester: Principal,
    verified_subject_id: int | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[IssuedReport, bytes]:
    """Issue a report for the subject a code names: render the PDF, register its number, short code and hash
    (audited), and return the register row with the PDF bytes (the caller sends them; they are not stored).

    ``verified_subject_id``: the subject a one-time code proved (:func:`confirm_person`), required for a natural
    person unless ``requester`` is the admin printing at a service window with a ``reason``."""
    subject, requester_kind, requester_label = _resolve(
        session, subject_code, requester=requester, verified_subject_id=verified_subject_id, reason=reason
    )
    now = now or utcnow()
    _check_rate(session, subject, now)
    settings = get_reports_settings()
    cap = settings.max_rows_per_section
    today = clock.local_date(now)
    person = subject.kind == SubjectKind.NATURAL_PERSON.value
    own = person

    # The subject profile: PUBLIC for an organisation (what the portal's subject page shows), OWN for a person.
    profile = build_profile(
        session,
        subject,
        audience=Audience.OWN if own else Audience.PUBLIC,
        today=today,
        sections=(Section.RECORDS, Section.LIST_ENTRIES, Section.COMMITMENTS, Section.EVALUATIONS),
        record_limit=cap + 1,
        entry_limit=5 * cap,
    )
    licences, penalties, entries = profile.licences, profile.penalties, profile.list_entries
    commitments = profile.commitments
    commitment_section = _commitment_section(commitments, cap)
    sections = [_licence_section(licences, cap, own), _penalty_section(penalties, cap)]
    sections += [_class_section(c, cap) for c in profile.other_classes]  # only classes with records
    for kind, title, empty in _LIST_SECTIONS[:4]:
        if empty is None and not any(e["kind"] == kind for e in entries):
            continue
        sections.append(_list_section(kind, title, empty or "", entries, cap))
    sections += [commitment_section, _evaluation_section(profile.grades)]
    kind, title, empty = _LIST_SECTIONS[4]
    sections.append(_list_section(kind, title, empty or "", entries, cap))

    number = _unique(session, IssuedReport.number, lambda: f"XY{today:%Y%m%d}{_random(CODE_LENGTH)}")
    short_code = _unique(session, IssuedReport.short_code, lambda: _random(CODE_LENGTH))
    city = get_settings().city_name
    as_of = _local(now)
    sources = _sources(
        subject,
        (v["authority"] for v in profile.records),
        (e["authority"] for e in entries),
        (c.get("accepting_unit") for c in commitments),
    )
    content = pdf.ReportContent(
        number=number,
        short_code=display_code(short_code),
        verify_url=settings.verify_url(short_code),
        title="公共信用信息报告",
        subtitle="（自然人 · 本人查询）" if person else "（法人和非法人组织）",
        issuer=f"{city}公共信用信息平台",
        issued_at=as_of,
        as_of=as_of,
        basics=_basics(subject),
        sections=sections,
        sources=sources,
        statements=_statements(city, as_of, person=person, own=own, staff=requester_kind == RequesterKind.STAFF),
        confidential="本报告仅供信用主体本人使用" if person else None,
    )
    rendered = pdf.render(content)
    digest = hashlib.sha256(rendered.pdf).hexdigest()
    summary = {s.key: len(s.rows) for s in sections}
    report = IssuedReport(
        number=number,
        short_code=short_code,
        subject_id=subject.id,
        subject_kind=subject.kind,
        subject_name=mask_name(subject.name) if person else subject.name,
        subject_code=subject.resident_id_masked if person else subject.uscc,
        requester_kind=requester_kind,
        requester=requester_label[:200],
        issued_at=now,
        as_of=now,
        sha256=digest,
        size=len(rendered.pdf),
        pages=rendered.pages,
        sections=summary,
        sources=sources,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        actor=requester.actor,
        action="reports.issue",
        entity_type="credit_report",
        entity_id=report.id,
        reason=(reason or "").strip()[:200] or f"出具公共信用信息报告（{requester_kind}）",
        after={
            "number": number,
            "subject_id": subject.id,
            "requester_kind": requester_kind,
            "sha256": digest,
            "sections": summary,
        },
    )
    return report, rendered.pdf


# Verification ------------------------------------------------------------------------------------------------


def report_summary(report: IssuedReport) -> dict[str, Any]:
    """What verification shows about a report (a person's name and ID only masked, as registered)."""
    return {
        "number": report.number,
        "short_code": display_code(report.short_code),
        "subject_name": report.subject_name,
        "subject_code": report.subject_code,
        "subject_kind": report.subject_kind,
        "subject_kind_label": KIND_LABELS.get(SubjectKind(report.subject_kind), report.subject_kind),
        "issued_at": report.issued_at,
        "as_of": report.as_of,
        "sha256": report.sha256,
        "size": report.size,
        "pages": report.pages,
        "sections": report.sections,
    }


def _result(
    status: VerificationStatus,
    message: str,
    report: IssuedReport | None = None,
    *,
    valid: bool | None = None,
    file_sha256: str | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "valid": valid,
        "message": message,
        "report": report_summary(report) if report is not None else None,
        "file_sha256": file_sha256,
    }


def verify_report(
    session: Session, *, number: str | None = None, short_code: str | None = None, pdf_bytes: bytes | None = None
) -> dict[str, Any]:
    """Check a report by number or short code, and/or an uploaded PDF against the register.

    ``status``: ``registered`` (the number/code exists; its stored SHA-256 is shown), ``valid`` (the file is
    exactly the issued PDF), ``mismatch`` (the file claims to be, or was checked against, a registered report but
    its bytes differ: modified), ``not_found`` (no such number/code), ``unknown_file`` (the file matches no
    report and names none). Never raises for a forged number or a damaged file."""
    if not (number or short_code) and pdf_bytes is None:
        raise ValidationFailed("请提供报告编号、验证码或报告 PDF 文件", code="verification_input_required")
    report: IssuedReport | None = None
    if number or short_code:
        canon_number = normalize_number(number) if number else None
        canon_code = normalize_short_code(short_code) if short_code else None
        if canon_number:
            report = session.scalar(select(IssuedReport).where(IssuedReport.number == canon_number))
        elif canon_code:
            report = session.scalar(select(IssuedReport).where(IssuedReport.short_code == canon_code))
        if report is None:
            what = "报告编号" if number else "验证码"
            return _result(
                VerificationStatus.NOT_FOUND,
                f"未找到该{what}对应的报告：请核对输入，或该报告并非本平台出具",
                valid=False,
            )
    if pdf_bytes is None and report is not None:
        return _result(
            VerificationStatus.REGISTERED,
            f"报告真实有效：本平台于 {_local(report.issued_at)} 出具。如需确认文件未被修改，"
            "请上传 PDF 文件核验（或比对文件的 SHA-256 指纹）",
            report,
        )
    digest = hashlib.sha256(pdf_bytes or b"").hexdigest()
    if report is None:
        report = session.scalar(select(IssuedReport).where(IssuedReport.sha256 == digest).limit(1))
        if report is not None:
            return _result(
                VerificationStatus.VALID,
                "文件与本平台出具的报告完全一致，未被修改",
                report,
                valid=True,
                file_sha256=digest,
            )
        claimed = _CLAIMED_NUMBER.search(pdf_bytes or b"")
        if claimed:
            report = session.scalar(select(IssuedReport).where(IssuedReport.number == claimed.group(1).decode()))
        if report is None:
            return _result(
                VerificationStatus.UNKNOWN_FILE,
                "该文件与本平台出具的任何报告都不一致：文件可能已被修改，或并非本平台出具",
                valid=False,
                file_sha256=digest,
            )
    if digest == report.sha256:
        return _result(
            VerificationStatus.VALID, "文件与本平台出具的报告完全一致，未被修改", report, valid=True, file_sha256=digest
        )
    return _result(
        VerificationStatus.MISMATCH,
        f"文件与报告 {report.number} 登记的指纹不一致：文件已被修改，内容不可采信",
        report,
        valid=False,
        file_sha256=digest,
    )


def issued_reports(session: Session, *, subject_id: int | None = None, limit: int = 50) -> list[IssuedReport]:
    """The register, newest first (for operators)."""
    stmt = select(IssuedReport).order_by(IssuedReport.id.desc()).limit(limit)
    if subject_id is not None:
        stmt = stmt.where(IssuedReport.subject_id == subject_id)
    return list(session.scalars(stmt))
