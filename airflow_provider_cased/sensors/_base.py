"""One sensor shape for both APIs: poke the status, or defer to the same trigger the operators use."""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._waiting import Waiter, failure_message, validate_event
from airflow_provider_cased.compat import AirflowSkipException, BaseSensorOperator, Context
from airflow_provider_cased.exceptions import (
    CasedApiError,
    CasedProviderError,
    CasedRemoteFailure,
    CasedTimeoutError,
)
from airflow_provider_cased.operators._base import resolve_deferrable
from airflow_provider_cased.states import RemoteState

if TYPE_CHECKING:
    from airflow_provider_cased.triggers._base import RemoteWaitTrigger


class RemoteStatusSensor(BaseSensorOperator):
    """Succeeds when the remote work is ``completed``; fails at once when it failed.

    ``soft_fail=True`` turns that failure (and a timeout) into a skip.
    """

    wait_kind: str

    def __init__(self, *, deferrable: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = resolve_deferrable(deferrable)

    @property
    def remote_id(self) -> str:
        raise NotImplementedError

    def fetch_status(self) -> dict[str, Any]:
        raise NotImplementedError

    def state_of(self, answer: dict[str, Any]) -> RemoteState:
        raise NotImplementedError

    def make_trigger(self, end_time: float) -> RemoteWaitTrigger:
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # One poke first: nothing to defer for if it is already over.
        if self.poke(context):
            return None
        self.defer(
            trigger=self.make_trigger(time.time() + float(self.timeout)),
            method_name="execute_complete",
        )

    @cached_property
    def _watch(self) -> Waiter:
        # Carries an API outage across pokes: logged once when it starts and once when it ends.
        return Waiter(self.state_of, self.remote_id, float(self.poke_interval), None, self.log)

    def poke(self, context: Context) -> bool:
        try:
            answer = self.fetch_status()
        except CasedApiError as error:
            self._watch.failed(error)  # raises unless the trouble can heal
            return False
        self._watch.check(answer)
        state = self.state_of(answer)
        if state.is_terminal and not state.is_successful:
            self._fail(
                CasedRemoteFailure(
                    failure_message(state, self.remote_id, answer, ""),
                    remote_id=self.remote_id,
                    status=state.status,
                )
            )
        self.log.info("%s %s is %r", state.kind.label.capitalize(), self.remote_id, state.status)
        return state.is_successful

    def execute_complete(self, context: Context, event: Any = None) -> None:
        event = validate_event(event, self.wait_kind)
        if event["status"] == "success":
            return
        if event["status"] == "failed":
            state = self.state_of(event["answer"])
            message = failure_message(state, self.remote_id, event["answer"], "")
            self._fail(CasedRemoteFailure(message, remote_id=self.remote_id, status=state.status))
        if event["status"] == "timeout":
            self._fail(CasedTimeoutError(event["message"]))
        raise CasedProviderError(event["message"] or "The trigger failed")

    def _fail(self, error: Exception) -> None:
        if self.soft_fail:
            raise AirflowSkipException(str(error))
        raise error
