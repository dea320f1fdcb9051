"""One polling trigger for both APIs: async transport, shared client, absolute deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow_provider_cased._http import ApiRequest
from airflow_provider_cased._transport import AsyncTransport
from airflow_provider_cased._waiting import Waiter, make_event
from airflow_provider_cased.compat import BaseTrigger, TriggerEvent, aget_connection
from airflow_provider_cased.exceptions import (
    CasedApiError,
    CasedProviderError,
    CasedTimeoutError,
)
from airflow_provider_cased.states import RemoteState


class RemoteWaitTrigger(BaseTrigger):
    """Polls one run/execution until it is terminal, the deadline passes, or polling fails.

    Yields exactly one event: ``success``/``failed`` (with the remote answer),
    ``timeout`` or ``error`` (with a message). Kwargs are plain JSON.
    """

    kind: ClassVar[str]
    hook_path: ClassVar[str]  # "module.Class" of the hook whose connection settings apply

    def __init__(
        self, conn_id: str, poll_interval: float = 30.0, end_time: float | None = None
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)

    @property
    def remote_id(self) -> str:
        raise NotImplementedError

    def request(self) -> ApiRequest:
        raise NotImplementedError

    def state_of(self, answer: dict[str, Any]) -> RemoteState:
        raise NotImplementedError

    def common_kwargs(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            transport = await self._transport()
            waiter = Waiter(
                self.state_of, self.remote_id, self.poll_interval, self.end_time, self.log
            )
            request = self.request()
            while True:
                try:
                    answer = await transport.send(request, retry=False)
                except CasedApiError as error:
                    delay = waiter.failed(error)
                else:
                    next_poll = waiter.check(answer)
                    if next_poll is None:
                        break
                    delay = next_poll
                await asyncio.sleep(delay)
        except CasedTimeoutError as exc:
            yield TriggerEvent(make_event("timeout", self.kind, self.remote_id, message=str(exc)))
            return
        except CasedProviderError as exc:
            yield TriggerEvent(make_event("error", self.kind, self.remote_id, message=str(exc)))
            return
        status = "success" if self.state_of(answer).is_successful else "failed"
        yield TriggerEvent(make_event(status, self.kind, self.remote_id, answer))

    async def _transport(self) -> AsyncTransport:
        from importlib import import_module

        module, _, name = self.hook_path.rpartition(".")
        hook_class = getattr(import_module(module), name)
        # Never the sync getter here: it blocks every trigger sharing this event loop.
        conn = await aget_connection(self.conn_id)
        return AsyncTransport(hook_class.client_config(conn), self.log)
