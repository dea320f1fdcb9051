# shellcheck shell=bash
# What `make e2e` (scripts/e2e.sh) and `make e2e-distributed` (scripts/e2e_distributed.sh)
# share: installs, a throwaway PostgreSQL cluster, services in sessions of their own and
# their shutdown, the Airflow settings both deployments use, the emulator. Sourced, not run.
#
# The sourcing script sets, before sourcing: E2E_NAME (its make target, for messages),
# E2E_TAG (the log prefix, 5 characters), E2E_WORK_PREFIX (mktemp name); and defines,
# after sourcing, stop_services (called on exit before PostgreSQL stops).
# The functions below run from traps, which shellcheck cannot see (and DRIVER_RC is
# read by the sourcing script):
# shellcheck disable=SC2317,SC2034
set -Eeuo pipefail

STARTED_AT=$(date +%s)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
AIRFLOW="$VENV/bin/airflow"

log() { printf '[%-5s %4ss] %s\n' "$E2E_TAG" "$(($(date +%s) - STARTED_AT))" "$*"; }
fail() {
    log "FAILED: $*" >&2
    exit 1
}

[[ -x "$PY" && -x "$AIRFLOW" ]] || fail "no Airflow venv at $VENV: run 'make $E2E_NAME' (it runs 'make venv' first)"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi

# apt_install PACKAGE...: the Debian packages (CI=true, no stdin). They may start their
# system services; these scripts never use or stop them.
apt_install() {
    (($#)) || return 0
    log "Installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq "$@" </dev/null >/dev/null
}

# venv_install CHECK REQUIREMENT...: pip-install the requirements unless python -c CHECK passes.
venv_install() {
    local check="$1"
    shift
    "$PY" -c "$check" 2>/dev/null && return 0
    log "Installing $* into $VENV"
    if [[ -x "$VENV/bin/uv" ]]; then
        "$VENV/bin/uv" pip install -q --python "$PY" "$@" </dev/null
    else
        "$PY" -m pip install -q --disable-pip-version-check "$@" </dev/null
    fi
}

postgres_bin() {
    local bin
    bin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin | sort -V | tail -n 1)"
    [[ -x "$bin/initdb" ]] || fail "PostgreSQL's initdb not found under /usr/lib/postgresql"
    echo "$bin"
}

# make_work_dir: $WORK (kept: logs and what the checks leave), $LOGS.
make_work_dir() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/$E2E_WORK_PREFIX.XXXXXX")"
    chmod 711 "$WORK" # the postgres user must reach its data dir below
    LOGS="$WORK/logs"
    mkdir -p "$LOGS"
}

SERVICES=() # "name:pid", in start order
CHECK_PID=""
PG_STARTED=""
RUN_AS_PG=()

