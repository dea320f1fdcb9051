"""What our operators share: start work with one request (asking a person first when told
to), then wait for it (poll here, or defer to a trigger) and finish.

Imported while DAG files are parsed, so it must stay cheap: what only a running task
needs (the wait loop, re-attaching, asking a person, links, hooks, triggers) is imported
inside the method that uses it. ``benchmarks/bench_import.py`` measures the cost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_cased._arguments import suggesting_names
from airflow_provider_cased._request_bodies import positive_number
from airflow_provider_cased.compat import BaseOperator, Context, default_deferrable

if TYPE_CHECKING:
    from airflow_provider_cased.approval import Approval
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


def id_and_name(remote_id: str, name: str | None) -> str:
    """How an approval names what the task acts on: its id, and the name it was given by."""
    return remote_id + (f" ({name!r})" if name else "")


def id_in_response(remote_id: Any, response: Any, problem: str, conn_id: str) -> str:
    """The id of the work a POST started; a response without one is an API error."""
    from airflow_provider_cased.exceptions import CasedApiError

    if not remote_id:
        raise CasedApiError(f"{problem}: {response!r}"[:500], conn_id=conn_id)
    return str(remote_id)


class StartingOperator(BaseOperator):
    """An operator whose work starts with one request, which a person may have to approve.

    ``execute`` builds the request (the hook checks it), calls ``ask_approval`` with it,
    then sends it. Without an approval (or once given) the call returns at once; else the
    task parks there, nothing sent, until a person answers: Approve runs ``execute`` again
    (and this time the call returns), Reject or a timeout fails or skips the task.
    """

    approval: Approval | None = None
    approved: bool = False

    def __init__(
        self, *, require_approval: bool = False, approval: Approval | None = None, **kwargs: Any
    ) -> None:
        with suggesting_names(type(self), kwargs):
            super().__init__(**kwargs)
        use_default_retry_policy(self, kwargs)
        if require_approval or approval is not None:
            from airflow_provider_cased.approval import approval_from

            # Checked at parse time: an Airflow without human-in-the-loop refuses it there.
            self.approval = approval_from(
                f"Task '{self.task_id}'", "require_approval/approval", require_approval, approval
            )

    def ask_approval(
        self,
        context: Context,
        hook: Any,
        request: Any,
        title: str,
        facts: dict[str, str] | None = None,
        summarise: tuple[str, ...] = (),
    ) -> None:
        """Unless approved (or not asked for): show a person ``request`` exactly as it would
        leave, and park the task. Once approved, check that ``request`` is the one shown."""
        if self.approval is None:
            return
        from airflow_provider_cased.operators._approval import (
            APPROVE,
            REJECT,
            approval_text,
            ask,
            confirm_unchanged,
            outgoing,
            remember_asked,
        )

        shown = outgoing(hook, request, title, facts, summarise)
        if self.approved:
            confirm_unchanged(context, shown)
            return
        remember_asked(context, shown)
        self.log.info(
            "Asking for approval before sending %s %s (the task waits in the Required Actions "
            "list of the Airflow UI)",
            shown.method,
            shown.url,
        )
        ask(
            self,
            context,
            self.approval,
            subject=self.approval.subject or f"Approve: {shown.title}",
            body=approval_text(shown, self.approval, context, hook.config.api_key),
            options=[APPROVE, REJECT],
            method_name="approval_complete",
        )

    def approval_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the person's answer: act on Approve, fail or skip otherwise (nothing was sent)."""
        from airflow_provider_cased.operators._approval import APPROVE, decide

        assert self.approval is not None
        decide(self, self.approval, event, "request", allowed=(APPROVE,))
        self.approved = True
        return self.execute(context)


