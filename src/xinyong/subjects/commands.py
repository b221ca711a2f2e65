"""`xinyong subjects …`: import the registry export, register one subject, show a subject, registry quality."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from xinyong.core import clikit, hooks
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.clock import local_text, today
from xinyong.core.errors import NotFound
from xinyong.subjects import access_log, related_commands, service
from xinyong.subjects.models import SubjectKind

app = typer.Typer(help="信用主体库", no_args_is_help=True)
related_commands.register(app)  # xinyong subjects related list|add|end


@app.command("import")
@handle_errors
def import_(
    file: Path = typer.Argument(..., help="市场监管部门登记数据导出（CSV/XLSX/JSON）"),
    allow_bad_check: bool = typer.Option(False, "--allow-bad-check", help="校验位错误的代码作为待复核警告保留"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只校验并生成报告，不写入数据库"),
    problems_csv: Path | None = typer.Option(None, "--problems-csv", help="把问题清单写入 CSV 文件"),
    as_json: bool = JsonOption,
) -> None:
    """导入登记注册数据，输出数据质量报告（无效代码、重码、未赋码主体）。"""
    db = clikit.database()
    started = time.perf_counter()

    def load(session: Session) -> dict:
        # One unit of work (core.db.Database.run): a write transaction, run again after a transient conflict.
        report = service.import_registry(session, actor=clikit.operator(), path=file, allow_bad_check=allow_bad_check)
        if dry_run:
            session.rollback()
        return report

    report = db.run(load)
    report["dry_run"] = dry_run
    report["seconds"] = round(time.perf_counter() - started, 3)
    if problems_csv:
        with problems_csv.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.DictWriter(fh, fieldnames=["row", "column", "value", "code", "message"])
            writer.writeheader()
            writer.writerows(report["problems"])

    def render(r: dict) -> None:
        c = clikit.console
        c.print(
            f"[bold]{r['file']}[/bold]：共 {r['rows']} 行，用时 {r['seconds']} 秒"
            + ("（试运行，未写入）" if dry_run else "")
        )
        c.print(
            f"新增 {r['created']}，更新 {r['updated']}（更名 {r['renamed']}，赋码 {r['converted']}），"
            f"未变 {r['unchanged']}，拒绝 {r['rejected']}，重复行 {r['duplicate_rows']}"
        )
        if r["uscc_conversion_rate"] is not None:
            c.print(
                f"统一社会信用代码转换率（不含个体工商户）：{r['uscc_conversion_rate']:.2%}，"
                f"未赋码主体 {r['without_uscc']['count']} 个"
            )
        if r["problems"]:
            t = Table("行", "列", "值", "错误码", "原因", title="问题（前 20 条）")
            for p in r["problems"][:20]:
                t.add_row(str(p["row"]), p["column"], p["value"] or "", p["code"], p["message"])
            c.print(t)

    emit(report, as_json, render)


@app.command("show")
@handle_errors
def show(
    code: str = typer.Argument(..., help="统一社会信用代码、身份证号、注册号或组织机构代码"),
    purpose: str = typer.Option("运维查询", help="查询自然人时记录的用途"),
    as_json: bool = JsonOption,
) -> None:
    """查看一个信用主体及其行政许可、行政处罚记录（含各版本、今日是否公示）与名单条目。

    自然人身份证号仅显示脱敏值，查询记入审计日志。
    """

    with clikit.database().session() as session:
        subject = service.get_subject(session, code)
        if subject.kind == SubjectKind.NATURAL_PERSON:
            service.log_person_view(session, actor=clikit.operator(), subject=subject, purpose=purpose)
        view: dict[str, Any] = dict(service.subject_view(subject))
        # records, list entries, evaluations: domains above subjects (core.hooks; reports.profile)
        view.update(hooks.subject_profile()(session, subject, today()))

    def render(v: dict) -> None:
        t = Table(show_header=False)
        for key in (
            "name",
            "kind_label",
            "org_type_label",
            "uscc",
            "resident_id",
            "legal_rep",
            "registered_on",
            "status",
            "address",
            "registration_authority",
            "profession",
            "source",
        ):
            if v.get(key):
                t.add_row(key, str(v[key]))
        for a in v["aliases"]:
            t.add_row(f"alias:{a['scheme']}", a["value"])
        for n in v["names"]:
            t.add_row("name_history", f"{n['name']} ({n['from'][:10]} → {(n['to'] or '')[:10]})")
        clikit.console.print(t)
        if v["records"]:
            rt = Table("类型", "文书号", "决定日期", "版本", "今日公示", title="行政许可与行政处罚")
            for r in v["records"]:
                rt.add_row(
                    str(r.get("kind")),
                    str(r.get("doc_no")),
                    str(r.get("decision_date")),
                    str(r.get("versions")),
                    "是" if r.get("public") else f"否（{r.get('status_reason') or ''}）",
                )
            clikit.console.print(rt)
        if v["list_entries"]:
            lt = Table("名单", "事由", "列入日期", "期限至", "状态", title="红黑名单")
            for e in v["list_entries"]:
                lt.add_row(
                    str(e.get("list_name") or e.get("list_code")),
                    str(e.get("reason") or ""),
                    str(e.get("listed_on") or ""),
                    str(e.get("term_end") or "无固定期限"),
                    str(e.get("status_label") or e.get("status")),
                )
            clikit.console.print(lt)
        for ev in v["evaluations"]:
            clikit.console.print(
                f"[bold]{ev['model_name']}[/bold]：{ev['grade']}（{ev['grade_label']}），得分 {ev['score']}，"
                f"基准日 {ev['as_of']}"
            )
            for line in ev["explanation"]["lines"]:
                clikit.console.print(f"  {line['text']}")
            clikit.console.print(f"  {ev['explanation']['score_text']}；{ev['explanation']['grade_text']}")

    emit(view, as_json, render)


@app.command("search")
@handle_errors
def search(
    q: str = typer.Argument(..., help="名称（可部分）或统一社会信用代码"),
    limit: int = typer.Option(20, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    """按名称查找组织（不含自然人）。"""
    with clikit.database().session(write=False) as session:
        rows = [service.public_view(s) for s in service.search_organisations(session, q=q, limit=limit)]

    def render(items: list) -> None:
        t = Table("统一社会信用代码", "名称", "类型", "状态")
        for v in items:
            t.add_row(v["uscc"] or "(未赋码)", v["name"], v["kind_label"], v["status"] or "")
        clikit.console.print(t)

    emit(rows, as_json, render)


@app.command("register")
@handle_errors
def register_subject(
    code: str = typer.Argument(..., help="统一社会信用代码（组织）或身份证号码（自然人，配合 --person）"),
    name: str = typer.Option(..., "--name", help="名称或姓名"),
    person: bool = typer.Option(False, "--person", help="登记自然人（重点职业人员）"),
    legal_rep: str | None = typer.Option(None, "--legal-rep", help="法定代表人（组织）"),
    profession: str | None = typer.Option(None, "--profession", help="职业（自然人）"),
    reason: str | None = typer.Option(None, "--reason", help="登记原因（记入审计日志）"),
    as_json: bool = JsonOption,
) -> None:
    """登记一个主体库没有的主体（如本市各部门作为政务诚信主体；登记库导入之外的个别补录）。"""
    with clikit.database().session() as session:
        actor = clikit.operator()
        if person:
            subject = service.register_person(
                session, actor=actor, name=name, id_number=code, profession=profession, source="cli", reason=reason
            )
        else:
            subject = service.register_organisation(
                session, actor=actor, name=name, code=code, legal_rep=legal_rep, source="cli", reason=reason
            )
        view = dict(service.subject_view(subject, include_history=False))
    emit(view, as_json, lambda v: clikit.console.print(f"已登记：{v['name']}（主体 {v['id']}）"))


@app.command("quality")
@handle_errors
def quality(as_json: bool = JsonOption) -> None:
    """主体库数据质量汇总（统一社会信用代码转换率）。"""
    with clikit.database().session(write=False) as session:
        summary = service.quality_summary(session)
    emit(summary, as_json, None)


@app.command("access-log")
@handle_errors
def access_log_cmd(
    code: str = typer.Argument(..., help="统一社会信用代码、身份证号或其他登记代码"),
    limit: int = typer.Option(20, "--limit", min=1, max=100, help="每页条数（1–100）"),
    offset: int = typer.Option(0, "--offset", min=0, max=100_000, help="跳过的条数"),
    as_json: bool = JsonOption,
) -> None:
    """主体的查询记录：谁、哪个部门或机构、用途、时间、查询内容（含被拒绝的尝试）。"""

    with clikit.database().session(write=False) as session:
        subject = service.find_subject(session, code)
        if subject is None:
            raise NotFound("未找到该信用主体", code="subject_not_found")
        total, rows = access_log.entries(session, subject_id=subject.id, limit=limit, offset=offset)
        data = {
            "subject_id": subject.id,
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": access_log.views(session, rows),
        }

    def render(d: dict) -> None:
        table = Table("时间", "查询方", "角色", "用途", "内容", "结果")
        for r in d["items"]:
            table.add_row(
                local_text(r["at"]),
                r["who"],
                r["role_label"] or "—",
                r["purpose"],
                f"{r['endpoint']} {','.join(r['scope'])}",
                r["outcome_label"] + (f"（{r['error_code']}）" if r["error_code"] else ""),
            )
        clikit.console.print(table)
        clikit.console.print(f"共 {d['total']} 条")

    emit(data, as_json, render)


@app.command("access-log-verify")
@handle_errors
def access_log_verify(as_json: bool = JsonOption) -> None:
    """核对查询记录与审计日志（哈希链）是否一致；不一致时退出码为 1。"""

    with clikit.database().session(write=False) as session:
        report = access_log.verify(session)
    emit(
        report,
        as_json,
        lambda d: clikit.console.print(
            f"查询记录 {d['rows']} 条：" + ("与审计日志一致" if d["ok"] else f"发现 {len(d['problems'])} 处不一致")
        ),
    )
    if not report["ok"]:
        raise typer.Exit(1)
