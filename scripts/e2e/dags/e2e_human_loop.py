"""DAGs only `make e2e` runs (copied next to example_dags in its DAGs folder).

A person answers through Airflow's REST API (check.py plays the person): an approval
before a workflow run starts, and a deferred wait a person marks failed, then clears.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cased.approval import Approval
from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator

START = datetime(2024, 1, 1)

with DAG("cased_e2e_approval", schedule=None, start_date=START, catchup=False):
    CasedWorkflowRunOperator(
        task_id="approved_run",
        workflow_id="wf_weekly_cost_review",
        context={"asked": "{{ run_id }}"},
        trigger_name="e2e-approval {{ run_id }}",
        approval=Approval(message="make e2e asks", timeout=600),
        wait_for_completion=False,
    )

with DAG("cased_e2e_abandon", schedule=None, start_date=START, catchup=False):
    CasedWorkflowRunOperator(
        task_id="long_run",
        workflow_id="wf_weekly_cost_review",
        trigger_name="e2e-abandon {{ run_id }}",
        deferrable=True,
        poll_interval=2,
        timeout=600,
    )
