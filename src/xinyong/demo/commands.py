"""`xinyong demo`: build the demo city (if absent) and serve it."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.table import Table
from sqlalchemy import select

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.core.db import forget_databases
from xinyong.core.errors import ValidationFailed
from xinyong.core.migrate import upgrade
from xinyong.core.settings import get_settings
from xinyong.subjects.models import Subject


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo(
        host: str = typer.Option("127.0.0.1", help="监听地址"),
        port: int = typer.Option(8000, min=1, max=65535, help="端口"),
        build_only: bool = typer.Option(False, "--build-only", help="只构建演示数据库，不启动服务"),
        size: int | None = typer.Option(None, "--size", min=10, help="法人数量（默认 20000；基准测试用 1000000）"),
        rebuild: bool = typer.Option(False, "--rebuild", help="删除已有演示数据库后重建（仅 SQLite）"),
        fast: bool = typer.Option(
            False,
            "--fast",
            help="省级规模快速构建（仅 PostgreSQL）：先建小型演示城市，再以集合 SQL 批量生成 --size 个法人及其记录",
        ),
        records: int | None = typer.Option(
            None, "--records", min=0, help="与 --fast 同用：行政许可和处罚记录数（默认 2×法人数）"
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """构建沁阳市演示数据（合成、可重复）并启动平台；使用默认数据库（./var/xinyong.db），已有数据时直接启动。"""
        settings = get_settings()
        # A build takes minutes: on a terminal (and not --json) its steps show on stderr as they go.
        if fast:
            if size is None:
                raise ValidationFailed("--fast 需要 --size", code="fast_needs_size")
            if clikit.database().dialect != "postgresql":
                raise ValidationFailed("--fast 只用于 PostgreSQL", code="fast_postgresql_only")
            result = build_demo(size=FAST_CITY_SIZE, rebuild=rebuild, show_progress=not as_json and sys.stdout.isatty())
            result["bulk"] = build_fast(size, size * 2 if records is None else records, quiet=as_json)
        else:
            result = build_demo(size=size, rebuild=rebuild, show_progress=not as_json and sys.stdout.isatty())

        def render(r: dict) -> None:
            c = clikit.console
            c.print(
                f"[bold green]{settings.city_name}演示城市[/bold green] 数据库：{r['database']}"
                + ("（已存在，直接使用）" if not r["built"] else f"（构建用时 {r['seconds']} 秒）")
            )
            summary = r["credentials"].get("summary", {})
            if summary:
                c.print(
                    f"主体：法人 {summary['size']['legal_persons']}，个体工商户 "
                    f"{summary['size']['individual_businesses']}，自然人 {summary['size']['natural_persons']}"
                )
                debtor = (summary.get("related_persons") or {}).get("debtor_company")
                if debtor:
                    c.print(
                        f"关联人员示例：{debtor['legal_rep']} 是失信被执行人 {debtor['name']}（{debtor['uscc']}）的法定代表人；"
                        f"任职核查：xinyong check {debtor['legal_rep_resident_id']} --scenario hiring",
                        markup=False,
                    )
            t = Table("用户名", "角色", "部门", title=f"演示账号（密码均为 {r['credentials']['password']}）")
            for u in r["credentials"]["users"][:8]:
                t.add_row(u["username"], u["role"], u["department"] or "")
            c.print(t)
            c.print(f"（共 {len(r['credentials']['users'])} 个账号，完整列表见 {r['credentials_file']}）")
            c.print("[bold]演示 API 令牌[/bold]（请求头 Authorization: Bearer <令牌>）：")
            for tok in r["credentials"]["tokens"]:
                c.print(f"  {tok['name']}（{tok['role']}）", markup=False)
                c.print(f"    {tok['token']}", markup=False, soft_wrap=True)
            if not build_only:
                c.print(f"门户：http://{host}:{port}/   API 文档：http://{host}:{port}/api/docs")
                c.print(
                    f"门户验证码（演示联系人）：管理员登录后见 http://{host}:{port}/console/outbox（演示短信/邮件发件箱）"
                )

        emit(result, as_json, render)
        if not build_only:
            # lazy: the web app (FastAPI and every router) is loaded only to serve
            from xinyong.web.commands import serve_app

            # The served platform knows it is the demo (Settings.demo): the admin's console shows the demo outbox.
            os.environ["XINYONG_DEMO"] = "1"
            get_settings.cache_clear()
            serve_app(host=host, port=port, migrate=False)


#: Legal persons of the demo city built through the services before the set-based bulk (``--fast``).
FAST_CITY_SIZE = 2_000


def build_fast(subjects: int, records: int, *, quiet: bool = False) -> dict:
    """The set-based bulk of :mod:`xinyong.demo.bulk` on the demo city's database (PostgreSQL), once: a database
    that holds bulk subjects already is left as it is."""
    from sqlalchemy import text

    # lazy: only `xinyong demo --fast`
    from xinyong.demo.bulk import build_bulk

    db = clikit.database()
    if db.dialect != "postgresql":
        raise ValidationFailed("--fast 只用于 PostgreSQL", code="fast_postgresql_only")
    with db.engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM subjects WHERE source = 'bulk' LIMIT 1")).first():
            return {"built": False}
        say = (lambda _m: None) if quiet else (lambda m: print(f"批量构建 {m}", file=sys.stderr, flush=True))
        return {"built": True, **build_bulk(conn, subjects=subjects, records=records, say=say)}


@contextmanager
def _progress_display(show: bool) -> Iterator[Callable[[str], None] | None]:
    """A Rich progress display on stderr for :func:`xinyong.demo.city.build`'s steps, or ``None`` (nothing shown)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from xinyong.demo.city import BUILD_STEPS

    with Progress(
        SpinnerColumn(),
        TextColumn("构建演示城市：{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(BUILD_STEPS[0], total=len(BUILD_STEPS))
        started = False

        def advance(name: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=name)

        yield advance
        bar.update(task, completed=len(BUILD_STEPS), description="完成")


def build_demo(*, size: int | None = None, rebuild: bool = False, show_progress: bool = False) -> dict:
    db = clikit.database()
    workdir = get_settings().data_dir / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    creds_file = workdir / "demo-credentials.json"
    if rebuild:
        if db.dialect != "sqlite":
            raise ValidationFailed(
                "--rebuild 只用于 SQLite 演示数据库；PostgreSQL 请先手动清空数据库", code="rebuild_sqlite_only"
            )
        path = db.engine.url.database
        forget_databases()
        for suffix in ("", "-wal", "-shm"):
            if path and os.path.exists(path + suffix):
                os.remove(path + suffix)
        creds_file.unlink(missing_ok=True)
        db = clikit.database()
    upgrade(db.url)
    started = time.perf_counter()
    with db.session() as session:
        populated = session.scalar(select(Subject.id).limit(1)) is not None
    built = False
    if not populated:
        # lazy: the city builder loads faker and every domain; an existing demo database needs none of it
        from xinyong.demo.city import DemoSize, build

        demo_size = DemoSize.scaled(size) if size else DemoSize()
        with _progress_display(show_progress) as progress, db.session() as session:
            build(session, actor=clikit.operator(), workdir=workdir, size=demo_size, progress=progress)
        built = True
    creds = json.loads(creds_file.read_text()) if creds_file.exists() else {"password": "?", "users": [], "tokens": []}
    return {
        "database": db.engine.url.render_as_string(hide_password=True),
        "built": built,
        "seconds": round(time.perf_counter() - started, 1),
        "credentials_file": str(creds_file),
        "credentials": creds,
    }
