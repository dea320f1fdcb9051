"""Fire-and-forget: start several workflow runs at once, then wait for all with sensors."""

from __future__ import annotations

import os
from datetime import datetime

from airflow import DAG

from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator
from airflow_provider_cased.sensors.cased import CasedWorkflowRunSensor

POLL_INTERVAL = float(os.getenv("CASED_EXAMPLE_POLL_INTERVAL", "30"))
WORKFLOWS = {"cost": "wf_weekly_cost_review", "deploys": "wf_deploy_watcher"}

with DAG(
    dag_id="cased_fan_in_sensors",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["cased", "example"],
):
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
            poke_interval=POLL_INTERVAL,
            timeout=60 * 60,
            mode="reschedule" if POLL_INTERVAL >= 60 else "poke",
            deferrable=True,
        )
        start >> wait
