"""case.dev action pipeline: an asynchronous action whose output feeds the next task."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased.operators.casedev import CaseDevActionOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]


with DAG(
    dag_id="casedev_action_pipeline",
    doc_md=__doc__,
    schedule=None,
    params={"contract_url": "s3://contracts/2024/acme-msa.pdf"},
    tags=["casedev", "example"],
):
    # [START casedev_action_operator]
    review = CaseDevActionOperator(
        task_id="contract_review",
        action_name="Contract review",  # configured with a webhook: answers "running" at once
        input={"document_url": "{{ params.contract_url }}", "requested_by": "{{ dag.dag_id }}"},
        poll_interval=30,
        timeout=15 * 60,
    )

    @task
    def file_findings(execution: dict[str, Any]) -> str:
        # The operator returns one snake_case shape whether the answer came sync or async.
        print(f"execution {execution['execution_id']} took {execution['duration_ms']} ms")
        print(f"output: {execution['output']}")
        return execution["status"]

    file_findings(review.output)
    # [END casedev_action_operator]
