"""Profession registrations (执业/资格登记): a supervising department's file or push becomes one atomic batch.

Rules (docs/professions.md):

- **Who submits.** A department submits only the professions it supervises (``departments`` of the profession in
  ``data/professions.yaml``); the admin acts for one of them (``department``, default the first that exists).
- **Row by row, all or nothing.** Every row is validated (name, resident ID, certificate number, status, dates,
  employer USCC resolved to a registered organisation through ``subjects.service.resolve_codes``); any refused row
  refuses the whole batch with every row's problems, and nothing is written.
- **Idempotent, versioned.** A registration is unique by (profession, certificate number). Sending the same
  content again changes nothing (``unchanged``); a change makes a new ``revision`` and a row of
  ``profession_registration_versions`` (append-only), with the department and the source (file and row) of each.
- **Persons.** A person not yet registered is registered (as ``subjects.service.bulk_register_persons`` does: the
  ID encrypted, found by keyed hash, shown masked); an ID never appears in clear in a report, a log or a view.
- **Concurrency.** The certificates of a batch are locked (``core.db.lock_keys``) before they are read, so two
  batches naming the same certificate queue instead of violating the unique key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.core import audit
from xinyong.core.db import IN_CHUNK, lock_keys, utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import resident_id
from xinyong.identifiers import uscc as uscc_rules
from xinyong.identifiers.masking import mask_name
from xinyong.identifiers.vault import get_vault
from xinyong.ingest.readers import Table, normalize_header, open_table, table_from_records
from xinyong.ingest.values import parse_date
from xinyong.professions import catalog
from xinyong.professions.models import (
    REGISTRATION_STATUS_LABELS,
    REGISTRATION_STATUSES,
    ProfessionRegistration,
    ProfessionRegistrationVersion,
)
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject, SubjectKind

ENTITY = "profession_registration"
MAX_ROWS = 50_000
REPORT_LIMIT = 1_000
#: Accepted column names (normalised with ``ingest.readers.normalize_header``) -> field.
HEADERS: dict[str, str] = {
    normalize_header(k): v
    for k, v in {
        "姓名": "name",
        "name": "name",
        "身份证号码": "resident_id",
        "居民身份证号码": "resident_id",
        "证件号码": "resident_id",
        "resident_id": "resident_id",
        "证书编号": "certificate_no",
        "执业证号": "certificate_no",
        "执业证书编号": "certificate_no",
        "资格证书编号": "certificate_no",
        "certificate_no": "certificate_no",
        "资格等级": "qualification_level",
        "级别": "qualification_level",
        "qualification_level": "qualification_level",
        "执业单位统一社会信用代码": "employer_uscc",
        "工作单位统一社会信用代码": "employer_uscc",
        "employer_uscc": "employer_uscc",
        "执业单位名称": "employer_name",
        "执业单位": "employer_name",
        "工作单位": "employer_name",
        "employer_name": "employer_name",
        "有效期起": "valid_from",
        "发证日期": "valid_from",
        "valid_from": "valid_from",
        "有效期止": "valid_to",
        "有效期至": "valid_to",
        "valid_to": "valid_to",
        "状态": "status",
        "执业状态": "status",
        "status": "status",
    }.items()
}
REQUIRED = ("name", "resident_id", "certificate_no")
FIELD_LABELS = {
    "name": "姓名",
    "resident_id": "身份证号码",
    "certificate_no": "证书编号",
    "qualification_level": "资格等级",
    "employer_uscc": "执业单位统一社会信用代码",
    "employer_name": "执业单位名称",
    "valid_from": "有效期起",
    "valid_to": "有效期止",
    "status": "状态",
}
_STATUS_BY_LABEL = {label: code for code, label in REGISTRATION_STATUS_LABELS.items()} | {
    "正常": "active",
    "在职": "active",
    "过期": "expired",
    "失效": "expired",
}
#: The content a revision is made of (its hash decides ``unchanged``).
CONTENT_FIELDS = (
    "subject_id",
    "qualification_level",
    "employer_subject_id",
    "employer_code",
    "employer_name",
    "valid_from",
    "valid_to",
    "status",
)


def acting_department(session: Session, actor: Principal, profession: catalog.Profession, department: str | None):
    """The department a submission is made for: the actor's own (which must supervise the profession), or for the
    admin the one named (or the first of the profession's departments that exists)."""
    if actor.is_admin:
        codes = [department] if department else profession.departments
        for code in codes:
            found = session.scalar(select(Department).where(Department.code == code, Department.active.is_(True)))
            if found is not None:
                if found.code not in profession.departments:
                    raise Forbidden(f"{found.name}不是{profession.name}的主管部门", code="profession_not_supervised")
                return found
        raise ValidationFailed(
            f"请指定{profession.name}的主管部门（{'、'.join(profession.departments)}）", code="department_required"
        )
    if actor.role not in (Role.DEPT_OPERATOR, Role.BUSINESS_SYSTEM) or actor.department_id is None:
        raise Forbidden("只有主管部门的操作员或业务系统可以报送执业登记", code="role_not_allowed")
    own = session.get(Department, actor.department_id)
    if own is None or own.code not in profession.departments:
        raise Forbidden(
            f"本部门不是{profession.name}的主管部门，不能报送其执业登记",
            code="profession_not_supervised",
            details={"departments": profession.departments},
        )
    if department and department != own.code:
        raise Forbidden("只能以本部门名义报送", code="other_department")
    return own


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] if text else None


