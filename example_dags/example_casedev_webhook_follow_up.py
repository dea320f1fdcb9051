"""Runs once per finished contract review, wherever it was started: case.dev's webhook
records an asset event on the action's asset (docs/webhooks.md), and this DAG reads the
execution's output from the API (the event carries ids and status, never the output)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, Asset, task

    TRIGGERING_EVENTS = "triggering_asset_events"
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

    TRIGGERING_EVENTS = "triggering_dataset_events"

# [START casedev_webhook_asset]
CONTRACT_REVIEW_DONE = Asset("casedev://actions/action_contract_review")


@task
def file_review(**context: Any) -> list[str]:
    from airflow_provider_cased.hooks.casedev import CaseDevHook

    events = context.get(TRIGGERING_EVENTS) or {}
    finished = [dict(event.extra) for found in events.values() for event in found]
    if not finished:
        print("Started by hand: no webhook event to read")
    hook = CaseDevHook()
    for extra in finished:
        execution = hook.get_execution(extra["execution_id"])
        print(
            f"{extra['action_name']} {extra['execution_id']} {extra['status']} "
            f"in {extra['duration_ms']} ms at {extra['completed_at']}: {execution.get('output')}"
        )
    return [extra["execution_id"] for extra in finished]


with DAG(
    dag_id="casedev_contract_review_follow_up",
    doc_md=__doc__,
    schedule=[CONTRACT_REVIEW_DONE],
    start_date=datetime(2024, 1, 1),
    tags=["casedev", "example"],
):
    file_review()
# [END casedev_webhook_asset]
