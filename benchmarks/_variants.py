"""Run-time patches of the async transport, to measure a proposed change before making it.

Only the benchmark worker imports this, and only with ``--variant``; the package
is never changed on disk. Each variant names the function it stands in for and
keeps everything else: the same ``RateGate`` per (event loop, base URL, API
key), the same ``Attempts`` retry/error policy, the same ``decode_answer``.

``aiohttp``: ``hooks._base.AsyncTransport.send`` over one ``aiohttp.ClientSession``
per (event loop, base URL) with ``TCPConnector(limit=ASYNC_MAX_CONNECTIONS)``,
keep-alive ``ASYNC_KEEPALIVE_SECONDS``, instead of the shared httpx client.
Needs aiohttp, which the anchor venv has (dbt Cloud depends on it).

``conns2``: ``hooks._base.ASYNC_MAX_CONNECTIONS = 2`` (httpx kept): fewer pooled
connections for httpcore to rescan on every request.

``cadence``: ``_shared_poll.WorkflowRunsPoll._loop`` starts a poll every interval
(sleeping the interval minus the poll's own duration) instead of sleeping a full
interval after each poll ends, and starts each workflow's loop at a random point
of its first interval, so 100 workflows do not poll in one burst.

``changes``: ``_shared_poll.WorkflowRunsPoll._poll_once`` publishes a run to its
watchers only when its status differs from the last one published (and always
errors), so a trigger whose run is still ``running`` is not woken every interval.

``sharedconfig``: ``hooks._base.ApiHookBase.aconfig`` reads each connection once
per event loop (one in-flight look-up shared by every hook of that conn id),
instead of once per trigger.

Variants combine with ``+``: ``--variant=cadence+changes``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any


def _aiohttp() -> None:
    import aiohttp

    from airflow_provider_cased._http import Attempts, Failure, RateGate
    from airflow_provider_cased.hooks import _base as _transport

    sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]]
    sessions = weakref.WeakKeyDictionary()

    def shared(base_url: str) -> dict[str, Any]:
        per_loop = sessions.setdefault(asyncio.get_running_loop(), {})
        found = per_loop.get(base_url)
        if found is None:
            connector = aiohttp.TCPConnector(
                limit=_transport.ASYNC_MAX_CONNECTIONS,
                keepalive_timeout=_transport.ASYNC_KEEPALIVE_SECONDS,
            )
            found = per_loop[base_url] = {
                "session": aiohttp.ClientSession(connector=connector),
                "gates": {},
            }
        return found

    def classify(exc: BaseException) -> Failure | None:
        if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
            return Failure.NOT_SENT
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            return Failure.NO_ANSWER
        return None

    async def send(self: Any, request: Any, *, retry: bool = True) -> Any:
        client = shared(self.config.base_url)
        session: aiohttp.ClientSession = client["session"]
        attempts = Attempts(self.config, request, self.log, retry=retry)
        timeout = aiohttp.ClientTimeout(
            sock_read=self.config.read_timeout_for(request.endpoint),
            sock_connect=self.config.connect_timeout,
        )
        gate = client["gates"].setdefault(self.config.api_key, RateGate())
        while True:
            wait = gate.admit(time.monotonic())
            if wait > 0:
                gate.waiting += 1
                try:
                    while wait > 0:
                        await asyncio.sleep(wait)
                        wait = gate.admit(time.monotonic())
                finally:
                    gate.waiting -= 1
            try:
                async with session.request(
                    request.method,
                    self.config.url(request.path),
                    params=request.params or None,
                    json=request.json,
                    headers=self._headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as answer:
                    body = await answer.read()
                    status, headers = answer.status, answer.headers
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                delay = attempts.failed(classify(exc), exc)
            else:
                gate.observe(status, headers, time.monotonic(), self.log, self.config.base_url)
                retry_in = attempts.answered(status, headers, body)
                if retry_in is None:
                    return attempts.decoded(status, headers, body)
                delay = retry_in
            await asyncio.sleep(delay)

    _transport.AsyncTransport.send = send  # type: ignore[method-assign]


def _conns2() -> None:
    from airflow_provider_cased.hooks import _base as _transport

    _transport.ASYNC_MAX_CONNECTIONS = 2


def _cadence() -> None:
    import random

    from airflow_provider_cased._waiting import trouble_backoff
    from airflow_provider_cased.exceptions import CasedApiError
    from airflow_provider_cased.triggers import _shared_poll

    async def _loop(self: Any) -> None:
        failed_polls = 0
        first = True
        while self.watches:
            interval = min(w.poll_interval for w in self.watches)
            if first:
                first = False
                await asyncio.sleep(random.uniform(0, interval))
                continue
            started = time.monotonic()
            try:
                await self._poll_once()
            except Exception as error:
                for watch in list(self.watches):
                    watch.publish(error)
                failed_polls += 1
                transient = isinstance(error, CasedApiError) and error.transient
                delay = trouble_backoff(interval, failed_polls, error) if transient else interval
            else:
                failed_polls = 0
                delay = interval
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)))

    _shared_poll.WorkflowRunsPoll._loop = _loop  # type: ignore[method-assign]


def _changes() -> None:
    from airflow_provider_cased.triggers import _shared_poll

    original = _shared_poll.RunWatch.publish

    def publish(self: Any, observation: Any) -> None:
        status = observation.get("status") if isinstance(observation, dict) else None
        if status is not None and status == getattr(self, "_published_status", None):
            self.latest = observation  # kept fresh for a deadline, nobody woken
            return
        self._published_status = status
        original(self, observation)

    _shared_poll.RunWatch.publish = publish  # type: ignore[method-assign]


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
    "aiohttp": _aiohttp,
    "conns2": _conns2,
    "cadence": _cadence,
    "changes": _changes,
    "sharedconfig": _sharedconfig,
}


def apply(spec: str) -> None:
    for name in spec.split("+"):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        VARIANTS[name]()
