"""The two transports: ``requests`` for tasks, ``httpx`` for triggers. Same policy, same errors.

``requests`` and ``httpx`` are imported when a transport is first used, not at
module import, so DAG files that import our operators stay cheap to parse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._http import ApiRequest, Attempts, ClientConfig, Failure, RateGate

if TYPE_CHECKING:
    import requests

log = logging.getLogger("airflow_provider_cased")

# Keep-alive connections per base URL. The pool opens only as many as concurrent
# polls need (a handful even for 1,000 triggers on a fast network); the cap
# leaves room for a slow one. httpcore rescans every pooled connection on each
# request, so a bigger cap costs CPU on every poll.
ASYNC_MAX_CONNECTIONS = 8
# Idle connections must outlive the gap between polls, or each burst of polls
# opens (and TLS-handshakes) new ones. Past this, the server has likely closed
# them anyway; httpcore notices a connection the server closed before reusing it.
ASYNC_KEEPALIVE_SECONDS = 120.0


def classify_requests_error(exc: BaseException) -> Failure | None:
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return Failure.NOT_SENT
    if isinstance(exc, (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError)):
        return Failure.NO_ANSWER
    if isinstance(exc, requests.ConnectionError):
        # Only a failed TCP connect proves the server never saw the request.
        cause: Any = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)
        if isinstance(reason, NewConnectionError) or isinstance(cause, NewConnectionError):
            return Failure.NOT_SENT
        return Failure.NO_ANSWER
    return None


def classify_httpx_error(exc: BaseException) -> Failure | None:
    import httpx

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.NOT_SENT
    if isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)):
        return Failure.NO_ANSWER
    return None


# One budget per API (base URL) and organisation (API key) for every hook of this process.
_sync_gates: dict[tuple[str, str], RateGate] = {}
_sync_gates_lock = threading.Lock()


def sync_gate(config: ClientConfig) -> RateGate:
    with _sync_gates_lock:
        return _sync_gates.setdefault((config.base_url, config.api_key), RateGate())


class SyncTransport:
    """Sends requests over one ``requests.Session`` kept for the transport's life."""

    def __init__(self, config: ClientConfig, logger: Any = None) -> None:
        self.config = config
        self.log = logger or log
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            session = requests.Session()
            session.headers.update(self.config.headers())
            # Proxies and CA bundles still come from the environment (trust_env stays on).
            self._session = session
        return self._session

    def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        import requests

        gate = sync_gate(self.config)
        attempts = Attempts(self.config, request, self.log, retry=retry, gate=gate)
        url = self.config.url(request.path)
        timeout = (self.config.connect_timeout, self.config.read_timeout_for(request.endpoint))
        while True:
            for wait in gate.waits():
                time.sleep(wait)
            try:
                answer = self.session.request(
                    request.method,
                    url,
                    params=request.params or None,
                    json=request.json,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                delay = attempts.failed(classify_requests_error(exc), exc)
            else:
                retry_in = attempts.answered(answer.status_code, answer.headers, answer.content)
                if retry_in is None:
                    return attempts.decoded(answer.status_code, answer.headers, answer.content)
                delay = retry_in
            time.sleep(delay)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class SharedAsyncClient:
    """An httpx client and a gate that lets at most as many requests in as it has connections.

    httpcore's pool gets slower the more requests queue inside it (it rescans the
    queue on every change), so waiting requests queue here on a semaphore instead.
    """

    def __init__(self) -> None:
        import httpx

        # Builds the TLS context (reads the CA bundle): tens of milliseconds of
        # blocking I/O, which is why it runs in a worker thread, never on the loop.
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=ASYNC_MAX_CONNECTIONS,
                max_keepalive_connections=ASYNC_MAX_CONNECTIONS,
                keepalive_expiry=ASYNC_KEEPALIVE_SECONDS,
            ),
            follow_redirects=False,
        )
        self.slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)
        # One budget per organisation (API key) using this base URL.
        self.gates: dict[str, RateGate] = {}


# One client per (event loop, base URL): every trigger of a triggerer shares its
# connections instead of opening its own. Held as a future so that the
# triggers starting together wait for one client instead of each building one.
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[SharedAsyncClient]]
]
_async_clients = weakref.WeakKeyDictionary()


async def shared_async_client(config: ClientConfig) -> SharedAsyncClient:
    loop = asyncio.get_running_loop()
    clients = _async_clients.setdefault(loop, {})
    pending = clients.get(config.base_url)
    if pending is None or _unusable(pending):
        pending = clients[config.base_url] = asyncio.ensure_future(
            asyncio.to_thread(SharedAsyncClient)
        )
    # Shielded: one trigger being cancelled must not cancel the client others await.
    return await asyncio.shield(pending)


def _unusable(pending: asyncio.Future[SharedAsyncClient]) -> bool:
    if not pending.done():
        return False
    return (
        pending.cancelled() or pending.exception() is not None or pending.result().client.is_closed
    )


class AsyncTransport:
    """Sends requests from a trigger, over the event loop's shared client."""

    def __init__(self, config: ClientConfig, logger: Any = None) -> None:
        self.config = config
        self.log = logger or log
        self._headers = config.headers()

    async def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        import httpx

        shared = await shared_async_client(self.config)
        gate = shared.gates.setdefault(self.config.api_key, RateGate())
        attempts = Attempts(self.config, request, self.log, retry=retry, gate=gate)
        read_timeout = self.config.read_timeout_for(request.endpoint)
        # Waiting for a free pooled connection is normal under load: allow it the read timeout.
        timeout = httpx.Timeout(
            read_timeout, connect=self.config.connect_timeout, pool=read_timeout
        )
        while True:
            try:
                async with shared.slots:
                    # Admitted only once a connection is free, so a pause that began while
                    # this request queued for one still holds it back.
                    for wait in gate.waits():
                        await asyncio.sleep(wait)
                    answer = await shared.client.request(
                        request.method,
                        self.config.url(request.path),
                        params=request.params or None,
                        json=request.json,
                        headers=self._headers,
                        timeout=timeout,
                    )
            except httpx.HTTPError as exc:
                delay = attempts.failed(classify_httpx_error(exc), exc)
            else:
                retry_in = attempts.answered(answer.status_code, answer.headers, answer.content)
                if retry_in is None:
                    return attempts.decoded(answer.status_code, answer.headers, answer.content)
                delay = retry_in
            await asyncio.sleep(delay)
