"""One polling trigger for both APIs: the hook's async methods, an absolute deadline."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from airflow_provider_cased._waiting import Waiter, make_event
from airflow_provider_cased.compat import BaseTrigger, TriggerEvent
from airflow_provider_cased.exceptions import (
    CasedApiError,
    CasedProviderError,
    CasedTimeoutError,
)
from airflow_provider_cased.hooks._base import ApiHookBase
from airflow_provider_cased.links import web_link, web_link_or_api_url
from airflow_provider_cased.states import RemoteSpec

# Reads the status once, after waiting the given seconds (or on the source's own clock).
ReadStatus = Callable[[float], Awaitable[Any]]


class RemoteWaitTrigger(BaseTrigger):
    """Polls one run/execution until it is terminal, the deadline passes, or a response cannot heal.

    Yields exactly one event: ``success``/``failed`` (with the remote response),
    ``timeout`` or ``error`` (with a message). Kwargs are plain JSON: the spec's
    ids, ``conn_id``, ``poll_interval``, ``end_time`` and ``warn_after``.
    """

    spec: ClassVar[RemoteSpec]
    hook_class: ClassVar[type[ApiHookBase]]

    def __init__(
        self,
        ids: dict[str, str],
        conn_id: str,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        warn_after: float | None = None,
    ) -> None:
        super().__init__()
        self.ids = ids
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.warn_after = None if warn_after is None else float(warn_after)
        self._hook: ApiHookBase | None = None
        self._last_response: dict[str, Any] = {}

    @property
    def remote_id(self) -> str:
        return self.spec.remote_id(self.ids)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.ids,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "warn_after": self.warn_after,
            },
        )

    def _first_poll_delay(self) -> float:
        # Triggers deferred (or handed over) together would poll in lockstep forever:
        # a random start within one interval spreads them. The task checked the
        # status just before deferring, so nothing is missed.
        delay = random.uniform(0, self.poll_interval)
        if self.end_time is not None:
            delay = min(delay, max(0.0, self.end_time - time.time()))
        return delay

    async def fetch(self, hook: Any) -> dict[str, Any]:
        """One read of its status (the hook's ``a_…`` method); no retry loop: the wait
        backs off on its own clock."""
        raise NotImplementedError

    @asynccontextmanager
    async def status_reads(self, hook: Any) -> AsyncIterator[ReadStatus]:
        """How this trigger reads its status: by default one ``fetch`` after each delay."""

        async def after(delay: float) -> Any:
            await asyncio.sleep(delay)
            return await self.fetch(hook)

        yield after

    async def run(self) -> AsyncIterator[TriggerEvent]:
        kind = self.spec.kind
        try:
            hook = self._hook = self.hook_class(self.conn_id)
            waiter = Waiter(
                self.spec,
                self.remote_id,
                self.poll_interval,
                self.end_time,
                self.log,
                warn_after=self.warn_after,
                link_of=lambda response: web_link(self.spec, hook, response),
            )
            async with self.status_reads(hook) as read_status:
                delay = self._first_poll_delay()
                while True:
                    try:
                        response = await read_status(delay)
                    except CasedApiError as error:
                        delay = waiter.failed(error)
                    else:
                        if isinstance(response, dict):
                            self._last_response = response
                        next_poll = waiter.check(response)
                        if next_poll is None:
                            break
                        delay = next_poll
        except CasedTimeoutError as exc:
            yield TriggerEvent(make_event("timeout", kind, self.remote_id, message=str(exc)))
            return
        except CasedProviderError as exc:
            yield TriggerEvent(make_event("error", kind, self.remote_id, message=str(exc)))
            return
        status = "success" if self.spec.state(response).is_successful else "failed"
        yield TriggerEvent(make_event(status, kind, self.remote_id, response, ids=self.ids))

    async def on_kill(self) -> None:
        """Airflow 3.3 calls this when a person marks the deferred task failed or successful,
        or clears it (never on a triggerer restart or hand-over): neither API can cancel the
        remote work, so say what keeps running and where to look. The next try of the task
        records it as abandoned in the task state store (triggers cannot write it) and
        starts anew instead of re-attaching."""
        link = ""
        try:
            hook = self._hook or self.hook_class(self.conn_id)
            await hook.aconfig()
            link = web_link_or_api_url(
                self.spec, hook, {**self.ids, **self._last_response}, self.ids
            )
        except Exception:  # the log line matters more than the link
            self.log.debug("No link for the abandoned %s", self.spec.label, exc_info=True)
        self.log.warning(
            "Abandoned %s %s: %s. It keeps running: neither API can cancel it. A cleared or "
            "retried task starts a new one.",
            self.spec.label,
            self.remote_id,
            link or "no web page",
        )
