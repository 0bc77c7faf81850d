# syntax=docker/dockerfile:1

# ---------------------------------------------------------------------------
# Builder: compiles all five service binaries in one cargo invocation.
# ---------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Copy only what cargo needs, so edits to models/ or docs do not invalidate
# the build layer.
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
COPY services/ services/
COPY tests/ tests/

# The registry and target dir live in BuildKit cache mounts, so dependencies
# compiled by a previous build are reused. Cache mounts are not part of the
# image, hence the binaries are copied to /out inside the same RUN step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && for bin in gateway tickets categorizer routing analytics; do \
        cp "target/release/${bin}" /out/; \
    done

# ---------------------------------------------------------------------------
# Runtime: one image for all services; compose selects the binary via command.
# ---------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# curl is used by the compose healthchecks; ca-certificates for outbound TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 sysops \
 && useradd --system --uid 10001 --gid sysops --home-dir /app \
        --shell /usr/sbin/nologin sysops

WORKDIR /app

COPY --from=builder /out/ /usr/local/bin/
# Whole directory: taxonomy.toml plus the embedding model once it exists.
# Left root-owned so the service user can read but not modify it.
COPY models/ /app/models/

ENV TAXONOMY_PATH=/app/models/taxonomy.toml \
    LOG_FORMAT=json

USER 10001:10001

EXPOSE 8080 8081 8082 8083 8084

# Overridden per service in docker-compose.yml.
CMD ["gateway"]
