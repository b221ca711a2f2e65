"""`xinyong portal …`: the credit office's publications on the portal — 红黑榜 releases (publish, list, show).

Mounted by ``cli.py`` (``COMMANDS["portal"]``).
"""

from __future__ import annotations

from typing import Any

import typer

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.publications import releases

app = typer.Typer(help="门户发布：红黑榜定期发布", no_args_is_help=True)
releases_app = typer.Typer(help="红黑榜：按统计期发布新列入红名单、黑名单的公开条目", no_args_is_help=True)
app.add_typer(releases_app, name="releases")


@releases_app.command("publish")
@handle_errors
def publish(
    period: str = typer.Option(..., "--period", help="统计期（月份），如 2026-11；须已结束"),
    note: str = typer.Option("", "--note", help="编者按（可选）"),
    as_json: bool = JsonOption,
) -> None:
    """发布一期红黑榜：统计期内列入、今日仍公开的红名单和黑名单条目，按年度编号（如〔2026〕第12期）。"""
    start, end = releases.period_of(period)
    with clikit.database().session() as session:
        release = releases.publish_release(session, actor=clikit.operator(), start=start, end=end, note=note)
        view = releases.release_view(release)

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(f"已发布 {d['label']} {d['title']}：{d['total']} 条（/releases/{d['number']}）")
        for c in d["counts"]:
            clikit.console.print(f"  {c['list_name']}：{c['count']} 条")

    emit(view, as_json, render)


@releases_app.command("list")
@handle_errors
def list_(as_json: bool = JsonOption) -> None:
    """已发布的红黑榜，新的在前。"""
    with clikit.database().session(write=False) as session:
        views = [releases.release_view(r) for r in releases.list_releases(session, limit=1000)]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            clikit.console.print("尚未发布红黑榜")
        for d in items:
            clikit.console.print(
                f"{d['number']}\t{d['label']}\t{d['period']}\t{d['total']} 条\t发布于 {d['published_on']}"
            )

    emit(views, as_json, render)


@releases_app.command("show")
@handle_errors
def show(number: str = typer.Argument(..., help="期号，如 2026-12"), as_json: bool = JsonOption) -> None:
    """一期红黑榜及其今日仍公开的条目（已移出名单的条目不再列出）。"""
    with clikit.database().session(write=False) as session:
        release = releases.get_release(session, number)
        view = {**releases.release_view(release), "entries": releases.release_entries(session, release)}

    def render(d: dict[str, Any]) -> None:
        clikit.console.print(f"{d['label']} {d['title']}（发布于 {d['published_on']}）")
        for e in d["entries"]:
            clikit.console.print(f"  {e['list_name']}\t{e['party_name']}\t{e['party_code'] or ''}\t{e['listed_on']}")

    emit(view, as_json, render)
