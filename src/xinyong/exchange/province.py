"""The way down: data the provincial platform shares for this city's subjects (docs/exchange.md §7).

The province forwards penalties and licences decided elsewhere (another city's bureau, a provincial department)
and its own lists. They enter through the existing paths — the 双公示 ingest and the list sync — submitted by one
pseudo-department, **省平台** (code ``province``, ``Department.external``), so that:

- provenance is kept as everywhere: the record's department is the 省平台, its version names the batch and row, and
  the deciding authority is the row's own (处罚机关 / 许可机关 / 认定机关, never replaced);
- the authority rule does not refuse them (``auth.authorities.Authorities.open``): the province forwards other
  authorities' decisions, which are not this city's departments' to register;
- they are not this city's own data: the dashboards, timeliness, the department assessment and the exchange figures
  leave external departments out (``analytics.dashboards.departments``), the portal's 双公示 publicity does not
  publish them (``records.queries.list_records(public_only=True)``), and the outbound feed never sends them back up
  (``exchange.producers.no_echo``);
- the government file and the check show them, marked 来源：省平台, with their real deciding authority.

A provincial list is a list type (``ListType.external``) managed by the 省平台 (``managing_departments`` holds
``province``): its synced entries then belong to the 省平台.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.core.errors import Busy, Conflict, Forbidden, ValidationFailed

CODE = "province"
NAME = "省平台"
#: The pseudo-department's USCC (a department needs a valid, unique one). Not a real unit's code: 河南 (41),
#: organisation code MB1P00005, check digit 1. The 省平台 never submits under it.
USCC = "11410000MB1P000051"
SOURCE_LABEL = auth_service.SOURCE_PROVINCE


def province(session: Session) -> Department | None:
    return session.scalar(select(Department).where(Department.code == CODE))


def ensure_province(session: Session, *, actor: Principal) -> Department:
    """The 省平台 pseudo-department, created (audited, admin only) on first use and marked external."""
    dept = province(session)
    if dept is None:
        dept = auth_service.create_department(
            session, actor=actor, code=CODE, name=NAME, uscc=USCC, short_name=SOURCE_LABEL
        )
        dept.external = True
        session.flush()
    elif not dept.external:  # a city department under the code: never turned into an external source silently
        raise Conflict(f"部门代码 {CODE} 已被本市部门「{dept.name}」使用，不能作为省平台", code="province_code_taken")
    return dept


def _as_province(actor: Principal, dept: Department) -> Principal:
    if not actor.is_admin:
        raise Forbidden("只有平台管理员可以导入省平台数据", code="forbidden")
    return Principal(
        kind=PrincipalKind.SYSTEM, name=f"{actor.name}@{dept.code}", role=Role.ADMIN, department_id=dept.id
    )


def pull_records(
    session: Session,
    *,
    actor: Principal,
    province_id: int,
    path: str | Path,
    kind: str | None = None,
    reject_all: bool = False,
) -> dict[str, Any]:
    """A 双公示 file from the province (the national fields) through the ingest, submitted by the 省平台
    (``province_id``: :func:`ensure_province`'s, committed before: the batch begins its own write transaction)."""
    from xinyong.ingest import service as ingest_service

    dept = auth_service.get_department(session, ref=province_id)
    if not dept.external:
        raise ValidationFailed(f"部门 {dept.code} 不是外部来源（省平台）", code="not_external")
    summary = ingest_service.ingest_file(
        session, actor=_as_province(actor, dept), department_id=dept.id, path=path, kind=kind, reject_all=reject_all
    )
    summary["source"] = SOURCE_LABEL
    return summary


def pull_list(
    session: Session, *, actor: Principal, list_code: str, path: str | Path, mode: str = "snapshot"
) -> dict[str, Any]:
    """A provincial list through the list sync: the list type must be managed by the 省平台."""
    from xinyong.lists import sync

    dept = ensure_province(session, actor=actor)
    lt = sync.get_list_type(session, list_code)
    if CODE not in (lt.managing_departments or []):
        raise ValidationFailed(
            f"名单「{lt.name}」不由省平台管理：省平台名单须登记为外部名单、主管部门为 {CODE}",
            code="list_not_provincial",
        )
    record = sync.sync_list(session, actor=_as_province(actor, dept), list_code=list_code, path=path, mode=mode)
    view = sync.sync_view(record, lt.code, with_report=False)
    view["source"] = SOURCE_LABEL
    return view


#: Files of an inbox whose name starts so are provincial lists: ``list-<CODE>-….csv`` (synced as a snapshot).
LIST_PREFIX = "list-"
PULL_LEASE = "pull"


def _inbox_files(inbox: Path) -> list[Path]:
    return sorted(
        p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".part")
    )


