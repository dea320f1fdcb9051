"""What both hooks share: reading the connection, the session, input checking, pagination.

The hook owns the way to the API: the two transports (``requests`` for tasks,
``httpx`` for triggers) live here, and call into ``_http`` for every decision, so a
request's rules are in one place and its sockets in another. ``requests`` and
``httpx`` are imported when a transport is first used, not at module import, so DAG
files that import our operators stay cheap to parse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_cased import __version__
from airflow_provider_cased._connection_form import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    form_widgets,
    ui_field_behaviour,
)
from airflow_provider_cased._http import (
    ApiRequest,
    Attempts,
    ClientConfig,
    Endpoint,
    Failure,
    RateGate,
    build_request,
)
from airflow_provider_cased.compat import AIRFLOW_VERSION, BaseHook, aget_connection, get_conf
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError

if TYPE_CHECKING:
    import requests

log = logging.getLogger("airflow_provider_cased")

PAGE_SIZE = 100

USER_AGENT = f"airflow-provider-cased/{__version__} apache-airflow/{AIRFLOW_VERSION}"


def extra_number(
    extras: dict[str, Any],
    name: str,
    default: float,
    conn_id: str,
    *,
    integer: bool = False,
    positive: bool = False,
) -> Any:
    value = extras.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        number = -1
    too_small = number <= 0 if positive else number < 0
    if isinstance(value, bool) or too_small or (integer and float(value) != number):
        bound = "> 0" if positive else ">= 0"
        kind = f"a whole number {bound}" if integer else f"a number of seconds {bound}"
        raise CasedInputError(
            f"Extra '{name}' of Airflow connection '{conn_id}' must be {kind}; got {value!r}"
        )
    return number


def extra_flag(extras: dict[str, Any], name: str, conn_id: str) -> bool:
    value = extras.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise CasedInputError(
        f"Extra '{name}' of Airflow connection '{conn_id}' must be true or false; got {value!r}"
    )


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheme(base_url: str, conn_id: str, allow_plain_http: bool) -> None:
    """The API key travels only over TLS, or to this machine, unless the user says otherwise."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme != "http":
        raise CasedInputError(
            f"Base URL (host) of Airflow connection '{conn_id}' must start with https://; "
            f"got {base_url!r}"
        )
    if allow_plain_http or is_loopback(parts.hostname or ""):
        return
    raise CasedInputError(
        f"Base URL (host) of Airflow connection '{conn_id}' is plain http:// to "
        f"{parts.hostname!r}: the API key would travel unencrypted. Use https://, or, for a "
        "trusted plain-HTTP proxy, set the connection extra allow_plain_http to true. "
        "No request was sent"
    )


def base_url_from_connection(conn: Any, default_host: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        return default_host
    if "://" not in host:
        # URI-style connections (cased://:key@app.cased.com) lose the scheme: HTTPS is the safe guess.
        host = f"https://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    return host.rstrip("/")


# -- transports ------------------------------------------------------------------------

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
            time.sleep(delay)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class HttpxClient:
    """The async client over httpx, an Airflow dependency: always there, the fallback."""

    name = "httpx"

    def __init__(self) -> None:
        import httpx

        self._httpx = httpx
        self.errors: tuple[type[BaseException], ...] = (httpx.HTTPError,)
        # Builds the TLS context (reads the CA bundle): blocking I/O, so the caller
        # runs this in a worker thread, never on the loop.
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=ASYNC_MAX_CONNECTIONS,
                max_keepalive_connections=ASYNC_MAX_CONNECTIONS,
                keepalive_expiry=ASYNC_KEEPALIVE_SECONDS,
            ),
            follow_redirects=False,
        )

    @property
    def closed(self) -> bool:
        return bool(self.client.is_closed)

    async def request(
        self, request: ApiRequest, url: str, headers: dict[str, str], connect: float, read: float
    ) -> tuple[int, Any, bytes]:
        # Waiting for a free pooled connection is normal under load: allow it the read timeout.
        timeout = self._httpx.Timeout(read, connect=connect, pool=read)
        answer = await self.client.request(
            request.method, url, headers=headers, timeout=timeout, **request.body_and_query()
        )
        return answer.status_code, answer.headers, answer.content

    def classify(self, exc: BaseException) -> Failure | None:
        httpx = self._httpx
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return Failure.NOT_SENT
        if isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)):
            return Failure.NO_ANSWER
        return None

    async def aclose(self) -> None:
        await self.client.aclose()


