"""`xinyong subjects related …`: list, add and end an organisation's related persons (法定代表人、主要负责人、董事、
监事、高级管理人员); the CLI acts as the platform admin. IDs only ever masked; showing a registered person's role
writes that person's access log (as the API does)."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.subjects import related, service
from xinyong.subjects.access_log import record as record_access
from xinyong.subjects.models import SubjectKind

related_app = typer.Typer(help="关联人员（法定代表人、主要负责人、董事、监事、高级管理人员）", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``related`` (list, add, end) to the ``xinyong subjects`` sub-app."""
    app.add_typer(related_app, name="related")


ENDPOINT = "cli:subjects.related"


def _render(rows: list[dict]) -> None:
    t = Table("编号", "职务", "姓名", "身份证号", "起", "止", "来源", title="关联人员")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["role_label"],
            r["name"],
            r["resident_id"] or "",
            r["valid_from"],
            r["valid_to"] or "现任",
            r["source_label"],
        )
    clikit.console.print(t)


@related_app.command("list")
@handle_errors
def list_(
    code: str = typer.Argument(..., help="组织的统一社会信用代码（或自然人身份证号：其担任职务的组织）"),
    current: bool = typer.Option(False, "--current", help="只列出现任"),
    purpose: str = typer.Option("关联人员管理", help="查询用途（记入查询记录）"),
    as_json: bool = JsonOption,
) -> None:
    """列出组织的关联人员（含历史），或自然人担任职务的组织。"""
    actor = clikit.operator()

    def work(session: Session) -> list[dict]:
        subject = service.get_subject(session, code)
        if subject.kind == SubjectKind.NATURAL_PERSON:
            rows = list(
                session.scalars(
                    select(related.RelatedPerson)
                    .where(related.RelatedPerson.id_hash == subject.resident_id_hash)
                    .order_by(related.RelatedPerson.id.desc())
                )
            )
            shown = {subject.id}
        else:
            rows = related.list_related(session, subject)
            shown = {r.person_subject_id for r in rows if r.person_subject_id is not None}
        if current:
            rows = [r for r in rows if r.valid_to is None]
        for person_id in sorted(shown):
            record_access(
                session,
                actor=actor,
                subject_id=person_id,
                purpose=purpose,
                endpoint=ENDPOINT,
                scope=["related_persons"],
            )
        return [related.related_view(r) for r in rows]

    emit(clikit.database().run(work), as_json, _render)


@related_app.command("add")
@handle_errors
def add(
    code: str = typer.Argument(..., help="组织的统一社会信用代码"),
    role: str = typer.Option(..., "--role", help="legal_rep / principal / director / supervisor / senior_manager"),
    name: str = typer.Option(..., "--name", help="姓名"),
    id_number: str | None = typer.Option(None, "--id", help="居民身份证号码（加密存储）"),
    valid_from: str | None = typer.Option(None, "--from", help="任职起始日期 YYYY-MM-DD（默认今天）"),
    reason: str | None = typer.Option(None, "--reason", help="录入原因"),
    as_json: bool = JsonOption,
) -> None:
    """登记组织的一名关联人员（人工录入，写入审计日志）。"""
    since = clikit.parse_date(valid_from, "--from")

    def work(session: Session) -> dict:
        row = related.add_related(
            session,
            actor=clikit.operator(),
            subject=service.get_subject(session, code),
            role=role,
            name=name,
            id_number=id_number,
            valid_from=since,
            reason=reason,
        )
        return related.related_view(row)

    emit(clikit.database().run(work), as_json, lambda r: _render([r]))


@related_app.command("end")
@handle_errors
def end(
    code: str = typer.Argument(..., help="组织的统一社会信用代码"),
    related_id: int = typer.Argument(..., help="关联人员记录编号"),
    reason: str = typer.Option(..., "--reason", help="结束原因"),
    on: str | None = typer.Option(None, "--on", help="卸任日期 YYYY-MM-DD（默认今天）"),
    as_json: bool = JsonOption,
) -> None:
    """结束一名关联人员的任职（记录保留）。"""
    day = clikit.parse_date(on, "--on")

    def work(session: Session) -> dict:
        row = related.end_related(
            session,
            actor=clikit.operator(),
            subject=service.get_subject(session, code),
            related_id=related_id,
            reason=reason,
            on=day,
        )
        return related.related_view(row)

    emit(clikit.database().run(work), as_json, lambda r: _render([r]))
