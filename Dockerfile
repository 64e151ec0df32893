# scalebot: slim, non-root image. Build: docker build -t scalebot .
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/scalebot && /opt/scalebot/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/scalebot/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app scalebot
COPY --from=build /opt/scalebot /opt/scalebot
COPY config /app/config
WORKDIR /app
USER scalebot
ENV PATH=/opt/scalebot/bin:$PATH PYTHONUNBUFFERED=1
# JSON logs on stdout; SIGTERM cancels every working order before exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["scalebot"]
CMD ["run", "--config", "/app/config/paper.yaml", "--log-format", "json"]
