"""The ``xinyong`` command line. Each domain contributes its commands from its ``commands.py``.

The root imports a domain's ``commands.py`` only when one of its commands runs: importing every domain (SQLAlchemy,
FastAPI, reportlab …) took seconds, and operators' scripts and cron call ``xinyong`` often. :data:`COMMANDS` names
each top-level command, the module that defines it and its help text, so ``xinyong --help`` lists them all without
importing any domain; ``tests/test_cli.py`` fails when the table and the modules disagree.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple

import typer

# Typer runs its own copy of Click: its usage errors are these classes, not the click package's.
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperCommand, TyperGroup

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors

try:  # typer >= 0.29 converts every parameter through a pydantic TypeAdapter (see _PlainValues)
    from typer._coercion import RuntimeParam as _RuntimeParam
    from typer._coercion import build_runtime_param as _build_runtime_param
except ImportError:  # older typer (click types): nothing to skip
    _RuntimeParam = None  # type: ignore[assignment,misc]

_Context = TyperCommand.context_class


def _plain(param: Any) -> bool:
    """True if :class:`_PlainValues` can convert this parameter: typer's converter not built yet, no ``parser=``,
    no file, and of type ``str``, ``bool`` or ``list[str]``."""
    descriptor = getattr(param, "type_descriptor", None)
    return (
        descriptor is not None
        and getattr(param, "_runtime_param", 0) is None
        and descriptor.file_annotation is None
        and descriptor.parameter_info.parser is None
        and (descriptor.annotation in (str, bool) or descriptor.annotation == list[str])
    )


if _RuntimeParam is not None:

    class _PlainValues(_RuntimeParam):  # type: ignore[misc,valid-type]
        """Converts a ``str``, ``bool`` or ``list[str]`` parameter whose value already has that type (every value
        typed on the command line) without pydantic; any other value goes to typer's own converter, built then.

        typer builds a pydantic ``TypeAdapter`` for each parameter it converts (even an absent ``--help``), which
        imports pydantic: 0.1 s of every ``xinyong validate``, a command that needs no pydantic. For these types and
        values the adapter returns the value unchanged (a list for a sequence of strings), so the result is the
        same (``tests/test_cli.py`` compares the two for every parameter of every command)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            annotation = self.annotation
            if annotation is str or annotation is bool:
                if type(value) is annotation:
                    return value
            elif isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
                return list(value)
            return _build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    #: typer >= 0.29 labels every value ``<str>``, ``<path>``, … and even a flag ``<bool>`` (a flag takes no value):
    #: help shows click's classic labels instead, and nothing for a flag.
    _CLASSIC_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "file": "PATH"}

    def _quiet_type(param: Any) -> None:
        """Give ``param`` the type label of click's help (see :data:`_CLASSIC_TYPES`) in place of typer's."""
        if getattr(param, "_quiet_type", False) or not hasattr(param, "display_type"):
            return
        flag = bool(getattr(param, "is_flag", False))
        display_type = param.display_type

        def display_type_rich(ctx: Any) -> str | None:
            if flag:
                return None
            if getattr(param, "param_type_name", "") == "option" and param.metavar is not None:
                return str(param.metavar)
            label = str(display_type(ctx)).removeprefix("<").removesuffix(">")
            if label.startswith("list[") and label.endswith("]"):
                label = label[5:-1]
            label = _CLASSIC_TYPES.get(label.lower(), label if "|" not in label else f"[{label}]")
            return label + ("..." if getattr(param, "nargs", 1) != 1 else "")

        def get_usage_pieces(ctx: Any) -> list[str]:
            # click's usage: FILE, [FILE] when optional, CODE... for several (typer 0.29 writes {file})
            name = str(param.metavar or param.name.upper())
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            return [name if param.required else f"[{name}]"]

        param.display_type_rich = display_type_rich
        if getattr(param, "param_type_name", "") == "argument":
            param.get_usage_pieces = get_usage_pieces
        param._quiet_type = True

    class _PlainContext(_Context):  # type: ignore[misc,valid-type]
        """The context of a command of this CLI: made just before the command parses its arguments, it gives the
        command's plain parameters (:func:`_plain`, including the ``--help`` option, which exists only from now)
        :class:`_PlainValues`, and every parameter click's type label in help (:func:`_quiet_type`)."""

        def __init__(self, command: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(command, *args, **kwargs)
            for param in command.get_params(self):
                _quiet_type(param)
                if _plain(param):
                    descriptor = param.type_descriptor
                    param._runtime_param = _PlainValues(
                        parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
                    )
else:
    _PlainContext = _Context


def _plain_contexts(command: Any) -> Any:
    """Make ``command`` and its sub-commands use :class:`_PlainContext` (unless they chose their own context)."""
    if command.context_class is _Context:
        command.context_class = _PlainContext
    for sub in (getattr(command, "commands", None) or {}).values():
        _plain_contexts(sub)
    return command


class LazyCommand(NamedTuple):
    """Where a top-level command comes from: ``module.attr`` is either a Typer sub-app (mounted under the command's
    name) or a ``register(app)`` function that adds top-level commands (possibly several) to the app it is given."""

    module: str
    attr: str
    help: str

    def build(self, name: str) -> dict[str, Any]:
        """Import the module and return the click commands its entry point produces, by name."""
        target = getattr(importlib.import_module(self.module), self.attr)
        holder = typer.Typer()
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
        else:
            target(holder)
        return {name: _plain_contexts(cmd) for name, cmd in typer.main.get_group(holder).commands.items()}


class _Placeholder(TyperCommand):
    """Stands in for a command not imported yet: enough (name, help) for a command listing, never invoked."""


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands (:attr:`lazy_commands`) are imported when first resolved.

    Listings (``--help``, shell completion of command names) use the names and help texts of the table;
    :meth:`get_command` imports the module and returns the real command.
    """

    lazy_commands: ClassVar[Mapping[str, LazyCommand]] = {}
    context_class = _PlainContext

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        eager = dict(self.commands)
        self.commands = {
            name: eager.pop(name, None) or _Placeholder(name, help=spec.help)
            for name, spec in self.lazy_commands.items()
        }
        self.commands.update(eager)
        self._listing = False

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, _Placeholder) and not self._listing:
            cmd = self._load(cmd_name)
        return cmd

    def _load(self, name: str) -> Any:
        spec = self.lazy_commands[name]
        built = spec.build(name)
        if name not in built:
            raise RuntimeError(f"{spec.module}.{spec.attr} does not define the command {name!r} named in cli.COMMANDS")
        for other, cmd in built.items():  # a register() adds several commands: keep them all
            if isinstance(self.commands.get(other), _Placeholder) and self.lazy_commands[other][:2] == spec[:2]:
                self.commands[other] = cmd
        return self.commands[name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        with self._listing_only():
            return super().shell_complete(ctx, incomplete)


def subjects_group(app: typer.Typer) -> None:
    """``xinyong subjects``: the registry's commands (``subjects.commands``) and ``subjects file``, the government
    credit file (``reports.commands.file_``, also ``xinyong reports file``). ``subjects`` sits below ``reports`` in
    the layers, so the entry point joins them: a new group with the registry's commands and the file command (the
    registry's own Typer app is left unchanged)."""
    # lazy: a group's command modules load when the group is used (COMMANDS), not at every start
    from xinyong.reports.commands import file_
    from xinyong.subjects.commands import app as registry

    group = typer.Typer(help=registry.info.help, no_args_is_help=True)
    group.registered_commands = [*registry.registered_commands]
    group.registered_groups = [*registry.registered_groups]
    group.registered_callback = registry.registered_callback
    group.command("file")(file_)
    app.add_typer(group, name="subjects")


def catalog_group(app: typer.Typer) -> None:
    """``xinyong catalog``: the catalog's commands (``catalog.commands``) and ``catalog audit``
    (``measures.audit_commands``: it reads list types and measures too, above the catalog in the layers); joined
    here like :func:`subjects_group`, the catalog's own Typer app left unchanged."""
    # lazy: a group's command modules load when the group is used (COMMANDS), not at every start
    from xinyong.catalog.commands import app as catalog
    from xinyong.measures.audit_commands import audit

    group = typer.Typer(help=catalog.info.help, no_args_is_help=True)
    group.registered_commands = [*catalog.registered_commands]
    group.registered_groups = [*catalog.registered_groups]
    group.registered_callback = catalog.registered_callback
    group.command("audit")(audit)
    app.add_typer(group, name="catalog")


# Every top-level command in the order ``xinyong --help`` lists them (commands first, then groups), with the help text
# its module gives it (the test compares them).
COMMANDS: dict[str, LazyCommand] = {
    "validate": LazyCommand(
        "xinyong.identifiers.commands",
        "register",
        "校验代码并说明原因（自动识别类型；身份证号码遮蔽显示）。有无效代码时退出码为 1。",
    ),
    "ingest": LazyCommand(
        "xinyong.ingest.commands",
        "register",
        "报送一个信用信息数据文件（行政许可、行政处罚或其他信息类别），输出批次报告。",
    ),
    "serve": LazyCommand("xinyong.web.commands", "register", "启动 Web 服务（门户、控制台与 /api/v1）。"),
    "demo": LazyCommand(
        "xinyong.demo.commands",
        "register",
        "构建沁阳市演示数据（合成、可重复）并启动平台；使用默认数据库（./var/xinyong.db），已有数据时直接启动。",
    ),
    "check": LazyCommand(
        "xinyong.measures.commands",
        "register",
        "信用核查：主体在某一场景下适用的联合奖惩措施（附理由与法律依据），并留痕。\n"
        "退出码：0 无惩戒且全部识别；1 有惩戒措施或有主体未能识别；2 输入错误。",
    ),
    "db": LazyCommand(__name__, "db_app", "数据库迁移"),
    "departments": LazyCommand("xinyong.auth.commands", "register", "部门管理（新增、列表、可报送的机关）"),
    "users": LazyCommand("xinyong.auth.commands", "register", "用户管理（新增、列表、重置密码、停用）"),
    "tokens": LazyCommand("xinyong.auth.commands", "register", "API 令牌管理（签发、列表、撤销）"),
    "batches": LazyCommand("xinyong.ingest.commands", "register", "归集批次：报告、退回数据、及时性"),
    "catalog": LazyCommand(__name__, "catalog_group", "信用信息目录：信息类别、公开属性、法律依据与公示规则"),
    "subjects": LazyCommand(__name__, "subjects_group", "信用主体库"),
    "records": LazyCommand("xinyong.records.commands", "app", "信用记录（行政许可、行政处罚）"),
    "audit": LazyCommand("xinyong.core.audit_commands", "app", "审计日志（只追加、哈希链）"),
    "lists": LazyCommand("xinyong.lists.commands", "app", "红黑名单：名单类型、名单条目、外部名单同步与比对"),
    "measures": LazyCommand("xinyong.measures.commands", "app", "联合奖惩：备忘录与奖惩措施、核查反馈率"),
    "watches": LazyCommand("xinyong.watches.commands", "app", "订阅推送：接收端、关注主体与推送投递"),
    "exchange": LazyCommand("xinyong.exchange.commands", "app", "与省级、国家平台交换：导出、推送、状态与对账"),
    "commitments": LazyCommand("xinyong.commitments.commands", "app", "信用承诺（导入、查询、履约认定）"),
    "cases": LazyCommand("xinyong.cases.commands", "app", "异议、信用修复、举报：立案、办理、时限与统计"),
    "evaluation": LazyCommand(
        "xinyong.evaluation.commands", "app", "信用评价与分级分类监管（模型、评价、解释、抽查名单）"
    ),
    "analytics": LazyCommand(
        "xinyong.analytics.commands", "app", "大数据监管分析：公共资源交易串标围标风险、食品药品风险预警"
    ),
    "reports": LazyCommand("xinyong.reports.commands", "app", "公共信用信息报告（出具、核验、登记簿）"),
    "financing": LazyCommand("xinyong.financing.commands", "app", "信易贷：金融机构、信用主体授权与查询统计"),
    "portal": LazyCommand("xinyong.publications.commands", "app", "门户发布：红黑榜定期发布"),
    "professions": LazyCommand(
        "xinyong.professions.commands", "app", "重点职业人群与政务诚信：执业登记、职业信用档案、政务失信提示"
    ),
    "worker": LazyCommand(
        "xinyong.jobs.commands",
        "register",
        "后台任务进程：运行队列中的推送投递、交换推送、每日任务与评价（失败自动重试、退避）。需要 PostgreSQL。",
    ),
    "scheduler": LazyCommand(
        "xinyong.jobs.commands",
        "register",
        "定时任务进程：按计划把每日任务、推送投递、交换推送与夜间评价加入队列（自身不运行任务；可运行多个，不会重复加入）。",
    ),
    "jobs": LazyCommand(
        "xinyong.jobs.commands", "register", "后台任务队列：列出、重试失败的任务、加入任务（PostgreSQL）"
    ),
}


class RootGroup(LazyGroup):
    lazy_commands = COMMANDS

    def main(  # type: ignore[override]
        self, args: Any = None, prog_name: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        """With ``--json`` on the command line, a usage error (a missing option, a bad value) is the JSON error
        document a script parses, exit 2, not Click's usage box; everything else runs as Click would."""
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or "--json" not in argv:
            return super().main(args=argv, prog_name=prog_name, standalone_mode=standalone_mode, **extra)
        try:
            rv = super().main(args=argv, prog_name=prog_name, standalone_mode=False, **extra)
        except UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "xinyong"
            error = {
                "code": "usage_error",
                "message": f"命令用法错误：{exc.format_message()}（{command} --help 查看用法）",
                "details": {"command": command},
            }
            sys.stdout.write(clikit.to_json({"error": error}) + "\n")
            sys.exit(2)
        except ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="xinyong",
    help="xinyong 公共信用信息平台 — 运维与管理命令。数据库由 --db 或 XINYONG_DATABASE_URL 指定。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=RootGroup,
)


@app.callback()
def _root(
    db: str | None = typer.Option(None, "--db", help="数据库 URL（覆盖 XINYONG_DATABASE_URL）", envvar=None),
) -> None:
    # The interfaces lower layers call up through (core.hooks), before any command runs. Imported here: a listing
    # (`xinyong --help`) loads no more than clikit (tests/test_cli.py).
    from xinyong.wiring import wire

    wire()
    if db:
        clikit.state.db_url = db
        os.environ["XINYONG_DATABASE_URL"] = db
        # lazy: the settings load pydantic-settings (~0.15 s); only --db needs them reset here
        from xinyong.core.settings import reset_settings

        reset_settings()


db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(revision: str = typer.Argument("head"), as_json: bool = JsonOption) -> None:
    """应用数据库迁移（默认到最新版本）。"""
    # lazy: Alembic and the seeders' domains load only for `xinyong db …`, not at every start
    from xinyong.catalog.service import ensure_seeded
    from xinyong.core.migrate import upgrade

    db = clikit.database()
    rev = upgrade(db.url, revision)
    seeded = None
    if revision == "head":
        # lazy: as above
        from xinyong.lists.types import ensure_seeded as ensure_list_types
        from xinyong.measures.service import ensure_seeded as ensure_measures

        with db.session() as session:
            seeded = ensure_seeded(session, actor=clikit.operator())
            ensure_list_types(session, actor=clikit.operator())
            ensure_measures(session, actor=clikit.operator())
    jobs_schema = None
    if db.dialect == "postgresql":
        # lazy: the job queue's own schema tool (procrastinate), when the [worker] extra is installed
        from xinyong.jobs import runner

        if runner.unavailable(db) is None:
            jobs_schema = "created" if runner.ensure_schema(db) else "present"

    def render(d: dict) -> None:
        clikit.console.print(f"数据库已升级到 {d['revision']} ({d['database']})")
        if d["catalog_seeded"]:
            clikit.console.print(f"已载入信用信息目录默认值：{len(d['catalog_seeded'])} 个信息类")

    emit(
        {
            "database": db.engine.url.render_as_string(hide_password=True),
            "revision": rev,
            "catalog_seeded": seeded.created if seeded else [],
            "jobs_schema": jobs_schema,
        },
        as_json,
        render,
    )


@db_app.command("partitions")
@handle_errors
def db_partitions(
    months_ahead: int = typer.Option(3, "--months-ahead", min=0, help="提前建立的月份数"),
    since: str | None = typer.Option(
        None, "--since", help="从该日所在月份起（默认本月；补建旧月份并迁出默认分区的行）"
    ),
    as_json: bool = JsonOption,
) -> None:
    """维护分区表（PostgreSQL）：建立今后各月的审计日志与核查留痕分区（每日任务 db.partitions 也会调用）。

    默认分区中仍有行时以非零状态退出（用 --since 补建这些行所在的月份）。"""
    import datetime as dt

    # lazy: only `xinyong db partitions` needs it
    from xinyong.core.partitions import ensure_partitions

    db = clikit.database()
    with db.engine.begin() as conn:
        report = ensure_partitions(
            conn, months_ahead=months_ahead, since=dt.date.fromisoformat(since) if since else None
        )

    def render(r: dict) -> None:
        if r["backend"] != "postgresql":
            clikit.console.print(f"{r['backend']}：不分区，无需维护")
            return
        for t in r["tables"]:
            if "created" in t:
                clikit.console.print(
                    f"{t['table']}：新建 {len(t['created'])} 个分区（共 {t['partitions']} 个），默认分区 {t['default_rows']} 行"
                )

    emit(report, as_json, render)
    if any(t.get("default_rows") for t in report["tables"]):
        raise typer.Exit(1)


@db_app.command("current")
@handle_errors
def db_current(as_json: bool = JsonOption) -> None:
    """显示数据库当前的迁移版本与代码中的最新版本。"""
    # lazy: Alembic loads only for `xinyong db …`
    from xinyong.core.migrate import current_revision, head_revision

    db = clikit.database()
    with db.engine.connect() as conn:
        cur = current_revision(conn)
    head = head_revision()
    emit(
        {"current": cur, "head": head, "up_to_date": cur == head},
        as_json,
        lambda d: clikit.console.print(f"当前 {d['current']}，最新 {d['head']}"),
    )
    if cur != head:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