def pull_inbox(db: Any, *, actor: Principal, inbox: str | Path, lease_ttl: float = 600.0) -> dict[str, Any]:
    """Pull every file waiting in ``inbox`` (where the province's files arrive: SFTP drop, a sync job), in name
    order: 双公示 files through the ingest, ``list-<CODE>-…`` files through the list sync. A file pulled is moved
    to ``inbox/done/``; one refused (a rejected batch, rejected list rows, an error) to ``inbox/failed/`` with
    ``<name>.error.json`` beside it. One puller at a time (the ``pull`` lease): a second one returns at once.
    A file pulled twice is one batch anyway (the ingest's idempotency by SHA-256)."""
    import json

    from xinyong.core.errors import XinyongError
    from xinyong.exchange import lease

    inbox = Path(inbox)
    if not inbox.is_dir():
        raise ValidationFailed(f"省平台文件目录不存在：{inbox}", code="inbox_missing")
    me = lease.holder_name()
    result: dict[str, Any] = {"inbox": str(inbox), "pulled": [], "failed": [], "ok": True}
    if not lease.acquire(db, PULL_LEASE, me, ttl=lease_ttl):
        result["skipped"] = "another puller holds the lease"
        return result
    try:
        province_id = db.run(lambda s: ensure_province(s, actor=actor).id)
        for path in _inbox_files(inbox):
            lease.acquire(db, PULL_LEASE, me, ttl=lease_ttl)
            name = path.name
            try:
                if name.startswith(LIST_PREFIX):
                    code = name[len(LIST_PREFIX) :].rsplit(".", 1)[0].rsplit("-", 1)[0]
                    data = db.run(lambda s, c=code, p=path: pull_list(s, actor=actor, list_code=c, path=p))
                    ok = not data.get("rejected")
                else:
                    data = db.run(lambda s, p=path: pull_records(s, actor=actor, province_id=province_id, path=p))
                    ok = data.get("status") != "rejected"
                error = None if ok else {"code": "rejected", "summary": data}
            except XinyongError as exc:
                data, ok, error = {}, False, {"code": exc.code, "message": str(exc)[:500]}
            target = inbox / ("done" if ok else "failed")
            target.mkdir(exist_ok=True)
            path.replace(target / name)
            if ok:
                result["pulled"].append({"file": name, **{k: data.get(k) for k in ("batch", "status", "rows")}})
            else:
                (target / f"{name}.error.json").write_text(
                    json.dumps(error, ensure_ascii=False, default=str, indent=2), encoding="utf-8"
                )
                result["failed"].append({"file": name, **(error or {})})
                result["ok"] = False
    finally:
        lease.release(db, PULL_LEASE, me)
    return result


def pull_loop(
    db: Any,
    *,
    actor: Principal,
    inbox: str | Path,
    interval: float,
    sleep: Any = None,
    rounds: int | None = None,
) -> dict[str, Any]:
    """:func:`pull_inbox` every ``interval`` seconds, until interrupted (``rounds`` for tests)."""
    import time

    sleep = sleep or time.sleep
    total: dict[str, Any] = {"rounds": 0, "pulled": 0, "failed": 0, "ok": True}
    while rounds is None or total["rounds"] < rounds:
        try:
            result = pull_inbox(db, actor=actor, inbox=inbox)
        except Busy:  # the database stayed busy: a loop waits and goes on, it does not die
            result = {"pulled": [], "failed": [], "ok": False}
        total["rounds"] += 1
        total["pulled"] += len(result["pulled"])
        total["failed"] += len(result["failed"])
        total["ok"] = total["ok"] and result["ok"]
        if rounds is None or total["rounds"] < rounds:
            sleep(interval)
    return total
