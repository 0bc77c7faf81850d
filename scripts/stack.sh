#!/usr/bin/env bash
# Runs the whole system on this machine: PostgreSQL and RabbitMQ (installed from the OS
# packages when missing), the embedding model, and the five services.
#
#   scripts/stack.sh up                  install what is missing, build, start everything
#   scripts/stack.sh down                stop the services (add --all to stop PostgreSQL and RabbitMQ too)
#   scripts/stack.sh status              what runs, with health
#   scripts/stack.sh scale categorizer N run N categorizer replicas
#   scripts/stack.sh logs NAME           follow a service's log
#
# Running `up` again while the stack is up starts only what is not running. The first `up` makes
# the token-signing secret and the first admin's password and keeps them in .run/secrets.env
# (readable by its owner only); values already in the environment win.
# Environment: SYSOPS_PROFILE (release or dev, default release), CATEGORIZER_REPLICAS (default 1),
# CARGO_TARGET_DIR, and every service setting (see docs/configuration.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUN_DIR="$ROOT/.run"
LOG_DIR="$RUN_DIR/logs"
PROFILE=${SYSOPS_PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sysops-target}
BIN_DIR="$CARGO_TARGET_DIR/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
SERVICES=(tickets routing analytics categorizer gateway)

declare -A PORT=([gateway]=8080 [tickets]=8081 [categorizer]=8082 [routing]=8083 [analytics]=8084)

