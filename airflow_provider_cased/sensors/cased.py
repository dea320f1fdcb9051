"""Sensors for Cased workflow runs and agent sessions started elsewhere (e.g. fire-and-forget)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.sensors._base import RemoteStatusSensor
from airflow_provider_cased.states import AGENT_SESSION, WORKFLOW_RUN

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.cased import CasedHook


class _CasedSensor(RemoteStatusSensor):
    def __init__(self, *, cased_conn_id: str = "cased_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cased_conn_id = cased_conn_id

    @cached_property
    def hook(self) -> CasedHook:
        from airflow_provider_cased.hooks.cased import CasedHook

        return CasedHook(cased_conn_id=self.cased_conn_id)


class CasedWorkflowRunSensor(_CasedSensor):
    """Wait for a Cased workflow run: succeed on ``completed``, fail on ``failed``/``cancelled``.

    :param workflow_id: the workflow (templated).
    :param run_id: the run (templated), e.g. ``"{{ ti.xcom_pull('run')['id'] }}"``.
    :param cased_conn_id: the ``cased`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("workflow_id", "run_id")
    spec = WORKFLOW_RUN

    def __init__(
        self,
        *,
        workflow_id: str,
        run_id: str,
        cased_conn_id: str = "cased_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(cased_conn_id=cased_conn_id, **kwargs)
        self.workflow_id = workflow_id
        self.run_id = run_id

    @property
    def ids(self) -> dict[str, str]:
        return {"workflow_id": self.workflow_id, "run_id": self.run_id}

    def fetch(self) -> dict[str, Any]:
        return self.hook.get_workflow_run(self.workflow_id, self.run_id, retry=False)

    def deferral_trigger(self, end_time: float) -> Any:
        from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger

        return CasedWorkflowRunTrigger(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            conn_id=self.hook.conn_id,
            poll_interval=float(self.poke_interval),
            end_time=end_time,
            warn_after=self.warn_after,
        )


class CasedAgentSessionSensor(_CasedSensor):
    """Wait for a Cased agent session: succeed on ``completed``, fail on ``failed``/``cancelled``.

    :param session_id: the session (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='investigate')['session_id'] }}"``.
    :param cased_conn_id: the ``cased`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("session_id",)
    spec = AGENT_SESSION

    def __init__(
        self, *, session_id: str, cased_conn_id: str = "cased_default", **kwargs: Any
    ) -> None:
        super().__init__(cased_conn_id=cased_conn_id, **kwargs)
        self.session_id = session_id

    @property
    def ids(self) -> dict[str, str]:
        return {"session_id": self.session_id}

    def fetch(self) -> dict[str, Any]:
        return self.hook.get_agent_session(self.session_id, retry=False)

    def deferral_trigger(self, end_time: float) -> Any:
        from airflow_provider_cased.triggers.cased import CasedAgentSessionTrigger

        return CasedAgentSessionTrigger(
            session_id=self.session_id,
            conn_id=self.hook.conn_id,
            poll_interval=float(self.poke_interval),
            end_time=end_time,
            warn_after=self.warn_after,
        )
