"""A Cased workflow run whose context a Python function computes (``@task.cased_workflow_run``)."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]


with DAG(
    dag_id="cased_workflow_run_decorator",
    doc_md=__doc__,
    schedule=None,
    params={"environments": ["production", "staging"]},
    tags=["cased", "example"],
):
    # [START workflow_run_decorator]
    @task(multiple_outputs=False)
    def monthly_spend() -> dict[str, float]:
        return {"compute": 18250.0, "storage": 4120.5}  # e.g. read from the billing export

    @task.cased_workflow_run(
        workflow_name="Weekly cost review",
        deferrable=True,
        poll_interval=30,
        timeout=2 * 60 * 60,
    )
    def cost_review(spend: dict[str, float], params: Any = None) -> dict[str, Any]:
        # What the function returns is the run's context, sent as it is.
        largest = max(spend, key=spend.__getitem__)
        return {"spend": spend, "largest": largest, "environments": params["environments"]}

    @task
    def report(run: dict[str, Any]) -> None:
        # The task's result is the run, as CasedWorkflowRunOperator returns it.
        print(f"Cost review run {run['id']} ended {run['status']}")

    report(cost_review(monthly_spend()))
    # [END workflow_run_decorator]
