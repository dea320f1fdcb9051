"""A Deadline Alert that starts a Cased agent session (Airflow 3.1+); tests/test_docs.py
builds this DAG there."""

from __future__ import annotations

# [START deadline_alert]
from datetime import timedelta

from airflow.sdk import DAG, task

try:
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
except ImportError:  # Airflow 3.1 does not export them from airflow.sdk yet
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

from airflow_provider_cased.notifications.cased import CasedAgentSessionNotifier

with DAG(
    dag_id="docs_deadline_alert",
    schedule="@daily",
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=1),
        callback=AsyncCallback(
            CasedAgentSessionNotifier,
            kwargs={"prompt": "The nightly load has run for an hour: find out why"},
        ),
    ),
) as dag:

    @task
    def nightly_load() -> None:
        print("loading")

    nightly_load()
# [END deadline_alert]
