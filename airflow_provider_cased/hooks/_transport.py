"""The HTTP client: ``requests`` for tasks, one aiohttp session per event loop and base URL for triggers.

Both transports call into ``_http`` for every decision (retry, rate limits, error
mapping), so a request's rules are in one place and its sockets here. ``requests``
and ``aiohttp`` are imported when a transport is first used, not at module import,
so DAG files that import our operators stay cheap to parse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_cased._attempts import Attempts, RateGate
from airflow_provider_cased._http import ApiRequest, ClientConfig, Failure
from airflow_provider_cased.exceptions import CasedTimeoutError

if TYPE_CHECKING:
    import requests

log = logging.getLogger("airflow_provider_cased")

# Keep-alive connections per base URL. The pool opens only as many as concurrent
# polls need (a handful even for 1,000 triggers on a fast network); the cap
# leaves room for a slow one.
ASYNC_MAX_CONNECTIONS = 8
# Idle connections must outlive the gap between polls, or each burst of polls
# opens (and TLS-handshakes) new ones. Past this, the server has likely closed them anyway.
ASYNC_KEEPALIVE_SECONDS = 120.0


# -- tasks: requests ---------------------------------------------------------------------


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


# One budget per API (base URL) and organisation (API key) for every hook of this process.
_sync_gates: dict[tuple[str, str], RateGate] = {}
_sync_gates_lock = threading.Lock()


def sync_gate(config: ClientConfig) -> RateGate:
    with _sync_gates_lock:
        return _sync_gates.setdefault((config.base_url, config.api_key), RateGate())


class SyncTransport:
    """Sends requests over one ``requests.Session`` kept for the transport's life."""

    def __init__(
        self, config: ClientConfig, logger: Any = None, *, deadline: float | None = None
    ) -> None:
        self.config = config
        self.log = logger or log
        self._session: requests.Session | None = None
        # time.monotonic() by which every request must have ended (a caller's time limit):
        # it caps each attempt's timeouts and the sleeps between attempts.
        self.deadline = deadline

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
                self._sleep(wait, request)
            if self.deadline is not None:
                left = self._time_left(request)
                timeout = (min(timeout[0], left), min(timeout[1], left))
            try:
                answer = self.session.request(
                    request.method,
                    url,
                    timeout=timeout,
                    allow_redirects=False,
                    **request.body_and_query(),
                )
            except requests.RequestException as exc:
                delay = attempts.failed(classify_requests_error(exc), exc)
            else:
                retry_in = attempts.answered(answer.status_code, answer.headers, answer.content)
                if retry_in is None:
                    return attempts.decoded(answer.status_code, answer.headers, answer.content)
                delay = retry_in
            self._sleep(delay, request)

    def _time_left(self, request: ApiRequest) -> float:
        left = float("inf") if self.deadline is None else self.deadline - time.monotonic()
        if left <= 0:
            raise CasedTimeoutError(
                f"{request.method} {request.path} was not sent: the call's time limit passed "
                f"[connection '{self.config.conn_id}']"
            )
        return left

    def _sleep(self, seconds: float, request: ApiRequest) -> None:
        """Sleep, but never past the deadline: past it the request is not sent."""
        time.sleep(min(seconds, self._time_left(request)))
        self._time_left(request)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


# -- triggers: aiohttp -------------------------------------------------------------------


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for this URL (``HTTPS_PROXY``, ``NO_PROXY``...), as
    requests reads it."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(base_url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.netloc):
        return None
    return str(proxy)


