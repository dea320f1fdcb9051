"""When a task fails, start a Cased agent session to investigate it.

``check_inventory_feed`` fails on purpose (the traceback in its log is
expected); its failure callback asks a Cased agent why. The clean-up task runs
whatever happened (``all_done``), so the DAG run itself ends in success once
the investigation has been requested.
"""

from __future__ import annotations

from airflow_provider_cased.notifications.cased import CasedAgentSessionNotifier

try:
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.operators.python import PythonOperator  # type: ignore[no-redef]


def read_inventory_feed() -> None:
    raise RuntimeError("inventory feed is 3 hours stale (last row 2024-05-01T06:00Z)")


with DAG(
    dag_id="cased_agent_session_on_failure",
    doc_md=__doc__,
    schedule=None,
    tags=["cased", "example"],
):
    # [START agent_session_notifier]
    check_inventory_feed = PythonOperator(
        task_id="check_inventory_feed",
        python_callable=read_inventory_feed,
        on_failure_callback=CasedAgentSessionNotifier(
            prompt="Task {{ ti.task_id }} of {{ dag.dag_id }} failed. Find out why and suggest a fix.",
        ),
    )
    cleanup = PythonOperator(
        task_id="cleanup", python_callable=lambda: print("clean-up done"), trigger_rule="all_done"
    )
    check_inventory_feed >> cleanup
    # [END agent_session_notifier]
