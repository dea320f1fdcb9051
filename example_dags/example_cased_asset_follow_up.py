"""Scheduled on the weekly cost review's asset: reads the run's outcome from the asset
event (run id, status, Cased link) without calling the API again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, Asset, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

COST_REVIEW = Asset("cased://workflows/weekly-cost-review")


# [START asset_follow_up]
@task
def report_outcome(**context: Any) -> list[dict[str, Any]]:
    events = context.get("triggering_asset_events")
    if events is None:  # Airflow 2.11 names them after datasets
        events = context.get("triggering_dataset_events")  # noqa: AIR301
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
