# syntax=docker/dockerfile:1
# The pointsmall API as a container: `pointsmall serve` on port 8000 (metrics on 9100 when
# POINTSMALL_METRICS_BIND says so), production mode, against the PostgreSQL and Redis that
# DATABASE_URL and REDIS_URL name: the embedded backends never start here, since production
# refuses to start without both. The install is the one .ci/run proves
# (tests/deploy/test_image.py compares them), with two differences: CI installs editable and
# runs Python 3.11 (.ci/run's first choice), the image Python 3.12. Both are held to the same
# requirements.lock, compiled --universal (its pins carry markers), whose pins the tests check
# on both Pythons.

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/pointsmall
ENV PATH=/opt/pointsmall/bin:$PATH
COPY pyproject.toml README.md requirements.lock ./
COPY server/ server/
COPY schema/ schema/
COPY resolvers/ resolvers/
COPY domain/ domain/
COPY db/ db/
COPY subscriptions/ subscriptions/
# pip itself as .ci/run has it (its latest); every other package is pinned by the lock.
# hadolint ignore=DL3013
RUN python -m pip install --quiet --no-cache-dir --upgrade pip \
    && pip install --quiet --no-cache-dir -c requirements.lock ".[otel]"

FROM python:3.12-slim-bookworm
RUN useradd --system --no-log-init --uid 10001 --user-group \
        --home-dir /var/lib/pointsmall --create-home pointsmall
COPY --from=build /opt/pointsmall /opt/pointsmall
ENV PATH=/opt/pointsmall/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    POINTSMALL_ENV=production \
    POINTSMALL_DATA_DIR=/var/lib/pointsmall
WORKDIR /var/lib/pointsmall
USER 10001:10001
EXPOSE 8000 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Exec form: `pointsmall` is PID 1 and gets SIGTERM itself; uvicorn then drains (open
# requests finish, WebSockets close with 1012) before the process exits.
ENTRYPOINT ["pointsmall"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
