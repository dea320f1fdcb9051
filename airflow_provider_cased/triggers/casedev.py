"""Deferral trigger for case.dev action executions."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased.hooks.casedev import CaseDevHook
from airflow_provider_cased.states import ACTION_EXECUTION
from airflow_provider_cased.triggers._base import RemoteWaitTrigger


class CaseDevActionExecutionTrigger(RemoteWaitTrigger):
    """Waits for a case.dev action execution to reach ``completed`` or ``failed``.

    :param execution_id: the execution to watch.
    :param conn_id: the ``casedev`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    :param warn_after: seconds of waiting after which a warning names the execution.
    """

    spec = ACTION_EXECUTION
    hook_class = CaseDevHook

    def __init__(
        self,
        execution_id: str,
        conn_id: str = "casedev_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
        warn_after: float | None = None,
    ) -> None:
        super().__init__(
            {"execution_id": execution_id}, conn_id, poll_interval, end_time, warn_after
        )
        self.execution_id = execution_id

    async def fetch(self, hook: CaseDevHook) -> dict[str, Any]:
        return await hook.a_get_execution(self.execution_id, retry=False)
