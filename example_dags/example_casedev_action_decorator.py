"""Summarize a contract with a case.dev action whose input a Python function builds
(``@task.casedev_action``)."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]


with DAG(
    dag_id="casedev_action_decorator",
    doc_md=__doc__,
    schedule=None,
    params={"contract_url": "s3://contracts/2024/acme-msa.pdf"},
    tags=["casedev", "example"],
):
    # [START casedev_action_decorator]
    @task.casedev_action(action_name="Summarize document", poll_interval=30, timeout=15 * 60)
    def summarize(contract_url: str) -> dict[str, Any]:
        # What the function returns is the execution's input.
        return {"document_url": contract_url, "style": "bullet points"}

    @task
    def file_summary(execution: dict[str, Any]) -> None:
        # The task's result is the execution, as CaseDevActionOperator returns it.
        print(f"execution {execution['execution_id']}: {execution['output']}")

    file_summary(summarize("{{ params.contract_url }}"))
    # [END casedev_action_decorator]
