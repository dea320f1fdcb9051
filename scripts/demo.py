"""`make demo`: every example DAG end to end against the local emulator, on SQLite.

No account and no network: the emulator speaks both APIs on 127.0.0.1, the
default connections point at it, and Airflow's metadata DB lives in a
project-local AIRFLOW_HOME. Prints one line per DAG and a summary; Airflow's own log
of every run goes to ``demo.log`` in that home (``.airflow-demo-<Airflow version>``: a
home migrated by one Airflow cannot be used by an older one). Exits 1 if any DAG failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / f".airflow-demo-{version('apache-airflow')}"
LOG_FILE = AIRFLOW_HOME / "demo.log"

# Airflow reads its config when first imported: set everything before that.
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# The examples poll every 30 s, as in production; a cluster policy (the one users can
# put in their own test Airflow) makes them poll every second against the emulator.
os.environ.setdefault("CASED_TEST_POLL_INTERVAL", "1")
# The common.ai example's agent (with the [ai] extra) thinks with pydantic-ai's offline test
# model: it calls each tool once and answers with what they returned. No LLM, no network.
os.environ["AIRFLOW_CONN_PYDANTICAI_DEFAULT"] = (
    '{"conn_type": "pydanticai", "extra": {"model": "test"}}'
)


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Everything written to stdout/stderr goes to ``path`` meanwhile: redirected at the
    file descriptors, because Airflow's log handlers hold on to the streams they found."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def main() -> int:
    from airflow_provider_cased.testing import Emulator, connection_env
    from airflow_provider_cased.testing.policy import install

    AIRFLOW_HOME.mkdir(exist_ok=True)
    install(AIRFLOW_HOME)
    print(f"Migrating Airflow's SQLite DB in {AIRFLOW_HOME} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )

    LOG_FILE.write_text("")
    with Emulator(run_seconds=3) as emulator:
        os.environ.update(connection_env(emulator))
        print(f"Emulator of the Cased and case.dev APIs on {emulator.url}", flush=True)
        print(f"Airflow's log of every run: {LOG_FILE}", flush=True)

        from airflow_provider_cased.compat import dag_bag

        with output_to(LOG_FILE):
            bag = dag_bag(str(ROOT / "example_dags"))
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"IMPORT ERROR {path}: {error}")
            return 1
        outcomes = {}
        for dag_id in sorted(bag.dag_ids):
            started = time.monotonic()
            dag = bag.get_dag(dag_id)
            with output_to(LOG_FILE):
                print(f"\n=== {dag_id}: {(dag.doc_md or '').strip()}", flush=True)
                dag_run = dag.test()
            state = str(getattr(dag_run.state, "value", dag_run.state))
            outcomes[dag_id] = (state, time.monotonic() - started)
            print(f"  {dag_id:<42} {state:<8} {outcomes[dag_id][1]:5.1f} s", flush=True)

        calls = len(emulator.requests)
        print(
            f"Emulator: {calls} API calls, {len(emulator.runs)} workflow runs, "
            f"{len(emulator.executions)} action executions, {len(emulator.agent_sessions)} "
            f"agent sessions, {len(emulator.deployments)} deployment events"
        )
    failed = [dag_id for dag_id, (state, _) in outcomes.items() if state != "success"]
    if failed:
        print(f"FAILED: {', '.join(failed)} (their logs: {LOG_FILE})")
        return 1
    print("All example DAGs succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
