"""Event-driven (Airflow 3): when a run of the "Flaky migration check" workflow fails in
Cased, however it was started (Cased's own schedule, by hand, another system), start an
agent session to investigate that run. On Airflow 2.x this file defines no DAG."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_cased.operators.cased import CasedAgentSessionOperator

try:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_provider_cased.triggers.cased import CasedWorkflowRunEventTrigger
except ImportError:  # Airflow 2.x: no AssetWatcher, no event-driven scheduling
    AssetWatcher = None

if AssetWatcher is not None:
    # [START event_trigger_asset]
    MIGRATION_CHECK_FAILED = Asset(
        "cased_migration_check_failed",
        watchers=[
            AssetWatcher(
                name="cased_migration_check_failed",
                trigger=CasedWorkflowRunEventTrigger(
                    workflow_id="wf_flaky_migration_check",
                    statuses=["failed"],
                    # 30 s rather than the default 60: the investigation starts within
                    # half a minute of the failure, for one list call every 30 s (shared
                    # by every watcher of this workflow on this connection). `make e2e`
                    # waits for these events, so it also keeps that check short.
                    poll_interval=30,
                ),
            )
        ],
    )
    # [END event_trigger_asset]

    # [START event_driven_dag]
    # One XCom with the whole run (a dict return type would split it into one per key).
    @task(multiple_outputs=False)
    def failed_run(**context: Any) -> dict[str, Any]:
        """The run that failed, from the asset event that started this DAG run."""
        events = context.get("triggering_asset_events") or {}
        payloads = [event.extra.get("payload", {}) for found in events.values() for event in found]
        if not payloads:  # started by hand: nothing to investigate but the workflow itself
            return {"workflow_id": "wf_flaky_migration_check", "run_id": None}
        return payloads[-1]

    with DAG(
        dag_id="cased_investigate_failed_migration_check",
        doc_md=__doc__,
        schedule=[MIGRATION_CHECK_FAILED],
        start_date=datetime(2024, 1, 1),
        tags=["cased", "example"],
    ):
        run = failed_run()
        investigate = CasedAgentSessionOperator(
            task_id="investigate",
            prompt=(
                "The migration check run {{ ti.xcom_pull(task_ids='failed_run')['run_id'] }} "
                "failed: find out why and propose a fix"
            ),
            context={"run": "{{ ti.xcom_pull(task_ids='failed_run') }}"},
        )
        run >> investigate
    # [END event_driven_dag]