log() { printf '[stack] %s\n' "$*" >&2; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

healthy() { curl -fsS -m 2 "http://127.0.0.1:$1/health" >/dev/null 2>&1; }

SECRETS="$RUN_DIR/secrets.env"

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Exports JWT_SECRET, ADMIN_EMAIL and ADMIN_PASSWORD from .run/secrets.env, making the file
# the first time; variables already set are kept.
load_secrets() {
  mkdir -p "$RUN_DIR"
  if [ ! -f "$SECRETS" ]; then
    (
      umask 077
      printf 'JWT_SECRET=%s\nADMIN_EMAIL=%s\nADMIN_PASSWORD=%s\n' \
        "$(random_hex 32)" admin@example.com "$(random_hex 12)" >"$SECRETS"
    )
    log "made $SECRETS (the token-signing secret and the first admin's password)"
  fi
  local line key
  while IFS= read -r line; do
    key=${line%%=*}
    [ -n "$key" ] && [ -z "${!key:-}" ] && export "$line"
  done <"$SECRETS"
  return 0
}

build() {
  log "building the services ($PROFILE profile; the first build takes several minutes)"
  if [ "$PROFILE" = dev ]; then cargo build --bins; else cargo build --profile "$PROFILE" --bins; fi
}

# start NAME INSTANCE PORT
start_one() {
  local name=$1 instance=$2 port=$3
  local pidfile="$RUN_DIR/$name.$instance.pid" logfile="$LOG_DIR/$name.$instance.log"
  if pid_alive "$pidfile"; then
    log "$name.$instance is already running (pid $(cat "$pidfile"))"
    return
  fi
  # Each service in a session of its own, as a service manager would start it: where the kernel
  # groups processes by session (autogroup), the categorizer's lower CPU priority (CPU_NICE)
  # then counts against the other services (docs/operations.md, CPU priority).
  local addr="127.0.0.1:$port"
  [ "$port" = 0 ] && addr="127.0.0.1:0"
  HTTP_ADDR=${HTTP_ADDR_OVERRIDE:-$addr} \
  TICKETS_URL=${TICKETS_URL:-http://127.0.0.1:${PORT[tickets]}} \
  CATEGORIZER_URL=${CATEGORIZER_URL:-http://127.0.0.1:${PORT[categorizer]}} \
  ROUTING_URL=${ROUTING_URL:-http://127.0.0.1:${PORT[routing]}} \
  ANALYTICS_URL=${ANALYTICS_URL:-http://127.0.0.1:${PORT[analytics]}} \
  TAXONOMY_PATH=${TAXONOMY_PATH:-$ROOT/models/taxonomy.toml} \
  EXPERTS_SEED_PATH=${EXPERTS_SEED_PATH-$ROOT/services/routing/seed/experts.toml} \
  MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-1000} \
    setsid nohup "$BIN_DIR/$name" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  log "started $name.$instance (pid $!, log $logfile)"
}

wait_healthy() {
  local name=$1 port=$2
  for _ in $(seq 1 120); do
    healthy "$port" && return 0
    pid_alive "$RUN_DIR/$name.1.pid" || { log "$name exited; last lines of its log:"; tail -n 20 "$LOG_DIR/$name.1.log" >&2; return 1; }
    sleep 0.5
  done
  log "$name did not become healthy"; return 1
}

categorizer_instances() {
  local f
  for f in "$RUN_DIR"/categorizer.*.pid; do
    if [ -e "$f" ]; then basename "$f" .pid | cut -d. -f2; fi
  done | sort -n
}

scale_categorizer() {
  local want=$1 have
  for i in $(categorizer_instances); do pid_alive "$RUN_DIR/categorizer.$i.pid" || rm -f "$RUN_DIR/categorizer.$i.pid"; done
  have=$(categorizer_instances | wc -l)
  while [ "$have" -lt "$want" ]; do
    have=$((have + 1))
    # The first replica serves :8082; the others pick free ports (see their logs).
    start_one categorizer "$have" "$([ "$have" = 1 ] && echo "${PORT[categorizer]}" || echo 0)"
  done
  while [ "$have" -gt "$want" ]; do
    stop_one "$RUN_DIR/categorizer.$have.pid"
    have=$((have - 1))
  done
  log "categorizer replicas: $want"
}

stop_one() {
  local pidfile=$1
  if pid_alive "$pidfile"; then
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    log "stopped $(basename "$pidfile" .pid)"
  fi
  rm -f "$pidfile"
}

up() {
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  load_secrets
  "$ROOT/scripts/deps.sh" up
  if [ -x "$ROOT/scripts/fetch-model.sh" ]; then "$ROOT/scripts/fetch-model.sh"; fi
  build
  for name in tickets routing analytics; do
    start_one "$name" 1 "${PORT[$name]}"
    wait_healthy "$name" "${PORT[$name]}"
  done
  local running
  running=$(categorizer_instances | wc -l)
  scale_categorizer "${CATEGORIZER_REPLICAS:-$((running > 0 ? running : 1))}"
  wait_healthy categorizer "${PORT[categorizer]}"
  start_one gateway 1 "${PORT[gateway]}"
  wait_healthy gateway "${PORT[gateway]}"
  cat <<MSG

Sysops Squad triage is up.
  Web:        http://127.0.0.1:${PORT[gateway]}/
  Dashboard:  http://127.0.0.1:${PORT[gateway]}/dashboard
  API health: http://127.0.0.1:${PORT[gateway]}/api/health
  Sign in:    $ADMIN_EMAIL / $ADMIN_PASSWORD  (kept in $SECRETS)
  Try:        TOKEN=\$(curl -s -XPOST http://127.0.0.1:${PORT[gateway]}/api/auth/login -H 'content-type: application/json' \\
                -d '{"email":"$ADMIN_EMAIL","password":"$ADMIN_PASSWORD"}' | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')
              curl -s -XPOST http://127.0.0.1:${PORT[gateway]}/api/tickets -H "authorization: Bearer \$TOKEN" \\
                -H 'content-type: application/json' -d '{"title":"Printer jams","description":"paper jam on every page"}'
  Logs:       $LOG_DIR/
  Stop:       scripts/stack.sh down   (add --all to stop PostgreSQL and RabbitMQ)
MSG
}

down() {
  for pidfile in "$RUN_DIR"/gateway.*.pid "$RUN_DIR"/categorizer.*.pid "$RUN_DIR"/routing.*.pid "$RUN_DIR"/analytics.*.pid "$RUN_DIR"/tickets.*.pid; do
    [ -e "$pidfile" ] && stop_one "$pidfile"
  done
  if [ "${1:-}" = "--all" ]; then "$ROOT/scripts/deps.sh" stop; fi
}

status() {
  for name in "${SERVICES[@]}"; do
    for pidfile in "$RUN_DIR/$name".*.pid; do
      [ -e "$pidfile" ] || { printf '%-14s not running\n' "$name"; continue; }
      local label
      label=$(basename "$pidfile" .pid)
      if pid_alive "$pidfile"; then
        local health=""
        [ "$label" = "$name.1" ] && { healthy "${PORT[$name]}" && health=healthy || health=unhealthy; }
        printf '%-14s running (pid %s) %s\n' "$label" "$(cat "$pidfile")" "$health"
      else
        printf '%-14s dead (stale pid file)\n' "$label"
      fi
    done
  done
}

case "${1:-up}" in
  up) up ;;
  down) shift; down "$@" ;;
  status) status ;;
  scale)
    [ "${2:-}" = categorizer ] && [[ "${3:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 scale categorizer N" >&2; exit 2; }
    mkdir -p "$RUN_DIR" "$LOG_DIR"; load_secrets; scale_categorizer "$3" ;;
  logs) tail -F "$LOG_DIR/${2:?service name}.1.log" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
