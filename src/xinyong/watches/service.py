"""Watches: receivers (webhook endpoints of business systems), watched subjects, the event outbox.

Other domains call :func:`emit_subject_event` inside the transaction that changes a subject's situation (a list
entry added or removed; later a credit repair decided). It is a transactional outbox: the event and its pending
deliveries commit or roll back with the change, and the worker in ``watches.delivery`` sends them afterwards.

Access: a business system or department operator manages its own department's receivers and watches; the admin
manages all. Another department's receiver is "not found" (its existence is not disclosed).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

import httpx
from pydantic_core import to_jsonable_python
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.core import audit
from xinyong.core.db import IN_CHUNK, utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import explain, resident_id
from xinyong.identifiers.masking import mask_resident_id
from xinyong.identifiers.vault import get_vault
from xinyong.subjects.models import Subject
from xinyong.subjects.service import resolve_code_ids
from xinyong.watches.models import (
    DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    OutboxEvent,
    Receiver,
    Watch,
)

#: Event types known today, with their labels. The set is open: any name of the form ``domain.verb`` is accepted
#: (e.g. ``record.repaired`` from credit repair), so a new producer needs no change here.
EVENT_TYPES = {
    "list.entered": "进入名单",
    "list.left": "移出名单",
    "grade.changed": "信用评价等级变化",
}
EVENT_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,29}(\.[a-z][a-z0-9_]{0,29}){1,2}")
#: Most codes accepted by one subscribe / unsubscribe call.
MAX_CODES = 10_000
_SECRET_PREFIX_LEN = 10
_RESIDENT_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


# The outbox ------------------------------------------------------------------------------------------------


def check_event_type(event: str) -> str:
    """``event`` if it is a well-formed event type (``list.entered``), else :class:`ValidationFailed`."""
    if not isinstance(event, str) or not EVENT_TYPE_PATTERN.fullmatch(event):
        raise ValidationFailed(f"事件类型格式无效：{str(event)[:60]!r}，应形如 list.entered", code="bad_event_type")
    return event


def _scrub(value: Any) -> Any:
    """The value with every valid resident ID number inside a string masked: a caller's slip must not send a
    clear personal number to another system."""
    if isinstance(value, str):
        return _RESIDENT_ID_IN_TEXT.sub(
            lambda m: mask_resident_id(m.group(1)) if resident_id.is_valid(m.group(1)) else m.group(1), value
        )
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def subject_identity(subject: Subject) -> dict[str, Any]:
    """How a subject is named to receivers: platform id, kind, name, USCC or masked resident ID."""
    return {
        "id": subject.id,
        "kind": subject.kind,
        "name": subject.name,
        "uscc": subject.uscc,
        "resident_id_masked": subject.resident_id_masked,
    }


def emit_subject_event(session: Session, *, subject_id: int, event: str, payload: dict[str, Any]) -> int:
    """Queue ``event`` about a subject for every active receiver that watches it; the number of deliveries queued.

    Call it inside the transaction that makes the change. When nobody watches the subject it costs one indexed
    query and writes nothing. ``payload`` must be JSON-compatible (dates become ISO strings); the subject's public
    identity is added here as ``subject``, and any resident ID number found in it is masked.
    """
    check_event_type(event)
    rows = session.execute(
        select(Receiver.id, Receiver.event_types)
        .join(Watch, Watch.receiver_id == Receiver.id)
        .where(Watch.subject_id == subject_id, Receiver.active.is_(True))
    ).all()
    receiver_ids = [rid for rid, types in rows if not types or event in types]
    if not receiver_ids:
        return 0
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"信用主体 {subject_id} 不存在", code="subject_not_found")
    now = utcnow()
    outbox = OutboxEvent(
        uid=f"evt_{uuid.uuid4().hex}",
        event_type=event,
        subject_id=subject_id,
        created_at=now,
        payload={"data": _scrub(to_jsonable_python(payload or {})), "subject": subject_identity(subject)},
    )
    session.add(outbox)
    session.flush()
    session.add_all(
        Delivery(
            event_id=outbox.id,
            receiver_id=rid,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for rid in sorted(receiver_ids)
    )
    session.flush()
    return len(receiver_ids)


def watched_subjects(session: Session, subject_ids: Select[Any] | Sequence[int], *, event: str) -> set[int]:
    """Which of ``subject_ids`` (a list, or a SELECT of subject ids evaluated in the database) at least one active
    receiver watches for ``event``: bulk producers (a grade change over many subjects) call
    :func:`emit_subject_event` only for these, at one query for the whole set instead of one per subject."""
    check_event_type(event)
    base = (
        select(Watch.subject_id, Receiver.event_types)
        .join(Receiver, Receiver.id == Watch.receiver_id)
        .where(Receiver.active.is_(True))
    )
    if isinstance(subject_ids, Select):
        rows = session.execute(base.where(Watch.subject_id.in_(subject_ids.scalar_subquery()))).all()
    else:
        ids = sorted(set(subject_ids))
        rows = []
        for chunk in _chunks(ids):
            rows.extend(session.execute(base.where(Watch.subject_id.in_(chunk))).all())
    return {sid for sid, types in rows if not types or event in types}


# Receivers -------------------------------------------------------------------------------------------------

#: How long the previous secret keeps signing after a rotation.
ROTATION_GRACE = dt.timedelta(hours=24)


def watched_among(session: Session, subject_ids: Sequence[int]) -> set[int]:
    """Which of ``subject_ids`` anyone watches, for any event (one indexed look-up; callers chunk)."""
    return set(session.scalars(select(Watch.subject_id).where(Watch.subject_id.in_(list(subject_ids)))))


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _aad(receiver_id: int) -> str:
    return f"receiver:{receiver_id}"


def signing_secrets(receiver: Receiver, *, now: dt.datetime | None = None) -> list[str]:
    """The secrets that sign a delivery to ``receiver`` now: the current one, then the previous one during the
    grace period after a rotation."""
    vault = get_vault()
    found = [vault.decrypt(receiver.secret_enc, associated_data=_aad(receiver.id))]
    now = now or utcnow()
    if receiver.previous_secret_enc and receiver.previous_secret_until and receiver.previous_secret_until > now:
        found.append(vault.decrypt(receiver.previous_secret_enc, associated_data=_aad(receiver.id)))
    return found


def _check_url(url: str) -> str:
    url = (url or "").strip()
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValidationFailed(f"推送地址无效：{url[:100]}", code="bad_receiver_url") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed("推送地址必须是 http:// 或 https:// 开头的完整地址", code="bad_receiver_url")
    if parsed.userinfo:
        raise ValidationFailed("推送地址中不能包含用户名或密码", code="bad_receiver_url")
    if len(url) > 500:
        raise ValidationFailed("推送地址过长（最多500个字符）", code="bad_receiver_url")
    return url


def _check_event_types(event_types: Sequence[str] | None) -> list[str]:
    return sorted({check_event_type(e.strip()) for e in (event_types or []) if e and e.strip()})


def _department_for(session: Session, actor: Principal, department_id: int | None) -> int:
    if not actor.is_admin:
        if actor.department_id is None:
            raise Forbidden("当前身份不属于任何部门，不能管理推送接收端", code="department_required")
        if department_id is not None and department_id != actor.department_id:
            raise Forbidden("只能为本部门创建推送接收端", code="other_department")
        department_id = actor.department_id
    if department_id is None:
        raise ValidationFailed("请指定接收端所属部门", code="department_required")
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门 {department_id} 不存在", code="department_not_found")
    if not department.active:
        raise ValidationFailed(f"部门 {department.code} 已停用", code="department_inactive")
    return department.id


def create_receiver(
    session: Session,
    *,
    actor: Principal,
    name: str,
    url: str,
    department_id: int | None = None,
    event_types: Sequence[str] | None = None,
    reason: str | None = None,
) -> tuple[Receiver, str]:
    """A new receiver and its signing secret in clear: the only time the secret is shown."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("接收端名称不能为空，最多100个字符", code="bad_receiver_name")
    now = utcnow()
    secret = _new_secret()
    receiver = Receiver(
        name=name,
        department_id=_department_for(session, actor, department_id),
        url=_check_url(url),
        secret_enc="",
        secret_prefix=secret[:_SECRET_PREFIX_LEN],
        event_types=_check_event_types(event_types),
        active=True,
        created_by=actor.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(receiver)
    session.flush()
    receiver.secret_enc = get_vault().encrypt(secret, associated_data=_aad(receiver.id))
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="watches.receiver_create",
        entity_type="watch_receiver",
        entity_id=receiver.id,
        reason=reason,
        after=receiver.snapshot(),
    )
    return receiver, secret


