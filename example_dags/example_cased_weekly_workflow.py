"""Weekly Cased workflow run, by name, waiting in the triggerer (deferrable).

Its asset event carries the outcome (run id, status, Cased link): the DAG
``cased_cost_review_follow_up`` is scheduled on it and reads them."""

from __future__ import annotations

from datetime import datetime

from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator

try:
    from airflow.sdk import DAG, Asset
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.datasets import Dataset as Asset  # type: ignore[no-redef]

COST_REVIEW = Asset("cased://workflows/weekly-cost-review")


with DAG(
    dag_id="cased_weekly_workflow_run",
    doc_md=__doc__,
    schedule="@weekly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["cased", "example"],
):
    # [START workflow_run_operator]
    CasedWorkflowRunOperator(
        task_id="weekly_cost_review",
        workflow_name="Weekly cost review",
        # Airflow 3 runs triggered by hand may have no logical date: fall back to run_after.
        context={
            "week_of": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}",
            "filters": {"env": "production"},
        },
        deferrable=True,
        poll_interval=30,
        timeout=2 * 60 * 60,
        warn_after=60 * 60,
        outlets=[COST_REVIEW],
    )
    # [END workflow_run_operator]
