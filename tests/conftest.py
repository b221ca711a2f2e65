"""Test fixtures. Integration tests take ``database`` (or ``session``/``client``) and run once per backend.

Backends: SQLite always; PostgreSQL at ``XINYONG_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) when it answers. ``XINYONG_TEST_REQUIRE_POSTGRES=1``
(set by ``.ci/run``) turns an unreachable PostgreSQL into a failure instead of a skip.

Each test gets an empty schema: SQLite copies a template file built once per session; PostgreSQL uses one
database per session, emptied before each test (``_pg_truncate``). ``XINYONG_TEST_PG_SCHEMA=migrations`` builds that
database with the Alembic migrations instead of ``create_all`` (on PostgreSQL the migrations partition the audit log,
the check records and the record versions, migration 0023): the tests then run against the partitioned tables.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.core.db import Database, forget_databases
from xinyong.core.settings import reset_settings
from xinyong.wiring import wire

PG_ADMIN_URL = os.environ.get("XINYONG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("XINYONG_TEST_REQUIRE_POSTGRES") == "1"
PG_SCHEMA = os.environ.get("XINYONG_TEST_PG_SCHEMA", "models")
BACKENDS = [b.strip() for b in os.environ.get("XINYONG_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


def _share_route_contexts() -> None:
    """Let every app a test builds share FastAPI's per-route state (the dependant, the parameter and response fields).

    FastAPI (0.16x) builds that state lazily for each app, on the app's first requests: ~0.3 s of CPU on this
    machine for xinyong's ~230 routes, paid again by every test that takes ``client`` (one app each, ~800 of them
    on the two backends). The state depends only on the route as declared and on how it is included (prefix, tags,
    dependencies, responses), which are the same in every app ``create_app`` builds, so the first app's is reused.
    Routes declared inside ``create_app`` (closures over its database) are left alone, and so is the dependency
    overrides provider (no test overrides a dependency). Test-only: a production process builds one app. When
    FastAPI's internals change, this does nothing (the tests just run slower)."""
    import dataclasses

    from fastapi import routing

    ctx_cls = getattr(routing, "_EffectiveRouteContext", None)
    original = getattr(ctx_cls, "from_api_route", None)
    if original is None or getattr(original, "_xinyong_shared", False):
        return
    cache: dict[tuple[int, str], object] = {}

    def from_api_route(cls, *, original_route, include_context):  # type: ignore[no-untyped-def]
        if "<locals>" in getattr(original_route.endpoint, "__qualname__", "<locals>"):
            return original(original_route=original_route, include_context=include_context)
        try:
            shape = repr(dataclasses.replace(include_context, dependency_overrides_provider=None))
        except (TypeError, ValueError):
            return original(original_route=original_route, include_context=include_context)
        key = (id(original_route), shape)  # the cache holds the route, so its id is not reused
        found = cache.get(key)
        if found is None:
            found = cache[key] = original(original_route=original_route, include_context=include_context)
        return found

    from_api_route._xinyong_shared = True  # type: ignore[attr-defined]
    ctx_cls.from_api_route = classmethod(from_api_route)


_share_route_contexts()


#: Tests that share an expensive session or module fixture, kept on one pytest-xdist worker (``--dist loadgroup``,
#: pyproject.toml) so that it is built once, not once per worker: the browser tests' seeded server and Chromium, the
#: read replica, the migrated template database of the partition tests.
XDIST_GROUPS = {
    "tests/browser/": "browser",
    "tests/core/test_read_replica.py": "replica",
    "tests/core/test_partitions.py": "partitions",
}

