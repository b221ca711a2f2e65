"""`xinyong lists …`: list types, entries, syncs of external lists and the review queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Column, Table

from xinyong.core import clikit, clock
from xinyong.core.clikit import JsonOption, LimitOption, OffsetOption, date_or_today, emit, handle_errors, parse_date
from xinyong.lists import importer, queries, service
from xinyong.lists import types as lists_types

app = typer.Typer(help="红黑名单：名单类型、名单条目、外部名单同步与比对", no_args_is_help=True)


def _entry_dict(session: Any, entry_id: int, on: dt.date | None = None, *, history: bool = True) -> dict[str, Any]:
    row = queries.get_entry(session, entry_id)
    return queries.entry_view(
        row, on or clock.today(), history=queries.entry_history(session, entry_id) if history else None
    )


def _print_entry(v: dict[str, Any]) -> None:
    c = clikit.console
    c.print(f"[bold]条目 {v['id']}[/bold] {v['list_name']}（{v['list_code']}）  决定文书号 {v['decision_no']}")
    c.print(
        f"主体：{v['party_name']} {v['party_code'] or ''}  状态：{v['status_label']}"
        f"{'（今日有效）' if v['counts'] else ''}  版本 {v['revision']}"
    )
    c.print(
        f"告知 {v['notice_given_on'] or '-'} → 最早列入 {v['notice_until'] or '-'}；列入 {v['listed_on'] or '-'}；"
        f"有效期至 {v['term_end'] or '不定期'}；移出 {v['removed_on'] or '-'} {v['removal_reason_label'] or ''}"
    )
    c.print(f"事由：{v['reason']}\n依据：{v['legal_basis']}")
    for h in v.get("history") or []:
        c.print(f"  {h['at']:%Y-%m-%d %H:%M} {h['action']} {h['actor']} {h['reason'] or ''}")


def _act(action: Callable[..., Any], as_json: bool, entry_id: int | None = None, **kwargs: Any) -> None:
    """Run one service action as the CLI operator (on ``entry_id``, or creating an entry) and print the entry."""
    with clikit.database().session() as session:
        if entry_id is None:
            entry_id = action(session, actor=clikit.operator(), **kwargs).id
        else:
            action(session, actor=clikit.operator(), entry_id=entry_id, **kwargs)
        assert entry_id is not None
        view = _entry_dict(session, entry_id)
    emit(view, as_json, _print_entry)


@app.command("types")
@handle_errors
def types(as_json: bool = JsonOption) -> None:
    """列出名单类型及其代码。"""
    with clikit.database().session(write=False) as session:
        rows = [lists_types.type_view(t) for t in lists_types.list_types(session)]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            clikit.console.print("尚无名单类型：请先运行 [bold]xinyong lists seed[/bold]")
            return
        t = Table(
            Column("代码", no_wrap=True),
            Column("名称", overflow="fold"),
            "类别",
            "认定机关",
            "期限（月）",
            "事先告知",
            "来源",
        )
        for r in items:
            t.add_row(
                r["code"],
                r["name"],
                r["kind_label"],
                r["authority"],
                str(r["term_months"] or "不定期"),
                f"{r['notice_workdays']} 个工作日" if r["requires_notice"] else "否",
                "外部同步" if r["external"] else "部门认定",
            )
        clikit.console.print(t)

    emit(rows, as_json, render)


@app.command("seed")
@handle_errors
def seed(
    path: Path | None = typer.Option(None, "--file", help="名单类型 YAML 文件（默认随软件提供的名单类型）"),
    as_json: bool = JsonOption,
) -> None:
    """载入（或更新）名单类型。"""
    with clikit.database().session() as session:
        report = lists_types.seed_list_types(session, actor=clikit.operator(), path=path).to_dict()
    emit(
        report,
        as_json,
        lambda r: clikit.console.print(
            f"新增 {len(r['created'])}，更新 {len(r['updated'])}，未变 {len(r['unchanged'])}"
            + (f"，文件中没有的类型（保留）：{'、'.join(r['not_in_file'])}" if r["not_in_file"] else "")
        ),
    )


@app.command("entries")
@handle_errors
def entries(
    list_code: str | None = typer.Option(None, "--list", help="名单类型代码"),
    subject: str | None = typer.Option(None, "--subject", help="主体代码（统一社会信用代码、身份证号等）"),
    department: str | None = typer.Option(None, "--department", help="部门代码"),
    status: str = typer.Option("all", "--status", help="notified / active / expired / removed / all"),
    on: str | None = typer.Option(None, "--date", help="按该日判断状态（默认今天）"),
    limit: int = LimitOption,
    offset: int = OffsetOption,
    as_json: bool = JsonOption,
) -> None:
    """列出名单条目及其当日状态。"""
    day = date_or_today(on)
    with clikit.database().session(write=False) as session:
        which = queries.EntryFilter(list_code, subject, department, status, day)
        rows = queries.entries_by_codes(session, which, limit=limit, offset=offset)
        data = [queries.entry_view(r, day) for r in rows]

    def render(items: list[dict[str, Any]]) -> None:
        t = Table("ID", "名单", "主体", "决定文书号", "列入", "有效期至", "状态", title=f"名单条目（{day}）")
        for r in items:
            t.add_row(
                str(r["id"]),
                r["list_name"],
                r["party_name"],
                r["decision_no"] or "",
                str(r["listed_on"] or ""),
                str(r["term_end"] or ""),
                r["status_label"],
            )
        clikit.console.print(t)

    emit(data, as_json, render)


@app.command("show")
@handle_errors
def show(
    entry_id: int = typer.Argument(..., help="条目 ID"),
    on: str | None = typer.Option(None, "--date", help="按该日判断状态（默认今天）"),
    as_json: bool = JsonOption,
) -> None:
    """查看一个名单条目及其全部历史。"""
    with clikit.database().session(write=False) as session:
        view = _entry_dict(session, entry_id, parse_date(on, "--date"))
    emit(view, as_json, _print_entry)


_LIST = typer.Option(..., "--list", help="名单类型代码（xinyong lists types）")
_SUBJECT = typer.Option(..., "--subject", help="主体代码：统一社会信用代码、身份证号码或其他登记代码")
_REASON = typer.Option(..., "--reason", help="列入事由")
_DECISION = typer.Option(..., "--decision-no", help="决定文书号")
_FACTS = typer.Option("", "--facts", help="失信事实")
_BASIS = typer.Option(None, "--basis", help="认定依据（默认取名单类型的第一项依据）")
_DEPARTMENT = typer.Option(None, "--department", help="认定部门代码（默认为名单的主管部门）")
_REVISION = typer.Option(None, "--expected-revision", help="期望的当前版本号（乐观并发）")
_AUTHORITY = typer.Option(None, "--authority", help="认定机关（默认为认定部门本身；须为该部门或为其登记的下属单位）")
_AUTHORITY_USCC = typer.Option(None, "--authority-uscc", help="认定机关统一社会信用代码")


@app.command("add")
@handle_errors
def add(
    list_code: str = _LIST,
    subject: str = _SUBJECT,
    reason: str = _REASON,
    decision_no: str = _DECISION,
    facts: str = _FACTS,
    basis: str | None = _BASIS,
    department: str | None = _DEPARTMENT,
    listed_on: str | None = typer.Option(None, "--listed-on", help="列入日期（默认今天）"),
    term_end: str | None = typer.Option(None, "--term-end", help="有效期至（默认按名单期限计算）"),
    notice_given_on: str | None = typer.Option(
        None, "--notice-given-on", help="已在平台外告知的日期（须告知的名单必填）"
    ),
    authority: str | None = _AUTHORITY,
    authority_uscc: str | None = _AUTHORITY_USCC,
    as_json: bool = JsonOption,
) -> None:
    """直接列入名单（须告知的名单须给出告知日期，且已过陈述申辩期）。"""
    _act(
        service.create_entry,
        as_json,
        list_code=list_code,
        subject_code=subject,
        reason=reason,
        decision_no=decision_no,
        facts=facts,
        legal_basis=basis,
        notice_given_on=parse_date(notice_given_on, "--notice-given-on"),
        listed_on=parse_date(listed_on, "--listed-on"),
        term_end=parse_date(term_end, "--term-end"),
        department=department,
        authority=authority,
        authority_uscc=authority_uscc,
    )


@app.command("notify")
@handle_errors
def notify(
    list_code: str = _LIST,
    subject: str = _SUBJECT,
    reason: str = _REASON,
    decision_no: str = _DECISION,
    facts: str = _FACTS,
    basis: str | None = _BASIS,
    department: str | None = _DEPARTMENT,
    given_on: str | None = typer.Option(None, "--given-on", help="告知日期（默认今天）"),
    authority: str | None = _AUTHORITY,
    authority_uscc: str | None = _AUTHORITY_USCC,
    as_json: bool = JsonOption,
) -> None:
    """登记列入前告知（陈述申辩期满后才能列入）。"""
    _act(
        service.give_notice,
        as_json,
        list_code=list_code,
        subject_code=subject,
        reason=reason,
        decision_no=decision_no,
        facts=facts,
        legal_basis=basis,
        notice_given_on=parse_date(given_on, "--given-on"),
        department=department,
        authority=authority,
        authority_uscc=authority_uscc,
    )


@app.command("list-entry")
@handle_errors
def list_entry(
    entry_id: int = typer.Argument(..., help="已告知条目的 ID"),
    listed_on: str | None = typer.Option(None, "--listed-on", help="列入日期（默认今天）"),
    term_end: str | None = typer.Option(None, "--term-end", help="有效期至（默认按名单期限计算）"),
    note: str | None = typer.Option(None, "--note", help="说明"),
    expected_revision: int | None = _REVISION,
    as_json: bool = JsonOption,
) -> None:
    """告知期满后列入。"""
    _act(
        service.list_entry,
        as_json,
        entry_id,
        listed_on=parse_date(listed_on, "--listed-on"),
        term_end=parse_date(term_end, "--term-end"),
        note=note,
        expected_revision=expected_revision,
    )


@app.command("extend")
@handle_errors
def extend(
    entry_id: int = typer.Argument(..., help="条目 ID"),
    term_end: str = typer.Option(..., "--term-end", help="新的有效期至"),
    reason: str = typer.Option(..., "--reason", help="延长理由"),
    expected_revision: int | None = _REVISION,
    as_json: bool = JsonOption,
) -> None:
    """延长有效期（不超过名单类型的最长期限）。"""
    _act(
        service.extend_entry,
        as_json,
        entry_id,
        term_end=parse_date(term_end, "--term-end"),
        reason=reason,
        expected_revision=expected_revision,
    )


@app.command("remove")
@handle_errors
def remove(
    entry_id: int = typer.Argument(..., help="条目 ID"),
    reason: str = typer.Option(..., "--reason", help="移出原因：" + " / ".join(service.MANUAL_REMOVAL_REASONS)),
    note: str = typer.Option(..., "--note", help="说明（如信用修复决定书文号）"),
    on: str | None = typer.Option(None, "--on", help="移出日期（默认今天）"),
    expected_revision: int | None = _REVISION,
    as_json: bool = JsonOption,
) -> None:
    """移出名单。"""
    _act(
        service.remove_entry,
        as_json,
        entry_id,
        reason=reason,
        note=note,
        on=parse_date(on, "--on"),
        expected_revision=expected_revision,
    )


@app.command("withdraw-notice")
@handle_errors
def withdraw_notice(
    entry_id: int = typer.Argument(..., help="已告知条目的 ID"),
    note: str = typer.Option(..., "--note", help="不予列入的理由"),
    expected_revision: int | None = _REVISION,
    as_json: bool = JsonOption,
) -> None:
    """告知后决定不予列入。"""
    _act(
        service.withdraw_notice,
        as_json,
        entry_id,
        note=note,
        expected_revision=expected_revision,
    )


@app.command("correct")
@handle_errors
def correct(
    entry_id: int = typer.Argument(..., help="条目 ID"),
    note: str = typer.Option(..., "--note", help="更正原因"),
    reason: str | None = typer.Option(None, "--reason", help="新的列入事由"),
    facts: str | None = typer.Option(None, "--facts", help="新的失信事实"),
    basis: str | None = typer.Option(None, "--basis", help="新的认定依据"),
    expected_revision: int | None = _REVISION,
    as_json: bool = JsonOption,
) -> None:
    """更正列入事由、失信事实或认定依据。"""
    _act(
        service.correct_entry,
        as_json,
        entry_id,
        note=note,
        reason=reason,
        facts=facts,
        legal_basis=basis,
        expected_revision=expected_revision,
    )


@app.command("import")
@handle_errors
def import_(
    file: Path = typer.Argument(..., help="名单条目文件（CSV/XLSX/JSON，中文列名）"),
    list_code: str | None = typer.Option(None, "--list", help="整个文件的名单类型（文件无「名单类型」列时必填）"),
    department: str | None = _DEPARTMENT,
    reject_all: bool = typer.Option(False, "--reject-all", help="有任何错误行时整个文件不导入"),
    as_json: bool = JsonOption,
) -> None:
    """导入名单条目；逐行报告错误（行号、列名、错误码、原因）。有错误行时退出码为 1。"""
    with clikit.database().session() as session:
        report = importer.import_entries(
            session,
            actor=clikit.operator(),
            path=file,
            list_code=list_code,
            department=department,
            reject_all=reject_all,
        )

    def render(r: dict[str, Any]) -> None:
        c = clikit.console
        c.print(
            f"[bold]{r['file']}[/bold]：共 {r['rows']} 行，列入 {r['created']}，告知 {r['notified']}，"
            f"已存在跳过 {r['skipped']}，错误 {r['rejected']}"
        )
        if r["errors"]:
            t = Table("行", "列", "错误码", "原因", title="错误行")
            for e in r["errors"][:50]:
                t.add_row(str(e["row"]), e["column"], e["code"], e["message"])
            c.print(t)

    emit(report, as_json, render)
    if report["errors"]:
        raise typer.Exit(1)


@app.command("daily")
@handle_errors
def daily(
    on: str | None = typer.Option(None, "--date", help="按该日处理（默认今天）"), as_json: bool = JsonOption
) -> None:
    """每日任务：通知订阅方已到期的条目（到期本身不依赖此任务；同一条目只通知一次）。"""
    day = date_or_today(on)
    report = clikit.database().run(
        lambda session: service.announce_expirations(session, today=day, actor=clikit.operator()).to_dict()
    )
    emit(report, as_json, lambda r: clikit.console.print(f"{r['today']}：通知到期条目 {r['announced']} 个"))


from xinyong.lists import sync_commands  # noqa: E402  (external list sync and the review queue)

sync_commands.register(app)