def get_receiver(session: Session, *, actor: Principal, receiver_id: int) -> Receiver:
    """The receiver, if the actor may see it (own department, or admin); otherwise not found."""
    receiver = session.get(Receiver, receiver_id)
    if receiver is None or not actor.can_see_department(receiver.department_id):
        raise NotFound(f"推送接收端 {receiver_id} 不存在", code="receiver_not_found")
    return receiver


def list_receivers(session: Session, *, actor: Principal, include_inactive: bool = False) -> list[Receiver]:
    query = select(Receiver).order_by(Receiver.id)
    if not actor.is_admin:
        query = query.where(Receiver.department_id == actor.department_id)
    if not include_inactive:
        query = query.where(Receiver.active.is_(True))
    return list(session.scalars(query))


def rotate_secret(
    session: Session, *, actor: Principal, receiver_id: int, reason: str | None = None
) -> tuple[Receiver, str]:
    """A new secret for the receiver (returned in clear, once). The old one keeps signing alongside it for
    :data:`ROTATION_GRACE`, so deliveries in flight stay verifiable while the receiving system switches."""
    receiver = get_receiver(session, actor=actor, receiver_id=receiver_id)
    if not receiver.active:
        raise Conflict("接收端已停用，不能更换密钥", code="receiver_inactive")
    before = receiver.snapshot()
    now = utcnow()
    secret = _new_secret()
    receiver.previous_secret_enc = receiver.secret_enc
    receiver.previous_secret_until = now + ROTATION_GRACE
    receiver.secret_enc = get_vault().encrypt(secret, associated_data=_aad(receiver.id))
    receiver.secret_prefix = secret[:_SECRET_PREFIX_LEN]
    receiver.secret_rotated_at = receiver.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="watches.receiver_rotate_secret",
        entity_type="watch_receiver",
        entity_id=receiver.id,
        reason=reason,
        before=before,
        after=receiver.snapshot(),
    )
    return receiver, secret