# tail_logs LINES: the end of every service log.
tail_logs() {
    local f
    for f in "$LOGS"/*.log; do
        [[ -s "$f" ]] || continue
        echo "----- last $1 lines of $f -----"
        tail -n "$1" "$f"
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
# Never by name: only the sessions started here.
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

# leaders_in FILE: the pids of the "name:pid" lines a check driver wrote there.
leaders_in() {
    local entry
    [[ -s "$1" ]] || return 0
    while IFS= read -r entry; do
        [[ "${entry##*:}" =~ ^[0-9]+$ ]] && echo "${entry##*:}"
    done <"$1"
}

stop_postgres() {
    [[ -n "$PG_STARTED" ]] || return 0
    "${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 ||
        "${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true
    PG_STARTED=""
    log "Stopped PostgreSQL"
}

# on_exit (trap): service logs on failure, everything stopped, the verdict last (with the
# check driver's summary, so the tail of a CI log says which check failed).
on_exit() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if ((rc != 0)); then
        echo
        log "Something failed (exit $rc); service logs follow."
        tail_logs 40
    fi
    stop_services
    CHECK_PID=""
    SERVICES=()
    stop_postgres
    rm -rf "$WORK/pg/data" # the cluster is throwaway; logs stay
    local elapsed=$(($(date +%s) - STARTED_AT)) name
    name="$(echo "$E2E_NAME" | tr '[:lower:]' '[:upper:]')"
    echo
    if ((rc == 0)); then
        log "$name PASSED in ${elapsed} s ($((elapsed / 60)) min $((elapsed % 60)) s). Logs: $WORK"
    else
        log "$name FAILED after ${elapsed} s. Logs: $WORK"
        [[ ! -s "$WORK/summary.txt" ]] || cat "$WORK/summary.txt"
    fi
    exit "$rc"
}

# start_service NAME CMD...: background, own session, output to $LOGS/NAME.log
start_service() {
    local name="$1"
    shift
    setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
    SERVICES+=("$name:$!")
    log "Started $name (pid $!): $LOGS/$name.log"
}

# free_ports N: N free TCP ports on 127.0.0.1 (other Airflows may run here: no fixed ports).
free_ports() {
    "$PY" - "$1" <<'EOF'
import socket
import sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
}

secret() { "$PY" -c "import secrets; print(secrets.token_hex(${1:-24}))"; }

# start_postgres PORT MAX_CONNECTIONS: a throwaway cluster in $WORK/pg with an `airflow`
# role and database; sets DB_PASSWORD.
start_postgres() {
    local port="$1" max_connections="$2" super_password
    PG_BIN="$(postgres_bin)"
    # initdb refuses root: the cluster belongs to the postgres user when we are root.
    mkdir -p "$WORK/pg"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || fail "no 'postgres' user (the postgresql package creates it)"
        chown postgres: "$WORK/pg"
        RUN_AS_PG=(runuser -u postgres --)
    fi
    super_password="$(secret)"
    DB_PASSWORD="$(secret)"
    printf '%s\n' "$super_password" >"$WORK/pg/pwfile"
    [[ $(id -u) -ne 0 ]] || chown postgres: "$WORK/pg/pwfile"
    chmod 600 "$WORK/pg/pwfile"
    log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'): initdb + start on 127.0.0.1:$port"
    "${RUN_AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U postgres --pwfile="$WORK/pg/pwfile" \
        --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >"$LOGS/initdb.log" 2>&1 ||
        fail "initdb failed (see $LOGS/initdb.log)"
    rm -f "$WORK/pg/pwfile"
    "${RUN_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $WORK/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=$max_connections" \
        start >/dev/null || {
        cp "$WORK/pg/postgres.log" "$LOGS/postgres.log" 2>/dev/null
        fail "PostgreSQL did not start"
    }
    PG_STARTED=1
    ln -sf "$WORK/pg/postgres.log" "$LOGS/postgres.log"
    PGPASSWORD="$super_password" "$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
        -U postgres -d postgres \
        -c "CREATE ROLE airflow LOGIN PASSWORD '$DB_PASSWORD'" \
        -c "CREATE DATABASE airflow OWNER airflow" >/dev/null
}

# airflow_env DB_URL API_PORT: what every Airflow process of the deployment shares (one
# environment, so the secrets agree everywhere); sets AIRFLOW_UI_PASSWORD.
airflow_env() {
    export AIRFLOW_HOME="$WORK/airflow"
    mkdir -p "$AIRFLOW_HOME"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$1"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    AIRFLOW__CORE__FERNET_KEY="$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
    export AIRFLOW__CORE__FERNET_KEY
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$2/execution/"
    export AIRFLOW__API__HOST=127.0.0.1
    export AIRFLOW__API__PORT="$2"
    export AIRFLOW__API__BASE_URL="http://127.0.0.1:$2"
    AIRFLOW__API__SECRET_KEY="$(secret)"
    AIRFLOW__API_AUTH__JWT_SECRET="$(secret 32)"
    export AIRFLOW__API__SECRET_KEY AIRFLOW__API_AUTH__JWT_SECRET
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$WORK/passwords.json"
    AIRFLOW_UI_PASSWORD="$(secret 12)"
    printf '{"admin": "%s"}\n' "$AIRFLOW_UI_PASSWORD" >"$WORK/passwords.json"
    # Our operators defer by default (Airflow's [operators] default_deferrable).
    export AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=True
    # Quick pick-up of the DAG files and of new runs.
    export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=10
    export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2
    unset AIRFLOW_CONN_CASED_DEFAULT AIRFLOW_CONN_CASEDEV_DEFAULT
}

migrate_db() {
    log "airflow db migrate (PostgreSQL)"
    "$AIRFLOW" db migrate >"$LOGS/db-migrate.log" 2>&1 || fail "airflow db migrate failed (see $LOGS/db-migrate.log)"
}

# start_emulator ARG...: the shipped emulator on a free port; sets EMULATOR_URL and
# EMULATOR_API_KEY, and leaves the connection lines it prints in $LOGS/emulator.log.
start_emulator() {
    EMULATOR_API_KEY="e2e-$(secret 16)"
    start_service emulator "$PY" -u -m airflow_provider_cased.testing --host 127.0.0.1 --port 0 \
        --api-key "$EMULATOR_API_KEY" "$@"
    for _ in $(seq 1 100); do
        grep -q '^export AIRFLOW_CONN_CASEDEV_DEFAULT=' "$LOGS/emulator.log" 2>/dev/null && break
        sleep 0.1
    done
    EMULATOR_URL="$(sed -n 's/^.*listening on \(http[^ ]*\).*$/\1/p' "$LOGS/emulator.log" | head -n 1)"
    [[ -n "$EMULATOR_URL" ]] || fail "the emulator did not print its URL"
    log "Emulator: $EMULATOR_URL"
}

# run_driver CMD...: the check driver, in its own session (so the cleanup can stop it and
# what it started) and waited for in the background, so a SIGTERM/SIGINT runs the cleanup
# at once. Sets DRIVER_RC.
run_driver() {
    DRIVER_RC=0
    E2E_STARTED_AT="$STARTED_AT" setsid "$@" </dev/null &
    CHECK_PID=$!
    wait "$CHECK_PID" || DRIVER_RC=$?
    CHECK_PID=""
}
