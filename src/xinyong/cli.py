"""The ``xinyong`` command line. Each domain contributes its commands from its ``commands.py``."""

from __future__ import annotations

import os
from typing import Optional

import typer

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors

app = typer.Typer(
    name="xinyong",
    help="xinyong 公共信用信息平台 — 运维与管理命令。数据库由 --db 或 XINYONG_DATABASE_URL 指定。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    db: Optional[str] = typer.Option(None, "--db", help="数据库 URL（覆盖 XINYONG_DATABASE_URL）", envvar=None),
) -> None:
    if db:
        clikit.state.db_url = db
        os.environ["XINYONG_DATABASE_URL"] = db
        from xinyong.core.settings import reset_settings

        reset_settings()


db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@handle_errors
def db_upgrade(revision: str = typer.Argument("head"), as_json: bool = JsonOption) -> None:
    """应用数据库迁移（默认到最新版本）。"""
    from xinyong.catalog.service import ensure_seeded
    from xinyong.core.migrate import upgrade

    db = clikit.database()
    rev = upgrade(db.url, revision)
    seeded = None
    if revision == "head":
        from xinyong.lists.service import ensure_seeded as ensure_list_types
        from xinyong.measures.service import ensure_seeded as ensure_measures

        with db.session() as session:
            seeded = ensure_seeded(session, actor=clikit.operator())
            ensure_list_types(session, actor=clikit.operator())
            ensure_measures(session, actor=clikit.operator())

    def render(d: dict) -> None:
        clikit.console.print(f"数据库已升级到 {d['revision']} ({d['database']})")
        if d["catalog_seeded"]:
            clikit.console.print(f"已载入信用信息目录默认值：{len(d['catalog_seeded'])} 个信息类")

    emit({"database": db.engine.url.render_as_string(hide_password=True), "revision": rev,
          "catalog_seeded": seeded.created if seeded else []}, as_json, render)


@db_app.command("current")
@handle_errors
def db_current(as_json: bool = JsonOption) -> None:
    """显示数据库当前的迁移版本与代码中的最新版本。"""
    from xinyong.core.migrate import current_revision, head_revision

    db = clikit.database()
    with db.engine.connect() as conn:
        cur = current_revision(conn)
    head = head_revision()
    emit({"current": cur, "head": head, "up_to_date": cur == head}, as_json,
         lambda d: clikit.console.print(f"当前 {d['current']}，最新 {d['head']}"))
    if cur != head:
        raise typer.Exit(1)


def _register() -> None:
    from xinyong.analytics import commands as analytics_cmds
    from xinyong.auth import commands as auth_cmds
    from xinyong.cases import commands as cases_cmds
    from xinyong.catalog import commands as catalog_cmds
    from xinyong.commitments import commands as commitments_cmds
    from xinyong.core import audit_commands
    from xinyong.demo import commands as demo_cmds
    from xinyong.identifiers import commands as id_cmds
    from xinyong.ingest import commands as ingest_cmds
    from xinyong.lists import commands as lists_cmds
    from xinyong.measures import commands as measures_cmds
    from xinyong.records import commands as records_cmds
    from xinyong.subjects import commands as subject_cmds
    from xinyong.watches import commands as watches_cmds
    from xinyong.web import commands as web_cmds

    for module in (auth_cmds, id_cmds, ingest_cmds, web_cmds, demo_cmds, measures_cmds):
        module.register(app)
    app.add_typer(catalog_cmds.app, name="catalog")
    app.add_typer(subject_cmds.app, name="subjects")
    app.add_typer(records_cmds.app, name="records")
    app.add_typer(audit_commands.app, name="audit")
    app.add_typer(lists_cmds.app, name="lists")
    app.add_typer(measures_cmds.app, name="measures")
    app.add_typer(watches_cmds.app, name="watches")
    app.add_typer(commitments_cmds.app, name="commitments")
    app.add_typer(cases_cmds.app, name="cases")
    from xinyong.evaluation import commands as evaluation_cmds
    app.add_typer(evaluation_cmds.app, name="evaluation")
    app.add_typer(analytics_cmds.app, name="analytics")
    from xinyong.reports import commands as reports_cmds
    app.add_typer(reports_cmds.app, name="reports")


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
