# The sfn-fleet worker image: `fleet run` as PID 1, non-root, with the metrics and health
# listener on 0.0.0.0:9464. How to put your handlers in it: docs/image.md.
#
#   docker build -t sfn-fleet .
#   docker run --stop-timeout 120 -e FLEET_APP=fleet.examples.hello:app -e AWS_REGION=... sfn-fleet
#
# Build arguments:
#   BASE_IMAGE    the Python base of both stages (pinned to a minor version and Debian release)
#   APP           default FLEET_APP of the image, e.g. myapp.workers:app (empty: set it at run time)
#   APP_PACKAGES  pip requirements installed next to sfn-fleet, e.g. "myapp==1.2" or a git URL
#   VERSION, REVISION, SOURCE_URL   OCI labels (VERSION must match fleet/_version.py)
ARG BASE_IMAGE=python:3.12-slim-bookworm

# ---- build: a virtual environment with sfn-fleet and its dependencies ------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/fleet
WORKDIR /src
# Dependencies first, read from pyproject.toml alone, so a change to the code reuses this layer.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/fleet/bin/pip install -r requirements.txt
# The rest of the context: the package (and README.md, which pyproject names); .dockerignore
# lets nothing else in.
COPY . ./
RUN /opt/fleet/bin/pip install --no-deps . \
 && /opt/fleet/bin/fleet --version
ARG APP_PACKAGES=""
RUN if [ -n "$APP_PACKAGES" ]; then /opt/fleet/bin/pip install $APP_PACKAGES; fi

# ---- final: the base image, the environment and a non-root user; no build tree, no cache ------
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="sfn-fleet" \
      org.opencontainers.image.description="AWS Step Functions activity workers as an asyncio fleet (fleet run)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid, so that runAsNonRoot-style checks can verify it without /etc/passwd.
# /app is the working directory, importable like `python -m`: a user image copies its package
# there. It is owned by root, so the worker cannot rewrite its own code.
RUN groupadd --gid 10001 fleet \
 && useradd --uid 10001 --gid fleet --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin fleet \
 && mkdir -m 755 /app
COPY --from=build /opt/fleet /opt/fleet
WORKDIR /app

ARG APP=""
# The listener binds all interfaces so that ECS health checks and Prometheus reach it.
# `python` and `fleet` resolve to the environment's, as the ECS health check expects.
ENV PATH=/opt/fleet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLEET_APP=${APP} \
    FLEET_METRICS_HOST=0.0.0.0 \
    FLEET_METRICS_PORT=9464 \
    FLEET_LOG_FORMAT=json
EXPOSE 9464

USER 10001:10001
# Asks the event loop to answer, with nothing but Python; honours a changed FLEET_METRICS_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FLEET_METRICS_PORT', '9464'), timeout=3)"]
# Exec form: the worker is PID 1 and receives SIGTERM itself (it drains, then exits 0; a
# second signal fails running tasks back at once). Give it a stop timeout above
# FLEET_DRAIN_SECONDS (ECS stopTimeout 120; `docker stop` waits only 10 s unless told).
STOPSIGNAL SIGTERM
ENTRYPOINT ["fleet"]
CMD ["run"]
