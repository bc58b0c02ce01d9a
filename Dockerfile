# wagate's container image: Debian bookworm with its Python 3.11, ffmpeg, a non-root user,
# the data directory as a volume. Build: `podman build -t wagate .` (or docker build).
# BASE lets a build without registry access start from an imported Debian root file
# system (tests/cli/test_container.py builds one with mmdebstrap).
ARG BASE=docker.io/library/debian:bookworm-slim

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# uv installs exactly the locked packages (uv.lock), without the development ones. Both
# trust the system's certificate store, so a CA added to the base (a company proxy's)
# is honoured.
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --cert /etc/ssl/certs/ca-certificates.crt uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN UV_PROJECT_ENVIRONMENT=/opt/wagate UV_PYTHON=/usr/bin/python3 UV_PYTHON_DOWNLOADS=never \
    UV_NATIVE_TLS=1 \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable --compile-bytecode --no-cache

FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ffmpeg libmagic1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin wagate \
 && mkdir -p /data && chown wagate:wagate /data
COPY --from=build /opt/wagate /opt/wagate
ENV PATH=/opt/wagate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WAGATE_DATA_DIR=/data \
    WAGATE_HOST=0.0.0.0 \
    WAGATE_PORT=8000
USER wagate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# the admin key: WAGATE_API_KEY, or generated on first start into /data/admin-key
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('WAGATE_PORT', '8000')}/health\", timeout=4)"]
CMD ["wagate", "serve"]
