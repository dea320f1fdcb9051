"""Deferral trigger for case.dev action executions."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased._http import ApiRequest, build_request
from airflow_provider_cased.hooks.casedev import ENDPOINTS
from airflow_provider_cased.states import RemoteState, execution_state
from airflow_provider_cased.triggers._base import RemoteWaitTrigger


class CaseDevActionExecutionTrigger(RemoteWaitTrigger):
    """Waits for a case.dev action execution to reach ``completed`` or ``failed``.

    :param execution_id: the execution to watch.
    :param conn_id: the ``casedev`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    """

    kind = "action_execution"
    hook_path = "airflow_provider_cased.hooks.casedev.CaseDevHook"

    def __init__(
        self,
        execution_id: str,
        conn_id: str = "casedev_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__(conn_id, poll_interval, end_time)
        self.execution_id = execution_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"execution_id": self.execution_id, **self.common_kwargs()},
        )

    @property
    def remote_id(self) -> str:
        return self.execution_id

    def request(self) -> ApiRequest:
        return build_request(ENDPOINTS["get_execution"], {"execution_id": self.execution_id})

    def state_of(self, answer: dict[str, Any]) -> RemoteState:
        return execution_state(answer)
