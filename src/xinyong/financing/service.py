"""信易贷 operations: institutions, authorisations, the bank's profile read, loan feedback and the figures.

Rules (docs/sharing.md):
- a bank principal acts for one registered institution (``financing_principals``); others are refused;
- an authorisation names the subject, the institution, the information classes (only classes a bank may read
  with authorisation: ``evaluation.rules.may_see`` with the class's public attribute — for a natural person the
  class's attribute for persons), the purpose, the start and the expiry (at most :func:`max_days`, setting ``financing_max_authorisation_days``), and how it
  was given: ``online`` by the subject after one-time-code verification, or ``document``: a signed authorisation
  uploaded by the bank, of which the SHA-256 is kept (the same document cannot serve twice);
- the profile answers only the authorised classes, only while an authorisation is active (started, not expired,
  not revoked); every read and every refused attempt about a known subject is in the subject's access log;
- every state change writes an audit event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiToken
from xinyong.auth.roles import Principal, Role
from xinyong.auth.service import _check_uscc
from xinyong.auth.tokens import hash_token
from xinyong.cases.documents import check_upload, safe_filename
from xinyong.catalog.service import list_classes
from xinyong.core import audit, clock
from xinyong.core.db import utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.core.settings import get_settings
from xinyong.evaluation.rules import may_see
from xinyong.financing.models import (
    Authorisation,
    AuthorisationMethod,
    AuthorisationStatus,
    Institution,
    InstitutionPrincipal,
    LoanFeedback,
    LoanOutcome,
    PrincipalKind,
)
from xinyong.identifiers.masking import mask_name
from xinyong.lists.models import ListType
from xinyong.reports.profile import ENTRY_FIELDS, Audience, Section, build_profile
from xinyong.subjects import access_log
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

PURPOSE = "融资授信"


def max_days() -> int:
    """The longest authorisation period in days (``XINYONG_FINANCING_MAX_AUTHORISATION_DAYS``, default 366)."""
    return get_settings().financing_max_authorisation_days


def default_days() -> int:
    """The period when none is named (``XINYONG_FINANCING_DEFAULT_AUTHORISATION_DAYS``, default 90)."""
    return get_settings().financing_default_authorisation_days


PROFILE_ENDPOINT = "GET /api/v1/financing/subjects/{code}/profile"
PROFILE_ACTION = "financing.profile_read"
METHOD_LABELS = {AuthorisationMethod.ONLINE: "主体在线授权", AuthorisationMethod.DOCUMENT: "书面授权书（机构上传）"}
OUTCOME_LABELS = {LoanOutcome.GRANTED: "已放款", LoanOutcome.DECLINED: "未授信"}
RATE_BANDS = {
    "below_lpr": "低于LPR",
    "lpr": "等于LPR",
    "lpr_plus_50": "LPR至LPR+50BP",
    "lpr_plus_150": "LPR+50BP至LPR+150BP",
    "above": "高于LPR+150BP",
}
STATUS_LABELS = {
    AuthorisationStatus.ACTIVE: "有效",
    AuthorisationStatus.PENDING: "未开始",
    AuthorisationStatus.EXPIRED: "已到期",
    AuthorisationStatus.REVOKED: "已撤销",
}
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def _subject_actor(subject_id: int) -> Principal:
    """The subject acting for itself on the portal, after verification."""
    return Principal(kind="subject", name=str(subject_id))


def _require_admin(actor: Principal, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"只有平台管理员可以{what}", code="admin_only")


# Institutions ------------------------------------------------------------------------------------------------


def create_institution(session: Session, *, actor: Principal, code: str, name: str, uscc: str) -> Institution:
    _require_admin(actor, "登记金融机构")
    code = (code or "").strip().lower()
    if not _CODE_RE.fullmatch(code):
        raise ValidationFailed(
            "机构代码须为 2–32 位小写字母、数字或下划线，并以字母开头", code="invalid_institution_code"
        )
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("机构名称不能为空且不超过 200 字", code="invalid_institution_name")
    uscc = _check_uscc(uscc)
    clash = session.scalar(
        select(Institution).where((Institution.code == code) | (Institution.name == name) | (Institution.uscc == uscc))
    )
    if clash is not None:
        raise Conflict(f"机构代码、名称或统一社会信用代码已被登记（{clash.code}）", code="institution_exists")
    inst = Institution(code=code, name=name, uscc=uscc, active=True, created_at=utcnow())
    session.add(inst)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="financing.institution_create",
        entity_type="institution",
        entity_id=inst.id,
        after=inst.snapshot(),
    )
    return inst


def get_institution(session: Session, ref: int | str) -> Institution:
    text = str(ref).strip()
    stmt = (
        select(Institution).where(Institution.id == int(text))
        if text.isdigit() and len(text) < 19
        else select(Institution).where(Institution.code == text.lower())
    )
    inst = session.scalar(stmt)
    if inst is None:
        raise NotFound(f"未登记的金融机构：{text[:40]}", code="institution_not_found")
    return inst


def list_institutions(session: Session) -> list[Institution]:
    return list(session.scalars(select(Institution).order_by(Institution.code)))


def bind_principal(
    session: Session, *, actor: Principal, institution: int | str, user: str | None = None, token_id: int | None = None
) -> InstitutionPrincipal:
    """Let a bank user (by username) or a bank API token act for the institution."""
    _require_admin(actor, "绑定机构账号")
    inst = get_institution(session, institution)
    if (user is None) == (token_id is None):
        raise ValidationFailed("请指定一个用户名或一个令牌编号", code="principal_required")
    if user is not None:
        found = auth_service.get_user(session, ref=user)
        kind, pid, role = PrincipalKind.USER, found.id, found.role
    else:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"令牌 {token_id} 不存在", code="token_not_found")
        kind, pid, role = PrincipalKind.TOKEN, token.id, token.role
    if Role(role) is not Role.BANK:
        raise ValidationFailed("只有“金融机构”角色的用户或令牌可以绑定到信易贷机构", code="not_a_bank_principal")
    if (
        session.scalar(
            select(InstitutionPrincipal).where(
                InstitutionPrincipal.kind == kind, InstitutionPrincipal.principal_id == pid
            )
        )
        is not None
    ):
        raise Conflict("该账号已绑定到一个金融机构", code="principal_already_bound")
    row = InstitutionPrincipal(institution_id=inst.id, kind=kind, principal_id=pid, created_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="financing.principal_bind",
        entity_type="institution",
        entity_id=inst.id,
        after={"kind": kind, "principal_id": pid},
    )
    return row


def institution_of(session: Session, principal: Principal) -> Institution | None:
    """The institution a bank principal acts for (a login token acts as its user), or None."""
    if principal.kind == "user" and principal.user_id is not None:
        kind, pid = PrincipalKind.USER, principal.user_id
    elif principal.kind == "token" and principal.token_id is not None:
        kind, pid = PrincipalKind.TOKEN, principal.token_id
    else:
        return None
    return session.scalar(
        select(Institution)
        .join(InstitutionPrincipal, InstitutionPrincipal.institution_id == Institution.id)
        .where(
            InstitutionPrincipal.kind == kind, InstitutionPrincipal.principal_id == pid, Institution.active.is_(True)
        )
    )


def require_institution(session: Session, principal: Principal) -> Institution:
    inst = institution_of(session, principal)
    if inst is None:
        raise Forbidden("该金融机构账号未登记到信易贷机构，请联系平台管理员", code="institution_not_registered")
    return inst


# Scope -------------------------------------------------------------------------------------------------------


def authorisable_classes(session: Session, kind: str) -> list[Any]:
    """The catalog classes a bank may read with a subject's authorisation, for subjects of ``kind``."""
    person = kind == SubjectKind.NATURAL_PERSON.value
    out = []
    for c in list_classes(session):
        applies = (
            c.applies_natural_person
            if person
            else (
                c.applies_individual_business
                if kind == SubjectKind.INDIVIDUAL_BUSINESS.value
                else c.applies_legal_person
            )
        )
        attribute = c.natural_person_attribute if person else c.public_attribute
        if applies and may_see(attribute, Role.BANK.value):
            out.append(c)
    return out


