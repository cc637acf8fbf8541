# One image for every segflow service: `segflow run <classifier|allocator|policy|audit|gateway>`
# (docker-compose.yml sets the command), plus `segflow init` for topics and migrations.
# Dependencies come from uv.lock exactly (uv sync --frozen, no dev group); native/ (the compiled hot
# loops, Rust) is built by maturin with the toolchain of the official rust image, locked by native/Cargo.lock.

FROM rust:1.95-slim-bookworm AS rust

FROM python:3.11-slim-bookworm AS build
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
ENV CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# Third-party dependencies first: this layer survives source edits.
COPY pyproject.toml uv.lock README.md ./
COPY native ./native
RUN uv sync --frozen --no-dev --no-install-project
COPY contracts ./contracts
COPY services ./services
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEGFLOW_HOST=0.0.0.0 \
    SEGFLOW_MODE=distributed
RUN groupadd --system segflow && useradd --system --gid segflow --home-dir /app segflow
WORKDIR /app
COPY --from=build --chown=segflow:segflow /app /app
USER segflow
EXPOSE 8000 8001 8002 8003 8004
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SEGFLOW_PORT', '8000'), timeout=3)"
CMD ["segflow", "run", "gateway"]
