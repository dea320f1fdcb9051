"""`make demo`: every example DAG end to end against the local emulator, on SQLite.

No account and no network: the emulator speaks both APIs on 127.0.0.1, the
default connections point at it, and Airflow's metadata DB lives in a
project-local AIRFLOW_HOME. Prints each DAG's outcome; exits 1 if any failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = ROOT / ".airflow-demo"

# Airflow reads its config when first imported: set everything before that.
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# The examples poll every 30 s, as in production; a cluster policy (the one users can
# put in their own test Airflow) makes them poll every second against the emulator.
os.environ.setdefault("CASED_TEST_POLL_INTERVAL", "1")


def main() -> int:
    from airflow_provider_cased.testing import Emulator, connection_env
    from airflow_provider_cased.testing.policy import install

    AIRFLOW_HOME.mkdir(exist_ok=True)
    install(AIRFLOW_HOME)
    print(f"Migrating Airflow's SQLite DB in {AIRFLOW_HOME} ...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )

    with Emulator(run_seconds=3) as emulator:
        os.environ.update(connection_env(emulator))
        print(f"Emulator of the Cased and case.dev APIs on {emulator.url}", flush=True)

        from airflow_provider_cased.compat import dag_bag

        bag = dag_bag(str(ROOT / "example_dags"))
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"IMPORT ERROR {path}: {error}")
            return 1
        outcomes = {}
        for dag_id in sorted(bag.dag_ids):
            started = time.monotonic()
            dag = bag.get_dag(dag_id)
            print(f"\n=== {dag_id}: {(dag.doc_md or '').strip()}", flush=True)
            dag_run = dag.test()
            state = str(getattr(dag_run.state, "value", dag_run.state))
            outcomes[dag_id] = (state, time.monotonic() - started)

        calls = len(emulator.requests)
        print("\nExample DAG outcomes")
        for dag_id, (state, seconds) in outcomes.items():
            print(f"  {dag_id:<42} {state:<8} {seconds:5.1f} s")
        print(
            f"Emulator: {calls} API calls, {len(emulator.runs)} workflow runs, "
            f"{len(emulator.executions)} action executions, {len(emulator.agent_sessions)} "
            f"agent sessions, {len(emulator.deployments)} deployment events"
        )
    failed = [dag_id for dag_id, (state, _) in outcomes.items() if state != "success"]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("All example DAGs succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
