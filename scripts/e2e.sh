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
E2E_NAME=e2e E2E_TAG=e2e E2E_WORK_PREFIX=cased-e2e
# shellcheck source=scripts/e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
E2E_TIMEOUT="${E2E_TIMEOUT:-420}"
E2E_HOLD="${E2E_HOLD:-0}"

# ---------------------------------------------------------------- installs
apt_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
command -v chromium >/dev/null || [[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
apt_install "${apt_packages[@]}"
CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"
# Playwright drives Debian's Chromium: it must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
venv_install "import psycopg2, asyncpg, playwright.sync_api" psycopg2-binary asyncpg playwright

# ---------------------------------------------------------------- temp state
make_work_dir
SHOTS="$WORK/screenshots"
mkdir -p "$SHOTS"
log "Work dir: $WORK (logs in $LOGS, screenshots in $SHOTS)"
# check.py restarts the triggerer once and writes "name:pid" of what it started here.
RESTARTED="$WORK/restarted-services"
HOLD_PID=""

# stop_services (from on_exit): every session we started (the checks, the services,
# the restarted triggerer: all at once).
stop_services() {
    local entry leaders=() since
    since=$(date +%s)
    [[ -z "$HOLD_PID" ]] || kill "$HOLD_PID" 2>/dev/null
    [[ -n "$CHECK_PID" ]] && leaders+=("$CHECK_PID")
    for entry in "${SERVICES[@]}"; do leaders+=("${entry##*:}"); done
    mapfile -t -O "${#leaders[@]}" leaders < <(leaders_in "$RESTARTED")
    if ((${#leaders[@]})); then
        stop_sessions "${leaders[@]}"
        log "Stopped the emulator and the Airflow services ($(($(date +%s) - since)) s)"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r PG_PORT API_PORT WORKER_LOG_PORT TRIGGER_LOG_PORT < <(free_ports 4)
start_postgres "$PG_PORT" 200

# ---------------------------------------------------------------- Airflow config
airflow_env "postgresql+psycopg2://airflow:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow" "$API_PORT"
# The examples poll every 30 s; the shipped cluster policy makes them poll every 2 s here.
"$PY" -c 'import sys; from airflow_provider_cased.testing.policy import install; install(sys.argv[1])' "$AIRFLOW_HOME"
export CASED_TEST_POLL_INTERVAL=2
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# The example DAGs, plus the DAGs only the e2e runs (a person answers them: check.py).
mkdir -p "$WORK/dags"
cp "$ROOT"/example_dags/*.py "$ROOT"/scripts/e2e/dags/*.py "$WORK/dags/"
export AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$WORKER_LOG_PORT"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$TRIGGER_LOG_PORT"
export AIRFLOW__CORE__PARALLELISM=8
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=8
migrate_db

# ---------------------------------------------------------------- emulator
# Workflow runs and async executions take 25 s: long enough that every waiting
# task (also the fan-in sensors, which start after their upstream task) finds
# its run unfinished and defers, and the triggerer polls a few times (every 2 s).
start_emulator --run-seconds 25
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
# The case.dev webhook receiver's connection: its signing secret in the extra (masked).
WEBHOOK_SECRET="whsec_$(secret 16)"
"$AIRFLOW" connections add casedev_webhooks --conn-type casedev --conn-host "$EMULATOR_URL" \
    --conn-password "$EMULATOR_API_KEY" --conn-extra "{\"webhook_secret\": \"$WEBHOOK_SECRET\"}" \
    >>"$LOGS/connections-add.log" 2>&1 || fail "airflow connections add failed (see $LOGS/connections-add.log)"
log "Connections: cased_default and casedev_webhooks in the metadata DB, casedev_default from AIRFLOW_CONN_CASEDEV_DEFAULT"

service_args=()
for entry in "${SERVICES[@]}"; do service_args+=(--service "$entry"); done
for word in "${TRIGGERER_CMD[@]}"; do service_args+=(--triggerer-command "$word"); done

run_driver "$PY" "$ROOT/scripts/e2e/check.py" \
    --api-url "http://127.0.0.1:$API_PORT" \
    --username admin --password "$AIRFLOW_UI_PASSWORD" \
    --emulator-url "$EMULATOR_URL" --emulator-api-key "$EMULATOR_API_KEY" \
    --chromium "$CHROMIUM" --screenshots "$SHOTS" --logs "$LOGS" \
    --airflow-home "$AIRFLOW_HOME" --timeout "$E2E_TIMEOUT" "${service_args[@]}" \
    --summary "$WORK/summary.txt" --restarted-services "$RESTARTED" \
    --webhook-conn-id casedev_webhooks --webhook-secret "$WEBHOOK_SECRET"

if ((E2E_HOLD > 0)); then
    log "E2E_HOLD: services stay up ${E2E_HOLD} s: UI http://127.0.0.1:$API_PORT (admin / $AIRFLOW_UI_PASSWORD)"
    sleep "$E2E_HOLD" &
    HOLD_PID=$!
    wait "$HOLD_PID" || true
    HOLD_PID=""
fi
exit "$DRIVER_RC"
