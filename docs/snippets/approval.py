"""Approval before acting (Airflow 3.1+); tests/test_docs.py builds this DAG there."""

from __future__ import annotations

# [START approval]
from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_cased.approval import Approval
from airflow_provider_cased.operators.cased import (
    CasedDeploymentOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator

with DAG(dag_id="docs_approval", schedule=None) as dag:
    CasedWorkflowRunOperator(
        task_id="fix_prod",
        workflow_id="wf_deploy_watcher",
        context={"env": "production"},
        require_approval=True,  # anyone may answer; no timeout; a reject fails the task
    )
    CasedDeploymentOperator(
        task_id="notify",
        deployment_request="Production v1.2.3",
        approval=Approval(
            assigned_users=["alice", "bob"],
            message="Ship it?",
            timeout=timedelta(hours=4),
            on_timeout="skip",  # default "fail"
            on_reject="fail",  # or "skip"
        ),
    )
    # [START review_output]
    CaseDevActionOperator(
        task_id="contract_review",
        action_name="Contract review",
        input={"document_url": "s3://contracts/2024/acme-msa.pdf"},
        review_output=True,  # or review_output=Approval(...)
    )
    # [END review_output]
# [END approval]
