"""Related persons of an organisation (关联人员): legal representative, principal, directors, supervisors, senior
managers — issue #15 point 3.

The joint-punishment memoranda extend some measures from a listed organisation to the persons who run it (e.g.
失信被执行人单位的法定代表人: 限制高消费, 担任法定代表人/董监高受限; ``measures`` declares which, per role, as data).
This module keeps who held which role when: one row of ``related_persons`` per person, role and period, the
resident ID stored encrypted with the vault and found by its keyed hash (as ``subjects.Subject``), shown masked;
``person_subject_id`` when the person is a registered subject too. The history is append-only: a role that ends
gets its ``valid_to`` (the first day it is no longer held) and who ended it; a row is never deleted or changed
otherwise.

Sources (``source``, with ``provenance`` naming the file, record or entry): the registry import (its 法定代表人
columns: the registry is authoritative for the legal representative, a different one ends the previous), credit
records and list entries that name a legal representative (:func:`note_legal_reps`, called by ``records`` and
``lists``: it only adds a legal representative where none is current, or completes a name-only row with the ID;
it never replaces another person), and the admin's manual entries (:func:`add_related`, :func:`end_related`).
Writes lock the organisation (``core.db.lock_keys``) and a partial unique index keeps one open row per
organisation, role and person, so concurrent writers cannot duplicate a row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyong.auth.roles import Principal
from xinyong.core import audit, clock
from xinyong.core.bulk import insert_missing
from xinyong.core.columns import actor_column, in_list, now_column, pk_column
from xinyong.core.db import IN_CHUNK, Base, BigId, Json, UTCDateTime, lock_keys, utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import resident_id
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.identifiers.names import normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.subjects.models import Subject, SubjectKind


class RelatedRole(StrEnum):
    """The roles the memoranda name (法定代表人、主要负责人、董事、监事、高级管理人员)."""

    LEGAL_REP = "legal_rep"
    PRINCIPAL = "principal"
    DIRECTOR = "director"
    SUPERVISOR = "supervisor"
    SENIOR_MANAGER = "senior_manager"


ROLE_LABELS: dict[str, str] = {
    RelatedRole.LEGAL_REP: "法定代表人",
    RelatedRole.PRINCIPAL: "主要负责人",
    RelatedRole.DIRECTOR: "董事",
    RelatedRole.SUPERVISOR: "监事",
    RelatedRole.SENIOR_MANAGER: "高级管理人员",
}


class RelatedSource(StrEnum):
    REGISTRY = "registry"  # 登记注册数据导入
    RECORD = "record"  # 信用记录（行政处罚、许可）所载法定代表人
    LIST_ENTRY = "list_entry"  # 名单数据所载法定代表人
    MANUAL = "manual"  # 平台管理员录入


SOURCE_LABELS: dict[str, str] = {
    RelatedSource.REGISTRY: "登记注册数据",
    RelatedSource.RECORD: "信用记录",
    RelatedSource.LIST_ENTRY: "名单数据",
    RelatedSource.MANUAL: "人工录入",
}


class RelatedPerson(Base):
    """One person in one role of one organisation for one period (``valid_to`` NULL: still held)."""

    __tablename__ = "related_persons"
    __table_args__ = (
        CheckConstraint(f"role IN {in_list(tuple(r.value for r in RelatedRole))}", name="role"),
        CheckConstraint(f"source IN {in_list(tuple(s.value for s in RelatedSource))}", name="source"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="period"),
        Index("ix_related_persons_subject_role", "subject_id", "role"),
        # The check: a person's current roles by the keyed hash of the ID.
        Index("ix_related_persons_id_hash", "id_hash"),
        # One open row per organisation, role and person (the ID's hash, else the normalised name).
        Index(
            "uq_related_persons_open",
            "subject_id",
            "role",
            "person_key",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = pk_column()
    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    name_norm: Mapped[str] = mapped_column(String(100), nullable=False)
    id_hash: Mapped[str | None] = mapped_column(String(64))
    id_enc: Mapped[str | None] = mapped_column(Text)
    id_masked: Mapped[str | None] = mapped_column(String(20))
    person_key: Mapped[str] = mapped_column(String(120), nullable=False)
    person_subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    provenance: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    actor: Mapped[str] = actor_column()
    created_at: Mapped[dt.datetime] = now_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(Text)


# Input -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelatedInput:
    """A person named in some role of an organisation (``id_number``: a resident ID, checked here)."""

    subject_id: int
    name: str
    role: str = RelatedRole.LEGAL_REP
    id_number: str | None = None
    valid_from: dt.date | None = None
    provenance: dict[str, Any] | None = None


def parse_role(value: str) -> RelatedRole:
    """A role code (or its Chinese label); a clear refusal otherwise."""
    raw = (value or "").strip()
    for role in RelatedRole:
        if raw in (role.value, ROLE_LABELS[role]):
            return role
    raise ValidationFailed(
        f"未知的关联人员职务 {raw!r}，应为 "
        + "、".join(f"{r.value}（{ROLE_LABELS[r]}）" for r in RelatedRole)
        + " 之一",
        code="related_role_unknown",
        details={"role": raw, "allowed": [r.value for r in RelatedRole]},
    )


def _normal_id(value: str | None) -> str | None:
    """The normalised resident ID, None when not given; a clear refusal when invalid."""
    if value is None or not value.strip():
        return None
    check = resident_id.validate(value)
    if not check.valid or not check.normalized:
        raise ValidationFailed(
            "关联人员的居民身份证号码无效：" + "；".join(e.message for e in check.errors),
            code="related_id_invalid",
        )
    return check.normalized


def _person_key(name_norm: str, digest: str | None) -> str:
    return digest if digest is not None else f"name:{name_norm}"[:120]


def _row_values(
    item: RelatedInput,
    number: str | None,
    *,
    source: str,
    actor: str,
    today: dt.date,
    persons: dict[str, int],
    vault: Any,
) -> dict[str, Any]:
    name = item.name.strip()[:100]
    norm = normalize_person_name(name)[:100] or name
    digest = vault.lookup_hash(number) if number else None
    return {
        "subject_id": item.subject_id,
        "role": str(item.role),
        "name": name,
        "name_norm": norm,
        "id_hash": digest,
        "id_enc": vault.encrypt(number) if number else None,
        "id_masked": mask_resident_id(number) if number else None,
        "person_key": _person_key(norm, digest),
        "person_subject_id": persons.get(digest) if digest else None,
        "valid_from": item.valid_from or today,
        "valid_to": None,
        "source": source,
        "provenance": dict(item.provenance or {}),
        "actor": actor,
    }


def _persons_by_hash(session: Session, digests: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    values = sorted(set(digests))
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        found.update(
            {
                str(h): i
                for h, i in session.execute(
                    select(Subject.resident_id_hash, Subject.id).where(Subject.resident_id_hash.in_(chunk))
                )
            }
        )
    return found


def _open(session: Session, what: Any, subject_ids: Iterable[int], role: str | None = None) -> list[Any]:
    """``what`` (a statement selecting RelatedPerson or some of its columns) of the open rows of ``subject_ids``
    (of ``role`` if given), in id order, ``IN_CHUNK`` subjects per statement."""
    ids = sorted(set(subject_ids))
    out: list[Any] = []
    for start in range(0, len(ids), IN_CHUNK):
        stmt = what.where(RelatedPerson.subject_id.in_(ids[start : start + IN_CHUNK]), RelatedPerson.valid_to.is_(None))
        if role is not None:
            stmt = stmt.where(RelatedPerson.role == role)
        out.extend(session.execute(stmt.order_by(RelatedPerson.id)))
    return out


def _open_rows(session: Session, subject_ids: Iterable[int], role: str | None = None) -> list[RelatedPerson]:
    """The open rows of ``subject_ids`` as objects."""
    return [row for (row,) in _open(session, select(RelatedPerson), subject_ids, role)]


def _open_keys(session: Session, subject_ids: Iterable[int]) -> list[Any]:
    """What :func:`note_legal_reps` compares of the open rows of ``subject_ids`` (id, subject, role, ID hash,
    name, start), as plain rows in id order."""
    r = RelatedPerson
    return _open(session, select(r.id, r.subject_id, r.role, r.id_hash, r.name_norm, r.valid_from), subject_ids)


def _end(row: RelatedPerson, *, on: dt.date, actor: str, reason: str) -> None:
    row.valid_to = max(on, row.valid_from)
    row.ended_at = utcnow()
    row.ended_by = actor[:200]
    row.end_reason = reason


# Writers -----------------------------------------------------------------------------------------------------


def note_legal_reps(
    session: Session,
    items: Sequence[RelatedInput],
    *,
    source: str,
    actor: str,
    authoritative: bool = False,
) -> dict[str, int]:
    """Record the persons that incoming data names in a role of an organisation, in the caller's transaction.

    Set-based: the organisations' open rows are read in one statement per chunk. Per organisation and role:
    the same person already open (by ID hash; a name-only row by its name) — nothing, except that a name-only
    row gets completed (ended, and a row with the ID added); nobody open — a row is added; somebody else open —
    ``authoritative`` sources (the registry import) end the others and add this one, other sources (records,
    list entries: they may be older than the registry) leave the register as it is and count a ``conflict``.
    An invalid ID number is ignored (the name is kept); items naming a person subject are skipped. Returns
    counts (``added``, ``completed``, ``ended``, ``unchanged``, ``conflicts``; ``skipped``: rows another writer
    had opened meanwhile, found by the open-row index).
    """
    counts = {"added": 0, "completed": 0, "ended": 0, "unchanged": 0, "conflicts": 0, "skipped": 0}
    wanted: dict[tuple[int, str], tuple[RelatedInput, str | None]] = {}
    for item in items:
        if not item.name or not item.name.strip():
            continue
        try:
            number = _normal_id(item.id_number)
        except ValidationFailed:
            number = None
        wanted[(item.subject_id, str(item.role))] = (item, number)  # the last one given wins
    if not wanted:
        return counts
    org_ids = {sid for sid, _ in wanted}
    orgs: set[int] = set()
    ids = sorted(org_ids)
    for start in range(0, len(ids), IN_CHUNK):
        orgs.update(
            session.scalars(
                select(Subject.id).where(
                    Subject.id.in_(ids[start : start + IN_CHUNK]), Subject.kind != SubjectKind.NATURAL_PERSON
                )
            )
        )
    lock_keys(session, "related_person", (str(i) for i in sorted(orgs)))
    current: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in _open_keys(session, orgs):  # plain rows: most are left as they are, only those ended are loaded
        current[(row.subject_id, row.role)].append(row)
    ends: dict[int, str] = {}
    vault = get_vault()
    persons = _persons_by_hash(session, (vault.lookup_hash(n) for _i, n in wanted.values() if n))
    today = clock.today()
    now = utcnow()
    reason = f"{SOURCE_LABELS.get(source, source)}所载{{role}}变更"
    fresh: list[dict[str, Any]] = []
    for (sid, role), (item, number) in sorted(wanted.items()):
        if sid not in orgs:
            continue
        values = _row_values(item, number, source=source, actor=actor, today=today, persons=persons, vault=vault)
        open_rows = current.get((sid, role), [])
        same = [
            r
            for r in open_rows
            if (values["id_hash"] is not None and r.id_hash == values["id_hash"])
            or (r.name_norm == values["name_norm"] and (r.id_hash is None or values["id_hash"] is None))
        ]
        if same:
            first = same[0]
            if first.id_hash is None and values["id_hash"] is not None:
                ends[first.id] = "补充身份证号码"
                fresh.append({**values, "valid_from": first.valid_from, "created_at": now})
                counts["completed"] += 1
            else:
                counts["unchanged"] += 1
            continue
        if open_rows and not authoritative:
            counts["conflicts"] += 1
            continue
        for r in open_rows:
            ends[r.id] = reason.format(role=ROLE_LABELS.get(role, role))
            counts["ended"] += 1
        fresh.append({**values, "created_at": now})
        counts["added"] += 1
    ended = sorted(ends)
    for start in range(0, len(ended), IN_CHUNK):
        for row in session.scalars(select(RelatedPerson).where(RelatedPerson.id.in_(ended[start : start + IN_CHUNK]))):
            _end(row, on=today, actor=actor, reason=ends[row.id])
    session.flush()  # the rows ended first: the new ones may reuse their key in the open-row index
    # In bulk (a records batch names thousands of companies): a row another writer opened meanwhile is skipped.
    counts["skipped"] = len(fresh) - insert_missing(session, RelatedPerson.__table__, fresh, columns=_COLUMNS)
    return counts


_COLUMNS = (
    "subject_id",
    "role",
    "name",
    "name_norm",
    "id_hash",
    "id_enc",
    "id_masked",
    "person_key",
    "person_subject_id",
    "valid_from",
    "valid_to",
    "source",
    "provenance",
    "actor",
    "created_at",
)


def link_person(session: Session, *, subject_id: int, id_hash: str) -> int:
    """A person registered after their roles were recorded: their rows get ``person_subject_id`` (the check joins
    on the ID's hash and does not need it; pages and the access log do). Returns the rows linked."""
    result = session.execute(
        update(RelatedPerson)
        .where(RelatedPerson.id_hash == id_hash, RelatedPerson.person_subject_id.is_(None))
        .values(person_subject_id=subject_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def add_related(
    session: Session,
    *,
    actor: Principal,
    subject: Subject,
    role: str,
    name: str,
    id_number: str | None = None,
    valid_from: dt.date | None = None,
    reason: str | None = None,
) -> RelatedPerson:
    """The admin adds a person in a role of an organisation (manual source); audited, the ID only masked."""
    _require_admin(actor)
    if subject.kind == SubjectKind.NATURAL_PERSON:
        raise ValidationFailed("关联人员只能登记在法人及非法人组织、个体工商户名下", code="related_on_person")
    the_role = parse_role(role)
    if not name or not name.strip():
        raise ValidationFailed("关联人员姓名不能为空", code="related_name_missing")
    if len(name.strip()) > 100:
        raise ValidationFailed("关联人员姓名不能超过100个字符", code="related_name_too_long")
    number = _normal_id(id_number)
    today = clock.today()
    if valid_from is not None and valid_from > today:
        raise ValidationFailed("任职起始日期不能晚于今天", code="related_date_in_future")
    lock_keys(session, "related_person", [str(subject.id)])
    vault = get_vault()
    persons = _persons_by_hash(session, [vault.lookup_hash(number)]) if number else {}
    item = RelatedInput(
        subject_id=subject.id,
        name=name,
        role=the_role,
        id_number=number,
        valid_from=valid_from,
        provenance={"by": actor.actor, "reason": (reason or "").strip() or None},
    )
    values = _row_values(
        item, number, source=RelatedSource.MANUAL, actor=actor.actor, today=today, persons=persons, vault=vault
    )
    for r in _open_rows(session, [subject.id], the_role):
        if r.person_key == values["person_key"]:
            raise ValidationFailed(
                f"{name.strip()} 已是该主体的{ROLE_LABELS[the_role]}（记录 {r.id}）", code="related_exists"
            )
    row = RelatedPerson(**values)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.related.add",
        entity_type="related_person",
        entity_id=row.id,
        reason=reason,
        after=related_view(row),
    )
    return row


def end_related(
    session: Session,
    *,
    actor: Principal,
    subject: Subject,
    related_id: int,
    reason: str,
    on: dt.date | None = None,
) -> RelatedPerson:
    """The admin ends a person's role (卸任) from ``on`` (default today); the row stays, with who and why."""
    _require_admin(actor)
    if not reason or not reason.strip():
        raise ValidationFailed("结束关联关系必须说明原因", code="reason_required")
    row = session.scalars(
        select(RelatedPerson)
        .where(RelatedPerson.id == related_id, RelatedPerson.subject_id == subject.id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"该主体没有编号为 {related_id} 的关联人员记录", code="related_not_found")
    if row.valid_to is not None:
        raise ValidationFailed(f"关联人员记录 {related_id} 已于 {row.valid_to} 结束", code="related_already_ended")
    day = on or clock.today()
    if day < row.valid_from:
        raise ValidationFailed("结束日期不能早于任职起始日期", code="related_end_before_start")
    before = related_view(row)
    _end(row, on=day, actor=actor.actor, reason=reason.strip())
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="subjects.related.end",
        entity_type="related_person",
        entity_id=row.id,
        reason=reason.strip(),
        before={"valid_to": before["valid_to"]},
        after={"valid_to": row.valid_to.isoformat() if row.valid_to else None},
    )
    return row


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以维护关联人员", code="related_admin_only")


# Reading -----------------------------------------------------------------------------------------------------


def list_related(
    session: Session, subject: Subject, *, include_ended: bool = True, on: dt.date | None = None
) -> list[RelatedPerson]:
    """The organisation's related persons, current first (by role), then the ended ones, newest first."""
    stmt = select(RelatedPerson).where(RelatedPerson.subject_id == subject.id)
    if not include_ended:
        day = on or clock.today()
        stmt = stmt.where(
            RelatedPerson.valid_from <= day, (RelatedPerson.valid_to.is_(None)) | (RelatedPerson.valid_to > day)
        )
    rows = list(session.scalars(stmt))
    order = {r.value: i for i, r in enumerate(RelatedRole)}
    return sorted(rows, key=lambda r: (r.valid_to is not None, order.get(r.role, 9), -r.id))


def related_view(row: RelatedPerson, *, mask: bool = False) -> dict[str, Any]:
    """A row as the admin sees it: the ID only ever masked (``mask``: the name masked too)."""
    return {
        "id": row.id,
        "subject_id": row.subject_id,
        "role": row.role,
        "role_label": ROLE_LABELS.get(row.role, row.role),
        "name": mask_name(row.name) if mask else row.name,
        "resident_id": row.id_masked,
        "person_subject_id": row.person_subject_id,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
        "current": row.valid_to is None,
        "source": row.source,
        "source_label": SOURCE_LABELS.get(row.source, row.source),
        "provenance": row.provenance or {},
        "actor": row.actor,
        "ended_by": row.ended_by,
        "end_reason": row.end_reason,
    }
