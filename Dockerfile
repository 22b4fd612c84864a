# syntax=docker/dockerfile:1
# The image the Helm chart (deploy/k8s/rdi) runs: every component is a command of it.
#   rdi controller | rdi api | rdi collector --source NAME | python -m bytewax.run flows.ingest | rdi processor
# Build:  docker build -t registry.example.com/rdi:0.1.0 .
#
# The base is pinned by its full version tag. Its digest could not be looked up where this file was written (no
# registry access); pin it too before publishing, with the digest `docker buildx imagetools inspect` prints:
#   docker build --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest> ...
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- builder: wheels of rdi and its pinned dependencies (pyproject.toml pins every one exactly) ----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rdi ./rdi
COPY operators ./operators
COPY flows ./flows
RUN python -m pip wheel --wheel-dir /wheels . \
    && python -m venv /opt/rdi \
    && /opt/rdi/bin/pip install --no-index --find-links /wheels rdi

# ---- runtime: the venv only, no compiler, no pip cache, a non-root user ----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 rdi \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin rdi
COPY --from=builder /opt/rdi /opt/rdi
ENV PATH=/opt/rdi/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# /tmp is the only writable place the chart gives (an emptyDir; the root filesystem is read-only)
WORKDIR /tmp
USER 10001:10001
# api, processor metrics, controller metrics, collector health, Bytewax cluster
EXPOSE 8080 9121 9122 9124 9999
CMD ["rdi", "--help"]
