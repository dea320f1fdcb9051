"""Deferral trigger for Cased workflow runs."""

from __future__ import annotations

from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.states import WORKFLOW_RUN
from airflow_provider_cased.triggers._base import RemoteWaitTrigger


class CasedWorkflowRunTrigger(RemoteWaitTrigger):
    """Waits for a Cased workflow run to reach ``completed``, ``failed`` or ``cancelled``.

    :param workflow_id: the workflow the run belongs to.
    :param run_id: the run to watch.
    :param conn_id: the ``cased`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    """

    spec = WORKFLOW_RUN
    hook_class = CasedHook

    def __init__(
        self,
        workflow_id: str,
        run_id: str,
        conn_id: str = "cased_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__(
            {"workflow_id": workflow_id, "run_id": run_id}, conn_id, poll_interval, end_time
        )
        self.workflow_id = workflow_id
        self.run_id = run_id