def deactivate_receiver(session: Session, *, actor: Principal, receiver_id: int, reason: str | None = None) -> Receiver:
    """Stop a receiver: no new deliveries are queued for it, and its pending ones become dead (an admin can
    redeliver them if it is ever needed)."""
    receiver = get_receiver(session, actor=actor, receiver_id=receiver_id)
    if not receiver.active:
        return receiver
    before = receiver.snapshot()
    now = utcnow()
    receiver.active = False
    receiver.deactivated_at = receiver.updated_at = now
    result = session.execute(
        update(Delivery)
        .where(Delivery.receiver_id == receiver.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.DEAD, locked_until=None, locked_by=None, last_error="接收端已停用")
    )
    abandoned = cast("CursorResult[Any]", result).rowcount  # an UPDATE: a CursorResult
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="watches.receiver_deactivate",
        entity_type="watch_receiver",
        entity_id=receiver.id,
        reason=reason,
        before=before,
        after={**receiver.snapshot(), "pending_abandoned": abandoned},
    )
    return receiver


# Watches ---------------------------------------------------------------------------------------------------


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


def _shown(code: str, check: Any) -> str:
    """A code as it may be echoed back: anything that may be a personal ID is masked."""
    if check.personal:
        return check.to_dict(mask=True)["input"]
    return code[:60]


