"""The hook base: one connection, its checked inputs, and every call sent, paged and tested.

``CasedHook`` and ``CaseDevHook`` say only what differs (endpoints, their own
extras); reading the connection is in ``_connection``, the sockets in ``_transport``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_cased._connection_form import form_widgets, ui_field_behaviour
from airflow_provider_cased._http import ApiRequest, ClientConfig, Endpoint, build_request
from airflow_provider_cased.compat import BaseHook, aget_connection
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError
from airflow_provider_cased.hooks._connection import config_from_connection
from airflow_provider_cased.hooks._transport import AsyncTransport, SyncTransport

if TYPE_CHECKING:
    from typing_extensions import Self

PAGE_SIZE = 100


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
        return config_from_connection(conn, cls)

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

    def for_one_call(self, timeout: float | None) -> Self:
        """A copy of this hook for one call: its own HTTP session (calls may run at once in
        threads), and every request it sends ends within ``timeout`` seconds from now.

        :param timeout: the call's time limit in seconds; None keeps the connection's timeouts.
        """
        config = self.config  # read before copying, so the copy shares it instead of reading again
        call = copy.copy(self)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        call._transport = SyncTransport(config, self.log, deadline=deadline)
        call._async_transport = None
        return call

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