def check_scope(session: Session, subject: Subject, scope: Sequence[str]) -> list[str]:
    codes = sorted({(s or "").strip() for s in scope if (s or "").strip()})
    if not codes:
        raise ValidationFailed("请至少选择一个授权查询的信息类别", code="scope_required")
    allowed = {c.code for c in authorisable_classes(session, subject.kind)}
    bad = [c for c in codes if c not in allowed]
    if bad:
        raise ValidationFailed(
            "以下信息类别不能授权金融机构查询（不存在、不适用于该主体或仅限政务共享）：" + "、".join(bad),
            code="scope_not_authorisable",
            details={"classes": bad, "allowed": sorted(allowed)},
        )
    return codes


def _period(starts_on: dt.date | None, expires_on: dt.date | None, days: int | None) -> tuple[dt.datetime, dt.datetime]:
    today = clock.today()
    start_day = starts_on or today
    if start_day < today:
        raise ValidationFailed("授权开始日期不能早于今天", code="start_in_past")
    if expires_on is None:
        expires_on = start_day + dt.timedelta(days=days or default_days())
    if expires_on <= start_day:
        raise ValidationFailed("授权到期日期必须晚于开始日期", code="bad_period")
    longest = max_days()
    if (expires_on - start_day).days > longest:
        raise ValidationFailed(f"授权期限最长 {longest} 天", code="period_too_long", details={"max_days": longest})
    zone = clock.zone()
    starts_at = utcnow() if start_day == today else dt.datetime.combine(start_day, dt.time(), tzinfo=zone)
    # Valid through the expiry day (civil date of the platform), i.e. until midnight after it.
    return starts_at, dt.datetime.combine(expires_on + dt.timedelta(days=1), dt.time(), tzinfo=zone)


