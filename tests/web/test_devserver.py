"""``xinyong.web.devserver``: the helper the load test, the browser tests and the HTTP benches start the app with.
Starting the app for real is covered by those; here only what they do not exercise."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from xinyong.web import devserver


def test_free_port_is_free() -> None:
    port = devserver.free_port()
    with socket.socket() as s:
        s.bind((devserver.HOST, port))


def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with pytest.raises(devserver.ServerDidNotStart) as raised:
        devserver.start(
            f"sqlite:///{tmp_path / 'x.db'}", log=log, cwd=tmp_path, timeout=30, uvicorn_args=["--no-such-option"]
        )
    assert "did not start (exit 2)" in str(raised.value)
    assert "--no-such-option" in str(raised.value)  # uvicorn's usage error, from the log
