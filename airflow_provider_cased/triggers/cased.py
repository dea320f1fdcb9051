"""Deferral trigger for Cased workflow runs."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased._http import ApiRequest, build_request
from airflow_provider_cased.hooks.cased import ENDPOINTS
from airflow_provider_cased.states import RemoteState, run_state
from airflow_provider_cased.triggers._base import RemoteWaitTrigger


class CasedWorkflowRunTrigger(RemoteWaitTrigger):
    """Waits for a Cased workflow run to reach ``completed``, ``failed`` or ``cancelled``.

    :param workflow_id: the workflow the run belongs to.
    :param run_id: the run to watch.
    :param conn_id: the ``cased`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    """

    kind = "workflow_run"
    hook_path = "airflow_provider_cased.hooks.cased.CasedHook"

    def __init__(
        self,
        workflow_id: str,
        run_id: str,
        conn_id: str = "cased_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__(conn_id, poll_interval, end_time)
        self.workflow_id = workflow_id
        self.run_id = run_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"workflow_id": self.workflow_id, "run_id": self.run_id, **self.common_kwargs()},
        )

    @property
    def remote_id(self) -> str:
        return self.run_id

    def request(self) -> ApiRequest:
        return build_request(
            ENDPOINTS["get_workflow_run"], {"workflow_id": self.workflow_id, "run_id": self.run_id}
        )

    def state_of(self, answer: dict[str, Any]) -> RemoteState:
        return run_state(answer)
