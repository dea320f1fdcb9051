"""One sensor shape for both APIs: poke the status, or defer to the same trigger the operators use.

Imported while DAG files are parsed: what only a running sensor needs (the wait's
bookkeeping, links, errors) is imported inside the method that uses it.
"""

from __future__ import annotations

import time
from contextlib import closing
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_cased._arguments import suggesting_names
from airflow_provider_cased._request_bodies import positive_number
from airflow_provider_cased.compat import AirflowSkipException, BaseSensorOperator, Context
from airflow_provider_cased.operators._base import resolve_deferrable

if TYPE_CHECKING:
    from airflow_provider_cased._waiting import Waiter
    from airflow_provider_cased.states import RemoteSpec


class RemoteStatusSensor(BaseSensorOperator):
    """Succeeds when the remote work is ``completed``; fails at once when it failed.

    ``soft_fail=True`` turns that failure (and a timeout) into a skip. Subclasses
    set ``spec`` and give ``hook`` and ``ids`` (the spec's ids, templated fields).
    """

    spec: ClassVar[RemoteSpec]

    if TYPE_CHECKING:
        hook: Any  # the subclass's hook (cached property)

    def __init__(
        self, *, deferrable: bool | None = None, warn_after: float | None = None, **kwargs: Any
    ) -> None:
        with suggesting_names(type(self), kwargs):
            super().__init__(**kwargs)
        self.deferrable = resolve_deferrable(deferrable)
        try:
            # Airflow refuses a negative interval but takes 0, which would poll (and, deferred,
            # send requests) without pause.
            positive_number("poke_interval", self.poke_interval)
            self.warn_after = positive_number("warn_after", warn_after, allow_none=True)
        except ValueError as exc:
            raise ValueError(f"Task '{self.task_id}': {exc}") from None

    @property
    def ids(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def remote_id(self) -> str:
        return str(self.spec.remote_id(self.ids))

    def fetch(self) -> dict[str, Any]:
        """One read of its status; no retry loop: pokes back off on their own clock."""
        raise NotImplementedError

    def deferral_trigger(self, end_time: float) -> Any:
        """The trigger that waits on it in the triggerer."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        with closing(self.hook):
            if not self.deferrable:
                return super().execute(context)
            # One poke first: nothing to defer for if it is already over.
            if self.poke(context):
                return None
        self.defer(
            trigger=self.deferral_trigger(time.time() + float(self.timeout)),
            method_name="execute_complete",
        )

    @cached_property
    def _watch(self) -> Waiter:
        from airflow_provider_cased._waiting import Waiter
        from airflow_provider_cased.links import web_link

        # Carries an API outage across pokes: logged once when it starts and once when it ends.
        return Waiter(
            self.spec,
            self.remote_id,
            float(self.poke_interval),
            None,
            self.log,
            warn_after=self.warn_after,
            link_of=lambda response: web_link(self.spec, self.hook, response),
        )

    def poke(self, context: Context) -> bool:
        from airflow_provider_cased._waiting import failure_message, summary
        from airflow_provider_cased.exceptions import CasedApiError, CasedRemoteFailure
        from airflow_provider_cased.links import web_link

        try:
            response = self.fetch()
        except CasedApiError as error:
            self._watch.failed(error)  # raises unless the trouble can heal
            return False
        self._watch.check(response)
        state = self.spec.state(response)
        if state.is_terminal and not state.is_successful:
            self._fail(
                CasedRemoteFailure(
                    failure_message(state, self.remote_id, response, ""),
                    remote_id=self.remote_id,
                    status=state.status,
                    kind=self.spec.kind,
                )
            )
        if state.is_successful:
            link = web_link(self.spec, self.hook, response)
            self.log.info("%s", summary(state, self.remote_id, response, link, None))
        return state.is_successful

    def execute_complete(self, context: Context, event: Any = None) -> None:
        from airflow_provider_cased._waiting import failure_message, summary, validate_event
        from airflow_provider_cased.exceptions import (
            CasedProviderError,
            CasedRemoteFailure,
            CasedTimeoutError,
        )
        from airflow_provider_cased.links import web_link

        event = validate_event(event, self.spec.kind)
        if event["status"] == "success":
            state = self.spec.state(event["answer"])
            link = web_link(self.spec, self.hook, event["answer"])
            self.log.info("%s", summary(state, self.remote_id, event["answer"], link, None))
            return
        if event["status"] == "failed":
            state = self.spec.state(event["answer"])
            message = failure_message(state, self.remote_id, event["answer"], "")
            self._fail(
                CasedRemoteFailure(
                    message, remote_id=self.remote_id, status=state.status, kind=self.spec.kind
                )
            )
        if event["status"] == "timeout":
            self._fail(CasedTimeoutError(event["message"]))
        raise CasedProviderError(event["message"] or "The trigger failed")

    def _fail(self, error: Exception) -> None:
        if self.soft_fail:
            raise AirflowSkipException(str(error))
        raise error
