"""DAGs for the task decorator tests (copied into the test DAGs folder by conftest).

Written the way users write them: ``task.<name>`` resolved through the provider's
``task-decorators`` entry point, no import of our decorator modules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

START = datetime(2024, 1, 1)
SYNC = {"poll_interval": 0.3, "deferrable": False}
DEFERRED = {"poll_interval": 0.3, "deferrable": True}


def dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, **kwargs)


@task
def expect(value: Any, expected: dict[str, Any]) -> None:
    for key, wanted in expected.items():
        assert value[key] == wanted, (key, value)


@task
def ticket() -> str:
    return "OPS-7"


with dag("d_workflow_run", params={"env": "production"}):

    @task.cased_workflow_run(
        workflow_id="wf_weekly_cost_review",
        trigger_name="{{ dag.dag_id }}-{{ params.env }}",  # the operator's templates still render
        **SYNC,
    )
    def review(ticket_id: str, env: str, dag_run: Any = None) -> dict[str, Any]:
        # A ``-> dict`` annotation must not split the task's result into one XCom per key.
        return {"ticket": ticket_id, "env": env, "run_type": str(dag_run.run_type)}

    run = review(ticket(), "{{ params.env }}")
    expect(run, {"status": "completed", "workflow": "wf_weekly_cost_review"})

with dag("d_workflow_run_no_context"):

    @task.cased_workflow_run(workflow_name="Deploy watcher", wait_for_completion=False)
    def watch_deploy() -> None:
        return None

    expect(watch_deploy(), {"status": "pending", "workflow": "wf_deploy_watcher"})

with dag("d_workflow_run_deferred"):

    @task.cased_workflow_run(workflow_id="wf_weekly_cost_review", timeout=30, **DEFERRED)
    def deferred_review() -> dict[str, Any]:
        return {"ticket": "OPS-8"}

    expect(deferred_review(), {"status": "completed"})

with dag("d_workflow_run_retry_reattaches"):

    @task.cased_workflow_run(
        workflow_id="wf_weekly_cost_review", retries=1, retry_delay=timedelta(0), **SYNC
    )
    def retried_review() -> dict[str, Any]:
        return {"ticket": "OPS-9"}

    retried_review()

with dag("d_agent_session"):

    @task.cased_agent_session(wait_for_completion=True, **SYNC)
    def ask_plain(name: str) -> str:
        return f"Why is {name} slow?"

    @task.cased_agent_session(**SYNC)
    def ask_with_context() -> dict[str, Any]:
        return {"prompt": "Check the feed", "context": {"feed": "inventory"}}

    expect(ask_plain("{{ dag.dag_id }}"), {"status": "completed"})
    ask_with_context()

with dag("d_casedev_action_deferred"):

    @task.casedev_action(action_id="action_contract_review", timeout=30, **DEFERRED)
    def review_contract(url: str) -> dict[str, Any]:
        return {"document_url": url}

    done = review_contract("s3://contracts/{{ dag.dag_id }}.pdf")
    expect(done, {"status": "completed", "action_id": "action_contract_review"})

with dag("d_casedev_action_sync"):

    @task.casedev_action(action_name="Summarize document", **SYNC)
    def summarize() -> dict[str, Any]:
        return {"doc": "q3-report"}

    expect(summarize(), {"status": "completed", "action_id": "action_summarize"})

with dag("d_wrong_returns"):

    @task.cased_workflow_run(workflow_id="wf_weekly_cost_review", **SYNC)
    def run_returns_list() -> Any:
        return ["not", "a", "dict"]

    @task.cased_agent_session(**SYNC)
    def session_returns_int() -> Any:
        return 42

    @task.cased_agent_session(**SYNC)
    def session_returns_misspelt_key() -> Any:
        return {"promt": "typo"}

    @task.casedev_action(action_id="action_summarize", **SYNC)
    def action_returns_str() -> Any:
        return "document.pdf"

    run_returns_list()
    session_returns_int()
    session_returns_misspelt_key()
    action_returns_str()

with dag("d_casedev_action_mapped"):

    @task.casedev_action(action_id="action_summarize", **SYNC)
    def summarize_each(doc: str) -> dict[str, Any]:
        return {"doc": doc}

    summarize_each.expand(doc=["q1-report", "q2-report"])
