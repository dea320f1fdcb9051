#!/usr/bin/env bash
# `make e2e-distributed`: a multi-process Airflow deployment under load and chaos.
#
#   PostgreSQL (throwaway cluster)   <- metadata DB + Celery result backend
#   Redis (private unix socket)      <- Celery broker
#   airflow scheduler (CeleryExecutor) / dag-processor / api-server
#   two `airflow celery worker`s, two `airflow triggerer`s
#   python -m airflow_provider_cased.testing   <- the Cased + case.dev API emulator
#
# scripts/e2e_distributed/chaos.py then runs the load DAG (scripts/e2e_distributed/dags:
# 200 deferrable workflow runs, 100 deferrable async case.dev executions, 20 sync waits,
# all retries=2) and hurts the deployment while they wait: SIGKILL of the busiest
# triggerer, SIGKILL of a Celery worker's process tree, a 90 s API outage, a rate
# limit. One verdict line per check and a summary table; exit 1 when any check fails.
#
# Idempotent on a fresh machine: installs PostgreSQL and Redis with apt-get (CI=true,
# no stdin) and the Celery provider + Postgres drivers into the venv when missing.
# The system Redis/PostgreSQL services are never used or touched. Every process this
# script (or the chaos driver) starts is stopped on exit, by session, whatever happened.
#
# Knobs (environment): VENV (default .venv), E2E_DIST_TIMEOUT (seconds for the whole
# chaos run, default 1200), CASED_LOAD_DEFERRED_RUNS / CASED_LOAD_EXECUTIONS /
# CASED_LOAD_SYNC_RUNS (default 200 / 100 / 20), E2E_DIST_CONCURRENCY (task slots per
# Celery worker, default 12).
# The functions below run from traps, which shellcheck cannot see:
# shellcheck disable=SC2317
set -Eeuo pipefail

STARTED_AT=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/scripts/e2e_distributed"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
AIRFLOW="$VENV/bin/airflow"
E2E_DIST_TIMEOUT="${E2E_DIST_TIMEOUT:-1200}"
CONCURRENCY="${E2E_DIST_CONCURRENCY:-12}"
export CASED_LOAD_DEFERRED_RUNS="${CASED_LOAD_DEFERRED_RUNS:-200}"
export CASED_LOAD_EXECUTIONS="${CASED_LOAD_EXECUTIONS:-100}"
export CASED_LOAD_SYNC_RUNS="${CASED_LOAD_SYNC_RUNS:-20}"
export CASED_LOAD_POLL_INTERVAL="${CASED_LOAD_POLL_INTERVAL:-5}"

log() { printf '[e2e-d %4ss] %s\n' "$(($(date +%s) - STARTED_AT))" "$*"; }
fail() {
    log "FAILED: $*" >&2
    exit 1
}

[[ -x "$PY" && -x "$AIRFLOW" ]] || fail "no Airflow venv at $VENV: run 'make e2e-distributed' (it runs 'make venv' first)"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi

