"""Start the real app under uvicorn on a free loopback port, for tests and benchmarks (not for production: use
``xinyong serve`` or a process manager running ``uvicorn xinyong.web.asgi:app``).

The server is a subprocess, ``python -m uvicorn xinyong.web.asgi:app`` with the database and data directory given
in its environment; :func:`start` returns once ``/healthz`` answers 200, and raises :class:`ServerDidNotStart` (with
the end of the server's output when it went to a log file) if the process exits or does not answer in time.

    with devserver.start(db_url, data_dir=tmp / "data", log=tmp / "server.log") as server:
        httpx.get(server.base_url + "/healthz")

Used by ``tests/web/test_concurrent_load.py``, ``tests/browser/conftest.py`` and the HTTP benchmarks in ``bench/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
APP = "xinyong.web.asgi:app"


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer ``/healthz`` in time; the message ends with its log (if any)."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on at the moment (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: where it answers, its process and where its output goes (``None``: the caller's)."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self, last: int | None = None) -> str:
        """What the server wrote to its log file (the last ``last`` characters), ``""`` without one."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace")
        return text[-last:] if last else text

    def stop(self, timeout: float = 15) -> None:
        """Terminate the server (SIGTERM: uvicorn shuts down gracefully), kill it if it has not exited in time."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(
    database_url: str,
    *,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    keep_env: bool = False,
    workers: int = 1,
    port: int | None = None,
    log: Path | None = None,
    uvicorn_args: Sequence[str] = (),
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start ``uvicorn xinyong.web.asgi:app`` on ``127.0.0.1:port`` (a free port by default) and wait until it answers.

    The server's environment is the caller's without its ``XINYONG_*`` variables (a developer's SMS gateway or rate
    limits stay out; ``keep_env=True`` keeps them), then ``XINYONG_DATABASE_URL``, ``XINYONG_DATA_DIR`` (if given)
    and ``env``. ``log``: a file for the server's output (stdout and stderr), else it shares the caller's.
    ``uvicorn_args`` are added to the command line (``--loop uvloop``, ``--log-level warning`` …).
    """
    port = port or free_port()
    child_env = {k: v for k, v in os.environ.items() if keep_env or not k.startswith("XINYONG_")}
    child_env["XINYONG_DATABASE_URL"] = database_url
    if data_dir is not None:
        child_env["XINYONG_DATA_DIR"] = str(data_dir)
    child_env.update(env or {})
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        *uvicorn_args,
    ]
    if log is None:
        process = subprocess.Popen(command, env=child_env, cwd=cwd)
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=child_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    server = Server(base_url=f"http://{HOST}:{port}", port=port, process=process, log=log)

    try:
        _wait_until_up(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: Server, timeout: float) -> None:
    # lazy: httpx costs 0.25 s; importing this module (e.g. for free_port) should cost nothing
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise ServerDidNotStart(
                f"the server did not start (exit {server.process.returncode})"
                + (f":\n{server.log_text(3000)}" if server.log else "")
            )
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServerDidNotStart(
                f"the server did not answer within {timeout:.0f} s"
                + (f":\n{server.log_text(3000)}" if server.log else "")
            )
        time.sleep(0.1)
