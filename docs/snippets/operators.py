"""Operator arguments the example DAGs do not show; tests/test_docs.py builds this DAG."""

from __future__ import annotations

from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedWorkflowRunOperator,
)

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

with DAG(dag_id="docs_operators", schedule=None, params={"version": "v1.2.3"}) as dag:
    # [START agent_session_wait]
    CasedAgentSessionOperator(
        task_id="investigate",
        prompt="Checkout latency doubled after {{ params.version }}; find out why",
        context={"service": "checkout", "dashboard": "https://grafana.example.com/d/checkout"},
        wait_for_completion=True,  # default False: start the session and return
        poll_interval=30,
        timeout=2 * 60 * 60,
        deferrable=True,
    )
    # [END agent_session_wait]

    # [START pool]
    CasedWorkflowRunOperator(
        task_id="review",
        workflow_id="wf_weekly_cost_review",
        pool="cased_api",  # airflow pools set cased_api 16 "concurrent Cased API calls"
    )
    # [END pool]