def _create(
    session: Session,
    *,
    actor: Principal,
    subject: Subject,
    inst: Institution,
    scope: Sequence[str],
    purpose: str | None,
    starts_on: dt.date | None,
    expires_on: dt.date | None,
    days: int | None,
    method: AuthorisationMethod,
    sha256: str | None = None,
    filename: str | None = None,
) -> Authorisation:
    if not inst.active:
        raise ValidationFailed(f"金融机构 {inst.name} 已停用", code="institution_inactive")
    codes = check_scope(session, subject, scope)
    purpose = (purpose or PURPOSE).strip()[:200] or PURPOSE
    starts_at, expires_at = _period(starts_on, expires_on, days)
    row = Authorisation(
        subject_id=subject.id,
        institution_id=inst.id,
        scope=codes,
        purpose=purpose,
        starts_at=starts_at,
        expires_at=expires_at,
        method=method,
        document_sha256=sha256,
        document_name=filename,
        created_by=actor.actor,
        created_at=utcnow(),
    )
    audit.record_added(
        session,
        row,
        actor=actor.actor,
        action="financing.authorisation_create",
        entity_type="authorisation",
        entity_id=row.id,
        reason=purpose,
        after=row.snapshot(),
    )
    return row


def grant_online(
    session: Session,
    *,
    subject_id: int,
    institution: int | str,
    scope: Sequence[str],
    purpose: str | None = None,
    days: int | None = None,
    expires_on: dt.date | None = None,
) -> Authorisation:
    """The subject, verified by a one-time code (the caller confirmed it), authorises an institution."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("信用主体不存在", code="subject_not_found")
    return _create(
        session,
        actor=_subject_actor(subject_id),
        subject=subject,
        inst=get_institution(session, institution),
        scope=scope,
        purpose=purpose,
        starts_on=None,
        expires_on=expires_on,
        days=days,
        method=AuthorisationMethod.ONLINE,
    )


def register_document(
    session: Session,
    *,
    actor: Principal,
    subject_code: str,
    scope: Sequence[str],
    content: bytes,
    filename: str,
    declared_sha256: str | None = None,
    purpose: str | None = None,
    starts_on: dt.date | None = None,
    expires_on: dt.date | None = None,
) -> Authorisation:
    """A bank uploads the subject's signed authorisation document (PDF or image). Refused: a file that is no
    document (``document_type_not_allowed`` …), one whose SHA-256 differs from the one the bank declares
    (``document_hash_mismatch``: altered in transit or forged), a document already used (``document_reused``)."""
    inst = require_institution(session, actor) if not actor.is_admin else None
    if inst is None:
        raise Forbidden("书面授权书由金融机构上传", code="bank_only")
    subject = find_subject(session, subject_code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    check_upload(filename, content)
    sha = hashlib.sha256(content).hexdigest()
    if declared_sha256 is not None:
        declared = declared_sha256.strip().lower()
        if not _SHA_RE.fullmatch(declared) or declared != sha:
            raise ValidationFailed(
                "授权书内容与声明的 SHA-256 不符：文件可能被篡改或伪造",
                code="document_hash_mismatch",
                details={"received_sha256": sha},
            )
    if session.scalar(select(Authorisation.id).where(Authorisation.document_sha256 == sha)) is not None:
        raise Conflict("该授权书已被登记过，不能重复使用", code="document_reused")
    return _create(
        session,
        actor=actor,
        subject=subject,
        inst=inst,
        scope=scope,
        purpose=purpose,
        starts_on=starts_on,
        expires_on=expires_on,
        days=None,
        method=AuthorisationMethod.DOCUMENT,
        sha256=sha,
        filename=safe_filename(filename),
    )


def status_of(a: Authorisation, now: dt.datetime | None = None) -> AuthorisationStatus:
    now = now or utcnow()
    if a.revoked_at is not None:
        return AuthorisationStatus.REVOKED
    if a.expires_at <= now:
        return AuthorisationStatus.EXPIRED
    if a.starts_at > now:
        return AuthorisationStatus.PENDING
    return AuthorisationStatus.ACTIVE


def get_authorisation(session: Session, authorisation_id: int) -> Authorisation:
    a = session.get(Authorisation, authorisation_id)
    if a is None:
        raise NotFound(f"授权 {authorisation_id} 不存在", code="authorisation_not_found")
    return a


def revoke(
    session: Session,
    *,
    actor: Principal,
    authorisation_id: int,
    reason: str | None = None,
    subject_id: int | None = None,
) -> Authorisation:
    """Revoke an authorisation: by its subject (``subject_id``, verified by the caller) or by the admin."""
    a = get_authorisation(session, authorisation_id)
    if subject_id is not None:
        if a.subject_id != subject_id:
            raise NotFound(f"授权 {authorisation_id} 不存在", code="authorisation_not_found")
        actor = _subject_actor(subject_id)
    else:
        _require_admin(actor, "撤销授权")
    if a.revoked_at is not None:
        raise Conflict("该授权已撤销", code="authorisation_already_revoked")
    before = a.snapshot()
    a.revoked_at = utcnow()
    a.revoked_by = actor.actor
    a.revoked_reason = ((reason or "").strip() or ("信用主体撤销授权" if subject_id else "平台管理员撤销"))[:500]
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="financing.authorisation_revoke",
        entity_type="authorisation",
        entity_id=a.id,
        reason=a.revoked_reason,
        before=before,
        after=a.snapshot(),
    )
    return a


def list_authorisations(
    session: Session,
    *,
    subject_id: int | None = None,
    institution_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Authorisation]:
    stmt = select(Authorisation).order_by(Authorisation.id.desc())
    if subject_id is not None:
        stmt = stmt.where(Authorisation.subject_id == subject_id)
    if institution_id is not None:
        stmt = stmt.where(Authorisation.institution_id == institution_id)
    now = utcnow()
    if status == AuthorisationStatus.ACTIVE:
        stmt = stmt.where(
            Authorisation.revoked_at.is_(None), Authorisation.starts_at <= now, Authorisation.expires_at > now
        )
    elif status == AuthorisationStatus.REVOKED:
        stmt = stmt.where(Authorisation.revoked_at.is_not(None))
    elif status == AuthorisationStatus.EXPIRED:
        stmt = stmt.where(Authorisation.revoked_at.is_(None), Authorisation.expires_at <= now)
    elif status not in (None, "", "all"):
        raise ValidationFailed("状态只能是 active / revoked / expired / all", code="bad_status")
    return list(session.scalars(stmt.limit(max(1, min(limit, 500))).offset(max(0, min(offset, 100_000)))))


def authorisation_view(session: Session, a: Authorisation, *, masked: bool = True) -> dict[str, Any]:
    """An authorisation as shown: a person's name and ID masked (``masked``; always on public answers)."""
    subject = session.get(Subject, a.subject_id)
    inst = session.get(Institution, a.institution_id)
    person = subject is not None and subject.kind == SubjectKind.NATURAL_PERSON.value
    return {
        "id": a.id,
        "subject_id": a.subject_id,
        "subject_name": (mask_name(subject.name) if person and masked else subject.name) if subject else None,
        "subject_code": (subject.resident_id_masked if person else subject.uscc) if subject else None,
        "institution": inst.code if inst else None,
        "institution_name": inst.name if inst else None,
        "scope": list(a.scope),
        "purpose": a.purpose,
        "starts_at": a.starts_at,
        "expires_at": a.expires_at,
        "method": a.method,
        "method_label": METHOD_LABELS[AuthorisationMethod(a.method)],
        "document_sha256": a.document_sha256,
        "status": status_of(a),
        "status_label": STATUS_LABELS[status_of(a)],
        "revoked_at": a.revoked_at,
        "revoked_reason": a.revoked_reason,
        "created_at": a.created_at,
    }


