"""The container image and the compose file (issue #19 part 3), checked for their shape: no Docker engine runs on
the development machines or in CI, so nothing here builds or starts them (docs/deployment.md says so)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_dockerfile_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=python:3\.11-slim$", text, flags=re.M)  # the default base; scripts/image-build
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, flags=re.M)
    assert stages == [("${BASE}", "build"), ("${BASE}", "runtime")]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER xinyong$", runtime, flags=re.M), "the runtime stage must not run as root"
    assert "COPY --from=build /opt/xinyong /opt/xinyong" in runtime
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert '".[worker]"' in text  # the job runner is in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env", "tests"} <= set(ignored)


def test_compose_runs_every_tier_on_one_configuration() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "db-replica", "redis", "migrate", "web", "worker", "scheduler", "lb"}
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["worker"]["command"] == ["xinyong", "worker"]
    assert services["scheduler"]["command"] == ["xinyong", "scheduler"]
    assert services["migrate"]["command"][:3] == ["xinyong", "db", "upgrade"]
    for name in ("migrate", "web", "worker", "scheduler"):
        env = services[name]["environment"]
        assert "@db:5432/" in env["XINYONG_DATABASE_URL"], name
        assert "host=db-replica:5432" in env["XINYONG_DATABASE_READ_URL"], name
        assert env["XINYONG_RATE_LIMIT_REDIS_URL"].startswith("redis://redis:"), name
        assert "XINYONG_SECRET_KEY" in env, name
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for path in ("deploy/nginx.conf", "deploy/replica-init.sh", "deploy/primary-init.sh"):
        assert (ROOT / path).is_file(), path
    nginx = (ROOT / "deploy/nginx.conf").read_text()
    assert "server web:8000" in nginx and "X-Forwarded-For" in nginx


def test_the_health_endpoints_exist() -> None:
    from xinyong.web.app import create_app

    paths = {getattr(r, "path", None) for r in create_app("sqlite:///:memory:").routes}
    assert {"/healthz", "/readyz"} <= paths


def test_every_file_the_package_reads_is_in_its_wheel() -> None:
    """The image installs the project as a wheel (``pip install ".[worker]"``), not editable: a file under
    ``src/xinyong`` that ``[tool.setuptools.package-data]`` does not name is missing there (the site icon was: every
    browser's ``/favicon.ico`` would have answered 500 in the container). Checked against the patterns themselves,
    without building."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["xinyong"]
    package = ROOT / "src" / "xinyong"

    def shipped(rel: str) -> bool:
        # setuptools' globs: ``**/`` also matches no directory at all.
        return any(fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(rel, p[3:])) for p in patterns)

    missing = sorted(
        rel
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
        and not shipped(rel := path.relative_to(package).as_posix())
    )
    assert missing == []
