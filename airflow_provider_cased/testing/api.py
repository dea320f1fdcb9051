"""What an emulated API is built from: the parsed call, the answer, and the ``Api`` base class.

An API module (``cased.py``, ``casedev.py``) subclasses ``Api``: it declares its routes,
its error shape and its objects. The base class authenticates each call, finds its
route and refuses what no route takes, in that API's words. The emulator's settings
reach an API as a ``Settings`` object, read when a request is answered.
"""

from __future__ import annotations

import abc
import hmac
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from airflow_provider_cased.testing.timeline import Timeline

JSON_TYPE = "application/json"
# Settings that reproduce what a real service may do and the documents leave open.
SWITCHES = ("runs_oldest_first", "list_key", "cursor_pages", "multi_project")
_Object = TypeVar("_Object")


def iso(ts: float) -> str:
    """An epoch time as the APIs write it: ISO 8601, UTC, ``Z``."""
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


@dataclass
class Response:
    """One answer, written to the socket in one piece."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload).encode("utf-8"))


def pick(known: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """What an answer shows of everything known: the documented keys, in their order."""
    return {key: known[key] for key in keys}


@dataclass
class Call:
    """An API request, parsed once."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any
    json_error: bool
    base_url: str

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def object_body(self) -> dict[str, Any] | None:
        """The JSON body as a dict ({} when empty); None when it is not an object."""
        if self.json is None:
            return {}
        return self.json if isinstance(self.json, dict) else None


Handler = Callable[..., Response]


class Refusal(Exception):
    """Raised by a route to refuse a request: ``Api.answer`` answers it in the API's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Settings(Protocol):
    """What an API reads of the emulator when it answers (the ``Emulator`` has all of it)."""

    api_key: str
    run_seconds: float  # how long runs, sessions and executions take unless told otherwise
    runs_oldest_first: bool  # list runs oldest first (no order is documented)
    list_key: str | None  # e.g. "results": lists under this key instead
    cursor_pages: bool  # next links carry an opaque cursor, not a page number
    multi_project: bool  # deployments need repository_full_name (several projects)


class _Timed(Protocol):
    timeline: Timeline


class Api(abc.ABC):
    """One emulated API.

    This base class authenticates, finds the route and refuses what no route takes (404,
    405, a body that is not JSON); the server adds pacing headers; the API module checks
    inputs, keeps its objects and shapes its answers.
    """

    path_prefix: str  # the paths this API owns
    auth_schemes: tuple[str, ...] = ("bearer",)  # lower case
    # What this base class answers on the API's behalf, before any route runs.
    unauthorized: str
    not_found: str
    bad_json: str
    throttled: str
    method_not_allowed: str  # with a {method} placeholder

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Short critical sections only: never held during socket I/O.
        self.lock = threading.Lock()
        self.routes = [
            (_route_pattern(template), handlers) for template, handlers in self.route_table()
        ]
        self.reset()

    @abc.abstractmethod
    def route_table(self) -> Iterable[tuple[str, dict[str, Handler]]]:
        """(path template, {method: handler}); ``{name}`` in a template is one path segment,
        handed (URL-decoded) to the handler after the call."""

    @abc.abstractmethod
    def error(self, status: int, message: str) -> Response:
        """An error answer in this API's shape."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every object but the seeded ones (also how the objects first come to be)."""

    def answer_headers(self) -> list[tuple[str, str]]:
        """Headers every answer of this API carries outside rate-limit mode."""
        return []

    def answer(self, call: Call) -> Response:
        """The answer to one call: its route's, or the refusal the core gives for this API."""
        for pattern, handlers in self.routes:
            match = pattern.fullmatch(call.path)
            if match is None:
                continue
            if not self._authorized(call):
                return self.error(401, self.unauthorized)
            handler = handlers.get(call.method)
            if handler is None:
                resp = self.error(405, self.method_not_allowed.format(method=call.method))
                resp.headers.append(("Allow", ", ".join(sorted(handlers))))
                return resp
            if call.json_error:
                return self.error(400, self.bad_json)
            try:
                return handler(call, *(unquote(g) for g in match.groups()))
            except Refusal as refusal:
                return self.error(refusal.status, refusal.message)
        return self.error(404, self.not_found)

    def _authorized(self, call: Call) -> bool:
        scheme, _, token = call.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() not in self.auth_schemes:
            return False
        return hmac.compare_digest(token.strip().encode(), self.settings.api_key.encode())

    def snapshot(
        self, objects: Mapping[str, _Object], show: Callable[[_Object], dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Each of these objects as ``show`` renders it, read under the lock."""
        with self.lock:
            return {object_id: show(found) for object_id, found in objects.items()}

    def force(self, objects: Mapping[str, _Timed], object_id: str, status: str) -> None:
        """Freeze one object's status, whatever the clock says. KeyError if unknown."""
        with self.lock:
            objects[object_id].timeline.force(status)

    def answer_one(
        self,
        objects: Mapping[str, _Object],
        object_id: str,
        show: Callable[[_Object], object],
        missing: str,
        where: Callable[[_Object], bool] = lambda found: True,
    ) -> Response:
        """200 with one of this API's objects as ``show`` renders it, or 404 ``missing``
        when there is none with that id (for which ``where`` holds)."""
        with self.lock:
            found = objects.get(object_id)
            if found is None or not where(found):
                return self.error(404, missing)
            shown = show(found)
        return json_response(200, shown)


def api_for(apis: Sequence[Api], path: str) -> Api:
    """The API owning this path; any other path is answered (404) as the first one answers."""
    for api in apis:
        if path.startswith(api.path_prefix):
            return api
    return apis[0]


def _route_pattern(template: str) -> re.Pattern[str]:
    literals = re.split(r"\{\w+\}", template)
    return re.compile("([^/]+)".join(re.escape(part) for part in literals))