def resolve_codes(session: Session, codes: Sequence[str]) -> list[dict[str, Any]]:
    """Resolve subject codes in bulk (a few queries per thousand codes, not one per code).

    One item per code, in order: ``index``, ``code`` (resident IDs masked), ``subject_id`` or ``None``,
    ``status`` (``found`` · ``not_found`` · ``invalid``) and a Chinese ``message`` when not found.
    Found by ``subjects.service.resolve_code_ids`` (USCC, resident ID by keyed hash, then legacy aliases).
    """
    items: list[dict[str, Any]] = []
    checks = []
    keys = []
    for i, raw in enumerate(codes):
        raw = (raw if isinstance(raw, str) else "").strip()
        check = explain(raw)
        checks.append(check)
        keys.append(raw)
        items.append(
            {"index": i, "code": _shown(raw, check), "subject_id": None, "status": "not_found", "message": None}
        )
    found = resolve_code_ids(session, keys)
    for item, key in zip(items, keys, strict=True):
        item["subject_id"] = found[key]
    for item, check in zip(items, checks, strict=True):
        if item["subject_id"] is not None:
            item["status"] = "found"
        elif not check.valid:
            item["status"] = "invalid"
            item["message"] = "代码无效：" + "；".join(e["message"] for e in check.to_dict(mask=True)["errors"])
        else:
            item["message"] = "未找到该代码对应的信用主体"
    return items


def _check_codes(codes: Sequence[str]) -> None:
    if not codes:
        raise ValidationFailed("请至少提供一个主体代码", code="codes_missing")
    if len(codes) > MAX_CODES:
        raise ValidationFailed(f"一次最多提交 {MAX_CODES} 个主体代码，实为 {len(codes)} 个", code="too_many_codes")


def _summary(items: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return counts


def _recorded(
    session: Session,
    *,
    actor: Principal,
    action: str,
    receiver: Receiver,
    codes: Sequence[str],
    items: list[dict[str, Any]],
    reason: str | None,
) -> dict[str, Any]:
    """Audit a change of the receiver's watch list (how many codes, the per-item summary) and answer it."""
    summary = _summary(items)
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        entity_type="watch_receiver",
        entity_id=receiver.id,
        reason=reason,
        after={"codes": len(codes), **summary},
    )
    return {"receiver_id": receiver.id, "summary": summary, "items": items}


def subscribe(
    session: Session, *, actor: Principal, receiver_id: int, codes: Sequence[str], reason: str | None = None
) -> dict[str, Any]:
    """Watch the subjects named by ``codes`` (USCC, resident ID, legacy code; up to :data:`MAX_CODES`) for the
    receiver. Per item: ``added``, ``already`` (watched before), ``duplicate`` (earlier in this request),
    ``not_found`` or ``invalid``. One audit event for the whole call."""
    _check_codes(codes)
    receiver = get_receiver(session, actor=actor, receiver_id=receiver_id)
    if not receiver.active:
        raise Conflict("接收端已停用，不能添加关注", code="receiver_inactive")
    items = resolve_codes(session, codes)
    wanted = {item["subject_id"] for item in items if item["subject_id"] is not None}
    existing: set[int] = set()
    for chunk in _chunks(sorted(wanted)):
        existing.update(
            session.scalars(
                select(Watch.subject_id).where(Watch.receiver_id == receiver.id, Watch.subject_id.in_(chunk))
            )
        )
    now = utcnow()
    seen: set[int] = set()
    rows = []
    for item in items:
        sid = item["subject_id"]
        if sid is None:
            continue
        if sid in existing:
            item["status"] = "already"
        elif sid in seen:
            item["status"] = "duplicate"
        else:
            item["status"] = "added"
            seen.add(sid)
            rows.append({"receiver_id": receiver.id, "subject_id": sid, "created_by": actor.actor, "created_at": now})
    if rows:
        session.execute(insert(Watch), rows)
    return _recorded(
        session, actor=actor, action="watches.subscribe", receiver=receiver, codes=codes, items=items, reason=reason
    )


