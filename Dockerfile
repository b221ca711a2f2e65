# syntax=docker/dockerfile:1
# xinyong — the platform's image: the web tier (uvicorn), `xinyong worker`, `xinyong scheduler` and the CLI.
#   docker build -t xinyong .
#   docker run --rm -e XINYONG_DATABASE_URL=… -e XINYONG_SECRET_KEY=… -p 8000:8000 xinyong
# Not built on the development machines (no Docker engine there): see docs/deployment.md, "Container image".

# --- build: a wheel of the project and of every dependency, in a virtual environment ----------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/xinyong
COPY pyproject.toml README.md ./
COPY src ./src
# [worker]: the job runner (procrastinate on PostgreSQL). Every dependency ships manylinux wheels: no compiler.
RUN /opt/xinyong/bin/pip install ".[worker]"

# --- runtime: the virtual environment only, run as an unprivileged user --------------------------------------
FROM python:3.11-slim AS runtime
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
# image has no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# Behind a load balancer: the client's address comes from X-Forwarded-For (FORWARDED_ALLOW_IPS above; restrict it
# to the balancer's network when the container can be reached directly), or every client shares one rate limit.
CMD ["uvicorn", "xinyong.web.asgi:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