#: The modules of the suite's longest tests (8–30 s each: a demo city built, a server under load, two writers
#: compared on many databases). They run first, so that pytest-xdist hands out the short tests last and no worker is
#: left alone with one of these at the end while the other is idle. Only the order changes; a module missing here
#: just runs in its place.
SLOW_FIRST = (
    "tests/records/test_setwrite.py",
    "tests/analytics/test_assessment_demo.py",
    "tests/demo/test_demo.py",
    "tests/web/test_multi_process.py",
    "tests/web/test_concurrent_load.py",
    "tests/subjects/test_registry_import.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = next((g for prefix, g in XDIST_GROUPS.items() if path.startswith(prefix)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in SLOW_FIRST)  # stable: the rest keep their order


@pytest.fixture(autouse=True, scope="session")
def _wired() -> None:
    """The start-up wiring every entry point does (``xinyong.wiring``): tests call services directly."""
    wire()


#: The hasher production uses (argon2id, 64 MiB, 3 passes, 4 lanes: ~0.3 s and both cores a hash on this machine).
PRODUCTION_PASSWORD_HASHER = auth_service.PASSWORD_HASHER


@pytest.fixture(autouse=True)
def production_password_hasher(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """Every test hashes passwords with argon2id at minimal cost; the production hasher is handed to tests that
    check it (``tests/auth/test_service.py``). The production parameters cost ~0.3 s of both cores per hash, paid
    by every user a test creates and every login (the demo build alone creates 25 users). Servers a test starts in
    a subprocess keep the production hasher."""
    monkeypatch.setattr(auth_service, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return PRODUCTION_PASSWORD_HASHER


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the developer's ./var or .env: each gets its own data dir and a fixed secret."""
    monkeypatch.setenv("XINYONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XINYONG_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.delenv("XINYONG_DATABASE_URL", raising=False)
    reset_settings()
    yield
    # The CLI's --db option sets the URL for the process; never let it leak into the next test.
    from xinyong.core import clikit

    clikit.state.db_url = None
    os.environ.pop("XINYONG_DATABASE_URL", None)
    from xinyong.web import pages

    pages._headline_cache.clear()
    reset_settings()


def _create_schema(url: str) -> None:
    from xinyong.models import Base

    engine = Database(url).engine
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _create_schema(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_url() -> Iterator[str | None]:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {exc}")
        yield None
        return
    name = f"xinyong_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    if PG_SCHEMA == "migrations":
        from xinyong.core.migrate import upgrade

        upgrade(url)
        forget_databases()
    else:
        _create_schema(url)
    yield url
    forget_databases()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


_PG_SUPERUSER: dict[str, bool] = {}


def _pg_truncate(db: Database) -> None:
    """Empty the tables a test left rows in and restart the sequences it used.

    Finding the few tables with rows is one cheap query. ``TRUNCATE … CASCADE`` of those cost ~0.3 s a test (more on
    a busy machine: the cascade reaches most of the ~75 tables, and each gets new files for itself and its indexes),
    paid by every PostgreSQL test; deleting the rows costs milliseconds. They are deleted with the tables' triggers
    off — the foreign keys' and the append-only ones (``session_replication_role = replica``, which needs a
    superuser: the test cluster's ``postgres``; otherwise TRUNCATE as before) — and ``VACUUM`` then gives the tables
    their pages back, so each test starts as after a TRUNCATE: no rows, no pages, rows stored in insertion order."""
    from xinyong.models import Base

    probe = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in Base.metadata.sorted_tables
    )
    with db.engine.begin() as conn:
        dirty = [row[0] for row in conn.execute(text(probe))]
        if dirty and db.url not in _PG_SUPERUSER:
            _PG_SUPERUSER[db.url] = bool(
                conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
            )
        if dirty and _PG_SUPERUSER[db.url]:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for name in dirty:
                conn.execute(text(f'DELETE FROM "{name}"'))
        elif dirty:
            names = ", ".join(f'"{name}"' for name in dirty)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        # Sequences advanced by rows since deleted or rolled back count too: restart every used one.
        used = conn.execute(text("SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL"))
        for schema, name in used.all():
            conn.execute(text(f'ALTER SEQUENCE "{schema}"."{name}" RESTART'))
    if dirty and _PG_SUPERUSER[db.url]:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM " + ", ".join(f'"{name}"' for name in dirty)))


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, fully created database on each backend."""
    backend = request.param
    if backend == "sqlite":
        path = tmp_path / "xinyong.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
    elif backend == "postgresql":
        url = request.getfixturevalue("_pg_url")
        if url is None:
            pytest.skip("PostgreSQL not reachable (set XINYONG_TEST_REQUIRE_POSTGRES=1 to fail instead)")
        db = Database(url)
        _pg_truncate(db)
        yield db
        db.dispose()
    else:
        raise ValueError(f"unknown backend {backend}")


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session on the test database; commit explicitly when a test needs to."""
    with database.sessionmaker() as s:
        yield s


@pytest.fixture
def client(database: Database):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from xinyong.web.app import create_app

    with TestClient(create_app(database), raise_server_exceptions=False) as c:
        yield c
