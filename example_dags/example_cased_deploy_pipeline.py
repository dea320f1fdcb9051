"""A deploy pipeline that tells Cased when it starts, and how the rollout ended.

The start is an operator (so its answer is in XCom); the outcome comes from the
rollout task's success and failure callbacks, with the status set from the
task's state (success -> ``success``, failed -> ``failure``).
"""

from __future__ import annotations

from airflow_provider_cased.notifications.cased import CasedDeploymentNotifier
from airflow_provider_cased.operators.cased import CasedDeploymentOperator

try:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.operators.python import PythonOperator  # type: ignore[no-redef]

# [START deployment_fields]
DEPLOY = {
    "deployment_request": "Production deploy of checkout {{ params.version }}",
    "repository_full_name": "my-org/checkout",
    "commit_sha": "{{ params.commit_sha }}",
    "ref": "refs/heads/main",
}
# [END deployment_fields]


def deploy(version: str) -> str:
    # Stand-in for the real rollout (a Kubernetes, ECS or Helm operator in practice).
    print(f"rolling out checkout {version}")
    return version


with DAG(
    dag_id="cased_deploy_pipeline",
    doc_md=__doc__,
    schedule=None,
    params={"version": "v1.2.3", "commit_sha": "4f1c2e9"},
    tags=["cased", "example"],
):
    # [START deployment_operator_and_notifier]
    started = CasedDeploymentOperator(task_id="notify_start", status="running", **DEPLOY)
    report_outcome = CasedDeploymentNotifier(**DEPLOY)
    rollout = PythonOperator(
        task_id="rollout",
        python_callable=deploy,
        op_kwargs={"version": "{{ params.version }}"},
        on_success_callback=report_outcome,
        on_failure_callback=report_outcome,
    )
    started >> rollout
    # [END deployment_operator_and_notifier]