def _hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def _validate(number: int, row: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One row's values, or its problems (never an ID in clear)."""
    problems: list[dict[str, Any]] = []

    def problem(field: str, code: str, message: str) -> None:
        problems.append({"row": number, "field": field, "code": code, "message": message})

    values: dict[str, Any] = {}
    for field in REQUIRED:
        if not _text(row.get(field), 200):
            problem(field, "required", f"{FIELD_LABELS[field]}不能为空")
    name = _text(row.get("name"), 100)
    values["name"] = name
    raw_id = _text(row.get("resident_id"), 40)
    if raw_id:
        check = resident_id.validate(raw_id)
        if not check.valid or not check.normalized:
            problem("resident_id", "resident_id_invalid", "身份证号码无效：" + check.to_dict(mask=True)["input"])
        else:
            values["resident_id"] = check.normalized
            values["resident_id_masked"] = check.to_dict(mask=True)["normalized"]
    values["certificate_no"] = _text(row.get("certificate_no"), 60)
    values["qualification_level"] = _text(row.get("qualification_level"), 60)
    employer = _text(row.get("employer_uscc"), 40)
    if employer:
        employer = uscc_rules.compact(employer)
        if not uscc_rules.is_valid(employer):
            problem("employer_uscc", "employer_uscc_invalid", f"执业单位统一社会信用代码 {employer[:18]} 无效")
    values["employer_uscc"] = employer or None
    values["employer_name"] = _text(row.get("employer_name"), 200)
    for field in ("valid_from", "valid_to"):
        try:
            values[field] = parse_date(row.get(field) if row.get(field) not in ("",) else None)
        except ValueError:
            problem(field, "date_invalid", f"{FIELD_LABELS[field]}不是有效日期")
    if values.get("valid_from") and values.get("valid_to") and values["valid_to"] < values["valid_from"]:
        problem("valid_to", "period_invalid", "有效期止早于有效期起")
    status = _text(row.get("status"), 20) or "active"
    status = _STATUS_BY_LABEL.get(status, status.lower())
    if status not in REGISTRATION_STATUSES:
        problem("status", "status_invalid", f"状态应为：{'、'.join(REGISTRATION_STATUS_LABELS.values())}")
    values["status"] = status
    return (None if problems else values), problems


def table_rows(table: Table) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a table under their field names; :class:`ValidationFailed` for missing columns."""
    fields = {h: HEADERS[h] for h in table.headers if h in HEADERS}
    missing = [FIELD_LABELS[f] for f in REQUIRED if f not in fields.values()]
    if missing:
        raise ValidationFailed(
            f"缺少必填列：{'、'.join(missing)}",
            code="columns_missing",
            details={"missing": missing, "headers": [str(h) for h in table.raw_headers]},
        )
    out = []
    for number, row in table.dicts():
        out.append((number, {fields[k]: v for k, v in row.items() if k in fields}))
        if len(out) > MAX_ROWS:
            raise ValidationFailed(f"单批最多 {MAX_ROWS} 行，请分批报送", code="batch_too_large")
    return out


def import_file(
    session: Session, *, actor: Principal, path: str | Path, profession: str, department: str | None = None
) -> dict[str, Any]:
    """``xinyong professions import``: a CSV / XLSX / JSON file of one profession's registrations."""
    table = open_table(path, known_headers=set(HEADERS))
    rows = table_rows(table)
    return upsert_registrations(
        session, actor=actor, profession=profession, rows=rows, department=department, source=Path(path).name
    )


def push_rows(
    session: Session, *, actor: Principal, profession: str, data: Any, department: str | None = None
) -> dict[str, Any]:
    """``POST /api/v1/professions/{code}/registrations``: the rows of a JSON push."""
    rows = table_rows(table_from_records(data))
    return upsert_registrations(
        session, actor=actor, profession=profession, rows=rows, department=department, source="接口推送"
    )


def upsert_registrations(
    session: Session,
    *,
    actor: Principal,
    profession: str,
    rows: list[tuple[int, dict[str, Any]]],
    department: str | None = None,
    source: str = "",
) -> dict[str, Any]:
    """Validate every row, then write them all (or nothing). Returns the batch summary."""
    prof = catalog.get(profession)
    dept = acting_department(session, actor, prof, department)
    if not rows:
        raise ValidationFailed("没有可导入的数据行", code="batch_empty")
    problems: list[dict[str, Any]] = []
    good: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        values, issues = _validate(number, row)
        if values is not None:
            cert = values["certificate_no"]
            if cert in seen:
                issues.append(
                    {
                        "row": number,
                        "field": "certificate_no",
                        "code": "certificate_duplicate",
                        "message": f"证书编号与第 {seen[cert]} 行重复",
                    }
                )
            else:
                seen[cert] = number
                good.append((number, values))
        problems.extend(issues)
    # Employers: resolved through the registry (organisations only).
    employer_codes = sorted({v["employer_uscc"] for _n, v in good if v["employer_uscc"]})
    employers = subjects.resolve_codes(session, employer_codes) if employer_codes else {}
    for number, values in good:
        code = values["employer_uscc"]
        if code:
            found = employers.get(code)
            if found is None or found.kind == SubjectKind.NATURAL_PERSON.value:
                problems.append(
                    {
                        "row": number,
                        "field": "employer_uscc",
                        "code": "employer_unknown",
                        "message": f"执业单位 {code} 未在主体库中登记",
                    }
                )
    lock_keys(session, "profession_registration", [f"{prof.code}:{v['certificate_no']}" for _n, v in good])
    existing = _existing(session, prof.code, [v["certificate_no"] for _n, v in good])
    vault_hashes = _person_hashes([v["resident_id"] for _n, v in good])
    for number, values in good:
        held = existing.get(values["certificate_no"])
        if held is not None and held[1] != vault_hashes[values["resident_id"]]:
            problems.append(
                {
                    "row": number,
                    "field": "certificate_no",
                    "code": "certificate_other_person",
                    "message": "该证书编号已登记在另一人名下",
                }
            )
    summary: dict[str, Any] = {
        "profession": prof.code,
        "profession_name": prof.name,
        "department": dept.code,
        "source": source,
        "rows": len(rows),
    }
    if problems:
        problems.sort(key=lambda p: p["row"])
        raise ValidationFailed(
            f"{len({p['row'] for p in problems})} 行未通过校验，整批未导入",
            code="batch_rejected",
            details={**summary, "problems": problems[:REPORT_LIMIT], "problem_count": len(problems)},
        )
    # Persons not yet registered are registered (encrypted ID, keyed hash, masked form).
    persons: list[tuple[str, str, str | None]] = [(v["name"], v["resident_id"], prof.code) for _n, v in good]
    registered = subjects.bulk_register_persons(
        session, actor=actor, persons=persons, source=f"{dept.name}：{prof.name}执业登记"
    )
    ids = subjects.resolve_code_ids(session, [v["resident_id"] for _n, v in good])
    now = utcnow()
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for number, values in good:
        employer: Subject | None = employers.get(values["employer_uscc"]) if values["employer_uscc"] else None
        content = {
            "subject_id": ids[values["resident_id"]],
            "qualification_level": values["qualification_level"],
            "employer_subject_id": employer.id if employer else None,
            "employer_code": values["employer_uscc"],
            "employer_name": values["employer_name"] or (employer.name if employer else None),
            "valid_from": values["valid_from"],
            "valid_to": values["valid_to"],
            "status": values["status"],
        }
        digest = _hash(content)
        known = existing.get(values["certificate_no"])
        reg: ProfessionRegistration | None = known[0] if known else None
        where = f"{source}#{number}" if source else f"#{number}"
        if reg is not None and reg.content_hash == digest:
            counts["unchanged"] += 1
            continue
        if reg is None:
            reg = ProfessionRegistration(
                profession=prof.code, certificate_no=values["certificate_no"], revision=1, created_at=now
            )
            session.add(reg)
            counts["created"] += 1
        else:
            reg.revision += 1
            counts["updated"] += 1
        for k, v in content.items():
            setattr(reg, k, v)
        reg.content_hash = digest
        reg.department_id = dept.id
        reg.source = where[:200]
        reg.actor = actor.actor
        reg.updated_at = now
        session.flush()
        session.add(
            ProfessionRegistrationVersion(
                registration_id=reg.id,
                revision=reg.revision,
                content={k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in content.items()},
                department_id=dept.id,
                source=reg.source,
                actor=actor.actor,
                at=now,
            )
        )
    summary.update(counts, persons_registered=registered["created"], status="accepted")
    audit.record(
        session,
        actor=actor.actor,
        action="professions.registrations_imported",
        entity_type=ENTITY,
        reason=f"{prof.name}执业登记（{source or '报送'}）",
        after=summary,
    )
    return summary


def _person_hashes(numbers: list[str]) -> dict[str, str]:
    vault = get_vault()
    return {n: vault.lookup_hash(n) for n in set(numbers)}


def _existing(
    session: Session, profession: str, certs: list[str]
) -> dict[str, tuple[ProfessionRegistration, str | None]]:
    """Registrations of these certificates, with their holder's keyed ID hash."""
    out: dict[str, tuple[ProfessionRegistration, str | None]] = {}
    for i in range(0, len(certs), IN_CHUNK):
        for reg, digest in session.execute(
            select(ProfessionRegistration, Subject.resident_id_hash)
            .join(Subject, Subject.id == ProfessionRegistration.subject_id)
            .where(
                ProfessionRegistration.profession == profession,
                ProfessionRegistration.certificate_no.in_(certs[i : i + IN_CHUNK]),
            )
        ):
            out[reg.certificate_no] = (reg, digest)
    return out


# Reading ---------------------------------------------------------------------------------------------------------


def registration_view(
    reg: ProfessionRegistration, person: Subject | None, employer: Subject | None, *, today: dt.date | None = None
) -> dict[str, Any]:
    """A registration as the API, the CLI and the console show it: the person's name and masked ID only."""
    prof = catalog.professions().get(reg.profession)
    expired = reg.valid_to is not None and today is not None and reg.valid_to < today
    return {
        "id": reg.id,
        "profession": reg.profession,
        "profession_name": prof.name if prof else reg.profession,
        "licence": prof.licence if prof else None,
        "certificate_no": reg.certificate_no,
        "qualification_level": reg.qualification_level,
        "person": {
            "subject_id": reg.subject_id,
            "name": person.name if person else None,
            "resident_id": person.resident_id_masked if person else None,
        },
        "employer": {
            "subject_id": reg.employer_subject_id,
            "uscc": reg.employer_code,
            "name": (employer.name if employer else None) or reg.employer_name,
        },
        "valid_from": reg.valid_from,
        "valid_to": reg.valid_to,
        "status": "expired" if expired and reg.status == "active" else reg.status,
        "status_label": REGISTRATION_STATUS_LABELS.get(
            "expired" if expired and reg.status == "active" else reg.status, reg.status
        ),
        "department_id": reg.department_id,
        "source": reg.source,
        "revision": reg.revision,
        "updated_at": reg.updated_at,
    }


def _check_reader(actor: Principal) -> None:
    if actor.role not in (Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER):
        raise Forbidden("执业登记只向平台管理员和政府部门提供", code="role_not_allowed")


def list_registrations(
    session: Session,
    *,
    actor: Principal,
    profession: str | None = None,
    employer: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A page of registrations (a department sees those of the professions it supervises; the admin all)."""
    _check_reader(actor)
    where = []
    if profession:
        where.append(ProfessionRegistration.profession == catalog.get(profession).code)
    if not actor.is_admin:
        own = session.get(Department, actor.department_id) if actor.department_id else None
        mine = [p.code for p in catalog.professions().values() if own is not None and own.code in p.departments]
        where.append(ProfessionRegistration.profession.in_(mine))
    if employer:
        found = subjects.find_subject(session, employer)
        if found is None:
            raise NotFound("未找到该执业单位", code="subject_not_found")
        where.append(ProfessionRegistration.employer_subject_id == found.id)
    if status:
        if status not in REGISTRATION_STATUSES:
            raise ValidationFailed(f"未知的状态 {status[:20]!r}", code="status_invalid")
        where.append(ProfessionRegistration.status == status)
    limit = max(1, min(int(limit), 500))
    offset = max(0, min(int(offset), 100_000))
    total = session.scalar(select(func.count()).select_from(ProfessionRegistration).where(*where)) or 0
    regs = list(
        session.scalars(
            select(ProfessionRegistration)
            .where(*where)
            .order_by(ProfessionRegistration.profession, ProfessionRegistration.id)
            .limit(limit)
            .offset(offset)
        )
    )
    people = _subjects(
        session, {r.subject_id for r in regs} | {r.employer_subject_id for r in regs if r.employer_subject_id}
    )
    return {
        "total": total,
        "items": [
            registration_view(r, people.get(r.subject_id), people.get(r.employer_subject_id or 0), today=today)
            for r in regs
        ],
    }


def _subjects(session: Session, ids: set[int]) -> dict[int, Subject]:
    out: dict[int, Subject] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), IN_CHUNK):
        for s in session.scalars(select(Subject).where(Subject.id.in_(id_list[i : i + IN_CHUNK]))):
            out[s.id] = s
    return out


def person_registrations(session: Session, subject_id: int, today: dt.date | None = None) -> list[dict[str, Any]]:
    regs = list(
        session.scalars(
            select(ProfessionRegistration)
            .where(ProfessionRegistration.subject_id == subject_id)
            .order_by(ProfessionRegistration.profession, ProfessionRegistration.id)
        )
    )
    people = _subjects(session, {subject_id} | {r.employer_subject_id for r in regs if r.employer_subject_id})
    return [
        registration_view(r, people.get(r.subject_id), people.get(r.employer_subject_id or 0), today=today)
        for r in regs
    ]


def registration_history(session: Session, registration_id: int) -> list[dict[str, Any]]:
    return [
        {
            "revision": v.revision,
            "content": {k: val for k, val in v.content.items() if k != "subject_id"},
            "department_id": v.department_id,
            "source": v.source,
            "actor": v.actor,
            "at": v.at,
        }
        for v in session.scalars(
            select(ProfessionRegistrationVersion)
            .where(ProfessionRegistrationVersion.registration_id == registration_id)
            .order_by(ProfessionRegistrationVersion.revision)
        )
    ]


def masked_name(name: str | None) -> str:
    return mask_name(name or "")
