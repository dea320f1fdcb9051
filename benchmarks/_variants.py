"""Run-time patches of the async transport, to measure a proposed change before making it.

Only the benchmark worker imports this, and only with ``--variant``; the package
is never changed on disk. Each variant names the function it stands in for and
keeps everything else: the same ``RateGate`` per (event loop, base URL, API
key), the same ``Attempts`` retry/error policy, the same ``decode_answer``.

``conns2``: ``hooks._transport.ASYNC_MAX_CONNECTIONS = 2``: fewer pooled connections for the
client to rescan on every request.

``changes``: ``_shared_poll.WorkflowRunsPoll._poll_once`` publishes a run to its
watchers only when its status differs from the last one published (and always
errors), so a trigger whose run is still ``running`` is not woken every interval.

``sharedconfig``: ``hooks._base.ApiHookBase.aconfig`` reads each connection once
per event loop (one in-flight look-up shared by every hook of that conn id),
instead of once per trigger.

Variants combine with ``+``: ``--variant=changes+sharedconfig``. (``cadence``, a poll
per interval from a random first offset, and ``aiohttp`` were adopted and are gone;
``httpx``, the fallback client, left the package, so its variant went too:
``diag_async_clients.py`` still measures httpx against aiohttp.)
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any


def _conns2() -> None:
    from airflow_provider_cased.hooks import _transport

    _transport.ASYNC_MAX_CONNECTIONS = 2


def _changes() -> None:
    from airflow_provider_cased.triggers import _shared_poll

    original = _shared_poll.RunSubscriber.publish

    def publish(self: Any, observation: Any) -> None:
        status = observation.get("status") if isinstance(observation, dict) else None
        if status is not None and status == getattr(self, "_published_status", None):
            self.latest = observation  # kept fresh for a deadline, nobody woken
            return
        self._published_status = status
        original(self, observation)

    _shared_poll.RunSubscriber.publish = publish  # type: ignore[method-assign]


def _sharedconfig() -> None:
    from airflow_provider_cased.hooks import _base

    configs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]]
    configs = weakref.WeakKeyDictionary()

    async def aconfig(self: Any) -> Any:
        if "config" not in self.__dict__:
            per_loop = configs.setdefault(asyncio.get_running_loop(), {})
            key = (type(self), self.conn_id)
            pending = per_loop.get(key)
            if pending is None:
                pending = per_loop[key] = asyncio.ensure_future(_base.aget_connection(self.conn_id))
            self.__dict__["config"] = self.client_config(await asyncio.shield(pending))
        return self.config

    _base.ApiHookBase.aconfig = aconfig  # type: ignore[method-assign]


VARIANTS = {
    "conns2": _conns2,
    "changes": _changes,
    "sharedconfig": _sharedconfig,
}


def apply(spec: str) -> None:
    for name in spec.split("+"):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        VARIANTS[name]()
