"""Helpers shared by every ``commands.py``: the database to use, JSON output, errors as exit codes.

Conventions for operators' scripts:
- ``--json`` prints exactly one JSON document on stdout (errors as ``{"error": {...}}``), nothing else.
- Exit status 0 on success, 1 when the command ran but found a problem (invalid code, broken chain …),
  2 for bad input or a failed operation (with a Chinese message and a stable error code) — also when the
  database stayed busy beyond the retry bound (``database_busy``: run the command again later).
- ``database().session()`` is a write transaction (``BEGIN IMMEDIATE`` on SQLite: it waits its turn instead of
  failing with "database is locked"); commands that only read use ``session(write=False)``; a command that is one
  unit of work runs it through ``database().run(fn)``, which retries transient conflicts (``core.db``).
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

import typer

from xinyong.auth.roles import Principal, system_principal
from xinyong.core.errors import Busy, ConfigurationError, ValidationFailed, XinyongError

if TYPE_CHECKING:  # SQLAlchemy costs ~0.4 s to import: only commands that use the database load it
    from rich.console import Console
    from sqlalchemy.exc import DBAPIError

    from xinyong.core.db import Database

    console: Console
    err_console: Console

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = typer.Option(False, "--json", help="以 JSON 输出（供脚本解析）")
#: Paging of the listing commands (``… list --limit 50 --offset 0``).
LimitOption = typer.Option(50, "--limit", min=1, max=10_000)
OffsetOption = typer.Option(0, "--offset", min=0)
#: The reason of a change, written to the audit log.
ReasonOption = typer.Option(None, "--reason", help="原因（记入审计日志）")


class _State:
    db_url: str | None = None


state = _State()


def _console(*, stderr: bool = False) -> Console:
    name = "err_console" if stderr else "console"
    if name not in globals():
        # lazy: rich's console costs ~20 ms at start; `--json` output never needs it
        from rich.console import Console

        globals()[name] = Console(stderr=stderr)
    return globals()[name]


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console`` (rich) are made when first used: ``--json`` output never imports rich."""
    if name in ("console", "err_console"):
        return _console(stderr=name == "err_console")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def database() -> Database:
    """The database chosen by ``--db`` or ``XINYONG_DATABASE_URL`` (SQLite file in ./var by default)."""
    # lazy: SQLAlchemy costs ~0.4 s at start; only commands that use the database load it
    from xinyong.core.db import get_database

    return get_database(state.db_url)


def operator() -> Principal:
    """The principal the CLI acts as: the platform admin, named after the OS user in the audit log."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001
        user = "unknown"
    return system_principal(f"cli:{user}")


def parse_date(value: str | None, option: str) -> dt.date | None:
    """An option's ``YYYY-MM-DD`` value as a date (None when it was not given); anything else is ``bad_date``."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{option} 应为 YYYY-MM-DD 格式的日期：{value!r}", code="bad_date") from None


def date_or_today(value: str | None, option: str = "--date") -> dt.date:
    """The day a daily command works on: the option's date, or today (``core.clock``) when it was not given."""
    # lazy: the clock reads the settings (pydantic-settings, ~0.15 s at start)
    from xinyong.core import clock

    return parse_date(value, option) or clock.today()


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    if as_json or render is None:
        sys.stdout.write(to_json(data) + "\n")
    else:
        render(data)


def handle_errors(fn: F) -> F:
    """Turn platform errors into a message (or JSON error) and exit status 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            try:
                return fn(*args, **kwargs)
            except OverflowError as exc:
                # A number past what the database stores (an id beyond 2^63-1 typed as an argument): bad input.
                raise ValidationFailed(
                    "数值超出范围：编号、数量应为不超过 9223372036854775807 的整数", code="value_out_of_range"
                ) from exc
            except Exception as exc:
                if not _is_database_error(exc):
                    raise
                raise database_error(exc) from exc
        except XinyongError as exc:
            if as_json:
                sys.stdout.write(to_json({"error": exc.to_dict()}) + "\n")
            else:
                # lazy: see _console
                from rich.markup import escape

                err = _console(stderr=True)
                err.print(f"[red]错误[/red] {escape(f'[{exc.code}]')} {escape(exc.message)}")
                for line in details_text(exc.message, exc.details or {}):
                    err.print(line, markup=False, highlight=False)
            raise typer.Exit(2) from None

    return cast(F, wrapper)


#: At most this many items of a list in an error's details are printed as text (``--json`` has them all).
DETAIL_ITEMS = 20


def details_text(message: str, details: Any) -> list[str]:
    """An error's details as indented ``key：value`` lines for a person, not a JSON blob: lists joined with 、
    (a list of rows one line each), and nothing the message already says (an unknown value and the allowed ones)."""

    def flat(value: Any) -> str:
        if isinstance(value, dict):
            return "，".join(f"{k}={flat(v)}" for k, v in value.items() if v not in (None, "", [], {}))
        if isinstance(value, list | tuple):
            return "、".join(flat(v) for v in value)
        return str(value)

    if not isinstance(details, dict):  # some errors carry a list (the rows at fault) or a single value
        details = {"详情": details}
    lines: list[str] = []
    for key, value in details.items():
        if value in (None, "", [], {}):
            continue
        items = list(value) if isinstance(value, list | tuple) else [value]
        if all(not isinstance(v, dict) and str(v) in message for v in items):
            continue
        if isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value):
            lines.append(f"  {key}：")
            lines.extend(f"    {flat(v)}" for v in value[:DETAIL_ITEMS])
            if len(value) > DETAIL_ITEMS:
                lines.append(f"    …（共 {len(value)} 项，--json 输出全部）")
        else:
            lines.append(f"  {key}：{flat(value)}")
    return lines


def _is_database_error(exc: BaseException) -> TypeGuard[DBAPIError]:
    """Whether ``exc`` is SQLAlchemy's ``DBAPIError``, without importing SQLAlchemy for commands that never did:
    if ``sqlalchemy.exc`` is not loaded, nothing can have raised one."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.DBAPIError)


def database_error(exc: DBAPIError) -> XinyongError:
    """A database failure as an operator-facing error: the likely cause first (schema not migrated)."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    from xinyong.core.db import is_transient  # SQLAlchemy is loaded already: exc is one of its errors

    if is_transient(exc):  # still locked after the busy timeout, or a deadlock outside Database.run
        return Busy(f"数据库正忙（{first}）：其他写入尚未结束，请稍后重试", code="database_busy")
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return ConfigurationError(
            f"数据库尚未初始化或版本过旧（{first}）：请先运行 xinyong db upgrade", code="database_not_migrated"
        )
    return ConfigurationError(f"数据库错误：{first}", code="database_error")
