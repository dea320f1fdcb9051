"""Fire-and-forget: start several workflow runs and an agent session at once, then wait
for all of them with sensors (deferred: no worker slot is held while they run)."""

from __future__ import annotations

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]

from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.sensors.cased import CasedAgentSessionSensor, CasedWorkflowRunSensor

WORKFLOWS = {"cost": "wf_weekly_cost_review", "deploys": "wf_deploy_watcher"}

with DAG(
    dag_id="cased_fan_in_sensors",
    doc_md=__doc__,
    schedule=None,
    tags=["cased", "example"],
):
    # [START fan_in_sensors]
    for name, workflow_id in WORKFLOWS.items():
        start = CasedWorkflowRunOperator(
            task_id=f"start_{name}",
            workflow_id=workflow_id,
            context={"requested_by": "{{ dag.dag_id }}", "run": "{{ run_id }}"},
            wait_for_completion=False,
        )
        wait = CasedWorkflowRunSensor(
            task_id=f"wait_{name}",
            workflow_id=workflow_id,
            run_id=f"{{{{ ti.xcom_pull(task_ids='start_{name}')['id'] }}}}",
            poke_interval=30,
            timeout=60 * 60,
            deferrable=True,
        )
        start >> wait

    triage = CasedAgentSessionOperator(
        task_id="start_triage",
        prompt="Summarise this week's open incidents for {{ dag.dag_id }}",
        context={"run": "{{ run_id }}"},
    )
    triage >> CasedAgentSessionSensor(
        task_id="wait_triage",
        session_id="{{ ti.xcom_pull(task_ids='start_triage')['session_id'] }}",
        poke_interval=30,
        timeout=60 * 60,
        deferrable=True,
    )
    # [END fan_in_sensors]