# The bank's read ---------------------------------------------------------------------------------------------


class ProfileRefused(Forbidden):
    """A refused profile read; ``subject_id`` set when the subject is known (the attempt is then logged)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        subject_id: int | None = None,
        institution: str | None = None,
        scope: Sequence[str] = (),
        details: Any = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.subject_id = subject_id
        self.institution = institution
        self.scope = list(scope)


def _parse_classes(classes: str | None) -> list[str]:
    return sorted({c.strip() for c in (classes or "").split(",") if c.strip()})[:50]


def read_profile(
    session: Session, *, actor: Principal, code: str, classes: str | None = None, document_sha256: str | None = None
) -> dict[str, Any]:
    """The authorised classes of the subject's credit information, for the bank with an active authorisation;
    logged in the subject's access log. Refusals raise :class:`ProfileRefused` (logged by :func:`log_refusal`)."""
    subject = find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    wanted = _parse_classes(classes)
    inst = institution_of(session, actor)
    if inst is None and not actor.is_admin:
        raise ProfileRefused(
            "该金融机构账号未登记到信易贷机构，请联系平台管理员",
            code="institution_not_registered",
            subject_id=subject.id,
            scope=wanted,
        )
    if inst is None:
        raise ProfileRefused("授权查询只对金融机构开放", code="bank_only", subject_id=subject.id, scope=wanted)
    grants = list(
        session.scalars(
            select(Authorisation)
            .where(Authorisation.subject_id == subject.id, Authorisation.institution_id == inst.id)
            .order_by(Authorisation.id.desc())
        )
    )
    if document_sha256:
        sha = document_sha256.strip().lower()
        grants = [g for g in grants if g.document_sha256 == sha]
        if not grants:
            raise ProfileRefused(
                "未找到与该授权书对应的授权：授权书未登记、已被篡改或不属于本机构和该主体",
                code="authorisation_document_unknown",
                subject_id=subject.id,
                institution=inst.name,
                scope=wanted,
            )
    now = utcnow()
    active = [g for g in grants if status_of(g, now) == AuthorisationStatus.ACTIVE]
    if not active:
        states = {status_of(g, now) for g in grants}
        if AuthorisationStatus.REVOKED in states and AuthorisationStatus.EXPIRED not in states:
            code_, message = "authorisation_revoked", "信用主体已撤销对本机构的授权"
        elif AuthorisationStatus.EXPIRED in states:
            code_, message = "authorisation_expired", "对本机构的授权已到期，请重新取得信用主体授权"
        elif AuthorisationStatus.PENDING in states:
            code_, message = "authorisation_not_started", "授权尚未开始生效"
        else:
            code_, message = "authorisation_required", "未取得该信用主体的有效授权，不能查询"
        raise ProfileRefused(message, code=code_, subject_id=subject.id, institution=inst.name, scope=wanted)
    granted = sorted({c for g in active for c in g.scope})
    outside = [c for c in wanted if c not in granted]
    if outside:
        raise ProfileRefused(
            "请求的信息类别超出授权范围：" + "、".join(outside),
            code="outside_scope",
            subject_id=subject.id,
            institution=inst.name,
            scope=wanted,
            details={"outside": outside, "authorised": granted},
        )
    read = wanted or granted
    sections = _sections(session, subject, read, actor)
    access_log.record(
        session,
        actor=actor,
        subject_id=subject.id,
        purpose=active[0].purpose,
        endpoint=PROFILE_ENDPOINT,
        scope=read,
        institution=inst.name,
        action=PROFILE_ACTION,
        extra={"authorisation_ids": [g.id for g in active]},
    )
    return {
        "subject": _subject_head(subject),
        "institution": inst.code,
        "purpose": active[0].purpose,
        "authorisations": [{"id": g.id, "expires_at": g.expires_at, "scope": list(g.scope)} for g in active],
        "classes": read,
        "sections": sections,
        "as_of": now,
    }


