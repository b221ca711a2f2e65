"""One-time codes: how a subject proves who they are on the public portal.

The applicant names the subject (USCC, legacy code or resident ID); the platform sends a six-digit code to the
contact *registered for that subject* (:class:`~xinyong.cases.models.SubjectContact`, or a phone / email the
registry import left in ``subjects.extra``), never to an address the applicant types in. Knowing a company's
code is therefore not enough to act for it. The code is stored only as a keyed hash, expires
(``XINYONG_CASES_CODE_TTL_MINUTES``), allows a few attempts (``…_CODE_MAX_ATTEMPTS``) and is used once; at most
``…_CODES_PER_HOUR`` codes are sent per subject and hour.

Wrong attempts are counted in their own transaction, so a failed request (whose own transaction rolls back)
still uses up an attempt.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.cases import notify
from xinyong.cases.config import get_cases_settings
from xinyong.cases.models import RecipientKind, SubjectContact, VerificationChallenge
from xinyong.core import audit
from xinyong.core.db import utcnow, write_lock_released, writer_of
from xinyong.core.errors import NotFound, ValidationFailed, XinyongError
from xinyong.identifiers.masking import mask_phone
from xinyong.identifiers.vault import get_vault
from xinyong.subjects.models import Subject
from xinyong.subjects.service import find_subject

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult


# report: a natural person asking for their own credit report; financing: authorising (or revoking) a bank's read
# (信易贷); access_log: a subject reading its own access log (查询记录)
class Purpose(StrEnum):
    """What a one-time code is for."""

    OBJECTION = "objection"
    REPAIR = "repair"
    REPORT = "report"
    FINANCING = "financing"
    ACCESS_LOG = "access_log"


PURPOSES = tuple(Purpose)
PURPOSE_LABELS: dict[str, str] = {
    Purpose.OBJECTION: "提出信用信息异议",
    Purpose.REPAIR: "申请信用修复",
    Purpose.REPORT: "申请本人公共信用信息报告",
    Purpose.FINANCING: "办理信易贷查询授权",
    Purpose.ACCESS_LOG: "查看本主体的信用信息查询记录",
}
_EXTRA_KEYS = {
    "sms": ("contact_phone", "phone", "mobile", "联系电话", "手机号码"),
    "email": ("contact_email", "email", "电子邮箱", "邮箱"),
}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{6,19}$")


class TooManyRequests(XinyongError):
    status_code = 429
    code = "too_many_requests"


def mask_email(address: str) -> str:
    user, _, domain = address.partition("@")
    return (user[:1] + "***" if user else "***") + "@" + domain


def mask_address(channel: str, address: str) -> str:
    return mask_phone(address) if channel == "sms" else mask_email(address)


def check_address(channel: str, address: str) -> str:
    address = (address or "").strip()
    if channel == "sms" and _PHONE.fullmatch(address):
        return address
    if channel == "email" and _EMAIL.fullmatch(address):
        return address
    raise ValidationFailed(f"联系方式格式无效（{channel}）", code="bad_contact")


def set_contact(
    session: Session, *, actor: Principal, subject_id: int, channel: str, address: str, source: str
) -> SubjectContact:
    """Register (or replace) the subject's contact for a channel (``sms`` / ``email``). Audited (masked)."""
    if channel not in ("sms", "email"):
        raise ValidationFailed("联系渠道只能是 sms 或 email", code="unknown_channel")
    address = check_address(channel, address)
    if session.get(Subject, subject_id) is None:
        raise NotFound(f"信用主体 {subject_id} 不存在", code="subject_not_found")
    found = session.scalar(
        select(SubjectContact).where(SubjectContact.subject_id == subject_id, SubjectContact.channel == channel)
    )
    before = {"address": mask_address(channel, found.address)} if found else None
    now = utcnow()
    if found is None:
        found = SubjectContact(
            subject_id=subject_id, channel=channel, address=address, source=source[:200], created_at=now, updated_at=now
        )
        session.add(found)
    else:
        found.address, found.source, found.updated_at = address, source[:200], now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="cases.contact_set",
        entity_type="subject",
        entity_id=subject_id,
        reason=f"登记信用主体联系方式（{source[:80]}）",
        before=before,
        after={"channel": channel, "address": mask_address(channel, address)},
    )
    return found


