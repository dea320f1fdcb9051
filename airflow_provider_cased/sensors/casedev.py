"""Sensor for a case.dev action execution started elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.sensors._base import RemoteStatusSensor
from airflow_provider_cased.states import ACTION_EXECUTION

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.casedev import CaseDevHook


class CaseDevActionExecutionSensor(RemoteStatusSensor):
    """Wait for a case.dev action execution: succeed on ``completed``, fail on ``failed``.

    :param execution_id: the execution (templated).
    :param casedev_conn_id: the ``casedev`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("execution_id",)
    spec = ACTION_EXECUTION

    def __init__(
        self, *, execution_id: str, casedev_conn_id: str = "casedev_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.execution_id = execution_id
        self.casedev_conn_id = casedev_conn_id

    @cached_property
    def hook(self) -> CaseDevHook:
        from airflow_provider_cased.hooks.casedev import CaseDevHook

        return CaseDevHook(casedev_conn_id=self.casedev_conn_id)

    @property
    def ids(self) -> dict[str, str]:
        return {"execution_id": self.execution_id}

    def fetch(self) -> dict[str, Any]:
        return self.hook.get_execution(self.execution_id, retry=False)

    def deferral_trigger(self, end_time: float) -> Any:
        from airflow_provider_cased.triggers.casedev import CaseDevActionExecutionTrigger

        return CaseDevActionExecutionTrigger(
            execution_id=self.execution_id,
            conn_id=self.hook.conn_id,
            poll_interval=float(self.poke_interval),
            end_time=end_time,
            warn_after=self.warn_after,
        )