class AiohttpClient:
    """The async client over aiohttp, when it is installed: a poll costs about a third of
    httpx's CPU (``benchmarks/README.md``, finding 6), which is what bounds how many
    case.dev executions one triggerer can watch."""

    name = "aiohttp"

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

    @property
    def closed(self) -> bool:
        return bool(self.session.closed)

    async def request(
        self, request: ApiRequest, url: str, headers: dict[str, str], connect: float, read: float
    ) -> tuple[int, Any, bytes]:
        # `connect` includes waiting for a pooled connection, as httpx's `pool` does.
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

    async def aclose(self) -> None:
        await self.session.close()


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for this URL (``HTTPS_PROXY``, ``NO_PROXY``...), as
    requests and httpx read it."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(base_url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.netloc):
        return None
    return str(proxy)


def async_client_choice() -> str:
    """``[cased] async_http_client``: ``auto`` (aiohttp if installed, else httpx), ``aiohttp``
    or ``httpx``."""
    choice = get_conf("cased", "async_http_client", "auto").strip().lower()
    if choice not in ("auto", "aiohttp", "httpx"):
        raise CasedInputError(
            f"[cased] async_http_client must be auto, aiohttp or httpx; got {choice!r}"
        )
    return choice


def _aiohttp_importable(choice: str) -> bool:
    if choice == "httpx":
        return False
    try:
        import aiohttp

        # 3.10 added ConnectionTimeoutError: it tells a request never sent from one unanswered.
        if hasattr(aiohttp, "ConnectionTimeoutError"):
            return True
    except ImportError:
        pass
    if choice == "aiohttp":
        raise CasedInputError(
            "[cased] async_http_client is aiohttp, but aiohttp >= 3.10 is not installed: "
            "pip install 'airflow-provider-cased[aiohttp]'"
        )
    return False


class SharedAsyncClient:
    """An HTTP client and a gate that lets at most as many requests in as it has connections.

    Client pools get slower the more requests queue inside them (httpcore rescans its
    queue on every change), so waiting requests queue here on a semaphore instead.
    """

    def __init__(self, client: HttpxClient | AiohttpClient) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(ASYNC_MAX_CONNECTIONS)
        # One budget per organisation (API key) using this base URL.
        self.gates: dict[str, RateGate] = {}
        self._closer: AsyncIterator[None] | None = None

    async def close_with_loop(self) -> None:
        """Close the client when its event loop ends (``asyncio.run`` and the triggerer
        finalise async generators then); an aiohttp session left open logs an error."""

        async def closer() -> AsyncIterator[None]:
            try:
                yield
            finally:
                await self.client.aclose()

        self._closer = closer()  # held, or it would be finalised (and close) at once
        await self._closer.__anext__()


# One client per (event loop, base URL): every trigger of a triggerer shares its
# connections instead of opening its own. Held as a future so that the
# triggers starting together wait for one client instead of each building one.
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Future[SharedAsyncClient]]
]
_async_clients = weakref.WeakKeyDictionary()


async def _open_shared_client(base_url: str) -> SharedAsyncClient:
    # Reading the config, importing a client library and building a TLS context are
    # blocking I/O (tens of milliseconds): worker thread, never the loop.
    if await asyncio.to_thread(lambda: _aiohttp_importable(async_client_choice())):
        shared = SharedAsyncClient(AiohttpClient(env_proxy(base_url)))
    else:
        shared = SharedAsyncClient(await asyncio.to_thread(HttpxClient))
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
    return pending.cancelled() or pending.exception() is not None or pending.result().client.closed


class AsyncTransport:
    """Sends requests from a trigger, over the event loop's shared client."""

    def __init__(self, config: ClientConfig, logger: Any = None) -> None:
        self.config = config
        self.log = logger or log
        self._headers = config.headers()

    async def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        shared = await shared_async_client(self.config)
        client = shared.client
        gate = shared.gates.setdefault(self.config.api_key, RateGate())
        attempts = Attempts(self.config, request, self.log, retry=retry, gate=gate)
        url = self.config.url(request.path)
        read_timeout = self.config.read_timeout_for(request.endpoint)
        while True:
            try:
                async with shared.slots:
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


# -- the hook -------------------------------------------------------------------------


