"""A DAG of your own: a weekly Cased workflow run over last week's window."""

from __future__ import annotations

from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

with DAG(dag_id="weekly_review", schedule=None) as dag:

    @task(multiple_outputs=False)
    def window(ds: str | None = None) -> dict[str, str | None]:
        return {"end": ds}

    CasedWorkflowRunOperator(
        task_id="run",
        workflow_name="Weekly cost review",
        context={"window": window()},
        poll_interval=30,  # production's interval: tests poll every 0.5 s
    )
