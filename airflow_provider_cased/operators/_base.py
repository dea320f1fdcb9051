"""What the waiting operators share: argument checks, the wait (sync or deferred), the end.

Imported while DAG files are parsed, so it must stay cheap: hooks, triggers,
``requests`` and ``httpx`` are imported inside methods that run at task time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_cased._http import positive_number
from airflow_provider_cased._waiting import (
    Waiter,
    deadline_from_timeout,
    raise_if_failed,
    summary,
    validate_event,
    wait_sync,
)
from airflow_provider_cased.compat import Context, default_deferrable
from airflow_provider_cased.exceptions import CasedProviderError, CasedTimeoutError
from airflow_provider_cased.links import web_link, web_link_or_api_url
from airflow_provider_cased.operators import _reattach
from airflow_provider_cased.states import RemoteSpec


def use_default_retry_policy(operator: Any, kwargs: dict[str, Any]) -> None:
    """On Airflow 3.3+, ``CasedRetryPolicy`` unless the task (or its default_args) set one,
    even ``None``; older Airflows have no retry policies."""
    if "retry_policy" in kwargs or not hasattr(operator, "retry_policy"):
        return
    from airflow_provider_cased.retry_policy import default_retry_policy

    operator.retry_policy = default_retry_policy()


def record_outcome(context: Context, outlets: Any, extra: dict[str, Any]) -> None:
    """Put the outcome in the ``extra`` of the asset (2.11: dataset) events the task emits,
    so a DAG scheduled on them can read it (never the output: extras are small)."""
    events = context.get("outlet_events") if outlets else None
    if events is None:
        return
    for outlet in outlets:
        try:
            events[outlet].extra.update(extra)
        except (KeyError, TypeError, AttributeError):  # not an asset/dataset (e.g. a table)
            continue


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
    warn_after: float | None
    deferrable: bool
    wait_for_completion: bool

    if TYPE_CHECKING:
        log: Any
        hook: Any
        task_id: str

    def set_wait(
        self,
        wait_for_completion: bool,
        poll_interval: Any,
        timeout: Any,
        warn_after: Any,
        deferrable: bool | None,
    ) -> None:
        """The wait's arguments, checked at parse time (each error names its field)."""
        try:
            interval = positive_number("poll_interval", poll_interval)
            self.timeout = positive_number("timeout", timeout, allow_none=True)
            self.warn_after = positive_number("warn_after", warn_after, allow_none=True)
        except ValueError as exc:
            raise ValueError(f"Task '{self.task_id}': {exc}") from None
        assert interval is not None
        self.poll_interval = interval
        self.wait_for_completion = wait_for_completion
        self.deferrable = resolve_deferrable(deferrable)

    def ids_for(self, remote_id: str) -> dict[str, str]:
        raise NotImplementedError

    def fetch(self, remote_id: str) -> dict[str, Any]:
        """One read of its status; no retry loop: a wait backs off on its own clock."""
        raise NotImplementedError

    def deferral_trigger(self, remote_id: str, end_time: float | None) -> Any:
        """The trigger that waits on it in the triggerer."""
        raise NotImplementedError

    def result(self, answer: dict[str, Any]) -> Any:
        return answer

    def link_for(self, answer: dict[str, Any]) -> str:
        return web_link(self.spec, self.hook, answer)

    def wait_for(self, context: Context, remote_id: str, answer: dict[str, Any]) -> Any:
        """From the answer that started (or re-attached to) the work, to the task's result."""
        state = self.spec.state(answer)
        if state.is_terminal or not self.wait_for_completion:
            return self.finish(context, remote_id, answer)
        end_time = deadline_from_timeout(self.timeout)
        ids = self.ids_for(remote_id)
        if self.deferrable:
            _reattach.waiting_in_triggerer(
                context, self.spec, web_link_or_api_url(self.spec, self.hook, answer, ids)
            )
            self.defer(  # type: ignore[attr-defined]
                trigger=self.deferral_trigger(remote_id, end_time),
                method_name="execute_complete",
                timeout=self._deferral_backstop(),
            )
        waiter = Waiter(
            self.spec,
            remote_id,
            self.poll_interval,
            end_time,
            self.log,
            warn_after=self.warn_after,
            link_of=self.link_for,
        )
        # What on_kill abandons if a person ends the task during this wait.
        self._waiting_on = (context, remote_id, answer)
        try:
            final = wait_sync(lambda: self.fetch(remote_id), waiter)
        finally:
            self._waiting_on = None
        return self.finish(context, remote_id, final)

    _waiting_on: tuple[Context, str, dict[str, Any]] | None = None

    def on_kill(self) -> None:
        """A person marked the task failed/success (or cleared it) while it waited in the
        worker, or ``execution_timeout`` passed: say what keeps running remotely and
        (Airflow 3.3) record it, so the next try starts anew instead of re-attaching."""
        waiting = self._waiting_on
        if waiting is None:
            return
        context, remote_id, answer = waiting
        try:
            link = web_link_or_api_url(self.spec, self.hook, answer, self.ids_for(remote_id))
        except Exception:  # the log line matters more than the link
            link = ""
        try:
            _reattach.abandon(
                context, self.spec, remote_id, link, self.log, "the task was killed while waiting"
            )
        except Exception:  # a dying task must not fail here: the log line above was written
            self.log.exception("Could not record the abandoned %s", self.spec.label)

    def _deferral_backstop(self) -> timedelta | None:
        # The trigger sends its own clear timeout event at the deadline; this only
        # catches a trigger that died, a little after that.
        if self.timeout is None:
            return None
        return timedelta(seconds=self.timeout + 2 * self.poll_interval + 60)

    def finish(
        self,
        context: Context,
        remote_id: str,
        answer: dict[str, Any],
        ids: dict[str, str] | None = None,
    ) -> Any:
        state = self.spec.state(answer)
        link = self.link_for(answer)
        raise_if_failed(state, remote_id, answer, link)
        if state.is_terminal:
            self.log.info("%s", summary(state, remote_id, answer, link, None))
        else:
            self.log.info(
                "%s %s is %s%s",
                self.spec.label.capitalize(),
                remote_id,
                state.status,
                f" ({link})" if link else "",
            )
        outcome = self.outcome(remote_id, answer, ids or self.ids_for(remote_id))
        record_outcome(context, getattr(self, "outlets", None), outcome)
        return self.finished(context, remote_id, self.result(answer), outcome)

    def finished(
        self, context: Context, remote_id: str, result: Any, outcome: dict[str, Any]
    ) -> Any:
        """The task's return value, once the work succeeded (a subclass may have it reviewed)."""
        return result

    def outcome(
        self, remote_id: str, answer: dict[str, Any], ids: dict[str, str]
    ) -> dict[str, Any]:
        """What the task's asset (dataset) events carry: ids, status, link, duration."""
        extra: dict[str, Any] = {
            "kind": self.spec.kind,
            **ids,
            "status": self.spec.state(answer).status,
        }
        link = self.link_for(answer)
        if link:
            extra["link"] = link
        duration_ms = answer.get("durationMs", answer.get("duration_ms"))
        if duration_ms is not None:
            extra["duration_ms"] = duration_ms
        return extra

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger: check the event, fail closed on anything unexpected."""
        _reattach.resumed(context, self.spec)
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
        ids = event.get("ids") if isinstance(event.get("ids"), dict) else None
        return self.finish(context, event["remote_id"], answer, ids or None)