class ApiHookBase(BaseHook):
    """Base of ``CasedHook`` and ``CaseDevHook``: one connection, one session, one retry policy."""

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    default_host: ClassVar[str]
    api_key_hint: ClassVar[str]
    connection_fields: ClassVar[dict[str, dict[str, Any]]]

    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id
        self._transport: SyncTransport | None = None
        self._async_transport: AsyncTransport | None = None

    # Connection form (Airflow 2.11-3.1; 3.2+ reads the same tables from provider info).
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return ui_field_behaviour(cls.default_host, cls.api_key_hint)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return form_widgets(cls.connection_fields)

    @classmethod
    def client_config(cls, conn: Any) -> ClientConfig:
        """Settings from an Airflow connection; shared by the hook and the async triggers."""
        conn_id = conn.conn_id or cls.default_conn_name
        api_key = conn.password or ""
        if not api_key.strip():
            raise CasedInputError(
                f"Airflow connection '{conn_id}' has no API key: set its password (API key) field"
            )
        extras = conn.extra_dejson or {}
        # A zero timeout is no timeout to requests/httpx: it would fail every request.
        timeout = extra_number(
            extras, "request_timeout", DEFAULT_REQUEST_TIMEOUT, conn_id, positive=True
        )
        base_url = base_url_from_connection(conn, cls.default_host)
        check_scheme(base_url, conn_id, extra_flag(extras, "allow_plain_http", conn_id))
        return ClientConfig(
            conn_id=conn_id,
            base_url=base_url,
            api_key=api_key.strip(),
            auth_scheme=cls.auth_scheme_from(extras, conn_id),
            connect_timeout=min(10.0, timeout),
            read_timeout=timeout,
            long_read_timeout=cls.long_read_timeout_from(extras, conn_id, timeout),
            retry_limit=extra_number(
                extras, "retry_limit", DEFAULT_RETRY_LIMIT, conn_id, integer=True
            ),
            retry_delay=extra_number(extras, "retry_delay", DEFAULT_RETRY_DELAY, conn_id),
            user_agent=USER_AGENT,
            extras=cls.service_extras(extras, conn_id),
        )

    # Service-specific settings; subclasses override.
    @classmethod
    def auth_scheme_from(cls, extras: dict[str, Any], conn_id: str) -> str:
        return "Bearer"

    @classmethod
    def long_read_timeout_from(cls, extras: dict[str, Any], conn_id: str, timeout: float) -> float:
        return timeout

    @classmethod
    def service_extras(cls, extras: dict[str, Any], conn_id: str) -> dict[str, Any]:
        return {}

    @cached_property
    def config(self) -> ClientConfig:
        # Read once per hook: later calls reuse it rather than fetching the connection again.
        return self.client_config(self.get_connection(self.conn_id))

    async def aconfig(self) -> ClientConfig:
        """``config`` for async callers: never the sync getter, which blocks the event loop."""
        if "config" not in self.__dict__:
            self.__dict__["config"] = self.client_config(await aget_connection(self.conn_id))
        return self.config

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def transport(self) -> SyncTransport:
        if self._transport is None:
            self._transport = SyncTransport(self.config, self.log)
        return self._transport

    def close(self) -> None:
        """Close the kept HTTP session (operators do at the end of ``execute``)."""
        if self._transport is not None:
            self._transport.close()

    @contextmanager
    def checking_inputs(self) -> Iterator[None]:
        """Turn a failed input check into an error naming the connection; nothing is sent."""
        try:
            yield
        except CasedInputError:
            raise
        except ValueError as exc:
            raise CasedInputError(
                f"{exc} [connection '{self.conn_id}'; no request was sent]"
            ) from None

    def prepare(
        self,
        endpoint: Endpoint,
        ids: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> ApiRequest:
        """The request for an endpoint; a bad id is an error naming the connection.

        :param endpoint: one of the hook's ``ENDPOINTS``.
        :param ids: values for the path's ``{placeholders}``, URL-quoted here.
        :param params: query parameters; None values are left out.
        :param json: the JSON body.
        """
        with self.checking_inputs():
            return build_request(endpoint, ids, params=params, json=json)

    def request(
        self,
        endpoint: Endpoint,
        ids: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry: bool = True,
    ) -> Any:
        """``prepare`` the request, then ``send`` it.

        :param endpoint: one of the hook's ``ENDPOINTS``.
        :param ids: values for the path's ``{placeholders}``.
        :param params: query parameters.
        :param json: the JSON body.
        :param retry: False: one attempt, however it ends (status polls back off on
            their own clock instead).
        :return: the decoded JSON answer.
        """
        return self.send(self.prepare(endpoint, ids, params=params, json=json), retry=retry)

    def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        """Send over the hook's kept ``requests`` session, under the retry and rate rules.

        :param request: what ``prepare`` built.
        :param retry: False: one attempt, however it ends.
        :return: the decoded JSON answer.
        """
        return self.transport.send(request, retry=retry)

    async def asend(self, request: ApiRequest, *, retry: bool = True) -> Any:
        """``send`` over the event loop's shared async client (for triggers).

        :param request: what ``prepare`` built.
        :param retry: False: one attempt, however it ends.
        :return: the decoded JSON answer.
        """
        if self._async_transport is None:
            self._async_transport = AsyncTransport(await self.aconfig(), self.log)
        return await self._async_transport.send(request, retry=retry)

    def paginate(
        self,
        endpoint: Endpoint,
        ids: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, page by page (page_size 100), lazily.

        :param endpoint: a list endpoint of the hook's ``ENDPOINTS``.
        :param ids: values for the path's ``{placeholders}``.
        :param params: filters, sent with every page.
        """
        # Validate before the first ``next()`` so a bad id fails where the call is made.
        self.prepare(endpoint, ids, params=params)
        return self._pages(endpoint, ids, params or {})

    def _pages(
        self, endpoint: Endpoint, ids: dict[str, Any] | None, params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        request: ApiRequest | None = self.prepare(endpoint, ids, params=self.page_params(params))
        while request is not None:
            answer = self.send(request)
            items = self.page_items(endpoint, answer)
            yield from items
            request = self.next_page(request, answer, items)

    async def apaginate(
        self,
        endpoint: Endpoint,
        ids: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """``paginate`` for triggers: stop iterating to stop fetching pages.

        :param endpoint: a list endpoint of the hook's ``ENDPOINTS``.
        :param ids: values for the path's ``{placeholders}``.
        :param params: filters, sent with every page.
        :param retry: False: one attempt per page, however it ends.
        """
        request: ApiRequest | None = self.prepare(
            endpoint, ids, params=self.page_params(params or {})
        )
        while request is not None:
            answer = await self.asend(request, retry=retry)
            items = self.page_items(endpoint, answer)
            for item in items:
                yield item
            request = self.next_page(request, answer, items)

    @staticmethod
    def page_params(params: dict[str, Any]) -> dict[str, Any]:
        """The first page's query.

        :param params: the list's filters.
        """
        return {**params, "page": 1, "page_size": PAGE_SIZE}

    def page_items(self, endpoint: Endpoint, answer: Any) -> list[Any]:
        """One page's items.

        Besides the documented key, a ``results`` key (as Cased's own CLI reads some
        lists) and a plain JSON list (one page, all items) are understood.

        :param endpoint: the list endpoint (its ``items_key`` names the list).
        :param answer: the decoded page.
        """
        if isinstance(answer, list):
            return answer
        items = None
        if isinstance(answer, dict):
            items = answer.get(endpoint.items_key)
            if items is None:
                items = answer.get("results")
        if not isinstance(items, list):
            raise CasedApiError(
                f"GET {endpoint.path} answered without a '{endpoint.items_key}' list",
                method="GET",
                path=endpoint.path,
                conn_id=self.conn_id,
            )
        return items

    def next_page(self, request: ApiRequest, answer: Any, items: list[Any]) -> ApiRequest | None:
        """The request for the page after ``answer``'s, or None on the last page.

        A ``next`` link on this API's own host is followed as given (whatever its
        paging style); one pointing anywhere else is never sent the API key: the next
        page number is asked of this host instead.

        :param request: the request of the page just read.
        :param answer: that page, decoded.
        :param items: its items (an empty page ends the list).
        """
        following = answer.get("next") if isinstance(answer, dict) else None
        if not following or not items:
            return None
        if isinstance(following, str):
            target, base = urlsplit(following), urlsplit(self.base_url)
            same_host = (target.scheme, target.netloc) in (("", ""), (base.scheme, base.netloc))
            prefix = base.path.rstrip("/")
            if same_host and target.path.startswith(prefix + "/"):
                path = target.path[len(prefix) :]
                return ApiRequest(request.endpoint, path, dict(parse_qsl(target.query)))
        page = int(request.params.get("page", 1)) + 1
        return ApiRequest(request.endpoint, request.path, {**request.params, "page": page})

    def check_connection(self, endpoint: Endpoint) -> tuple[bool, str]:
        """One cheap authenticated GET; the UI's "Test" button shows the message.

        :param endpoint: the endpoint to read (a list asks for one item).
        :return: whether it worked, and what to show.
        """
        try:
            self.request(endpoint, params={"page_size": 1} if endpoint.items_key else None)
        except (CasedApiError, CasedInputError) as exc:
            return False, str(exc)
        return True, f"Connection '{self.conn_id}' reached {self.base_url} and the API key works"
