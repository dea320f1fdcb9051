"""DAGs for the operator/sensor tests (copied into the test DAGs folder by conftest).

``CASED_TEST_DEFERRABLE=1`` makes every waiting task deferrable, so the same
DAGs run both ways. Workflows/actions they name are seeded by the tests.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_cased.compat import Asset
from airflow_provider_cased.notifications.cased import CasedDeploymentNotifier
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedDeploymentOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator
from airflow_provider_cased.sensors.cased import CasedAgentSessionSensor, CasedWorkflowRunSensor
from airflow_provider_cased.sensors.casedev import CaseDevActionExecutionSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

DEFERRABLE = os.environ.get("CASED_TEST_DEFERRABLE") == "1"
FAST = {"poll_interval": 0.3, "deferrable": DEFERRABLE}
SENSING: dict[str, Any] = {"poke_interval": 0.3, "timeout": 30, "deferrable": DEFERRABLE}
START = datetime(2024, 1, 1)


def retried(times: int) -> dict[str, Any]:
    """Retries at once: a task that re-attaches (or starts anew) on its next try."""
    return {"retries": times, "retry_delay": timedelta(seconds=0), **FAST}


def dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


@task
def expect(value: Any, expected: dict[str, Any]) -> None:
    for key, wanted in expected.items():
        assert value[key] == wanted, (key, value)


with dag("t_run_completes", params={"ticket": "OPS-1"}):
    run = CasedWorkflowRunOperator(
        task_id="run",
        workflow_id="wf_weekly_cost_review",
        context={"ticket": "{{ params.ticket }}", "nested": {"dag": "{{ dag.dag_id }}"}},
        **FAST,
    )
    expect(run.output, {"status": "completed", "workflow": "wf_weekly_cost_review"})

with dag("t_run_by_name_no_wait"):
    run = CasedWorkflowRunOperator(
        task_id="run", workflow_name="Deploy watcher", wait_for_completion=False, **FAST
    )
    expect(run.output, {"status": "pending", "workflow": "wf_deploy_watcher"})

with dag("t_run_fails"):
    CasedWorkflowRunOperator(task_id="run", workflow_name="Flaky migration check", **FAST)

with dag("t_run_times_out"):
    CasedWorkflowRunOperator(task_id="run", workflow_id="wf_slow", timeout=1.5, **FAST)

with dag("t_run_unknown_status_times_out"):
    CasedWorkflowRunOperator(task_id="run", workflow_id="wf_paused", timeout=2, **FAST)

with dag("t_run_unknown_status_then_completes"):
    run = CasedWorkflowRunOperator(task_id="run", workflow_id="wf_odd", timeout=30, **FAST)
    expect(run.output, {"status": "completed"})

with dag("t_run_retry_reattaches"):
    CasedWorkflowRunOperator(task_id="run", workflow_id="wf_weekly_cost_review", **retried(1))

with dag("t_action_sync"):
    result = CaseDevActionOperator(
        task_id="act", action_name="Summarize document", input={"doc": "{{ dag.dag_id }}"}, **FAST
    )
    expect(result.output, {"status": "completed", "action_id": "action_summarize"})

with dag("t_action_async"):
    result = CaseDevActionOperator(
        task_id="act", action_id="action_contract_review", input={"doc": "x"}, timeout=30, **FAST
    )
    expect(result.output, {"status": "completed", "action_id": "action_contract_review"})

with dag("t_action_async_fails"):
    CaseDevActionOperator(
        task_id="act", action_id="action_async_broken", input={"doc": "x"}, timeout=30, **FAST
    )

with dag("t_action_sync_fails"):
    CaseDevActionOperator(task_id="act", action_name="Broken OCR", input={"doc": "x"}, **FAST)

with dag("t_sensors"):
    start = CasedWorkflowRunOperator(
        task_id="start", workflow_id="wf_deploy_watcher", wait_for_completion=False
    )
    (
        CasedWorkflowRunSensor(
            task_id="wait",
            workflow_id="wf_deploy_watcher",
            run_id="{{ ti.xcom_pull(task_ids='start')['id'] }}",
            **SENSING,
        )
        << start
    )
    act = CaseDevActionOperator(
        task_id="act", action_id="action_contract_review", input={}, wait_for_completion=False
    )
    (
        CaseDevActionExecutionSensor(
            task_id="wait_act",
            execution_id="{{ ti.xcom_pull(task_ids='act')['execution_id'] }}",
            **SENSING,
        )
        << act
    )

with dag("t_sensor_failed_run"):
    start = CasedWorkflowRunOperator(
        task_id="start", workflow_id="wf_flaky_migration_check", wait_for_completion=False
    )
    for soft_fail in (False, True):
        (
            CasedWorkflowRunSensor(
                task_id=f"wait_soft_fail_{soft_fail}".lower(),
                workflow_id="wf_flaky_migration_check",
                run_id="{{ ti.xcom_pull(task_ids='start')['id'] }}",
                soft_fail=soft_fail,
                **SENSING,
            )
            << start
        )

with dag("t_session_and_deployment"):
    CasedAgentSessionOperator(
        task_id="session", prompt="Investigate {{ dag.dag_id }}", context={"run": "{{ run_id }}"}
    )
    CasedDeploymentOperator(
        task_id="deploy",
        deployment_request="Deploy {{ dag.dag_id }}",
        status="running",
        event_metadata={"run": "{{ run_id }}"},
        on_success_callback=CasedDeploymentNotifier(deployment_request="Done {{ ti.task_id }}"),
    )

with dag("t_run_retry_after_wait_error"):
    CasedWorkflowRunOperator(task_id="run", workflow_id="wf_weekly_cost_review", **retried(1))

with dag("t_session_waits"):
    session = CasedAgentSessionOperator(
        task_id="session", prompt="Why is {{ dag.dag_id }} slow?", wait_for_completion=True, **FAST
    )
    expect(session.output, {"status": "completed"})

with dag("t_session_fails"):
    CasedAgentSessionOperator(
        task_id="session", prompt="[fail] {{ dag.dag_id }}", wait_for_completion=True, **FAST
    )

with dag("t_session_sensor"):
    started = CasedAgentSessionOperator(task_id="start", prompt="Look at {{ dag.dag_id }}")
    (
        CasedAgentSessionSensor(
            task_id="wait",
            session_id="{{ ti.xcom_pull(task_ids='start')['session_id'] }}",
            **SENSING,
        )
        << started
    )

with dag("t_session_retry_reattaches"):
    CasedAgentSessionOperator(
        task_id="session",
        prompt="Retry {{ dag.dag_id }}",
        wait_for_completion=True,
        **retried(1),
    )

with dag("t_outcome_in_asset_events"):
    CasedWorkflowRunOperator(
        task_id="run",
        workflow_id="wf_weekly_cost_review",
        outlets=[Asset("cased://workflows/wf_weekly_cost_review")],
        **FAST,
    )
    CaseDevActionOperator(
        task_id="act",
        action_id="action_contract_review",
        input={"doc": "x"},
        outlets=[Asset("casedev://actions/action_contract_review")],
        **FAST,
    )

with dag("t_run_retries_but_401_never_heals"):
    CasedWorkflowRunOperator(
        task_id="run",
        workflow_id="wf_weekly_cost_review",
        **retried(3),
    )

with dag("t_failed_action_is_not_retried"):
    CaseDevActionOperator(
        task_id="act",
        action_name="Broken OCR",
        input={"doc": "x"},
        **retried(2),
    )

with dag("t_nested_task_outputs"):
    # Task outputs nested in dict arguments, and waits given as timedelta (issue 21).

    @task(multiple_outputs=False)
    def window() -> dict[str, str]:
        return {"start": "2024-01-01", "end": "2024-01-08"}

    span = window()
    TIMED = {
        "poll_interval": timedelta(seconds=0.3),
        "timeout": timedelta(seconds=30),
        "warn_after": timedelta(seconds=20),
        "deferrable": DEFERRABLE,
    }
    run = CasedWorkflowRunOperator(
        task_id="run",
        workflow_id="wf_weekly_cost_review",
        context={"range": span, "labels": [span, "{{ dag.dag_id }}"]},
        **TIMED,
    )
    expect(run.output, {"status": "completed"})
    act = CaseDevActionOperator(
        task_id="act", action_id="action_contract_review", input={"window": span}, **TIMED
    )
    expect(act.output, {"status": "completed"})
    CasedAgentSessionOperator(task_id="session", prompt="Look", context={"window": span})
    CasedDeploymentOperator(
        task_id="deploy", deployment_request="Deploy", event_metadata={"window": span}
    )