class SharedAsyncClient:
    """One aiohttp session that every trigger of an event loop sends to one base URL through.

    Requests wait for one of ``slots`` (one per pooled connection) before they enter
    the session's pool, so a rate-limit pause that began while they waited still holds
    them back. aiohttp was measured 3.6x cheaper per poll than httpx
    (``benchmarks/README.md``, finding 11): that bounds how many waits a triggerer holds.
    """

    def __init__(self, proxy: str | None) -> None:
        # On the event loop (an aiohttp session belongs to one); importing aiohttp, which
        # builds its TLS context, was done in a worker thread before.
        import aiohttp

        self._aiohttp = aiohttp
        self.errors = (aiohttp.ClientError, asyncio.TimeoutError)
        # The proxy is looked up once (see env_proxy): aiohttp's trust_env looks it up
        # on every request, which doubled the CPU of a poll.
        self.proxy = proxy
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=ASYNC_MAX_CONNECTIONS, keepalive_timeout=ASYNC_KEEPALIVE_SECONDS
            )
        )
        self.slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)
        # One budget per organisation (API key) using this base URL.
        self.gates: dict[str, RateGate] = {}
        self._closer: AsyncIterator[None] | None = None

    @property
    def closed(self) -> bool:
        return bool(self.session.closed)

    async def request(
        self, request: ApiRequest, url: str, headers: dict[str, str], connect: float, read: float
    ) -> tuple[int, Any, bytes]:
        # aiohttp's `connect` also covers waiting for a pooled connection, normal under
        # load: it gets the read timeout on top.
        timeout = self._aiohttp.ClientTimeout(
            total=None, connect=connect + read, sock_connect=connect, sock_read=read
        )
        async with self.session.request(
            request.method,
            url,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            proxy=self.proxy,
            **request.body_and_query(),
        ) as answer:
            return answer.status, answer.headers, await answer.read()

    def classify(self, exc: BaseException) -> Failure | None:
        aiohttp = self._aiohttp
        # Only a failed connect (refused, DNS, TLS handshake, its timeout) proves the
        # server never saw the request.
        if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
            return Failure.NOT_SENT
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            return Failure.NO_ANSWER
        return None

    async def close_with_loop(self) -> None:
        """Close the session when its event loop ends (``asyncio.run`` and the triggerer
        finalise async generators then); an aiohttp session left open logs an error."""

        async def closer() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.session.close()

        self._closer = closer()  # held, or it would be finalised (and close) at once
        await self._closer.__anext__()


# One client per (event loop, base URL): every trigger of a triggerer shares its
# connections instead of opening its own. Held as a future so that the
# triggers starting together wait for one client instead of each building one.
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[SharedAsyncClient]]
]
_async_clients = weakref.WeakKeyDictionary()


def _import_aiohttp_and_find_proxy(base_url: str) -> str | None:
    import aiohttp  # noqa: F401

    return env_proxy(base_url)


async def _open_shared_client(base_url: str) -> SharedAsyncClient:
    # Importing aiohttp (it builds a TLS context from the CA bundle) and reading the
    # proxy settings are blocking I/O (tens of milliseconds): worker thread, never the loop.
    proxy = await asyncio.to_thread(_import_aiohttp_and_find_proxy, base_url)
    shared = SharedAsyncClient(proxy)
    await shared.close_with_loop()
    return shared


async def shared_async_client(config: ClientConfig) -> SharedAsyncClient:
    loop = asyncio.get_running_loop()
    clients = _async_clients.setdefault(loop, {})
    pending = clients.get(config.base_url)
    if pending is None or _unusable(pending):
        pending = clients[config.base_url] = asyncio.ensure_future(
            _open_shared_client(config.base_url)
        )
    # Shielded: one trigger being cancelled must not cancel the client others await.
    return await asyncio.shield(pending)


def _unusable(pending: asyncio.Future[SharedAsyncClient]) -> bool:
    if not pending.done():
        return False
    return pending.cancelled() or pending.exception() is not None or pending.result().closed


class AsyncTransport:
    """Sends requests from a trigger, over the event loop's shared client."""

    def __init__(self, config: ClientConfig, logger: Any = None) -> None:
        self.config = config
        self.log = logger or log
        self._headers = config.headers()

    async def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        client = await shared_async_client(self.config)
        gate = client.gates.setdefault(self.config.api_key, RateGate())
        attempts = Attempts(self.config, request, self.log, retry=retry, gate=gate)
        url = self.config.url(request.path)
        read_timeout = self.config.read_timeout_for(request.endpoint)
        while True:
            try:
                async with client.slots:
                    # Admitted only once a connection is free, so a pause that began while
                    # this request queued for one still holds it back.
                    for wait in gate.waits():
                        await asyncio.sleep(wait)
                    status, headers, body = await client.request(
                        request, url, self._headers, self.config.connect_timeout, read_timeout
                    )
            except client.errors as exc:
                delay = attempts.failed(client.classify(exc), exc)
            else:
                retry_in = attempts.answered(status, headers, body)
                if retry_in is None:
                    return attempts.decoded(status, headers, body)
                delay = retry_in
            await asyncio.sleep(delay)
