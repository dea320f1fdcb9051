#!/usr/bin/env bash
# `make e2e`: the example DAGs on a real Airflow deployment, as users run it.
#
#   PostgreSQL (throwaway cluster)  <- metadata DB
#   airflow scheduler (LocalExecutor) / triggerer / dag-processor / api-server
#   python -m airflow_provider_cased.testing   <- the Cased + case.dev API emulator
#
# then scripts/e2e/check.py triggers every example DAG through the REST API,
# waits for the runs, checks the deferrable tasks went through the triggerer,
# and drives headless Chromium through the UI (connection form, extra link);
# it also checks event-driven scheduling: runs started in the emulator from
# outside Airflow start the asset-scheduled DAG through the triggerer, which it
# restarts once (by pid, with the command line below) to check the watermark.
#
# Idempotent on a fresh machine: installs PostgreSQL and Chromium with apt-get
# and the Postgres drivers (psycopg2 for the sync engine, asyncpg for Airflow
# 3.3's async one) + Playwright into the venv when they are missing.
# Works with CI=true and no stdin. Every process it starts is stopped on exit,
# whatever happened. State lives in a `mktemp -d` dir (kept: logs, screenshots).
#
# Knobs (environment): VENV (default .venv), E2E_TIMEOUT (seconds to wait for
# the DAG runs, default 420), E2E_HOLD (seconds to keep everything running
# after the checks, for poking at the UI; default 0; the URL and the admin
# password are printed).
# The functions below run from traps, which shellcheck cannot see:
# shellcheck disable=SC2317
set -Eeuo pipefail

STARTED_AT=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
AIRFLOW="$VENV/bin/airflow"
E2E_TIMEOUT="${E2E_TIMEOUT:-420}"
E2E_HOLD="${E2E_HOLD:-0}"

log() { printf '[e2e   %4ss] %s\n' "$(($(date +%s) - STARTED_AT))" "$*"; }
fail() {
    log "FAILED: $*" >&2
    exit 1
}

[[ -x "$PY" && -x "$AIRFLOW" ]] || fail "no Airflow venv at $VENV: run 'make e2e' (it runs 'make venv' first)"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi

