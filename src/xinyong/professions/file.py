"""A person's profession file (职业信用档案): qualifications, employers, records, list entries — and for civil
servants their integrity file (公务员诚信档案).

``GET /api/v1/professions/file/{code}?purpose=…``, the console page 职业信用档案 and ``xinyong professions file``.

Who may read (docs/professions.md):

- the admin; a department's operators and viewers for the professions whose ``file_readers`` name their department
  (``data/professions.yaml``) — the file then shows those professions only. The civil-servant part (``hr_only``:
  考录、年度考核、廉政、失信) is shown only to the departments named for ``civil_servant`` (组织、人社) and the admin;
- the person themself, proven by the one-time code of the personal report (``verified_subject_id``);
- nobody else: business systems, banks and the public are refused. Natural persons' files are never public.

Every read — and every refusal about a known person — is a row of the person's access log
(``subjects.access_log``: who, department, purpose, time, the parts read), in the transaction of the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.catalog.models import InfoClass
from xinyong.catalog.rules import OPENNESS, PublicAttribute
from xinyong.core import clock
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed, XinyongError
from xinyong.lists.models import ListType
from xinyong.lists.queries import subject_entries_view
from xinyong.professions import catalog, service
from xinyong.professions.models import CIVIL_SERVANT_KIND_LABELS, CivilServantEntry
from xinyong.records import publicity
from xinyong.records.inputs import RecordKind
from xinyong.records.views import subject_records_view
from xinyong.subjects import access_log
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

ENDPOINT = "GET /api/v1/professions/file/{code}"
ACTION = "professions.file"
CIVIL_SERVANT = "civil_servant"
READER_ROLES = frozenset({Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER})


class FileRefused(access_log.ReadRefused):
    """A refused read about a known person (logged before it is answered)."""

    endpoint = ENDPOINT
    action = ACTION


def parse_purpose(purpose: str | None, text: str | None) -> tuple[str, str]:
    """``(code, as logged)``; :class:`ValidationFailed` when missing, unknown, or ``other`` without a text."""
    code, label = access_log.parse_purpose(purpose, text, catalog.purposes(), file="职业信用档案")
    return code, f"职业信用档案（{label}）"


def readable_professions(session: Session, actor: Principal, *, own: bool) -> set[str]:
    """The professions whose parts this reader may see."""
    every = catalog.professions()
    if own or actor.is_admin:
        return set(every)
    if actor.role not in READER_ROLES or actor.department_id is None:
        return set()
    dept = session.get(Department, actor.department_id)
    code = dept.code if dept is not None else None
    return {p.code for p in every.values() if p.may_read(code)}


def read_file(
    session: Session,
    *,
    actor: Principal,
    code: str,
    purpose: str | None,
    purpose_text: str | None = None,
    verified_subject_id: int | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The person's profession file, logged. A refusal about a known person raises :class:`FileRefused` (log it
    with :func:`log_refusal` in the same transaction); an unknown subject :class:`NotFound`."""
    subject = find_subject(session, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    own = verified_subject_id is not None and verified_subject_id == subject.id
    logged = f"职业信用档案（{(purpose or '未说明')[:40]}）"
    try:
        if subject.kind != SubjectKind.NATURAL_PERSON.value:
            raise ValidationFailed("职业信用档案只对自然人建立", code="not_a_person")
        if own:
            purpose_code, logged = "self", "本人查询职业信用档案"
        else:
            if actor.role not in READER_ROLES:
                raise Forbidden("职业信用档案只向授权的政府部门和本人提供", code="role_not_allowed")
            purpose_code, logged = parse_purpose(purpose, purpose_text)
        today = today or clock.today()
        registrations = service.person_registrations(session, subject.id, today)
        held = {r["profession"] for r in registrations} | ({subject.profession} if subject.profession else set())
        readable = readable_professions(session, actor, own=own)
        shown = held & readable
        if not own and not actor.is_admin and not shown:
            raise Forbidden(
                "本部门无权查阅该人员的职业信用档案（非本部门主管的职业）",
                code="profession_file_not_allowed",
                details={"professions": sorted(held)},
            )
    except XinyongError as exc:
        raise FileRefused(exc, subject_id=subject.id, purpose=logged) from None
    profession_lists = catalog.profession_lists()
    shared = _shared_classes(session)
    list_classes = dict(session.execute(select(ListType.code, ListType.info_class)).all())
    entries = []
    for e in subject_entries_view(session, subject, today):
        about = profession_lists.get(e["list_code"])
        if not own and (
            list_classes.get(e["list_code"]) not in shared
            or (about is not None and about not in shown and not actor.is_admin)
        ):
            continue  # a class departments may not share, or another profession's list: not this reader's
        e["profession"] = about
        entries.append(e)
    records = [
        r
        for r in subject_records_view(session, subject, today)
        if own or publicity.CLASS_CODES[RecordKind(r["kind"])] in shared
    ]
    civil = CIVIL_SERVANT in held and (CIVIL_SERVANT in readable)
    civil_entries = civil_servant_entries(session, subject.id) if civil else []
    scope = ["profession_registration", "record", "list_entry"] + (["civil_servant_file"] if civil else [])
    access_log.record(
        session,
        actor=actor,
        subject_id=subject.id,
        purpose=logged,
        endpoint=ENDPOINT,
        scope=scope,
        action=ACTION,
        extra={"purpose_code": purpose_code, "professions": sorted(shown if not own else held)},
    )
    professions = catalog.professions()
    return {
        "subject": {"id": subject.id, "name": subject.name, "resident_id": subject.resident_id_masked},
        "purpose": purpose_code,
        "purpose_label": logged,
        "as_of": today,
        "professions": [
            {"code": c, "name": professions[c].name, "licence": professions[c].licence}
            for c in sorted(held)
            if c in professions and (c in shown or own or actor.is_admin)
        ],
        "registrations": [r for r in registrations if own or actor.is_admin or r["profession"] in shown],
        "records": records,
        "lists": entries,
        "profession_list_entries": sum(1 for e in entries if e["profession"] and e["counts"]),
        "civil_servant": {"entries": civil_entries} if civil else None,
    }


#: Log a refused read in the subject's access log (``subjects.access_log.log_refusal``).
log_refusal = access_log.log_refusal


def civil_servant_entries(session: Session, subject_id: int) -> list[dict[str, Any]]:
    bodies: dict[int, str] = {}
    rows = list(
        session.scalars(
            select(CivilServantEntry)
            .where(CivilServantEntry.subject_id == subject_id)
            .order_by(CivilServantEntry.recorded_on.desc(), CivilServantEntry.id.desc())
        )
    )
    ids = {r.body_subject_id for r in rows if r.body_subject_id}
    if ids:
        bodies = dict(session.execute(select(Subject.id, Subject.name).where(Subject.id.in_(ids))).all())
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "kind_label": CIVIL_SERVANT_KIND_LABELS.get(r.kind, r.kind),
            "year": r.year,
            "result": r.result,
            "detail": r.detail,
            "recorded_on": r.recorded_on,
            "body": bodies.get(r.body_subject_id or 0),
            "department_id": r.department_id,
        }
        for r in rows
    ]


def _shared_classes(session: Session) -> set[str]:
    """Catalog classes whose natural-person attribute lets departments share them (never ``restricted``)."""
    return {
        code
        for code, attribute in session.execute(select(InfoClass.code, InfoClass.natural_person_attribute)).all()
        if OPENNESS[PublicAttribute(attribute)] >= OPENNESS[PublicAttribute.SHARED]
    }