class RemoteWaitOperator(StartingOperator):
    """Start remote work (a run, execution or session), wait for it, succeed or fail the task.

    Subclasses set ``spec``, give ``hook``, and say how to reach the work: ``remote_ids``
    (the ids the API locates it by), ``fetch`` (one status read) and ``deferral_trigger``.
    """

    spec: ClassVar[RemoteSpec]
    hook: Any  # each operator's hook (a cached property)
    poll_interval: float
    timeout: float | None
    warn_after: float | None
    deferrable: bool
    wait_for_completion: bool

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

    def remote_ids(self, remote_id: str) -> dict[str, str]:
        """The ids the API locates it by (the hook method's and the trigger's arguments)."""
        raise NotImplementedError

    def fetch(self, remote_id: str) -> dict[str, Any]:
        """One read of its status; no retry loop: a wait backs off on its own clock."""
        raise NotImplementedError

    def deferral_trigger(self, remote_id: str, end_time: float | None) -> Any:
        """The trigger that waits on it in the triggerer."""
        raise NotImplementedError

    def task_result(
        self, context: Context, remote_id: str, response: dict[str, Any], outcome: dict[str, Any]
    ) -> Any:
        """What the task returns once the work succeeded: by default the response."""
        return response

    def wait(self, context: Context, remote_id: str, response: dict[str, Any]) -> dict[str, Any]:
        """The work's terminal response: polled here, or the task defers (the trigger's event
        resumes ``execute_complete``). Nothing to wait for: ``response`` as it is."""
        from airflow_provider_cased._waiting import Waiter, deadline_from_timeout, wait_sync
        from airflow_provider_cased.links import web_link, web_link_or_api_url
        from airflow_provider_cased.operators import _reattach

        if self.spec.state(response).is_terminal or not self.wait_for_completion:
            return response
        end_time = deadline_from_timeout(self.timeout)
        if self.deferrable:
            link = web_link_or_api_url(self.spec, self.hook, response, self.remote_ids(remote_id))
            _reattach.waiting_in_triggerer(context, self.spec, link)
            self.defer(
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
            link_of=lambda seen: web_link(self.spec, self.hook, seen),
        )
        # What on_kill abandons if a person ends the task during this wait.
        self._waiting_on = (context, remote_id, response)
        try:
            return wait_sync(lambda: self.fetch(remote_id), waiter)
        finally:
            self._waiting_on = None

    _waiting_on: tuple[Context, str, dict[str, Any]] | None = None

    def on_kill(self) -> None:
        """A person marked the task failed/success (or cleared it) while it waited in the
        worker, or ``execution_timeout`` passed: say what keeps running remotely and
        (Airflow 3.3) record it, so the next try starts anew instead of re-attaching."""
        waiting = self._waiting_on
        if waiting is None:
            return
        from airflow_provider_cased.links import web_link_or_api_url
        from airflow_provider_cased.operators import _reattach

        context, remote_id, response = waiting
        try:
            link = web_link_or_api_url(self.spec, self.hook, response, self.remote_ids(remote_id))
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
        response: dict[str, Any],
        ids: dict[str, str] | None = None,
    ) -> Any:
        """Fail the task if the work failed; else log, record the outcome, return the result."""
        from airflow_provider_cased._waiting import raise_if_failed, summary
        from airflow_provider_cased.links import web_link

        state = self.spec.state(response)
        link = web_link(self.spec, self.hook, response)
        raise_if_failed(state, remote_id, response, link)
        if state.is_terminal:
            self.log.info("%s", summary(state, remote_id, response, link, None))
        else:
            self.log.info(
                "%s %s is %s%s",
                self.spec.label.capitalize(),
                remote_id,
                state.status,
                f" ({link})" if link else "",
            )
        # What the task's asset (dataset) events carry: ids, status, link, duration.
        outcome: dict[str, Any] = {
            "kind": self.spec.kind,
            **(ids or self.remote_ids(remote_id)),
            "status": state.status,
        }
        if link:
            outcome["link"] = link
        duration_ms = response.get("durationMs", response.get("duration_ms"))
        if duration_ms is not None:
            outcome["duration_ms"] = duration_ms
        record_outcome(context, self.outlets, outcome)
        return self.task_result(context, remote_id, response, outcome)

    def execute_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the trigger: check the event, fail closed on anything unexpected."""
        from airflow_provider_cased._waiting import validate_event
        from airflow_provider_cased.exceptions import CasedProviderError, CasedTimeoutError
        from airflow_provider_cased.operators import _reattach

        _reattach.resumed(context, self.spec)
        event = validate_event(event, self.spec.kind)
        if event["status"] == "timeout":
            raise CasedTimeoutError(event["message"] or "Timed out waiting")
        if event["status"] == "error":
            raise CasedProviderError(event["message"] or "The trigger failed")
        response = event["answer"]
        state = self.spec.state(response)
        if not state.is_terminal or state.is_successful != (event["status"] == "success"):
            raise CasedProviderError(
                f"Unexpected trigger event: status {event['status']!r} with remote status "
                f"{state.status!r}"
            )
        ids = event.get("ids") if isinstance(event.get("ids"), dict) else None
        return self.finish(context, event["remote_id"], response, ids or None)
