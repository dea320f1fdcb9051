"""DAGs for the approval tests (tests/test_approval.py); Airflow 3.1+ only.

Before 3.1 an approval is refused when the DAG is parsed, so nothing is defined there.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]

from airflow_provider_cased.approval import APPROVAL_MIN_AIRFLOW, Approval
from airflow_provider_cased.compat import airflow_at_least
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedDeploymentOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator

DEFERRABLE = os.environ.get("CASED_TEST_DEFERRABLE") == "1"
FAST = {"poll_interval": 0.3, "deferrable": DEFERRABLE}
START = datetime(2024, 1, 1)


def dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


if airflow_at_least(*APPROVAL_MIN_AIRFLOW):
    from airflow.sdk import task

    # A test that fails to answer must not hang: 3.1-3.2's trigger ends the wait then.
    SAFETY = Approval(timeout=120)

    @task
    def keep(value: Any) -> Any:
        return value

    with dag("t_approve_run", params={"ticket": "OPS-7"}):
        CasedWorkflowRunOperator(
            task_id="run",
            workflow_id="wf_weekly_cost_review",
            context={"ticket": "{{ params.ticket }}"},
            approval=SAFETY,
            **FAST,
        )

    with dag("t_approve_run_skip"):
        CasedWorkflowRunOperator(
            task_id="run",
            workflow_id="wf_weekly_cost_review",
            approval=Approval(
                message="Weekly spend review", timeout=2, on_timeout="skip", on_reject="skip"
            ),
            **FAST,
        )

    with dag("t_approve_session"):
        CasedAgentSessionOperator(
            task_id="session", prompt="Why did {{ dag.dag_id }} fail?", approval=SAFETY
        )

    with dag("t_approve_deploy"):
        CasedDeploymentOperator(
            task_id="deploy",
            deployment_request="Production deploy v1.2.3",
            approval=Approval(assigned_users=["admin"], message="Ship it?", timeout=120),
        )

    with dag("t_approve_action"):
        CaseDevActionOperator(
            task_id="act",
            action_id="action_summarize",
            input={"doc": "x" * 10_000, "lang": "en", "pages": list(range(50))},
            approval=SAFETY,
            **FAST,
        )

    # The decorated path: the function runs before the person is asked and again after.
    with dag("t_approve_decorated", params={"doc": "contract"}):

        @task.casedev_action(task_id="act", action_id="action_summarize", approval=SAFETY, **FAST)
        def same_input(params: dict[str, Any]) -> dict[str, Any]:
            return {"doc": params["doc"]}

        same_input()

    with dag("t_approve_changed_request"):

        @task.casedev_action(task_id="act", action_id="action_summarize", approval=SAFETY, **FAST)
        def changing_input() -> dict[str, Any]:
            # Another value on each call: what is approved is not what would be sent.
            return {"built_at_ns": time.monotonic_ns()}

        changing_input()

    with dag("t_review_output"):
        act = CaseDevActionOperator(
            task_id="act",
            action_id="action_contract_review",
            input={"doc": "contract"},
            review_output=SAFETY,
            timeout=30,
            **FAST,
        )
        keep.override(task_id="downstream")(act.output)
