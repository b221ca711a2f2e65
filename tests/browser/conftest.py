"""Browser tests: Playwright driving Debian's Chromium against the real app served by uvicorn.

Once per test session: a fresh SQLite database is created and seeded (``seed.build``), then
``python -m uvicorn xinyong.web.asgi:app`` is started in a subprocess (``xinyong.web.devserver``) on a free loopback
port with that database and its own data directory (the notification log channel writes there). Each test gets a new
browser context (no cookies shared between tests) and page.

The browser is ``/usr/bin/chromium`` (``XINYONG_CHROMIUM`` to use another binary); Playwright never downloads one.
Without it (or without the ``playwright`` package) the tests are skipped with the reason, unless
``XINYONG_TEST_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which turns that into a failure.

Screenshots go to ``XINYONG_SCREENSHOTS`` (default ``test-output/screenshots/`` at the repository root, git-ignored)
and are listed at the end of the run. Chinese text renders with the platform's vendored report font
(``xinyong/reports/fonts``) through a private fontconfig file, so no system CJK font is needed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.browser import seed
from xinyong.web import devserver

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("XINYONG_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("XINYONG_TEST_REQUIRE_BROWSER") == "1"
SECRET = "browser-test-secret-not-for-production"
FONT_DIR = REPO / "src" / "xinyong" / "reports" / "fonts"
#: Generous for a shared 2-core CI machine; a healthy page answers in milliseconds.
TIMEOUT_MS = 15_000

_written: list[Path] = []


def screenshot_dir() -> Path:
    return Path(os.environ.get("XINYONG_SCREENSHOTS") or REPO / "test-output" / "screenshots")


def _browser_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set XINYONG_CHROMIUM)"
    return None


def _need_browser() -> None:
    problem = _browser_problem()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser tests required (XINYONG_TEST_REQUIRE_BROWSER=1) but {problem}", pytrace=False)
        pytest.skip(f"browser tests skipped: {problem}")


@dataclass
class Live:
    """The running app: where it answers, its database and data directory, and what was seeded."""

    base_url: str
    db_url: str
    data_dir: Path
    city: seed.City
    log_path: Path

    def deliver_notifications(self) -> None:
        """Flush the outbox in the server process (what ``xinyong cases notify`` does on a schedule)."""
        resp = httpx.post(
            f"{self.base_url}/api/v1/cases/notifications/deliver",
            headers={"Authorization": f"Bearer {self.city.admin_token}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text

    def messages(self, address: str) -> list[dict[str, str]]:
        """Messages the log channel wrote to ``<data dir>/notifications.log`` for this address, oldest first."""
        path = self.data_dir / "notifications.log"
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [m for m in lines if m["to"] == address]

    def one_time_code(self, address: str) -> str:
        """Deliver pending messages and return the newest one-time code sent to ``address``."""
        self.deliver_notifications()
        for message in reversed(self.messages(address)):
            found = re.search(r"验证码 (\d{6})", message["body"])
            if found:
                return found.group(1)
        raise AssertionError(f"no one-time code was sent to {address}: {self.messages(address)}")


def _seed_database(db_url: str, data_dir: Path) -> seed.City:
    from xinyong.core.db import Database
    from xinyong.core.settings import reset_settings
    from xinyong.models import Base

    # The seeding encrypts contacts with the vault: it must use the server's secret, not a developer's ./var.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XINYONG_DATA_DIR", str(data_dir))
        mp.setenv("XINYONG_SECRET_KEY", SECRET)
        mp.delenv("XINYONG_DATABASE_URL", raising=False)
        reset_settings()
        db = Database(db_url)
        try:
            Base.metadata.create_all(db.engine)
            with db.sessionmaker() as session:
                return seed.build(session)
        finally:
            db.dispose()
            reset_settings()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    _need_browser()
    root = tmp_path_factory.mktemp("browser")
    data_dir = root / "data"
    data_dir.mkdir()
    db_url = f"sqlite:///{root / 'xinyong.db'}"
    city = _seed_database(db_url, data_dir)
    port = devserver.free_port()
    log_path = root / "server.log"
    try:
        # Only this run's settings: a developer's XINYONG_* variables (an SMS gateway, rate limits) stay out.
        server = devserver.start(
            db_url,
            data_dir=data_dir,
            port=port,
            log=log_path,
            cwd=root,
            env={"XINYONG_SECRET_KEY": SECRET, "XINYONG_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
        )
    except devserver.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    with server:
        yield Live(base_url=server.base_url, db_url=db_url, data_dir=data_dir, city=city, log_path=log_path)


@pytest.fixture(scope="session")
def browser(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    fonts = tmp_path_factory.mktemp("fontconfig")
    (fonts / "fonts.conf").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n<fontconfig>\n'
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{FONT_DIR}</dir>\n  <cachedir>{fonts / 'cache'}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, env={**os.environ, "FONTCONFIG_FILE": str(fonts / "fonts.conf")}
        )
        yield b
        b.close()


@pytest.fixture
def new_page(browser, live: Live) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A factory of pages (``new_page(viewport={...})`` for a phone), each in its own browser context (own cookies: a citizen and an operator can work side
    by side). At the end of the test no page may have reported a script error, CSP violation or failed load, and
    the server may have logged no traceback."""
    contexts = []
    problems: list[str] = []
    log_start = live.log_path.stat().st_size

    def make(viewport: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
        context = browser.new_context(
            base_url=live.base_url,
            locale="zh-CN",
            accept_downloads=True,
            viewport=viewport or {"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"{page.url}: script error {exc}"))
        page.on(
            "console",
            lambda msg: (
                problems.append(f"{page.url}: console {msg.text}")
                if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                else None
            ),
        )
        # Failed loads are reported by address instead (the browser's own /favicon.ico probe is not the site's).
        page.on(
            "response",
            lambda r: (
                problems.append(f"{page.url}: {r.status} for {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)
    with live.log_path.open("rb") as log:
        log.seek(log_start)
        server_log = log.read().decode("utf-8", "replace")
    assert "Traceback" not in server_log, f"the server logged an error:\n{server_log[-3000:]}"


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """A full-page screenshot ``<name>.png`` in the screenshot directory (listed at the end of the run)."""
    directory = screenshot_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    _written.append(path)
    return path


def login(
    page,
    username: str = seed.OPERATOR,
    password: str = seed.PASSWORD,
    *,  # type: ignore[no-untyped-def]
    screenshot: str | None = None,
) -> None:
    """Open the console while logged out: the browser is sent to the login page; log in and land on the console."""
    page.goto("/console")
    page.wait_for_url("**/console/login?next=*")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/console$"))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _written:
        terminalreporter.write_sep("-", f"browser screenshots ({len(_written)}) in {screenshot_dir()}")
        for path in _written:
            terminalreporter.write_line(f"  {path.name}")