# ---------------------------------------------------------------- installs
apt_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
[[ -x /usr/bin/redis-server ]] || apt_packages+=(redis-server)
if ((${#apt_packages[@]})); then
    log "Installing Debian packages: ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq </dev/null
    # The packages may start their system services; this script never uses or stops them.
    $SUDO apt-get install -y -qq "${apt_packages[@]}" </dev/null >/dev/null
fi
PG_BIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -n 1)"
[[ -x "$PG_BIN/initdb" ]] || fail "PostgreSQL's initdb not found under /usr/lib/postgresql"

# celery 5.7 dropped celery.backends.database.retry, which the Celery provider (3.26)
# imports: hold celery below 5.7 until a provider release catches up.
CELERY_REQS=(apache-airflow-providers-celery "celery[redis]>=5.5,<5.7" psycopg2-binary asyncpg)
if ! "$PY" -c "import psycopg2, asyncpg, airflow.providers.celery; from celery.backends.database import retry" 2>/dev/null; then
    log "Installing ${CELERY_REQS[*]} into $VENV"
    if [[ -x "$VENV/bin/uv" ]]; then
        "$VENV/bin/uv" pip install -q --python "$PY" "${CELERY_REQS[@]}" </dev/null
    else
        "$PY" -m pip install -q --disable-pip-version-check "${CELERY_REQS[@]}" </dev/null
    fi
fi

# ---------------------------------------------------------------- temp state
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cased-e2e-dist.XXXXXX")"
chmod 711 "$WORK" # the postgres user must reach its data dir below
LOGS="$WORK/logs"
mkdir -p "$LOGS" "$WORK/run"
# Services the chaos driver starts (replacements for the killed ones): "name:pid" lines.
EXTRA_SERVICES="$WORK/run/extra-services"
: >"$EXTRA_SERVICES"
log "Work dir: $WORK (logs in $LOGS)"

SERVICES=() # "name:pid", in start order
CHECK_PID=""
PG_STARTED=""
RUN_AS_PG=()

tail_logs() {
    local f
    for f in "$LOGS"/*.log; do
        [[ -s "$f" ]] || continue
        echo "----- last 30 lines of $f -----"
        tail -n 30 "$f"
    done
}

# All processes in a service's session (started with setsid: the session id is its
# pid): the service, its workers and the task processes.
session_pids() { ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'; }

sessions_alive() {
    local leader
    for leader in "$@"; do session_pids "$leader"; done
}

# stop_sessions LEADER...: TERM every process of these sessions, KILL what is left after 20 s.
stop_sessions() {
    local pids waited=0
    (($#)) || return 0
    pids="$(sessions_alive "$@")"
    # shellcheck disable=SC2086
    [[ -z "$pids" ]] || kill -TERM $pids 2>/dev/null || true
    while [[ -n "$(sessions_alive "$@")" && $waited -lt 40 ]]; do
        sleep 0.5
        waited=$((waited + 1))
    done
    pids="$(sessions_alive "$@")"
    if [[ -n "$pids" ]]; then
        log "Still running 20 s after SIGTERM: SIGKILL to $(echo "$pids" | wc -l) process(es)"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
}

# stop_all: the driver and the Airflow services (also the replacements the driver
# started) first, then Redis and the emulator they talk to, then PostgreSQL. Never by
# name: only the sessions started here.
stop_all() {
    local entry first=() last=() since
    since=$(date +%s)
    [[ -n "$CHECK_PID" ]] && first+=("$CHECK_PID")
    for entry in "${SERVICES[@]}"; do
        case "${entry%%:*}" in
            redis | emulator) last+=("${entry##*:}") ;;
            *) first+=("${entry##*:}") ;;
        esac
    done
    if [[ -s "$EXTRA_SERVICES" ]]; then
        while IFS= read -r entry; do
            [[ "${entry##*:}" =~ ^[0-9]+$ ]] && first+=("${entry##*:}")
        done <"$EXTRA_SERVICES"
    fi
    if ((${#first[@]} + ${#last[@]})); then
        stop_sessions "${first[@]}"
        stop_sessions "${last[@]}"
        log "Stopped the Airflow services, Redis and the emulator ($(($(date +%s) - since)) s)"
    fi
    CHECK_PID=""
    SERVICES=()
    if [[ -n "$PG_STARTED" ]]; then
        "${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 ||
            "${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
        PG_STARTED=""
        log "Stopped PostgreSQL"
    fi
}

on_exit() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if ((rc != 0)); then
        echo
        log "Something failed (exit $rc); service logs follow."
        tail_logs
    fi
    stop_all
    rm -rf "$WORK/pg/data" # the cluster is throwaway; logs stay
    local elapsed=$(($(date +%s) - STARTED_AT))
    echo
    if ((rc == 0)); then
        log "E2E-DISTRIBUTED PASSED in ${elapsed} s ($((elapsed / 60)) min $((elapsed % 60)) s). Logs: $WORK"
    else
        log "E2E-DISTRIBUTED FAILED after ${elapsed} s. Logs: $WORK"
        [[ ! -s "$WORK/summary.txt" ]] || cat "$WORK/summary.txt"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_service NAME CMD...: background, own session, output to $LOGS/NAME.log
start_service() {
    local name="$1"
    shift
    setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
    SERVICES+=("$name:$!")
    log "Started $name (pid $!): $LOGS/$name.log"
}

read -r PG_PORT API_PORT TRIGGER_LOG_PORT < <(
    "$PY" - <<'PYEOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PYEOF
)
secret() { "$PY" -c "import secrets; print(secrets.token_hex(${1:-24}))"; }

# ---------------------------------------------------------------- PostgreSQL
# initdb refuses root: the cluster belongs to the postgres user when we are root.
mkdir -p "$WORK/pg"
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || fail "no 'postgres' user (the postgresql package creates it)"
    chown postgres: "$WORK/pg"
    RUN_AS_PG=(runuser -u postgres --)
fi
PG_SUPER_PASSWORD="$(secret)"
DB_PASSWORD="$(secret)"
printf '%s\n' "$PG_SUPER_PASSWORD" >"$WORK/pg/pwfile"
[[ $(id -u) -eq 0 ]] && chown postgres: "$WORK/pg/pwfile"
chmod 600 "$WORK/pg/pwfile"
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'): initdb + start on 127.0.0.1:$PG_PORT"
"${RUN_AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --pwfile="$WORK/pg/pwfile" \
    --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >"$LOGS/initdb.log" 2>&1 ||
    fail "initdb failed (see $LOGS/initdb.log)"
rm -f "$WORK/pg/pwfile"
# Many processes connect (2 workers x concurrency task processes, triggerers, ...).
"${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null || {
    cp "$WORK/pg/postgres.log" "$LOGS/postgres.log" 2>/dev/null
    fail "PostgreSQL did not start"
}
PG_STARTED=1
ln -sf "$WORK/pg/postgres.log" "$LOGS/postgres.log"
PGPASSWORD="$PG_SUPER_PASSWORD" "$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
    -U postgres -d postgres \
    -c "CREATE ROLE airflow LOGIN PASSWORD '$DB_PASSWORD'" \
    -c "CREATE DATABASE airflow OWNER airflow" >/dev/null

# ---------------------------------------------------------------- Redis
# Unix socket only (port 0: no TCP), no persistence, in our work dir: nothing shared
# with a system Redis, nothing left behind.
REDIS_SOCK="$WORK/run/redis.sock"
start_service redis /usr/bin/redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
    --save "" --appendonly no --dir "$WORK/run" --daemonize no
for _ in $(seq 1 100); do
    [[ -S "$REDIS_SOCK" ]] && break
    sleep 0.1
done
[[ -S "$REDIS_SOCK" ]] || fail "Redis did not create $REDIS_SOCK"

# ---------------------------------------------------------------- Airflow config
# One environment for every process, so the secrets agree everywhere.
DB_URL="postgresql+psycopg2://airflow:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW_HOME="$WORK/airflow"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$DB_URL"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CELERY__BROKER_URL="redis+socket://$REDIS_SOCK"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="$CONCURRENCY"
export AIRFLOW__CORE__DAGS_FOLDER="$HERE/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
AIRFLOW__CORE__FERNET_KEY="$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
export AIRFLOW__CORE__FERNET_KEY
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
AIRFLOW__API__SECRET_KEY="$(secret)"
AIRFLOW__API_AUTH__JWT_SECRET="$(secret 32)"
export AIRFLOW__API__SECRET_KEY AIRFLOW__API_AUTH__JWT_SECRET
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$WORK/passwords.json"
AIRFLOW_UI_PASSWORD="$(secret 12)"
printf '{"admin": "%s"}\n' "$AIRFLOW_UI_PASSWORD" >"$WORK/passwords.json"
# Each service gets its own hostname (CASED_E2E_HOSTNAME), as on separate machines:
# the driver reads job.hostname / task_instance.hostname to find whom to kill.
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__HOSTNAME_CALLABLE=e2e_hostname.hostname
# Workers and triggerers skip serving logs (two of each would share a port); the
# api-server reads the task logs from the shared local folder.
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$TRIGGER_LOG_PORT"
export AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2
export AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY=64
# Executor slots = both workers' task slots: 2 cores cannot start tasks faster anyway.
export AIRFLOW__CORE__PARALLELISM=$((2 * CONCURRENCY))
# HA in seconds, not minutes: a triggerer silent for 10 s is dead and its triggers go
# to the other one; a task whose worker stopped heartbeating for 30 s is failed and retried.
export AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC=2
export AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD=10
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=30
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=5
unset AIRFLOW_CONN_CASED_DEFAULT AIRFLOW_CONN_CASEDEV_DEFAULT

log "airflow db migrate (PostgreSQL)"
"$AIRFLOW" db migrate >"$LOGS/db-migrate.log" 2>&1 || fail "airflow db migrate failed (see $LOGS/db-migrate.log)"

# ---------------------------------------------------------------- emulator
# The load's workflows/action are added by the driver; their runs only end when it says.
EMULATOR_API_KEY="e2e-$(secret 16)"
start_service emulator "$PY" -u -m airflow_provider_cased.testing --host 127.0.0.1 --port 0 \
    --api-key "$EMULATOR_API_KEY"
for _ in $(seq 1 100); do
    grep -q '^export AIRFLOW_CONN_CASEDEV_DEFAULT=' "$LOGS/emulator.log" 2>/dev/null && break
    sleep 0.1
done
EMULATOR_URL="$(sed -n 's/^.*listening on \(http[^ ]*\).*$/\1/p' "$LOGS/emulator.log" | head -n 1)"
[[ -n "$EMULATOR_URL" ]] || fail "the emulator did not print its URL"
log "Emulator: $EMULATOR_URL"
eval "$(grep '^export AIRFLOW_CONN_' "$LOGS/emulator.log")"

# ---------------------------------------------------------------- Airflow services
start_service api-server "$AIRFLOW" api-server --host 127.0.0.1 --port "$API_PORT" --workers 1
start_service scheduler "$AIRFLOW" scheduler
start_service dag-processor "$AIRFLOW" dag-processor
for n in 1 2; do
    CASED_E2E_HOSTNAME="triggerer-$n" start_service "triggerer-$n" "$AIRFLOW" triggerer \
        --skip-serve-logs --pid "$WORK/run/triggerer-$n.pid"
    CASED_E2E_HOSTNAME="worker-$n" start_service "worker-$n" "$AIRFLOW" celery worker \
        --skip-serve-logs --pid "$WORK/run/worker-$n.pid" --celery-hostname "worker-$n@%h" \
        --concurrency "$CONCURRENCY" --without-gossip --without-mingle
done

service_args=()
for entry in "${SERVICES[@]}"; do service_args+=(--service "$entry"); done

# In its own session (so the cleanup can stop it) and waited for in the background,
# so that a SIGTERM/SIGINT runs the cleanup at once.
check_rc=0
E2E_STARTED_AT="$STARTED_AT" setsid "$PY" -u "$HERE/chaos.py" \
    --api-url "http://127.0.0.1:$API_PORT" --username admin --password "$AIRFLOW_UI_PASSWORD" \
    --emulator-url "$EMULATOR_URL" --emulator-api-key "$EMULATOR_API_KEY" \
    --db-url "$DB_URL" --airflow "$AIRFLOW" --logs "$LOGS" --run-dir "$WORK/run" \
    --extra-services "$EXTRA_SERVICES" --concurrency "$CONCURRENCY" \
    --timeout "$E2E_DIST_TIMEOUT" "${service_args[@]}" --summary "$WORK/summary.txt" </dev/null &
CHECK_PID=$!
wait "$CHECK_PID" || check_rc=$?
CHECK_PID=""
exit "$check_rc"
