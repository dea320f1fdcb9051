"""Scheduled on the weekly cost review's asset: reads the run's outcome from the asset
event (run id, status, Cased link) without calling the API again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow import DAG

try:
    from airflow.sdk import Asset, task
except ImportError:  # Airflow 2.x calls assets datasets
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

COST_REVIEW = Asset("cased://workflows/weekly-cost-review")


# [START asset_follow_up]
@task
def report_outcome(**context: Any) -> list[dict[str, Any]]:
    # Airflow 3 names them triggering_asset_events; 2.x triggering_dataset_events.
    events = context.get("triggering_asset_events") or context.get("triggering_dataset_events")
    outcomes = [dict(event.extra) for found in (events or {}).values() for event in found]
    for outcome in outcomes:
        print(
            f"Cost review run {outcome.get('run_id')} {outcome.get('status')}: {outcome.get('link')}"
        )
    if not outcomes:
        print("Started by hand: no asset event to read")
    return outcomes


with DAG(
    dag_id="cased_cost_review_follow_up",
    doc_md=__doc__,
    schedule=[COST_REVIEW],
    start_date=datetime(2024, 1, 1),
    tags=["cased", "example"],
):
    report_outcome()
# [END asset_follow_up]
