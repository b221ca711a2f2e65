"""`xinyong professions …`: the key professions (重点职业人群) and government integrity (政务诚信).

``import`` a supervising department's file of registrations; ``list`` / ``show`` them; ``file`` a person's profession
file (purpose required, logged in the person's access log); ``catalogue`` the 14 groups; ``government`` the 政务诚信
dashboard and the credit office's queue of public bodies on the 失信被执行人 list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.core import clikit, clock
from xinyong.core.clikit import JsonOption, LimitOption, OffsetOption, emit, handle_errors
from xinyong.core.errors import NotFound
from xinyong.professions import catalog, government, service
from xinyong.professions import file as profession_file
from xinyong.professions.models import ProfessionRegistration

app = typer.Typer(help="重点职业人群与政务诚信：执业登记、职业信用档案、政务失信提示", no_args_is_help=True)


@app.command("catalogue")
@handle_errors
def catalogue(as_json: bool = JsonOption) -> None:
    """列出 14 类重点职业：主管部门、资格或执业证书、法律依据（标注待核实）、职业名单。"""
    data = [p.view() for p in catalog.professions().values()]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("代码", "职业", "主管部门", "证书", "职业名单", "依据可信度", title="重点职业人群")
        for p in items:
            t.add_row(p["code"], p["name"], p["supervisor_kind"], p["licence"], "、".join(p["lists"]), p["confidence"])
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("import")
@handle_errors
def import_(
    file: Path = typer.Argument(
        ...,
        help="执业登记文件（CSV/XLSX/JSON；列：姓名、身份证号码、证书编号、资格等级、执业单位统一社会信用代码、有效期起、有效期止、状态）",
    ),
    profession: str = typer.Option(
        ..., "--profession", help="职业代码，如 doctor、lawyer（xinyong professions catalogue）"
    ),
    department: str | None = typer.Option(None, "--department", help="主管部门代码（默认该职业的第一个主管部门）"),
    as_json: bool = JsonOption,
) -> None:
    """导入执业登记：逐行校验，任一行不通过则整批不导入（退出码 2，列出各行问题）；重复导入相同内容不变。"""
    actor = clikit.operator()
    summary = clikit.database().run(
        lambda session: service.import_file(
            session, actor=actor, path=file, profession=profession, department=department
        )
    )

    def render(s: dict[str, Any]) -> None:
        clikit.console.print(
            f"{s['profession_name']}执业登记（{s['department']}）：共 {s['rows']} 行，新增 {s['created']}，"
            f"更新 {s['updated']}，未变 {s['unchanged']}；新登记自然人 {s['persons_registered']}"
        )

    emit(summary, as_json, render)


def _render_registrations(items: list[dict[str, Any]]) -> None:
    t = Table("ID", "职业", "证书编号", "姓名", "身份证号码", "执业单位", "有效期至", "状态", title="执业登记")
    for r in items:
        t.add_row(
            str(r["id"]),
            r["profession_name"],
            r["certificate_no"],
            r["person"]["name"] or "",
            r["person"]["resident_id"] or "",
            r["employer"]["name"] or "",
            str(r["valid_to"] or ""),
            r["status_label"],
        )
    clikit.console.print(t)


@app.command("list")
@handle_errors
def list_(
    profession: str | None = typer.Option(None, "--profession", help="职业代码"),
    employer: str | None = typer.Option(None, "--employer", help="执业单位统一社会信用代码"),
    status: str | None = typer.Option(None, "--status", help="active / suspended / revoked / expired / cancelled"),
    limit: int = LimitOption,
    offset: int = OffsetOption,
    as_json: bool = JsonOption,
) -> None:
    """列出执业登记（身份证号码脱敏）。"""
    with clikit.database().session(write=False) as session:
        data = service.list_registrations(
            session,
            actor=clikit.operator(),
            profession=profession,
            employer=employer,
            status=status,
            limit=limit,
            offset=offset,
            today=clock.today(),
        )
    emit(data, as_json, lambda d: _render_registrations(d["items"]))


@app.command("show")
@handle_errors
def show(registration_id: int = typer.Argument(..., min=1), as_json: bool = JsonOption) -> None:
    """查看一条执业登记及其全部版本。"""
    with clikit.database().session(write=False) as session:
        reg = session.get(ProfessionRegistration, registration_id)
        if reg is None:
            raise NotFound("未找到该执业登记", code="registration_not_found")
        one = next(v for v in service.person_registrations(session, reg.subject_id, clock.today()) if v["id"] == reg.id)
        data = {**one, "history": service.registration_history(session, reg.id)}

    def render(d: dict[str, Any]) -> None:
        _render_registrations([d])
        for h in d["history"]:
            clikit.console.print(f"第 {h['revision']} 版 {h['at']} {h['source'] or ''} {h['actor']}")

    emit(data, as_json, render)


@app.command("file")
@handle_errors
def file_(
    code: str = typer.Argument(..., help="身份证号码"),
    purpose: str = typer.Option(..., "--purpose", help="查询事由：" + "、".join(catalog.purposes())),
    purpose_text: str | None = typer.Option(None, "--purpose-text", help="具体事由（other 时必填）"),
    as_json: bool = JsonOption,
) -> None:
    """职业信用档案：资格与执业单位、信用记录、名单、公务员诚信档案；查询记入本人的查询记录。"""
    actor = clikit.operator()

    def read(session: Any) -> Any:
        try:
            return profession_file.read_file(
                session, actor=actor, code=code, purpose=purpose, purpose_text=purpose_text
            )
        except profession_file.FileRefused as exc:  # logged in the person's access log, committed, then reported
            profession_file.log_refusal(session, actor=actor, exc=exc)
            return exc

    data = clikit.database().run(read)
    if isinstance(data, profession_file.FileRefused):
        raise data

    def render(d: dict[str, Any]) -> None:
        c = clikit.console
        c.print(f"{d['subject']['name']}（{d['subject']['resident_id']}） {d['purpose_label']}", markup=False)
        _render_registrations(d["registrations"])
        t = Table("名单", "列入日期", "状态", "职业名单", title="名单")
        for e in d["lists"]:
            t.add_row(e["list_name"], str(e["listed_on"] or ""), e["effective_status"], e["profession"] or "")
        c.print(t)
        c.print(f"信用记录 {len(d['records'])} 条")
        if d["civil_servant"]:
            for e in d["civil_servant"]["entries"]:
                c.print(f"{e['kind_label']} {e['year'] or ''} {e['result']}", markup=False)

    emit(data, as_json, render)


@app.command("government")
@handle_errors
def government_(
    flags_only: bool = typer.Option(False, "--flags", help="只列信用办待处理的政务失信提示"),
    as_json: bool = JsonOption,
) -> None:
    """政务诚信：机关和事业单位的承诺践诺、失信被执行人、合同履约；待处理的政务失信提示。"""
    actor = clikit.operator()
    with clikit.database().session(write=False) as session:
        data: Any = (
            government.list_flags(session, actor=actor)
            if flags_only
            else {**government.dashboard(session), "flags": government.list_flags(session, actor=actor)}
        )

    def render(d: Any) -> None:
        c = clikit.console
        flags = d if flags_only else d["flags"]
        if not flags_only:
            cm = d["commitments"]
            c.print(
                f"机关、事业单位 {d['public_bodies']} 个；承诺 {cm['total']}（践诺 {cm['kept']}，违诺 {cm['broken']}）；"
                f"列入失信被执行人 {d['on_debtor_list']} 个；合同 {d['contracts']['total']}（拖欠 {d['contracts']['overdue']}）"
            )
        t = Table("ID", "主体", "统一社会信用代码", "名单", "提出时间", "状态", title="政务失信提示")
        for f in flags:
            t.add_row(
                str(f["id"]),
                f["subject"]["name"],
                f["subject"]["uscc"] or "",
                f["list_code"],
                str(f["raised_at"]),
                f["status_label"],
            )
        c.print(t)

    emit(data, as_json, render)
