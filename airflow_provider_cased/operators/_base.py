"""What the waiting operators share: argument checks, the wait (sync or deferred), the end.

Imported while DAG files are parsed, so it must stay cheap: hooks, triggers,
``requests`` and ``httpx`` are imported inside methods that run at task time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_cased._validation import positive_number
from airflow_provider_cased._waiting import (
    Waiter,
    deadline_from_timeout,
    raise_if_failed,
    validate_event,
    wait_sync,
)
from airflow_provider_cased.compat import Context, default_deferrable
from airflow_provider_cased.exceptions import CasedProviderError, CasedTimeoutError
from airflow_provider_cased.states import RemoteSpec


def check_wait_args(task_id: str, poll_interval: Any, timeout: Any) -> tuple[float, float | None]:
    try:
        interval = positive_number("poll_interval", poll_interval)
        limit = positive_number("timeout", timeout, allow_none=True)
    except ValueError as exc:
        raise ValueError(f"Task '{task_id}': {exc}") from None
    assert interval is not None
    return interval, limit


def resolve_deferrable(deferrable: bool | None) -> bool:
    return default_deferrable() if deferrable is None else bool(deferrable)


class RemoteWaitMixin:
    """Wait for a remote run/execution the operator started, then succeed or fail the task.

    Subclasses set ``spec`` and give ``hook`` and ``ids_for`` (the spec's ids of
    one remote id), plus ``result``/``link_for`` to shape the end.
    """

    spec: ClassVar[RemoteSpec]
    poll_interval: float
    timeout: float | None
    deferrable: bool
    wait_for_completion: bool

    if TYPE_CHECKING:
        log: Any
        hook: Any

    def ids_for(self, remote_id: str) -> dict[str, str]:
        raise NotImplementedError

    def result(self, answer: dict[str, Any]) -> Any:
        return answer

    def link_for(self, answer: dict[str, Any]) -> str:
        return ""

    def wait_for(self, remote_id: str, answer: dict[str, Any]) -> Any:
        """From the answer that started (or re-attached to) the work, to the task's result."""
        state = self.spec.state(answer)
        if state.is_terminal or not self.wait_for_completion:
            return self.finish(remote_id, answer)
        end_time = deadline_from_timeout(self.timeout)
        ids = self.ids_for(remote_id)
        if self.deferrable:
            self.defer(  # type: ignore[attr-defined]
                trigger=self.spec.trigger(ids, self.hook.conn_id, self.poll_interval, end_time),
                method_name="execute_complete",
                timeout=self._deferral_backstop(),
            )
        waiter = Waiter(self.spec, remote_id, self.poll_interval, end_time, self.log)
        final = wait_sync(lambda: self.spec.fetch(self.hook, ids), waiter)
        return self.finish(remote_id, final)

    def _deferral_backstop(self) -> timedelta | None:
        # The trigger sends its own clear timeout event at the deadline; this only
        # catches a trigger that died, a little after that.
        if self.timeout is None:
            return None
        return timedelta(seconds=self.timeout + 2 * self.poll_interval + 60)

    def finish(self, remote_id: str, answer: dict[str, Any]) -> Any:
        state = self.spec.state(answer)
        link = self.link_for(answer)
        raise_if_failed(state, remote_id, answer, link)
        self.log.info(
            "%s %s is %s%s",
            self.spec.label.capitalize(),
            remote_id,
            state.status,
            f" ({link})" if link else "",
        )
        return self.result(answer)

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger: check the event, fail closed on anything unexpected."""
        event = validate_event(event, self.spec.kind)
        if event["status"] == "timeout":
            raise CasedTimeoutError(event["message"] or "Timed out waiting")
        if event["status"] == "error":
            raise CasedProviderError(event["message"] or "The trigger failed")
        answer = event["answer"]
        state = self.spec.state(answer)
        if not state.is_terminal or state.is_successful != (event["status"] == "success"):
            raise CasedProviderError(
                f"Unexpected trigger event: status {event['status']!r} with remote status "
                f"{state.status!r}"
            )
        return self.finish(event["remote_id"], answer)
