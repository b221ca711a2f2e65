"""The notification outbox and its channels.

Services call :func:`queue` inside the transaction of the change they announce (a filing, a decision, an
overdue case): the :class:`~xinyong.cases.models.Notification` exists if and only if the change committed.
:func:`deliver_pending` (CLI ``xinyong cases notify``, or the admin API) sends pending notifications through the
channel configured for their type, with a bounded number of attempts:

- ``email`` → :class:`SmtpChannel` (``XINYONG_CASES_EMAIL_BACKEND=smtp``) or the log channel;
- ``sms`` → :class:`HttpSmsChannel` (``XINYONG_CASES_SMS_BACKEND=http``: JSON POST to the city's SMS gateway)
  or the log channel;
- ``log`` → :class:`LogChannel`: one JSON line per message in ``<data dir>/notifications.log`` (the demo's
  mailbox; operators read one-time codes there when no gateway is configured).

Other adapters register with :func:`register_backend`. Bodies holding a one-time code are blanked once sent.
In the demo (``XINYONG_DEMO``) :func:`demo_outbox` shows the admin the codes sent to the demo contacts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.cases.config import get_cases_settings
from xinyong.cases.models import Notification, NotificationStatus, SubjectContact
from xinyong.core.db import utcnow, writer_of
from xinyong.core.errors import ConfigurationError, ValidationFailed
from xinyong.core.settings import get_settings
from xinyong.subjects.models import Subject, SubjectKind

log = logging.getLogger(__name__)
CHANNELS = ("email", "sms", "log")


class Channel(Protocol):
    name: str

    def send(self, *, address: str, title: str, body: str) -> None:
        """Send one message or raise."""


class LogChannel:
    name = "log"

    def send(self, *, address: str, title: str, body: str) -> None:
        path = get_settings().data_dir / "notifications.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": utcnow().isoformat(), "to": address, "title": title, "body": body}, ensure_ascii=False)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        log.info("notification to %s: %s", address, title)


class SmtpChannel:
    name = "smtp"

    def send(self, *, address: str, title: str, body: str) -> None:
        s = get_cases_settings()
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = s.smtp_from, address, title
        msg.set_content(body)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            smtp.send_message(msg)


class HttpSmsChannel:
    name = "http"

    def send(self, *, address: str, title: str, body: str) -> None:
        s = get_cases_settings()
        if not s.sms_gateway_url:
            raise ConfigurationError("未配置短信网关地址 XINYONG_CASES_SMS_GATEWAY_URL", code="sms_gateway_missing")
        headers = {"Authorization": f"Bearer {s.sms_gateway_token}"} if s.sms_gateway_token else {}
        resp = httpx.post(
            s.sms_gateway_url, json={"to": address, "text": f"【{title}】{body}"}, headers=headers, timeout=20
        )
        resp.raise_for_status()


_BACKENDS: dict[str, Callable[[], Channel]] = {"log": LogChannel, "smtp": SmtpChannel, "http": HttpSmsChannel}


def register_backend(name: str, factory: Callable[[], Channel]) -> None:
    """Make another adapter available under ``name`` (chosen by ``XINYONG_CASES_EMAIL_BACKEND`` / ``…_SMS_…``)."""
    _BACKENDS[name] = factory


def channel_for(kind: str) -> Channel:
    s = get_cases_settings()
    backend = {"email": s.email_backend, "sms": s.sms_backend, "log": "log"}.get(kind)
    if backend is None:
        raise ValidationFailed(f"未知的通知渠道 {kind!r}", code="unknown_channel")
    factory = _BACKENDS.get(backend)
    if factory is None:
        raise ConfigurationError(
            f"未知的通知后端 {backend!r}（可选：{'、'.join(_BACKENDS)}）", code="unknown_notify_backend"
        )
    return factory()


def queue(
    session: Session,
    *,
    channel: str,
    address: str,
    recipient_kind: str,
    title: str,
    body: str,
    case_id: int | None = None,
    sensitive: bool = False,
) -> Notification:
    """Queue one message in the caller's transaction."""
    if channel not in CHANNELS:
        raise ValidationFailed(f"未知的通知渠道 {channel!r}", code="unknown_channel")
    n = Notification(
        case_id=case_id,
        channel=channel,
        address=address[:200],
        recipient_kind=recipient_kind,
        title=title[:200],
        body=body,
        sensitive=sensitive,
        status=NotificationStatus.PENDING,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(n)
    session.flush()
    return n


def deliver_pending(session: Session, *, limit: int = 200) -> dict[str, int]:
    """Send up to ``limit`` pending notifications. Each one is claimed, sent and marked in its own transaction on
    the session's engine (the caller's transaction is not touched), so a crash never marks unsent mail as sent and
    a sent message is never sent again by the next run. Failures are retried on later runs until
    ``XINYONG_CASES_NOTIFY_MAX_ATTEMPTS``, then marked ``failed``."""
    max_attempts = get_cases_settings().notify_max_attempts
    counts = {"sent": 0, "failed": 0, "retry": 0}
    bind = session.get_bind()
    with Session(bind=bind) as reader:
        ids = list(
            reader.scalars(
                select(Notification.id)
                .where(Notification.status == NotificationStatus.PENDING)
                .order_by(Notification.id)
                .limit(limit)
            )
        )
    for nid in ids:
        # A write transaction (BEGIN IMMEDIATE on SQLite): it reads the row, then marks it.
        # A Database session's bind is its Engine (a session bound to a Connection passes it on as it is).
        with Session(bind=writer_of(bind)) as own, own.begin():  # type: ignore[arg-type]
            n = own.scalars(
                select(Notification)
                .where(Notification.id == nid, Notification.status == NotificationStatus.PENDING)
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if n is None:
                continue
            n.attempts += 1
            try:
                channel_for(n.channel).send(address=n.address, title=n.title, body=n.body)
            except Exception as exc:  # noqa: BLE001 - any failure of an adapter is recorded and retried
                n.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if n.attempts >= max_attempts:
                    n.status = NotificationStatus.FAILED
                    counts["failed"] += 1
                else:
                    counts["retry"] += 1
            else:
                n.status, n.sent_at, n.last_error = NotificationStatus.SENT, utcnow(), None
                if n.sensitive:
                    n.body = "（含一次性验证码，发送后已清除）"
                counts["sent"] += 1
    return counts


def notification_view(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "case_id": n.case_id,
        "channel": n.channel,
        "recipient_kind": n.recipient_kind,
        "address": n.address,
        "title": n.title,
        "body": "（已隐藏）" if n.sensitive else n.body,
        "status": n.status,
        "attempts": n.attempts,
        "last_error": n.last_error,
        "created_at": n.created_at,
        "sent_at": n.sent_at,
    }


#: Registered contacts the demo created (``demo.cases``): the only addresses the demo outbox shows.
DEMO_CONTACT_SOURCE = "demo:"


def demo_contacts(session: Session, *, limit: int = 50) -> list[dict[str, Any]]:
    """The demo subjects that have a registered contact (where the portal's objection, repair and personal-report
    forms can send a one-time code), organisations first: name, code (a person's masked), channel. Demo only."""
    rows = session.execute(
        select(Subject.name, Subject.uscc, Subject.resident_id_masked, Subject.kind, SubjectContact.channel)
        .join(SubjectContact, SubjectContact.subject_id == Subject.id)
        .where(SubjectContact.source.startswith(DEMO_CONTACT_SOURCE))
        .order_by(Subject.kind != SubjectKind.LEGAL_PERSON, Subject.id)
        .limit(limit)
    )
    return [
        {"name": name, "code": uscc or masked, "kind": kind, "channel": "短信" if channel == "sms" else "邮件"}
        for name, uscc, masked, kind, channel in rows
    ]


def demo_outbox(session: Session, *, limit: int = 50) -> list[dict[str, Any]]:
    """The one-time codes for the demo's registered contacts, newest first: pending ones from the outbox table
    (their body still holds the code) and sent ones from the log channel's file (``notifications.log``), so a
    visitor can try the portal's objection form without a phone. For the demo only (``Settings.demo``)."""
    demo = {
        c.address
        for c in session.scalars(select(SubjectContact).where(SubjectContact.source.startswith(DEMO_CONTACT_SOURCE)))
    }
    out: list[dict[str, Any]] = []
    pending = session.scalars(
        select(Notification)
        .where(Notification.sensitive.is_(True), Notification.status == NotificationStatus.PENDING)
        .order_by(Notification.id.desc())
        .limit(limit * 4)
    )
    for n in pending:
        if n.address in demo:
            out.append({"at": n.created_at, "to": n.address, "title": n.title, "body": n.body, "status": "pending"})
    path = get_settings().data_dir / "notifications.log"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines()[-limit * 4 :]:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("to") in demo and "验证码" in (item.get("title") or ""):
                try:
                    at = dt.datetime.fromisoformat(item["at"])
                except (KeyError, TypeError, ValueError):
                    continue
                out.append({**item, "at": at if at.tzinfo else at.replace(tzinfo=dt.UTC), "status": "sent"})
    out.sort(key=lambda m: m["at"], reverse=True)
    return out[:limit]
