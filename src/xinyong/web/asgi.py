"""ASGI entry point for process managers: ``uvicorn xinyong.web.asgi:app`` (database from the environment)."""

from xinyong.web.app import create_app

app = create_app()