def unsubscribe(
    session: Session, *, actor: Principal, receiver_id: int, codes: Sequence[str], reason: str | None = None
) -> dict[str, Any]:
    """Stop watching the subjects named by ``codes``. Per item: ``removed``, ``not_watched``, ``not_found`` or
    ``invalid``. Deliveries already queued are still sent."""
    _check_codes(codes)
    receiver = get_receiver(session, actor=actor, receiver_id=receiver_id)
    items = resolve_codes(session, codes)
    wanted = sorted({item["subject_id"] for item in items if item["subject_id"] is not None})
    watched: set[int] = set()
    for chunk in _chunks(wanted):
        watched.update(
            session.scalars(
                select(Watch.subject_id).where(Watch.receiver_id == receiver.id, Watch.subject_id.in_(chunk))
            )
        )
        session.execute(delete(Watch).where(Watch.receiver_id == receiver.id, Watch.subject_id.in_(chunk)))
    for item in items:
        if item["subject_id"] is not None:
            item["status"] = "removed" if item["subject_id"] in watched else "not_watched"
    return _recorded(
        session, actor=actor, action="watches.unsubscribe", receiver=receiver, codes=codes, items=items, reason=reason
    )


def list_watches(
    session: Session, *, actor: Principal, receiver_id: int, offset: int = 0, limit: int = 100
) -> tuple[int, list[tuple[Watch, Subject]]]:
    """One page of the receiver's watched subjects (oldest first) and the total count."""
    receiver = get_receiver(session, actor=actor, receiver_id=receiver_id)
    total = session.scalar(select(func.count()).select_from(Watch).where(Watch.receiver_id == receiver.id)) or 0
    rows = session.execute(
        select(Watch, Subject)
        .join(Subject, Subject.id == Watch.subject_id)
        .where(Watch.receiver_id == receiver.id)
        .order_by(Watch.id)
        .offset(max(offset, 0))
        .limit(max(1, min(limit, 1000)))
    ).all()
    return total, [(w, s) for w, s in rows]


# Deliveries ------------------------------------------------------------------------------------------------


def list_deliveries(
    session: Session,
    *,
    actor: Principal,
    status: str | None = None,
    receiver_id: int | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[Delivery]]:
    """Deliveries of the receivers the actor may see, newest first, with the total count."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed(f"投递状态应为 {'、'.join(DELIVERY_STATUSES)} 之一", code="bad_delivery_status")
    conditions = []
    if status:
        conditions.append(Delivery.status == status)
    if receiver_id is not None:
        conditions.append(Delivery.receiver_id == get_receiver(session, actor=actor, receiver_id=receiver_id).id)
    if not actor.is_admin:
        conditions.append(
            Delivery.receiver_id.in_(select(Receiver.id).where(Receiver.department_id == actor.department_id))
        )
    total = session.scalar(select(func.count()).select_from(Delivery).where(*conditions)) or 0
    rows = session.scalars(
        select(Delivery)
        .where(*conditions)
        .order_by(Delivery.id.desc())
        .offset(max(offset, 0))
        .limit(max(1, min(limit, 1000)))
    )
    return total, list(rows)


def get_delivery(session: Session, *, actor: Principal, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or not actor.can_see_department(delivery.receiver.department_id):
        raise NotFound(f"投递 {delivery_id} 不存在", code="delivery_not_found")
    return delivery


def redeliver(session: Session, *, actor: Principal, delivery_id: int, reason: str | None = None) -> Delivery:
    """Give a dead delivery a fresh series of attempts, due now. A delivered one is never sent again."""
    delivery = get_delivery(session, actor=actor, delivery_id=delivery_id)
    if delivery.status == DeliveryStatus.DELIVERED:
        raise Conflict("该投递已被接收端确认，不会重复发送", code="already_delivered")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("该投递仍在等待发送", code="still_pending")
    if not delivery.receiver.active:
        raise Conflict("接收端已停用，不能重新投递", code="receiver_inactive")
    before = {"status": delivery.status, "attempts": delivery.attempts, "last_error": delivery.last_error}
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = delivery.locked_by = None
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="watches.redeliver",
        entity_type="watch_delivery",
        entity_id=delivery.id,
        reason=reason,
        before=before,
        after={"status": delivery.status, "attempts": 0},
    )
    return delivery