def registered_contact(session: Session, subject: Subject) -> tuple[str, str] | None:
    """``(channel, address)`` where codes for this subject go: a registered contact (SMS first), else a contact
    the registry import stored in ``subjects.extra``."""
    rows = {
        c.channel: c.address
        for c in session.scalars(select(SubjectContact).where(SubjectContact.subject_id == subject.id))
    }
    for channel in ("sms", "email"):
        if channel in rows:
            return channel, rows[channel]
    extra: dict[str, Any] = subject.extra or {}
    for channel, keys in _EXTRA_KEYS.items():
        for key in keys:
            value = str(extra.get(key) or "").strip()
            if value:
                try:
                    return channel, check_address(channel, value)
                except ValidationFailed:
                    continue
    return None


def _hash(challenge: str, code: str) -> str:
    return get_vault().lookup_hash(f"{challenge}:{code}", purpose="case_code")


def start(session: Session, *, subject_code: str, purpose: str) -> dict[str, Any]:
    """Send a code to the subject's registered contact; returns the challenge handle and the masked address.

    An unknown code and a subject without a registered contact get the same answer shape as errors with their
    own codes (``subject_not_found``, ``no_registered_contact``): the applicant must be told to register at a
    service window, and the registry is public for organisations anyway.
    """
    if purpose not in PURPOSES:
        raise ValidationFailed(f"验证用途只能是 {' / '.join(PURPOSES)}", code="bad_purpose")
    subject = find_subject(session, subject_code)
    if subject is None:
        raise NotFound("未找到该代码的信用主体", code="subject_not_found")
    contact = registered_contact(session, subject)
    if contact is None:
        raise ValidationFailed(
            "该信用主体没有登记联系方式，无法发送验证码：请到信用服务窗口登记后再申请", code="no_registered_contact"
        )
    s = get_cases_settings()
    now = utcnow()
    recent = session.scalar(
        select(func.count())
        .select_from(VerificationChallenge)
        .where(
            VerificationChallenge.subject_id == subject.id,
            VerificationChallenge.created_at > now - dt.timedelta(hours=1),
        )
    )
    if (recent or 0) >= s.codes_per_hour:
        raise TooManyRequests(f"验证码发送过于频繁：每小时最多 {s.codes_per_hour} 次", code="too_many_codes")
    channel, address = contact
    handle = "vc_" + secrets.token_urlsafe(18)
    code = f"{secrets.randbelow(1_000_000):06d}"
    ch = VerificationChallenge(
        challenge=handle,
        subject_id=subject.id,
        purpose=purpose,
        channel=channel,
        address_masked=mask_address(channel, address),
        code_hash=_hash(handle, code),
        attempts=0,
        max_attempts=s.code_max_attempts,
        expires_at=now + dt.timedelta(minutes=s.code_ttl_minutes),
        created_at=now,
    )
    session.add(ch)
    session.flush()
    label = PURPOSE_LABELS[purpose]
    notify.queue(
        session,
        channel=channel,
        address=address,
        recipient_kind=RecipientKind.APPLICANT,
        title="信用平台验证码",
        body=f"您正在为「{subject.name}」{label}，验证码 {code}，{s.code_ttl_minutes} 分钟内有效。如非本人操作请忽略。",
        sensitive=True,
    )
    audit.record(
        session,
        actor="anonymous:public",
        action="cases.code_sent",
        entity_type="subject",
        entity_id=subject.id,
        reason=f"发送一次性验证码（{label}）",
        after={"challenge_id": ch.id, "channel": channel, "address": ch.address_masked},
    )
    return {"challenge": handle, "channel": channel, "address": ch.address_masked, "expires_at": ch.expires_at}


