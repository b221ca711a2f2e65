# xinyong — the platform's image: the web tier (uvicorn), `xinyong worker`, `xinyong scheduler` and the CLI.
#   docker build -t xinyong .                                          # base python:3.11-slim
#   docker build --build-arg BASE=xinyong-base:bookworm -t xinyong .   # or a local Debian base (scripts/image-build)
#   docker run --rm -e XINYONG_DATABASE_URL=… -e XINYONG_SECRET_KEY=… -p 8000:8000 xinyong
# Built and run on 2026-12-07 (Docker 20.10, the local Debian bookworm base: Docker Hub was out of reach; 411 MB):
# scripts/image-build, and docs/deployment.md, "Container image". No `# syntax=` line: BuildKit would fetch that
# frontend from Docker Hub, and the built-in one reads this file.

# The base: a Debian image with Python 3.11, `python3 -m venv`, groupadd and useradd.
ARG BASE=python:3.11-slim

# --- build: a wheel of the project and of every dependency, in a virtual environment ----------------------------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python3 -m venv /opt/xinyong
COPY pyproject.toml README.md ./
COPY src ./src
# [worker]: the job runner (procrastinate on PostgreSQL). Every dependency ships manylinux wheels: no compiler.
RUN /opt/xinyong/bin/pip install ".[worker]"

# --- runtime: the virtual environment only, run as an unprivileged user --------------------------------------
FROM ${BASE} AS runtime
ENV PATH=/opt/xinyong/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XINYONG_DATA_DIR=/var/lib/xinyong \
    FORWARDED_ALLOW_IPS=*
RUN groupadd --system --gid 10001 xinyong \
    && useradd --system --uid 10001 --gid xinyong --home-dir /var/lib/xinyong --shell /usr/sbin/nologin xinyong \
    && mkdir -p /var/lib/xinyong \
    && chown xinyong:xinyong /var/lib/xinyong
COPY --from=build /opt/xinyong /opt/xinyong
USER xinyong
WORKDIR /var/lib/xinyong
EXPOSE 8000
# Liveness of the web tier (the worker and the scheduler override it in compose.yaml). Python, not curl: the slim
# image has no curl. `python` is the environment's (PATH above): a plain Debian base has only `python3`.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# Behind a load balancer: the client's address comes from X-Forwarded-For (FORWARDED_ALLOW_IPS above; restrict it
# to the balancer's network when the container can be reached directly), or every client shares one rate limit.
CMD ["uvicorn", "xinyong.web.asgi:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