# ---------------------------------------------------------------- installs
apt_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
if ((${#apt_packages[@]})); then
    log "Installing Debian packages: ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq "${apt_packages[@]}" </dev/null >/dev/null
fi
PG_BIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -n 1)"
[[ -x "$PG_BIN/initdb" ]] || fail "PostgreSQL's initdb not found under /usr/lib/postgresql"
CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"

# Playwright drives Debian's Chromium: it must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! "$PY" -c "import psycopg2, asyncpg, playwright.sync_api" 2>/dev/null; then
    log "Installing psycopg2-binary, asyncpg and playwright into $VENV"
    if [[ -x "$VENV/bin/uv" ]]; then
        "$VENV/bin/uv" pip install -q --python "$PY" psycopg2-binary asyncpg playwright </dev/null
    else
        "$PY" -m pip install -q --disable-pip-version-check psycopg2-binary asyncpg playwright </dev/null
    fi
fi

# ---------------------------------------------------------------- temp state
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cased-e2e.XXXXXX")"
chmod 711 "$WORK" # the postgres user must reach its data dir below
LOGS="$WORK/logs"
SHOTS="$WORK/screenshots"
mkdir -p "$LOGS" "$SHOTS"
log "Work dir: $WORK (logs in $LOGS, screenshots in $SHOTS)"

SERVICES=() # "name:pid", in start order
# check.py restarts the triggerer once and writes "name:pid" of what it started here.
RESTARTED="$WORK/restarted-services"
CHECK_PID=""
HOLD_PID=""
PG_STARTED=""
RUN_AS_PG=()

tail_logs() {
    local f
    for f in "$LOGS"/*.log; do
        [[ -s "$f" ]] || continue
        echo "----- last 40 lines of $f -----"
        tail -n 40 "$f"
    done
}

# All processes in a service's session (it was started with setsid, so the
# session id is its pid): the service, its workers and the task processes.
session_pids() { ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'; }

# Every process still running in the sessions of the given session leaders.
sessions_alive() {
    local leader
    for leader in "$@"; do session_pids "$leader"; done
}

# stop_all: TERM every process of every session we started (the checks, the
# services: all at once), KILL what is left after 20 s, then stop PostgreSQL.
stop_all() {
    local entry leaders=() pids waited=0 since
    since=$(date +%s)
    [[ -n "$CHECK_PID" ]] && leaders+=("$CHECK_PID")
    for entry in "${SERVICES[@]}"; do leaders+=("${entry##*:}"); done
    if [[ -s "$RESTARTED" ]]; then
        while read -r entry; do leaders+=("${entry##*:}"); done <"$RESTARTED"
    fi
    if ((${#leaders[@]})); then
        pids="$(sessions_alive "${leaders[@]}")"
        # shellcheck disable=SC2086
        [[ -z "$pids" ]] || kill -TERM $pids 2>/dev/null || true
        while [[ -n "$(sessions_alive "${leaders[@]}")" && $waited -lt 40 ]]; do
            sleep 0.5
            waited=$((waited + 1))
        done
        pids="$(sessions_alive "${leaders[@]}")"
        if [[ -n "$pids" ]]; then
            log "Still running 20 s after SIGTERM: SIGKILL to $(echo "$pids" | wc -l) process(es)"
            # shellcheck disable=SC2086
            kill -KILL $pids 2>/dev/null || true
        fi
        log "Stopped the emulator and the Airflow services ($(($(date +%s) - since)) s)"
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
    [[ -z "$HOLD_PID" ]] || kill "$HOLD_PID" 2>/dev/null
    if ((rc != 0)); then
        echo
        log "Something failed (exit $rc); service logs follow."
        tail_logs
    fi
    stop_all
    rm -rf "$WORK/pg/data" # the cluster is throwaway; logs and screenshots stay
    local elapsed=$(($(date +%s) - STARTED_AT))
    echo
    if ((rc == 0)); then
        log "E2E PASSED in ${elapsed} s ($((elapsed / 60)) min $((elapsed % 60)) s). Logs and screenshots: $WORK"
    else
        log "E2E FAILED after ${elapsed} s. Logs and screenshots: $WORK"
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

read -r PG_PORT API_PORT WORKER_LOG_PORT TRIGGER_LOG_PORT < <(
    "$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
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
"${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
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

# ---------------------------------------------------------------- Airflow config
# One environment for every process, so the secrets agree everywhere.
export AIRFLOW_HOME="$WORK/airflow"
mkdir -p "$AIRFLOW_HOME"
# The examples poll every 30 s; the shipped cluster policy makes them poll every 2 s here.
"$PY" -c 'import sys; from airflow_provider_cased.testing.policy import install; install(sys.argv[1])' "$AIRFLOW_HOME"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# The example DAGs, plus the DAGs only the e2e runs (a person answers them: check.py).
mkdir -p "$WORK/dags"
cp "$ROOT"/example_dags/*.py "$ROOT"/scripts/e2e/dags/*.py "$WORK/dags/"
export AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags"
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
# Other Airflows may run on this machine: no fixed ports.
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$WORKER_LOG_PORT"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$TRIGGER_LOG_PORT"
# Our operators defer by default (Airflow's [operators] default_deferrable).
export AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True
# Quick pick-up of the DAG files and of new runs.
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2
export AIRFLOW__CORE__PARALLELISM=8
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=8
export CASED_TEST_POLL_INTERVAL=2
unset AIRFLOW_CONN_CASED_DEFAULT AIRFLOW_CONN_CASEDEV_DEFAULT

log "airflow db migrate (PostgreSQL)"
"$AIRFLOW" db migrate >"$LOGS/db-migrate.log" 2>&1 || fail "airflow db migrate failed (see $LOGS/db-migrate.log)"

# ---------------------------------------------------------------- emulator
# Workflow runs and async executions take 25 s: long enough that every waiting
# task (also the fan-in sensors, which start after their upstream task) finds
# its run unfinished and defers, and the triggerer polls a few times (every 2 s).
EMULATOR_API_KEY="e2e-$(secret 16)"
start_service emulator "$PY" -u -m airflow_provider_cased.testing --host 127.0.0.1 --port 0 \
    --api-key "$EMULATOR_API_KEY" --run-seconds 25
for _ in $(seq 1 100); do
    grep -q '^export AIRFLOW_CONN_CASEDEV_DEFAULT=' "$LOGS/emulator.log" 2>/dev/null && break
    sleep 0.1
done
EMULATOR_URL="$(sed -n 's/^.*listening on \(http[^ ]*\).*$/\1/p' "$LOGS/emulator.log" | head -n 1)"
[[ -n "$EMULATOR_URL" ]] || fail "the emulator did not print its URL"
log "Emulator: $EMULATOR_URL"

# Two sources of connections, both exercised: casedev_default from the
# environment of every service (the line the emulator CLI prints), cased_default
# from the metadata DB (added below), with auth_scheme Token so that the checks
# can tell from the requests which one was used.
eval "$(grep '^export AIRFLOW_CONN_CASEDEV_DEFAULT=' "$LOGS/emulator.log")"

# ---------------------------------------------------------------- Airflow services
start_service api-server "$AIRFLOW" api-server --host 127.0.0.1 --port "$API_PORT" --workers 1
start_service scheduler "$AIRFLOW" scheduler
start_service dag-processor "$AIRFLOW" dag-processor
TRIGGERER_CMD=("$AIRFLOW" triggerer) # check.py starts it again with the same command line
start_service triggerer "${TRIGGERER_CMD[@]}"

# cased_default goes into the metadata DB while the services boot (nothing runs
# before check.py unpauses the DAGs).
"$AIRFLOW" connections add cased_default --conn-type cased --conn-host "$EMULATOR_URL" \
    --conn-password "$EMULATOR_API_KEY" --conn-extra '{"auth_scheme": "Token", "retry_limit": 2}' \
    >"$LOGS/connections-add.log" 2>&1 || fail "airflow connections add failed (see $LOGS/connections-add.log)"
log "Connections: cased_default in the metadata DB, casedev_default from AIRFLOW_CONN_CASEDEV_DEFAULT"

service_args=()
for entry in "${SERVICES[@]}"; do service_args+=(--service "$entry"); done
for word in "${TRIGGERER_CMD[@]}"; do service_args+=(--triggerer-command "$word"); done

# In its own session (so the cleanup can stop it and its Chromium) and waited
# for in the background, so that a SIGTERM/SIGINT runs the cleanup at once.
check_rc=0
E2E_STARTED_AT="$STARTED_AT" setsid "$PY" "$ROOT/scripts/e2e/check.py" \
    --api-url "http://127.0.0.1:$API_PORT" \
    --username admin --password "$AIRFLOW_UI_PASSWORD" \
    --emulator-url "$EMULATOR_URL" --emulator-api-key "$EMULATOR_API_KEY" \
    --chromium "$CHROMIUM" --screenshots "$SHOTS" --logs "$LOGS" \
    --airflow-home "$AIRFLOW_HOME" --timeout "$E2E_TIMEOUT" "${service_args[@]}" \
    --summary "$WORK/summary.txt" \
    --restarted-services "$RESTARTED" </dev/null &
CHECK_PID=$!
wait "$CHECK_PID" || check_rc=$?
CHECK_PID=""

if ((E2E_HOLD > 0)); then
    log "E2E_HOLD: services stay up ${E2E_HOLD} s: UI http://127.0.0.1:$API_PORT (admin / $AIRFLOW_UI_PASSWORD)"
    sleep "$E2E_HOLD" &
    HOLD_PID=$!
    wait "$HOLD_PID" || true
    HOLD_PID=""
fi
exit "$check_rc"
