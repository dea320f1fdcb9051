"""Ask a Cased agent about failed data checks, with a prompt a Python function writes
(``@task.cased_agent_session``)."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]


with DAG(
    dag_id="cased_agent_session_decorator",
    doc_md=__doc__,
    schedule=None,
    tags=["cased", "example"],
):
    # [START agent_session_decorator]
    @task
    def failed_checks() -> list[dict[str, Any]]:
        return [{"check": "orders_amount_not_null", "table": "orders", "failing_rows": 12}]

    @task.cased_agent_session(wait_for_completion=True, poll_interval=30, timeout=30 * 60)
    def investigate(checks: list[dict[str, Any]]) -> dict[str, Any]:
        # A str is the prompt; a dict gives the prompt and the session's context.
        names = ", ".join(check["check"] for check in checks)
        return {
            "prompt": f"These data checks failed: {names}. Find the cause and suggest a fix.",
            "context": {"checks": checks},
        }

    investigate(failed_checks())
    # [END agent_session_decorator]
