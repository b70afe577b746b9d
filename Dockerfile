# Gethory: the web client built with Node, the server installed into a virtualenv, and a slim
# runtime holding only that virtualenv (no compilers, no npm, no sources).
#
# Base images are build arguments so a builder without registry access can pass its own
# (tests/docker builds Debian stand-ins with deploy/local-base-images.sh):
#   docker build --build-arg PYTHON_IMAGE=... --build-arg NODE_IMAGE=... -t gethory .
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- web/dist -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-fund --no-audit
COPY web/ ./
RUN npm run build

# --- /opt/venv: the dependencies (a cached layer while pyproject.toml is unchanged), then us --
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A C compiler for the forwarding path's native sender (sfu/_rtp_batch.c), in this stage only
# (Debian's python3 needs its headers too; the official image has them). Unpinned: whatever
# the base image's release has, as for the base image itself.
# hadolint ignore=DL3008
RUN apt-get update \
    && if python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null; \
        then headers=""; else headers="python3-dev"; fi \
    && apt-get install -y --no-install-recommends gcc libc6-dev ${headers:+"$headers"} \
    && rm -rf /var/lib/apt/lists/*
# `python3 -m venv`: the official image has python3 in /usr/local/bin, Debian's in /usr/bin.
RUN python3 -m venv /opt/venv
COPY pyproject.toml ./
# Every dependency ships a manylinux wheel: only our own sender is compiled here.
RUN /opt/venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: -r requirements.txt
COPY api/ api/
COPY sfu/ sfu/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -I -c 'import sfu._rtp_batch' \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib
# The server serves the client from `api/../web/dist` next to its package (api.app.WEB_DIST),
# which for an installed package is inside site-packages: put the build exactly there.
COPY --from=web /src/web/dist /tmp/web-dist
# -I: import the installed package, not the sources in the working directory.
RUN dist="$(/opt/venv/bin/python -I -c 'import api.app; print(api.app.WEB_DIST)')" \
    && mkdir -p "$(dirname "$dist")" \
    && mv /tmp/web-dist "$dist" \
    && test -f "$dist/index.html" \
    && /opt/venv/bin/python -m pip uninstall --quiet --yes pip setuptools

# --- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GETHORY_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/var/lib/gethory/data
RUN groupadd --system --gid 10001 gethory \
    && useradd --system --no-log-init --uid 10001 --gid gethory \
        --home-dir /var/lib/gethory --create-home --shell /usr/sbin/nologin gethory \
    && install -d -o gethory -g gethory /var/lib/gethory/data
COPY --from=build /opt/venv /opt/venv
WORKDIR /var/lib/gethory
USER 10001:10001
# 8000: HTTP and Socket.IO. 40000/udp: the media port when RTC_UDP_PORT=40000 (.env.example);
# publish whichever port RTC_UDP_PORT names.
EXPOSE 8000 40000/udp
# Liveness from inside the container, with the interpreter already there (no curl). The check
# dials 127.0.0.1, so HOST must include loopback (0.0.0.0, the default here, does).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
# SIGTERM starts the drain (api.drain): compose's stop_grace_period must exceed DRAIN_SECONDS.
STOPSIGNAL SIGTERM
CMD ["gethory"]
