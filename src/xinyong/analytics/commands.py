"""``xinyong analytics …``: trading data import, collusion analysis and its ranked results, bidder statistics,
spot-check import, food/drug risk levels and the watch list; the department assessment (督查考核) and its expected
volumes (应报尽报)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from xinyong.analytics import assessment, food_drug, trading, volumes
from xinyong.core import clikit, clock
from xinyong.core.clikit import JsonOption, emit, handle_errors

app = typer.Typer(help="大数据监管分析：公共资源交易串标围标风险、食品药品风险预警", no_args_is_help=True)
expected_app = typer.Typer(help="督查考核应报量（应报尽报）：按部门、信息类别配置每月应报量", no_args_is_help=True)
app.add_typer(expected_app, name="expected")
PeriodOption = typer.Option(
    None, "--period", help="YYYY-MM（月度）、YYYY-Qn（季度）或 YYYY（年度汇总）；默认上一个完整月份"
)
LEVELS = {"high": "高", "medium": "中", "low": "低"}


def _import(kind: str, path: Path, as_json: bool, keep_good: bool = False) -> None:
    with clikit.database().session() as session:
        out = trading.import_file(
            session, actor=clikit.operator(), kind=kind, path=path, mode="keep_good" if keep_good else "reject_all"
        )

    def render(d: dict[str, Any]) -> None:
        if d["already_imported"]:
            clikit.console.print(f"该文件已导入过（导入 #{d['id']}），未重复写入")
        else:
            clikit.console.print(
                f"{d['label']}：{d['rows']} 行，新增 {d['created']}，更新 {d['updated']}，"
                f"未变 {d['unchanged']}  {d['report'] or ''}"
            )
            if d.get("rejected"):
                clikit.console.print(f"退回 {d['rejected']} 行（见 report.errors）")

    emit(out, as_json, render)


@app.command("import")
@handle_errors
def import_cmd(
    kind: str = typer.Argument(..., help="tenders / bids / awards / bidders / spot_checks"),
    path: Path = typer.Argument(..., help="CSV / XLSX / JSON 文件"),
    keep_good: bool = typer.Option(False, "--keep-good", help="导入正确的行、退回错行（默认有错行则整份不导入）"),
    as_json: bool = JsonOption,
) -> None:
    """导入交易数据或抽检结果文件（有错行则整份不导入，同一文件不重复导入）。"""
    _import(kind, path, as_json, keep_good)


@app.command("analyse")
@handle_errors
def analyse(as_json: bool = JsonOption) -> None:
    """对全部投标记录运行串标围标风险分析并保存结果。"""
    with clikit.database().session() as session:
        out = trading.analysis_view(trading.run_analysis(session, actor=clikit.operator()))
    emit(
        out,
        as_json,
        lambda d: clikit.console.print(
            f"分析 #{d['id']}（{d['seconds']} 秒）：{d['summary']['tenders']} 个项目、{d['summary']['bids']} 条投标，"
            f"高风险 {d['summary']['high']}，中风险 {d['summary']['medium']}，关联群体 {d['summary']['groups']}"
        ),
    )


@app.command("tenders")
@handle_errors
def tenders(
    level: str | None = typer.Option(None, help="high / medium / low"),
    limit: int = typer.Option(20, min=1),
    as_json: bool = JsonOption,
) -> None:
    """按风险排序的项目（最近一次分析）。"""
    with clikit.database().session(write=False) as session:
        out = trading.ranked_tenders(trading.get_analysis(session), level=level, limit=limit)

    def render(d: dict[str, Any]) -> None:
        t = Table("项目编号", "项目名称", "风险分", "等级", "标记")
        for x in d["items"]:
            t.add_row(
                x.get("project_no") or "",
                x.get("name") or "",
                str(x["score"]),
                LEVELS[x["level"]],
                "、".join(f["label"] for f in x["flags"]),
            )
        clikit.console.print(t)
        clikit.console.print(f"共 {d['total']} 个被标记项目")

    emit(out, as_json, render)


@app.command("tender")
@handle_errors
def tender(project_no: str, as_json: bool = JsonOption) -> None:
    """一个项目的投标人、报价与风险证据。"""
    with clikit.database().session(write=False) as session:
        out = trading.tender_detail(session, project_no)

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(
            f"{d['project_no']} {d['name']}（{d['tenderer']}，开标 {d['opened_on']}）"
            f" 风险分 {d['score']} {LEVELS[d['level']]}"
        )
        t = Table("投标人", "报价(元)", "电话", "法定代表人", "IP", "中标")
        for b in d["bids"]:
            t.add_row(
                b["bidder_name"],
                f"{b['price']:,.2f}",
                b["phone"] or "",
                b["legal_rep"] or "",
                b["ip"] or "",
                "是" if b["won"] else "",
            )
        clikit.console.print(t)
        for f in d["flags"]:
            clikit.console.print(
                f"  [{f['weight']}] {f['label']}：{'、'.join(b['name'] for b in f['bidders'])} {f['evidence']}"
            )

    emit(out, as_json, render)


@app.command("groups")
@handle_errors
def groups(
    level: str | None = typer.Option(None, help="high / medium / low"),
    limit: int = typer.Option(20, min=1),
    as_json: bool = JsonOption,
) -> None:
    """关联投标人群体，按风险排序（最近一次分析）。"""
    with clikit.database().session(write=False) as session:
        out = trading.ranked_groups(trading.get_analysis(session), level=level, limit=limit)

    def render(d: dict[str, Any]) -> None:
        t = Table("排名", "成员", "项目数", "风险分", "等级", "标记")
        for g in d["items"]:
            t.add_row(
                str(g["rank"]),
                "、".join(m["name"] for m in g["members"]),
                str(g["tenders"]),
                str(g["score"]),
                LEVELS[g["level"]],
                "、".join(f"{k}×{v}" for k, v in g["flags"].items()),
            )
        clikit.console.print(t)

    emit(out, as_json, render)


@app.command("bidders")
@handle_errors
def bidders(
    q: str | None = typer.Option(None, help="名称关键词或统一社会信用代码"),
    order: str = typer.Option("bids", help="bids / wins / amount"),
    limit: int = typer.Option(20, min=1),
    as_json: bool = JsonOption,
) -> None:
    """投标人的投标参与情况与中标情况。"""
    with clikit.database().session(write=False) as session:
        out = trading.bidder_stats(session, q=q, order=order, limit=limit)

    def render(d: dict[str, Any]) -> None:
        t = Table("投标人", "统一社会信用代码", "投标次数", "中标次数", "中标率", "中标金额(元)")
        for b in d["items"]:
            t.add_row(
                b["bidder_name"],
                b["bidder_uscc"] or "",
                str(b["bids"]),
                str(b["wins"]),
                f"{b['win_rate']:.0%}",
                f"{b['amount_won']:,.2f}",
            )
        clikit.console.print(t)

    emit(out, as_json, render)


@app.command("food-drug")
@handle_errors
def food_drug_cmd(
    level: str | None = typer.Option(None, help="high / medium / low"),
    limit: int = typer.Option(30, min=1),
    as_json: bool = JsonOption,
) -> None:
    """食品药品风险等级及原因。"""
    with clikit.database().session(write=False) as session:
        out = food_drug.risk_levels(session, level=level, limit=limit)
    emit(out, as_json, _render_risks)


def _render_risks(rows: list[dict[str, Any]]) -> None:
    t = Table("主体", "统一社会信用代码", "风险分", "等级", "原因")
    for r in rows:
        t.add_row(
            r["name"] or str(r["subject_id"]),
            r["uscc"] or "",
            str(r["score"]),
            r["level_label"],
            "；".join(x["text"] for x in r["reasons"]),
        )
    clikit.console.print(t)


@app.command("watchlist")
@handle_errors
def watchlist(
    include_medium: bool = typer.Option(False, "--include-medium", help="同时列出中风险主体"),
    xlsx: Path | None = typer.Option(None, "--xlsx", help="另存为 Excel 文件"),
    as_json: bool = JsonOption,
) -> None:
    """食品药品监管关注名单（可导出 Excel）。"""
    today = clock.today()
    with clikit.database().session(write=False) as session:
        rows = food_drug.watch_list(session, today=today, include_medium=include_medium)
    if xlsx:
        xlsx.write_bytes(food_drug.watch_list_xlsx(rows, today=today))
    emit(rows, as_json, _render_risks)


# Department assessment (督查考核) ------------------------------------------------------------------------------


@app.command("assessment")
@handle_errors
def assessment_cmd(
    period: str | None = PeriodOption,
    explain: bool = typer.Option(False, "--explain", help="逐项列出得分构成"),
    as_json: bool = JsonOption,
) -> None:
    """督查考核排名：总分、名次及每项得分的构成（应报、已报、按时、迟报、退回……）。"""
    with clikit.database().session(write=False) as session:
        out = assessment.assess(session, period=assessment.parse_period(period))

    def render(d: dict[str, Any]) -> None:
        inds = d["method"]["indicators"]
        clikit.console.print(
            f"{d['method']['title']}（{d['period']['label']}，{d['period']['date_from']} 至 {d['period']['date_to']}）"
        )
        t = Table("排名", "部门", "总分", *(f"{i['name']}/{i['weight']:g}" for i in inds))
        for r in d["rows"]:
            t.add_row(
                str(r["rank"]),
                r["department_name"],
                f"{r['total']:g}",
                *(f"{r['indicators'][i['code']]['points']:g}" for i in inds),
            )
        clikit.console.print(t)
        if explain:
            for r in d["rows"]:
                clikit.console.print(f"{r['rank']}. {r['department_name']}：{r['summary']}")
                for i in inds:
                    clikit.console.print(f"   {i['name']}：{r['indicators'][i['code']]['explanation']}")
        clikit.console.print("无数据（—）的指标不得分；总分 = 100 × 各项得分之和 ÷ 全部指标权重之和")

    emit(out, as_json, render)


@expected_app.command("list")
@handle_errors
def expected_list(period: str | None = PeriodOption, as_json: bool = JsonOption) -> None:
    """配置的应报量，以及考核期间各部门实际采用的应报量（配置或近 12 个月中位数）与已报量。"""
    with clikit.database().session(write=False) as session:
        p = assessment.parse_period(period)
        out = {
            "period": {**p.to_dict(), **assessment.period_label(p)},
            "configured": volumes.list_expected(session),
            "departments": volumes.volume(session, period=p),
        }

    def render(d: dict[str, Any]) -> None:
        t = Table("部门", "信息类别", "依据", "每月", "应报", "已报")
        for row in d["departments"]:
            for c in row["classes"]:
                t.add_row(
                    row["department_name"],
                    c["name"],
                    c["basis_text"],
                    "—" if c["monthly"] is None else f"{c['monthly']:g}",
                    "—" if c["expected"] is None else str(c["expected"]),
                    str(c["submitted"]),
                )
        clikit.console.print(f"{d['period']['label']}（{d['period']['date_from']} 至 {d['period']['date_to']}）")
        clikit.console.print(t)

    emit(out, as_json, render)


@expected_app.command("set")
@handle_errors
def expected_set(
    department: str = typer.Argument(..., help="部门代码"),
    info_class: str = typer.Argument(..., help="licence（行政许可）/ penalty（行政处罚）"),
    monthly: int = typer.Argument(..., help="每月应报条数"),
    note: str | None = typer.Option(None, "--note", help="依据或备注"),
    as_json: bool = JsonOption,
) -> None:
    """配置部门某类信息的每月应报量（记入审计日志）。"""
    out = clikit.database().run(
        lambda session: volumes.set_expected(
            session,
            actor=clikit.operator(),
            department_code=department,
            info_class_=info_class,
            monthly=monthly,
            note=note,
        )
    )
    emit(
        out,
        as_json,
        lambda d: clikit.console.print(f"{d['department_name']} {d['info_class_name']}：每月应报 {d['monthly']} 条"),
    )


@expected_app.command("delete")
@handle_errors
def expected_delete(
    department: str = typer.Argument(..., help="部门代码"),
    info_class: str = typer.Argument(..., help="licence / penalty"),
    as_json: bool = JsonOption,
) -> None:
    """删除配置的应报量（此后按该部门近 12 个月报送量中位数；记入审计日志）。"""
    out = clikit.database().run(
        lambda session: volumes.delete_expected(
            session, actor=clikit.operator(), department_code=department, info_class_=info_class
        )
    )
    emit(
        out,
        as_json,
        lambda d: clikit.console.print(f"已删除 {d['department_name']} {d['info_class_name']}的应报量配置"),
    )
