"""What both hooks share: reading the connection, the session, input checking, pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_cased import __version__
from airflow_provider_cased._connection_form import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    form_widgets,
    ui_field_behaviour,
)
from airflow_provider_cased._http import ApiRequest, ClientConfig, Endpoint, build_request
from airflow_provider_cased._transport import AsyncTransport, SyncTransport
from airflow_provider_cased.compat import AIRFLOW_VERSION, BaseHook, aget_connection
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError

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
        """The request for an endpoint; a bad id is an error naming the connection."""
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
        return self.send(self.prepare(endpoint, ids, params=params, json=json), retry=retry)

    def send(self, request: ApiRequest, *, retry: bool = True) -> Any:
        return self.transport.send(request, retry=retry)

    async def asend(self, request: ApiRequest, *, retry: bool = True) -> Any:
        """``send`` over the event loop's shared async client (for triggers)."""
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
        """Every item of a paginated list, page by page (page_size 100), lazily."""
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
        """``paginate`` for triggers: stop iterating to stop fetching pages."""
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
        return {**params, "page": 1, "page_size": PAGE_SIZE}

    def page_items(self, endpoint: Endpoint, answer: Any) -> list[Any]:
        """One page's items.

        Besides the documented key, a ``results`` key (as Cased's own CLI reads some
        lists) and a plain JSON list (one page, all items) are understood.
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
        """One cheap authenticated GET; the UI's "Test" button shows the message."""
        try:
            self.request(endpoint, params={"page_size": 1} if endpoint.items_key else None)
        except (CasedApiError, CasedInputError) as exc:
            return False, str(exc)
        return True, f"Connection '{self.conn_id}' reached {self.base_url} and the API key works"