def log_refusal(session: Session, *, actor: Principal, exc: ProfileRefused) -> None:
    if exc.subject_id is None:
        return
    access_log.record(
        session,
        actor=actor,
        subject_id=exc.subject_id,
        purpose=PURPOSE,
        endpoint=PROFILE_ENDPOINT,
        scope=exc.scope,
        institution=exc.institution,
        outcome=access_log.DENIED,
        error_code=exc.code,
        action=PROFILE_ACTION,
    )


def log_refused_token(session: Session, *, raw_token: str, code: str, error_code: str) -> bool:
    """A bank token that is no longer valid (expired, revoked) asked for a subject's profile: the attempt goes in
    the subject's log under the token it was. An unknown token or subject logs nothing (nothing to name)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw_token)))
    subject = find_subject(session, code)
    if token is None or subject is None or Role(token.role) is not Role.BANK:
        return False
    who = Principal(kind="token", name=token.name, role=Role.BANK, token_id=token.id, user_id=token.user_id)
    inst = institution_of(
        session,
        who
        if token.user_id is None
        else Principal(kind="user", name=token.name, role=Role.BANK, user_id=token.user_id),
    )
    access_log.record(
        session,
        actor=who,
        subject_id=subject.id,
        purpose=PURPOSE,
        endpoint=PROFILE_ENDPOINT,
        institution=inst.name if inst else None,
        outcome=access_log.DENIED,
        error_code=error_code,
        action=PROFILE_ACTION,
    )
    return True


def _subject_head(subject: Subject) -> dict[str, Any]:
    person = subject.kind == SubjectKind.NATURAL_PERSON.value
    return {
        "id": subject.id,
        "kind": subject.kind,
        "name": mask_name(subject.name) if person else subject.name,
        "uscc": None if person else subject.uscc,
        "resident_id": subject.resident_id_masked if person else None,
    }


def _sections(session: Session, subject: Subject, classes: Sequence[str], actor: Principal) -> dict[str, Any]:
    """What the platform holds of each class for the subject (IDs of persons masked): the BANK subject profile
    (``reports.profile.build_profile``), read only for the classes the authorisations cover."""
    today = clock.today()
    person = subject.kind == SubjectKind.NATURAL_PERSON.value
    out: dict[str, Any] = {}
    list_types = dict(session.execute(select(ListType.code, ListType.info_class)).all())
    list_classes = set(list_types.values())
    record_kinds = [code for code in classes if code in ("licence", "penalty")]
    wanted = {
        Section.BASICS: "registration" in classes,
        Section.RECORDS: bool(record_kinds),
        Section.LIST_ENTRIES: any(code in list_classes for code in classes),
        Section.EVALUATIONS: "evaluation" in classes,
        Section.COMMITMENTS: "commitment" in classes,
    }
    profile = build_profile(
        session,
        subject,
        audience=Audience.BANK,
        today=today,
        sections=[s for s, asked in wanted.items() if asked],
        record_limit=200,
        record_kinds=record_kinds,
        viewer=actor,
    )
    for code in classes:
        if code == "registration":
            out[code] = {"available": True, "items": [profile.basics]}  # a person's ID only masked
        elif code in ("licence", "penalty"):
            out[code] = {
                "available": True,
                "items": [_record_item(r, person) for r in profile.records if r["kind"] == code],
            }
        elif code in list_classes:
            codes = {k for k, v in list_types.items() if v == code}
            out[code] = {
                "available": True,
                "items": [
                    {k: e.get(k) for k in _ENTRY_KEYS} for e in profile.list_entries if e.get("list_code") in codes
                ],
            }
        elif code == "evaluation":
            out[code] = {"available": True, "items": profile.grades}
        elif code == "commitment":
            out[code] = {"available": True, "items": profile.commitments}
        else:
            out[code] = {"available": False, "items": [], "note": "平台尚未归集该类信息"}
    return out


_RECORD_KEYS = (
    "id",
    "kind",
    "doc_no",
    "authority",
    "decision_date",
    "severity",
    "penalty_types",
    "fine_yuan",
    "licence_valid_from",
    "licence_valid_to",
    "party_name",
    "status",
    "status_reason",
)
_ENTRY_KEYS = (
    *ENTRY_FIELDS,
    "removed_on",
    "effective_status",
    "status_label",
    "counts",
    "objection",
)


def _record_item(view: dict[str, Any], person: bool) -> dict[str, Any]:
    item = {k: view.get(k) for k in _RECORD_KEYS}
    if person and item["party_name"]:
        item["party_name"] = mask_name(item["party_name"])
    return item


# Loan feedback -----------------------------------------------------------------------------------------------


def record_feedback(
    session: Session,
    *,
    actor: Principal,
    authorisation_id: int,
    outcome: str,
    amount_yuan: str | Decimal | None = None,
    rate_band: str | None = None,
    reference: str | None = None,
) -> LoanFeedback:
    """The bank reports what it did under an authorisation of its own: ``granted`` (amount > 0, rate band) or
    ``declined``."""
    inst = require_institution(session, actor)
    a = session.get(Authorisation, authorisation_id)
    if a is None or a.institution_id != inst.id:
        raise NotFound(f"本机构没有编号为 {authorisation_id} 的授权", code="authorisation_not_found")
    if outcome not in OUTCOME_LABELS:
        raise ValidationFailed("结果只能是 granted（已放款）或 declined（未授信）", code="bad_outcome")
    amount: Decimal | None = None
    if outcome == LoanOutcome.GRANTED:
        try:
            amount = Decimal(str(amount_yuan)).quantize(Decimal("0.01")) if amount_yuan is not None else None
        except (InvalidOperation, ValueError):
            amount = None
        if amount is None or not amount.is_finite() or amount <= 0 or amount >= Decimal("1e14"):
            raise ValidationFailed("放款时须填写大于 0 的金额（元）", code="bad_amount")
        if rate_band not in RATE_BANDS:
            raise ValidationFailed(
                "利率区间只能是 " + " / ".join(RATE_BANDS), code="bad_rate_band", details={"allowed": RATE_BANDS}
            )
    elif amount_yuan is not None or rate_band is not None:
        raise ValidationFailed("未授信时不填写金额和利率区间", code="declined_with_amount")
    row = LoanFeedback(
        authorisation_id=a.id,
        institution_id=inst.id,
        subject_id=a.subject_id,
        outcome=outcome,
        amount_yuan=amount,
        rate_band=rate_band if outcome == LoanOutcome.GRANTED else None,
        reference=(reference or "").strip()[:100] or None,
        actor=actor.actor,
        created_at=utcnow(),
    )
    audit.record_added(
        session,
        row,
        actor=actor.actor,
        action="financing.feedback",
        entity_type="authorisation",
        entity_id=a.id,
        after={
            "feedback_id": row.id,
            "outcome": outcome,
            "amount_yuan": amount,
            "rate_band": row.rate_band,
            "reference": row.reference,
        },
    )
    return row


def feedback_view(row: LoanFeedback) -> dict[str, Any]:
    return {
        "id": row.id,
        "authorisation_id": row.authorisation_id,
        "outcome": row.outcome,
        "outcome_label": OUTCOME_LABELS[LoanOutcome(row.outcome)],
        "amount_yuan": str(row.amount_yuan) if row.amount_yuan is not None else None,
        "rate_band": row.rate_band,
        "rate_band_label": RATE_BANDS.get(row.rate_band or ""),
        "reference": row.reference,
        "created_at": row.created_at,
    }


# Figures -----------------------------------------------------------------------------------------------------


def figures(session: Session) -> dict[str, Any]:
    """Per institution: authorisations (all, active), profile queries (answered, refused), loans granted and
    declined, the amount granted."""
    now = utcnow()
    insts = list_institutions(session)
    auth_all = dict(
        session.execute(select(Authorisation.institution_id, func.count()).group_by(Authorisation.institution_id)).all()
    )
    auth_active = dict(
        session.execute(
            select(Authorisation.institution_id, func.count())
            .where(Authorisation.revoked_at.is_(None), Authorisation.starts_at <= now, Authorisation.expires_at > now)
            .group_by(Authorisation.institution_id)
        ).all()
    )
    queries: dict[tuple[str, str], int] = {
        (inst or "", outcome): n
        for inst, outcome, n in session.execute(
            select(access_log.SubjectAccess.institution, access_log.SubjectAccess.outcome, func.count())
            .where(access_log.SubjectAccess.endpoint == PROFILE_ENDPOINT)
            .group_by(access_log.SubjectAccess.institution, access_log.SubjectAccess.outcome)
        ).all()
    }
    loans: dict[tuple[int, str], tuple[int, Decimal]] = {
        (i, o): (n, amount or Decimal(0))
        for i, o, n, amount in session.execute(
            select(
                LoanFeedback.institution_id, LoanFeedback.outcome, func.count(), func.sum(LoanFeedback.amount_yuan)
            ).group_by(LoanFeedback.institution_id, LoanFeedback.outcome)
        ).all()
    }
    rows: list[dict[str, Any]] = []
    for inst in insts:
        granted = loans.get((inst.id, LoanOutcome.GRANTED), (0, Decimal(0)))
        rows.append(
            {
                "institution": inst.code,
                "name": inst.name,
                "authorisations": auth_all.get(inst.id, 0),
                "active_authorisations": auth_active.get(inst.id, 0),
                "queries": queries.get((inst.name, access_log.ALLOWED), 0),
                "refused_queries": queries.get((inst.name, access_log.DENIED), 0),
                "loans_granted": granted[0],
                "loans_declined": loans.get((inst.id, LoanOutcome.DECLINED), (0, 0))[0],
                "amount_granted_yuan": str(Decimal(granted[1]).quantize(Decimal("0.01"))),
            }
        )
    total: dict[str, Any] = {
        k: sum(r[k] for r in rows)
        for k in (
            "authorisations",
            "active_authorisations",
            "queries",
            "refused_queries",
            "loans_granted",
            "loans_declined",
        )
    }
    total["amount_granted_yuan"] = str(sum((Decimal(r["amount_granted_yuan"]) for r in rows), Decimal("0.00")))
    return {"institutions": rows, "total": total, "as_of": now}