def confirm(session: Session, *, challenge: str, code: str, purpose: str) -> int:
    """The subject id proven by ``code`` for ``challenge``; the challenge is used up. Errors: ``code_invalid``
    (with the attempts left), ``code_expired``, ``code_attempts_exhausted``, ``code_used``.

    Runs in its own transaction on the session's engine, committed before it returns or raises: a wrong attempt
    counts even though the caller's request then fails, and the attempt is taken (``UPDATE … attempts + 1``)
    before the code is compared, so parallel guesses cannot exceed the limit. Call it before the caller's own
    session has written anything: on SQLite a caller's write transaction that has only read is set aside meanwhile
    (``core.db.write_lock_released``), since it holds the write lock.
    """
    now = utcnow()
    handle = challenge or ""
    # A caller's write transaction that has only read holds SQLite's write lock: it is set aside meanwhile.
    # A Database session's bind is its Engine (a session bound to a Connection passes it on as it is).
    bind = session.get_bind()
    with write_lock_released(session), Session(bind=writer_of(bind)) as own:  # type: ignore[arg-type]
        took = cast(  # an UPDATE: a CursorResult
            "CursorResult[Any]",
            own.execute(
                update(VerificationChallenge)
                .where(
                    VerificationChallenge.challenge == handle,
                    VerificationChallenge.purpose == purpose,
                    VerificationChallenge.used_at.is_(None),
                    VerificationChallenge.expires_at > now,
                    VerificationChallenge.attempts < VerificationChallenge.max_attempts,
                )
                .values(attempts=VerificationChallenge.attempts + 1)
            ),
        ).rowcount
        ch = own.scalar(select(VerificationChallenge).where(VerificationChallenge.challenge == handle))
        if ch is None or ch.purpose != purpose:
            own.rollback()
            raise ValidationFailed("验证码无效", code="code_invalid")
        if not took:
            own.rollback()
            if ch.used_at is not None:
                raise ValidationFailed("验证码已使用，请重新获取", code="code_used")
            if ch.expires_at <= now:
                raise ValidationFailed("验证码已过期，请重新获取", code="code_expired")
            raise ValidationFailed("验证码尝试次数已用完，请重新获取", code="code_attempts_exhausted")
        if not hmac.compare_digest(ch.code_hash, _hash(ch.challenge, (code or "").strip())):
            left = max(ch.max_attempts - ch.attempts, 0)
            own.commit()
            raise ValidationFailed(
                f"验证码错误（还可尝试 {left} 次）", code="code_invalid", details={"attempts_left": left}
            )
        ch.used_at = now
        subject_id = ch.subject_id
        own.commit()
    return subject_id


def verified_applicant(
    session: Session, *, challenge: str, code: str, purpose: str
) -> tuple[int, str | None, str | None]:
    """``(subject id, channel, address)`` of a proven applicant: the code is used up, and answers about the case
    go to the same registered contact the code went to."""
    subject_id = confirm(session, challenge=challenge, code=code, purpose=purpose)
    subject = session.get(Subject, subject_id)
    contact = registered_contact(session, subject) if subject is not None else None
    return subject_id, contact[0] if contact else None, contact[1] if contact else None


#: How long a verified subject may go on acting on the portal (the pages after a code: revoking an authorisation,
#: paging its access log) without a new code.
PASS_MINUTES = 15


def issue_pass(subject_id: int, purpose: str) -> str:
    """A short-lived signed pass ``<subject id>.<expiry unix>.<mac>`` handed to the verified subject's browser (a
    hidden form field): it proves the verification for :data:`PASS_MINUTES` for this purpose only."""
    until = int((utcnow() + dt.timedelta(minutes=PASS_MINUTES)).timestamp())
    body = f"{subject_id}.{until}"
    return body + "." + get_vault().lookup_hash(f"{purpose}:{body}", purpose="portal_pass")


def read_pass(token: str, purpose: str) -> int:
    """The subject id a pass proves; ``pass_invalid`` or ``pass_expired`` otherwise."""
    parts = (token or "").strip().split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 19:
        raise ValidationFailed("验证已失效，请重新获取验证码", code="pass_invalid")
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2], get_vault().lookup_hash(f"{purpose}:{body}", purpose="portal_pass")):
        raise ValidationFailed("验证已失效，请重新获取验证码", code="pass_invalid")
    if int(parts[1]) < utcnow().timestamp():
        raise ValidationFailed("验证已过期，请重新获取验证码", code="pass_expired")
    return int(parts[0])
