"""`xinyong evaluation …`: models, runs, a subject's grades with their explanation, and the 双随机 sampling list.

Mounted by ``cli.py`` as ``app.add_typer(evaluation_cmds.app, name="evaluation")``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.table import Table

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed
from xinyong.evaluation import service, supervision
from xinyong.subjects.service import get_subject

app = typer.Typer(help="信用评价与分级分类监管（模型、评价、解释、抽查名单）", no_args_is_help=True)


def _since(value: str | None) -> dt.datetime | str | None:
    if value is None or value == "last":
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"--changed-since 应为 last 或 ISO 时间（如 2026-06-01T00:00:00+08:00）：{value!r}",
            code="bad_changed_since",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@app.command("models")
@handle_errors
def models(
    load: bool = typer.Option(True, "--load/--no-load", help="先载入随软件发布的模型新版本"), as_json: bool = JsonOption
) -> None:
    """列出当前评价模型（指标、权重、等级与抽查比例）。"""
    with clikit.database().session(write=False) as session:
        report = service.load_models(session, actor=clikit.operator()) if load else None
        views = [service.model_view(m) for m in service.current_models(session)]

    def render(vs: list[dict[str, Any]]) -> None:
        if report and report["added"]:
            clikit.console.print(f"新载入：{', '.join(report['added'])}")
        for v in vs:
            clikit.console.print(
                f"[bold]{v['name']}[/bold]（{v['code']}@{v['version']}，信息类别 {v['info_class']}，"
                f"可信度 {v['confidence']}）"
            )
            t = Table("维度", "指标", "规则")
            for i in v["indicators"]:
                t.add_row(i["dimension"], i["name"], i["rule"])
            clikit.console.print(t)
            for line in v["grade_rules"]:
                clikit.console.print(f"  {line}")
            for o in v["overrides"]:
                clikit.console.print(f"  修正：{o['text']}")

    emit(views, as_json, render)


@app.command("run")
@handle_errors
def run(
    model: str | None = typer.Option(None, "--model", help="模型代码（默认全部当前模型）"),
    subjects: list[str] | None = typer.Option(None, "--subjects", help="只评价这些主体（代码，可重复）"),
    changed_since: str | None = typer.Option(
        None, "--changed-since", help="只评价此后数据有变化的主体：last（上次评价以来）或 ISO 时间"
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="评价基准日（默认今天）"),
    as_json: bool = JsonOption,
) -> None:
    """运行评价：默认评价全部主体；指定主体或 --changed-since 时只评价这些主体。"""
    day = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ValidationFailed(f"--as-of 应为 YYYY-MM-DD：{as_of!r}", code="bad_date") from None
    with clikit.database().session() as session:
        runs = service.run_evaluation(
            session,
            actor=clikit.operator(),
            model=model,
            subject_codes=subjects or [],
            changed_since=_since(changed_since),
            as_of=day,
        )

    def render(rs: list[dict[str, Any]]) -> None:
        t = Table("模型", "范围", "评价", "变化", "等级变化", "移出", "事件", "分布", "秒")
        for r in rs:
            t.add_row(
                f"{r['model']}@{r['version']}",
                r["scope"],
                str(r["evaluated"]),
                str(r["changed"]),
                str(r["grade_changed"]),
                str(r["removed"]),
                str(r["events"]),
                " ".join(f"{k}:{v}" for k, v in r["distribution"].items()),
                str(r["seconds"]),
            )
        clikit.console.print(t)

    emit(runs, as_json, render)


def _results(code: str, *, history: bool) -> list[dict[str, Any]]:
    with clikit.database().session() as session:
        subject = get_subject(session, code)
        return service.subject_results(session, subject, role="admin", history=history)


@app.command("show")
@handle_errors
def show(code: str = typer.Argument(..., help="统一社会信用代码等主体代码"), as_json: bool = JsonOption) -> None:
    """查看主体在各模型下的当前等级、得分与等级历史。"""
    results = _results(code, history=True)

    def render(rs: list[dict[str, Any]]) -> None:
        if not rs:
            clikit.console.print("该主体尚无评价结果")
        for r in rs:
            clikit.console.print(
                f"[bold]{r['model_name']}[/bold]：{r['grade']}（{r['grade_label']}），得分 {r['score']}，"
                f"评价基准日 {r['as_of']}，抽查比例 {r['sampling_ratio']:.0%}"
            )
            for h in r["history"]:
                clikit.console.print(
                    f"  {h['as_of']}  {h['from_grade'] or '—'} → {h['to_grade'] or '（移出评价范围）'}"
                    f"  {h['to_score'] if h['to_score'] is not None else ''}"
                )

    emit(results, as_json, render)


@app.command("explain")
@handle_errors
def explain(code: str = typer.Argument(..., help="统一社会信用代码等主体代码"), as_json: bool = JsonOption) -> None:
    """逐项解释主体的当前等级：每个指标的取值、得分和规则，得分构成与定级理由。"""
    results = _results(code, history=False)

    def render(rs: list[dict[str, Any]]) -> None:
        if not rs:
            clikit.console.print("该主体尚无评价结果")
        for r in rs:
            e = r["explanation"]
            clikit.console.print(f"[bold]{r['model_name']}[/bold]（{r['model']}@{r['version']}，基准日 {r['as_of']}）")
            t = Table("维度", "指标", "取值", "得分", "规则")
            for line in e["lines"]:
                t.add_row(
                    line["dimension"],
                    line["name"],
                    f"{line['value']:g}{line['unit']}",
                    f"{line['points']:+g}",
                    line["rule"],
                )
            clikit.console.print(t)
            clikit.console.print(e["score_text"])
            clikit.console.print(e["grade_text"])
            clikit.console.print(
                f"监管：{e['supervision']['text']}（抽查比例 {e['supervision']['sampling_ratio']:.0%}）"
            )

    emit(results, as_json, render)


@app.command("sample")
@handle_errors
def sample(
    department: str = typer.Option(..., "--department", help="部门代码"),
    period: str = typer.Option(..., "--period", help="抽查期间：YYYY、YYYY-MM 或 YYYY-Qn"),
    seed: int = typer.Option(..., "--seed", help="随机种子（公开后可复现抽查结果）"),
    model: str = typer.Option("public_credit_legal_person", "--model", help="模型代码"),
    as_json: bool = JsonOption,
) -> None:
    """生成部门某期间的双随机抽查名单（按信用等级确定抽查比例，附每户被抽中的理由）。"""
    with clikit.database().session() as session:
        result = supervision.sample(
            session, actor=clikit.operator(), department=department, period=period, seed=seed, model=model
        )

    def render(r: dict[str, Any]) -> None:
        clikit.console.print(
            f"{r['department_name']} {r['period']} 双随机抽查名单（{r['model_name']}，种子 {r['seed']}，"
            f"摘要 {r['digest'][:16]}）：对象库 {r['pool_size']} 户，抽中 {r['drawn']} 户"
        )
        g = Table("等级", "对象数", "比例", "抽中", "监管措施")
        for row in r["grades"]:
            g.add_row(
                f"{row['grade']} {row['label']}",
                str(row["pool"]),
                f"{row['sampling_ratio']:.0%}",
                str(row["drawn"]),
                row["supervision"],
            )
        clikit.console.print(g)
        t = Table("名称", "统一社会信用代码", "等级", "理由")
        for s in r["subjects"][:200]:
            t.add_row(s["name"] or "", s["uscc"] or "", s["grade"], s["reason"])
        clikit.console.print(t)
        if len(r["subjects"]) > 200:
            clikit.console.print(f"……共 {len(r['subjects'])} 户，完整名单请用 --json")

    emit(result, as_json, render)
