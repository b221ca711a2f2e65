"""`xinyong serve`."""

from __future__ import annotations

import typer
import uvicorn

from xinyong.catalog.service import ensure_seeded
from xinyong.core import clikit
from xinyong.core.migrate import upgrade


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="监听地址"),
        port: int = typer.Option(8000, min=1, max=65535, help="端口"),
        workers: int = typer.Option(1, min=1, help="进程数（PostgreSQL 时可 >1）"),
        migrate: bool = typer.Option(True, help="启动前应用数据库迁移"),
    ) -> None:
        """启动 Web 服务（门户、控制台与 /api/v1）。"""
        serve_app(host=host, port=port, workers=workers, migrate=migrate)


def serve_app(*, host: str, port: int, workers: int = 1, migrate: bool = True) -> None:

    db = clikit.database()
    if migrate:
        upgrade(db.url)
        with db.session() as session:
            ensure_seeded(session, actor=clikit.operator())
    if workers > 1:
        uvicorn.run("xinyong.web.asgi:app", host=host, port=port, workers=workers, log_level="info")
    else:
        # lazy: with several workers each worker process builds the app (xinyong.web.asgi), not this one
        from xinyong.web.app import create_app

        uvicorn.run(create_app(db), host=host, port=port, log_level="info")
