#!/usr/bin/env bash
# Installs (when missing) and starts PostgreSQL and RabbitMQ on 127.0.0.1, and prepares the
# `sysops` role and database. Safe to run again while they are up.
#
#   scripts/deps.sh          install if needed, start, prepare
#   scripts/deps.sh stop     stop both
set -euo pipefail

DB_USER=${SYSOPS_DB_USER:-sysops}
DB_PASSWORD=${SYSOPS_DB_PASSWORD:-sysops}
DB_NAME=${SYSOPS_DB_NAME:-sysops}

log() { printf '[deps] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi
}

install_missing() {
  local missing=()
  command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from the OS packages"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # policy-rc.d keeps the package scripts from starting services: this script starts them
    # itself, bound to loopback.
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    as_root rm -f /usr/sbin/policy-rc.d
  fi
}

pg_cluster() {
  # The newest installed cluster, as "version name".
  pg_lsclusters --no-header 2>/dev/null | awk '{print $1, $2}' | sort -V | tail -n 1
}

start_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    log "PostgreSQL is up"
  else
    local cluster
    cluster=$(pg_cluster)
    if [ -z "$cluster" ]; then
      local version
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      log "creating PostgreSQL cluster $version main"
      as_root pg_createcluster "$version" main >/dev/null
      cluster="$version main"
    fi
    log "starting PostgreSQL $cluster"
    # shellcheck disable=SC2086
    as_root pg_ctlcluster $cluster start
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not start"; exit 1; }
  fi
  if ! as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'\"" | grep -q 1; then
    log "creating role $DB_USER"
    as_postgres "psql -qc \"CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD'\""
  fi
  if ! as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'\"" | grep -q 1; then
    log "creating database $DB_NAME"
    as_postgres "createdb -O $DB_USER $DB_NAME"
  fi
}

rabbit_up() { rabbitmq-diagnostics -q ping >/dev/null 2>&1; }

start_rabbitmq() {
  if rabbit_up; then
    log "RabbitMQ is up"
    return
  fi
  log "starting RabbitMQ"
  as_root mkdir -p /etc/rabbitmq
  if [ ! -f /etc/rabbitmq/rabbitmq.conf ] || ! grep -q '^listeners.tcp.default' /etc/rabbitmq/rabbitmq.conf; then
    as_root sh -c 'echo "listeners.tcp.default = 127.0.0.1:5672" >> /etc/rabbitmq/rabbitmq.conf'
  fi
  if [ ! -f /etc/rabbitmq/rabbitmq-env.conf ] || ! grep -q '^NODE_IP_ADDRESS' /etc/rabbitmq/rabbitmq-env.conf; then
    as_root sh -c 'printf "NODE_IP_ADDRESS=127.0.0.1\nNODENAME=rabbit@localhost\n" >> /etc/rabbitmq/rabbitmq-env.conf'
  fi
  as_root sh -c 'ERL_EPMD_ADDRESS=127.0.0.1 rabbitmq-server -detached' >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do rabbit_up && break; sleep 1; done
  rabbit_up || { log "RabbitMQ did not start; see /var/log/rabbitmq/"; exit 1; }
  as_root rabbitmqctl -q await_startup >/dev/null
}

stop_all() {
  rabbit_up && { log "stopping RabbitMQ"; as_root rabbitmqctl -q stop >/dev/null || true; }
  local cluster
  cluster=$(pg_cluster)
  # shellcheck disable=SC2086
  [ -n "$cluster" ] && pg_isready -q -h 127.0.0.1 -p 5432 && { log "stopping PostgreSQL"; as_root pg_ctlcluster $cluster stop; }
  true
}

case "${1:-up}" in
  up)
    install_missing
    start_postgres
    start_rabbitmq
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 [up|stop]" >&2; exit 2 ;;
esac
