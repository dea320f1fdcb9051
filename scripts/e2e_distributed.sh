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
E2E_NAME=e2e-distributed E2E_TAG=e2e-d E2E_WORK_PREFIX=cased-e2e-dist
# shellcheck source=scripts/e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
HERE="$ROOT/scripts/e2e_distributed"
E2E_DIST_TIMEOUT="${E2E_DIST_TIMEOUT:-1200}"
CONCURRENCY="${E2E_DIST_CONCURRENCY:-12}"
export CASED_LOAD_DEFERRED_RUNS="${CASED_LOAD_DEFERRED_RUNS:-200}"
export CASED_LOAD_EXECUTIONS="${CASED_LOAD_EXECUTIONS:-100}"
export CASED_LOAD_SYNC_RUNS="${CASED_LOAD_SYNC_RUNS:-20}"
export CASED_LOAD_POLL_INTERVAL="${CASED_LOAD_POLL_INTERVAL:-5}"

# ---------------------------------------------------------------- installs
apt_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
[[ -x /usr/bin/redis-server ]] || apt_packages+=(redis-server)
apt_install "${apt_packages[@]}"
# celery 5.7 dropped celery.backends.database.retry, which the Celery provider (3.26)
# imports: hold celery below 5.7 until a provider release catches up.
venv_install "import psycopg2, asyncpg, airflow.providers.celery; from celery.backends.database import retry" \
    apache-airflow-providers-celery "celery[redis]>=5.5,<5.7" psycopg2-binary asyncpg

# ---------------------------------------------------------------- temp state
make_work_dir
mkdir -p "$WORK/run"
# Services the chaos driver starts (replacements for the killed ones): "name:pid" lines.
EXTRA_SERVICES="$WORK/run/extra-services"
: >"$EXTRA_SERVICES"
log "Work dir: $WORK (logs in $LOGS)"

# stop_services (from on_exit): the driver and the Airflow services (also the
# replacements the driver started) first, then Redis and the emulator they talk to.
stop_services() {
    local entry first=() last=() since
    since=$(date +%s)
    [[ -n "$CHECK_PID" ]] && first+=("$CHECK_PID")
    for entry in "${SERVICES[@]}"; do
        case "${entry%%:*}" in
            redis | emulator) last+=("${entry##*:}") ;;
            *) first+=("${entry##*:}") ;;
        esac
    done
    mapfile -t -O "${#first[@]}" first < <(leaders_in "$EXTRA_SERVICES")
    if ((${#first[@]} + ${#last[@]})); then
        stop_sessions "${first[@]}"
        stop_sessions "${last[@]}"
        log "Stopped the Airflow services, Redis and the emulator ($(($(date +%s) - since)) s)"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r PG_PORT API_PORT TRIGGER_LOG_PORT < <(free_ports 3)
# Many processes connect (2 workers x concurrency task processes, triggerers, ...).
start_postgres "$PG_PORT" 400

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
DB_URL="postgresql+psycopg2://airflow:$DB_PASSWORD@127.0.0.1:$PG_PORT/airflow"
airflow_env "$DB_URL" "$API_PORT"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CELERY__BROKER_URL="redis+socket://$REDIS_SOCK"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$DB_URL"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="$CONCURRENCY"
export AIRFLOW__CORE__DAGS_FOLDER="$HERE/dags"
# Each service gets its own hostname (CASED_E2E_HOSTNAME), as on separate machines:
# the driver reads job.hostname / task_instance.hostname to find whom to kill.
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__HOSTNAME_CALLABLE=e2e_hostname.hostname
# Workers and triggerers skip serving logs (two of each would share a port); the
# api-server reads the task logs from the shared local folder.
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$TRIGGER_LOG_PORT"
export AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY=64
# Executor slots = both workers' task slots: 2 cores cannot start tasks faster anyway.
export AIRFLOW__CORE__PARALLELISM=$((2 * CONCURRENCY))
# HA in seconds, not minutes: a triggerer silent for 10 s is dead and its triggers go
# to the other one; a task whose worker stopped heartbeating for 30 s is failed and retried.
export AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC=2
export AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD=10
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=30
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=5
migrate_db

# ---------------------------------------------------------------- emulator
# The load's workflows/action are added by the driver; their runs only end when it says.
# shellcheck disable=SC2119 # no arguments: the emulator's defaults
start_emulator
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

run_driver "$PY" -u "$HERE/chaos.py" \
    --api-url "http://127.0.0.1:$API_PORT" --username admin --password "$AIRFLOW_UI_PASSWORD" \
    --emulator-url "$EMULATOR_URL" --emulator-api-key "$EMULATOR_API_KEY" \
    --db-url "$DB_URL" --airflow "$AIRFLOW" --logs "$LOGS" --run-dir "$WORK/run" \
    --extra-services "$EXTRA_SERVICES" --concurrency "$CONCURRENCY" \
    --timeout "$E2E_DIST_TIMEOUT" "${service_args[@]}" --summary "$WORK/summary.txt"
exit "$DRIVER_RC"
