# syntax=docker/dockerfile:1
# scalebot image: two stages, slim, runs as uid 10001. See docs/deployment.md.
#   docker build -t scalebot:0.1.0 .
#   docker run --rm --stop-timeout 30 -e SCALEBOT_REDIS_URL=redis://:PASSWORD@redis-host:6379/0 scalebot:0.1.0
# Both stages must use the same base image: the virtualenv links to its interpreter.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/scalebot
# Exact versions first (cached while requirements.lock is unchanged), then the project, no deps.
COPY requirements.lock ./
RUN /opt/scalebot/bin/pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
# Import what the commands load on demand (ccxt, numpy, scipy, …): a broken install fails the build.
RUN /opt/scalebot/bin/pip install --no-deps . \
    && /opt/scalebot/bin/python -c "import bot.daemon, bot.replay, bot.record, bot.core.greeks.black"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 scalebot \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin scalebot
COPY --from=build /opt/scalebot /opt/scalebot
COPY config /app/config
WORKDIR /app
# SCALEBOT_CONFIG is the default --config of status/health/kill/resume (and of the HEALTHCHECK):
# set it to the file you pass to `run`. XDG_CACHE_HOME holds the ccxt markets cache (writable
# even with a read-only root filesystem when /tmp is a tmpfs or emptyDir).
ENV PATH=/opt/scalebot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SCALEBOT_CONFIG=/app/config/paper.yaml \
    XDG_CACHE_HOME=/tmp/cache
USER 10001:10001
# Optional: Prometheus /metrics, when the config has metrics.enabled and metrics.host 0.0.0.0.
EXPOSE 9108
# SIGTERM cancels every working order, saves state and exits 0: allow it 30 s (docker run
# --stop-timeout 30; docker stop waits only 10 s by default).
STOPSIGNAL SIGTERM
# `scalebot health` exits 0 when the daemon's Redis heartbeat is fresh, 5 when stale, 3 when
# Redis is unreachable. It starts a Python process (~0.6 s of CPU, ~50 MB), hence the long interval.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["scalebot", "health"]
ENTRYPOINT ["scalebot"]
CMD ["run", "--config", "/app/config/paper.yaml", "--log-format", "json"]
