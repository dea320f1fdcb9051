"""Deferral trigger for Cased workflow runs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_cased.compat import BaseEventTrigger, missing_before
from airflow_provider_cased.exceptions import CasedTimeoutError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.states import AGENT_SESSION, WORKFLOW_RUN
from airflow_provider_cased.triggers._base import ReadStatus, RemoteWaitTrigger
from airflow_provider_cased.triggers._shared_poll import RunSubscriber, shared_poll


class CasedWorkflowRunTrigger(RemoteWaitTrigger):
    """Waits for a Cased workflow run to reach ``completed``, ``failed`` or ``cancelled``.

    Triggers of one triggerer waiting on runs of the same workflow share one list
    poll per interval (see ``_shared_poll``); each still yields its own event.

    :param workflow_id: the workflow the run belongs to.
    :param run_id: the run to watch.
    :param conn_id: the ``cased`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    :param warn_after: seconds of waiting after which a warning names the remote id and link.
    """

    spec = WORKFLOW_RUN
    hook_class = CasedHook

    def __init__(
        self,
        workflow_id: str,
        run_id: str,
        conn_id: str = "cased_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
        warn_after: float | None = None,
    ) -> None:
        super().__init__(
            {"workflow_id": workflow_id, "run_id": run_id},
            conn_id,
            poll_interval,
            end_time,
            warn_after,
        )
        self.workflow_id = workflow_id
        self.run_id = run_id

    @asynccontextmanager
    async def status_reads(self, hook: Any) -> AsyncIterator[ReadStatus]:
        poll = shared_poll(hook, self.workflow_id)
        watch = RunSubscriber(self.run_id, self.poll_interval)
        poll.join(watch)

        async def shared(delay: float) -> Any:
            # The shared poll keeps the clock; this trigger's deadline still holds.
            left = None if self.end_time is None else max(0.0, self.end_time - time.time())
            # Past the deadline the newest observation goes to the waiter, which times out.
            observation = await watch.next(left) or watch.latest
            if observation is None:
                raise CasedTimeoutError(
                    f"Timed out waiting for workflow run {self.run_id}: no status was read "
                    "before the timeout passed"
                )
            if isinstance(observation, BaseException):
                raise observation
            return observation

        try:
            yield shared
        finally:
            poll.leave(watch)


class CasedAgentSessionTrigger(RemoteWaitTrigger):
    """Waits for a Cased agent session to reach ``completed``, ``failed`` or ``cancelled``.

    :param session_id: the session to watch.
    :param conn_id: the ``cased`` connection.
    :param poll_interval: seconds between polls.
    :param end_time: absolute deadline (epoch seconds); a ``timeout`` event is sent then.
    :param warn_after: seconds of waiting after which a warning names the remote id and link.
    """

    spec = AGENT_SESSION
    hook_class = CasedHook

    def __init__(
        self,
        session_id: str,
        conn_id: str = "cased_default",
        poll_interval: float = 30.0,
        end_time: float | None = None,
        warn_after: float | None = None,
    ) -> None:
        super().__init__({"session_id": session_id}, conn_id, poll_interval, end_time, warn_after)
        self.session_id = session_id

    async def fetch(self, hook: CasedHook) -> dict[str, Any]:
        return await hook.a_get_agent_session(self.session_id, retry=False)


if BaseEventTrigger is not None:
    from airflow_provider_cased.triggers._run_events import make_event_trigger_class

    CasedWorkflowRunEventTrigger = make_event_trigger_class()
else:
    __getattr__ = missing_before(
        __name__, {"CasedWorkflowRunEventTrigger": "3 (event-driven scheduling, AssetWatcher)"}
    )
