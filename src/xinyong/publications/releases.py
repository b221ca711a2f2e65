"""红黑榜 releases: numbered publications of the entries that joined the public red and black lists in a period.

``publish_release`` takes a period (a calendar month by default: ``period_of("2026-11")``) that has ended, asks
``lists.queries.public_entries`` — the one public rule for list entries (public catalog class, active list type,
linked subject, in force on the day, natural persons only where their class is public, names masked) — for the
red and black entries listed in it, numbers the release within the year of publishing (〔2026〕第12期), stores
the entries it published and audits it. A period is published once (a second attempt is a conflict); two admins
publishing at once queue on an advisory lock (PostgreSQL) or the single writer (SQLite) and the unique
constraints on (year, seq) and the period catch anything that slips through.

Reading a release applies the public rule again on the day it is read: an entry that has since been repaired,
revoked or has ended its term is no longer shown (the counts of the day of publishing stay, with the note that
such entries are not shown).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, clock
from xinyong.core.db import lock_keys
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.core.settings import get_settings
from xinyong.identifiers.masking import mask_resident_id
from xinyong.lists.models import ListKind
from xinyong.lists.queries import public_entries
from xinyong.publications.models import Release, ReleaseEntry
from xinyong.subjects.models import SubjectKind

#: The lists a 红黑榜 publishes.
RELEASE_KINDS: tuple[str, ...] = (ListKind.RED.value, ListKind.BLACK.value)
KIND_LABELS = {ListKind.RED.value: "红名单（守信激励）", ListKind.BLACK.value: "黑名单（严重失信主体）"}
ENTITY = "release"
_PERIOD = re.compile(r"^(\d{4})-(\d{1,2})$")
_NUMBER = re.compile(r"^(\d{4})-(\d{1,4})$")


def period_of(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day of the month ``YYYY-MM``."""
    m = _PERIOD.match((text or "").strip())
    if not m or not (1 <= int(m.group(2)) <= 12) or not (2000 <= int(m.group(1)) <= 2100):
        raise ValidationFailed(f"统计期应为 YYYY-MM（如 2026-11），收到 {text!r}", code="invalid_period")
    year, month = int(m.group(1)), int(m.group(2))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def period_label(start: dt.date, end: dt.date) -> str:
    if start.day == 1 and end == dt.date(start.year, start.month, calendar.monthrange(start.year, start.month)[1]):
        return f"{start.year}年{start.month}月"
    return f"{start:%Y-%m-%d}至{end:%Y-%m-%d}"


def number_of(release: Release) -> str:
    """The release's number in addresses: ``2026-12``."""
    return f"{release.year}-{release.seq}"


def number_label(release: Release) -> str:
    return f"〔{release.year}〕第{release.seq}期"


def publish_release(
    session: Session,
    *,
    actor: Principal,
    start: dt.date,
    end: dt.date,
    today: dt.date | None = None,
    note: str = "",
) -> Release:
    """Publish the red and black entries listed from ``start`` to ``end`` (inclusive) as the year's next release."""
    today = today or clock.today()
    if end < start:
        raise ValidationFailed("统计期的结束日不能早于开始日", code="invalid_period")
    if end >= today:
        raise ValidationFailed(
            f"统计期（至 {end:%Y-%m-%d}）尚未结束，结束后才能发布", code="period_not_ended", details={"end": str(end)}
        )
    lock_keys(session, "release", [str(today.year)])
    existing = session.scalar(select(Release).where(Release.period_start == start, Release.period_end == end))
    if existing is not None:
        raise Conflict(
            f"该统计期已发布（{number_label(existing)}）",
            code="release_exists",
            details={"number": number_of(existing)},
        )
    entries = public_entries(session, today=today, kinds=RELEASE_KINDS, listed_from=start, listed_to=end, limit=None)
    counts: dict[str, dict[str, Any]] = {}
    for e in entries:
        c = counts.setdefault(
            e["list_code"], {"list_code": e["list_code"], "list_name": e["list_name"], "kind": e["kind"], "count": 0}
        )
        c["count"] += 1
    seq = (session.scalar(select(func.max(Release.seq)).where(Release.year == today.year)) or 0) + 1
    release = Release(
        year=today.year,
        seq=seq,
        period_start=start,
        period_end=end,
        title=f"{get_settings().city_name}信用红黑榜（{period_label(start, end)}）",
        published_on=today,
        counts=sorted(counts.values(), key=lambda c: (RELEASE_KINDS.index(c["kind"]), c["list_code"])),
        note=note.strip()[:2000],
        published_by=actor.actor,
    )
    try:
        with session.begin_nested():
            session.add(release)
            session.flush()
    except IntegrityError:
        raise Conflict("该统计期或期号已被同时发布，请刷新后查看", code="release_exists") from None
    session.add_all(ReleaseEntry(release_id=release.id, entry_id=e["id"]) for e in entries)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="publications.release.publish",
        entity_type=ENTITY,
        entity_id=release.id,
        after={
            "number": number_of(release),
            "period": [str(start), str(end)],
            "entries": len(entries),
            "counts": release.counts,
        },
    )
    return release


def list_releases(session: Session, *, limit: int = 50, offset: int = 0) -> list[Release]:
    return list(
        session.scalars(select(Release).order_by(Release.year.desc(), Release.seq.desc()).limit(limit).offset(offset))
    )


def count_releases(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Release)) or 0


def get_release(session: Session, number: str) -> Release:
    """The release numbered ``YYYY-N`` (as :func:`number_of` writes it)."""
    m = _NUMBER.match((number or "").strip()[:12])
    release = (
        session.scalar(select(Release).where(Release.year == int(m.group(1)), Release.seq == int(m.group(2))))
        if m
        else None
    )
    if release is None:
        raise NotFound("未找到该期红黑榜", code="release_not_found")
    return release


def release_entries(session: Session, release: Release, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The release's entries that are public on ``today`` (the public rule of ``lists.queries.public_entries``),
    a person's code masked."""
    ids = select(ReleaseEntry.entry_id).where(ReleaseEntry.release_id == release.id)
    items = public_entries(session, today=today or clock.today(), kinds=RELEASE_KINDS, entry_ids=ids, limit=None)
    for e in items:
        code = e.get("party_code")
        if e.get("party_kind") == SubjectKind.NATURAL_PERSON.value and code and "*" not in code:
            e["party_code"] = mask_resident_id(code)
    return items


def release_view(release: Release) -> dict[str, Any]:
    return {
        "number": number_of(release),
        "label": number_label(release),
        "title": release.title,
        "period_start": release.period_start,
        "period_end": release.period_end,
        "period": period_label(release.period_start, release.period_end),
        "published_on": release.published_on,
        "published_at": release.published_at,
        "counts": release.counts,
        "total": sum(c["count"] for c in release.counts),
        "note": release.note,
    }
