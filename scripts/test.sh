#!/usr/bin/env bash
# Runs the whole test suite: starts PostgreSQL and RabbitMQ (installing them when missing),
# checks formatting and lints, builds the services, runs every test, then the tests that
# restart shared infrastructure, alone.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sysops-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '[test] %s\n' "$*" >&2; }

SCHEMATHESIS_VERSION=4.32.5

"$ROOT/scripts/deps.sh" up

# Tools some tests drive, from the OS packages: docker-compose validates the compose file;
# Chromium renders the dashboard in the browser tests.
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (used by tests)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO=sudo; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -x "$ROOT/scripts/fetch-model.sh" ]; then "$ROOT/scripts/fetch-model.sh"; fi

# schemathesis, from PyPI, sends requests generated from the OpenAPI document to the running
# system (tests/system/tests/openapi.rs); kept in a virtual environment of its own.
VENV=${SYSOPS_VENV:-$HOME/.cache/sysops-venv}
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION (used by tests)"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO=sudo; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SCHEMATHESIS="$VENV/bin/schemathesis"

# Databases left by earlier runs that failed.
PGPASSWORD=sysops psql -h 127.0.0.1 -U sysops -d sysops -tAc \
  "SELECT datname FROM pg_database WHERE datname LIKE 'test\_%'" | while read -r db; do
  [ -n "$db" ] && PGPASSWORD=sysops psql -h 127.0.0.1 -U sysops -d sysops -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

# Queues left by earlier runs that failed (every test has its own prefix, `t` and 12 hex
# digits): on a machine that runs the suite often they pile up, with their messages, in the
# broker's memory. Only queues nobody consumes from are deleted. (Their exchanges hold nothing
# and are left.)
if command -v rabbitmqctl >/dev/null 2>&1; then
  rabbitmqctl list_queues -q name consumers 2>/dev/null | awk '$1 ~ /^t[0-9a-f]{12}\./ && $2 == 0 { print $1 }' |
    while read -r q; do
      rabbitmqctl delete_queue -q "$q" </dev/null >/dev/null 2>&1 || true
    done
fi

log "checking format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "building"
cargo build --workspace --bins --tests --locked

log "running the test suite"
cargo test --workspace --locked -- --skip serial_

log "running the tests that restart shared infrastructure, one at a time"
# (Selected across the workspace, so the build above is reused: with `-p` the dependencies
# would be built again with that package's own features.)
cargo test --workspace --test faults --locked -- --test-threads=1
