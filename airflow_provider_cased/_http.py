"""A request as the APIs define it, with no I/O: endpoints, client settings, retry policy.

Both transports (``requests`` for tasks, ``aiohttp`` for triggers) call into this module
and ``_attempts`` (what an answer means, one request's attempts), so the rules live in
one place and can be tested without a network. What a request carries, and its input
checks, are in ``_request_bodies``.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

# A Retry-After beyond this is not waited out in full: a task slot or trigger
# should not sleep for many minutes on one answer.
MAX_RETRY_AFTER_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 60.0

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A POST is only repeated when the server certainly did nothing with it.
POST_RETRYABLE_STATUSES = frozenset({429})


class Failure(Enum):
    """Why no answer arrived."""

    NOT_SENT = "not_sent"  # connection refused, connect timeout, no pool slot: server saw nothing
    NO_ANSWER = "no_answer"  # read timeout or connection dropped after the request left


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # template; ``{name}`` placeholders are filled with URL-quoted ids
    items_key: str | None = None  # for paginated lists: the key holding the page's items
    long_running: bool = False  # may legitimately hold the request for minutes

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class ApiRequest:
    endpoint: Endpoint
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    @property
    def method(self) -> str:
        return self.endpoint.method

    def body_and_query(self) -> dict[str, Any]:
        """What every HTTP client is given of it besides method, URL, headers, timeouts."""
        return {"params": self.params or None, "json": self.json}


def check_id(name: str, value: Any) -> str:
    """An id that is safe to put in a path segment: a non-empty string, never a dot segment."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{name} must be a non-empty string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError(f"{name} must be a non-empty string")
    # "." and ".." would be collapsed by URL normalisation and reach another endpoint.
    if set(text) == {"."}:
        raise ValueError(f"{name} must not be a dot segment, got {text!r}")
    return text


def build_request(
    endpoint: Endpoint,
    ids: dict[str, Any] | None = None,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
) -> ApiRequest:
    quoted = {name: quote(check_id(name, value), safe="") for name, value in (ids or {}).items()}
    clean_params = {k: v for k, v in (params or {}).items() if v is not None}
    return ApiRequest(endpoint, endpoint.path.format(**quoted), clean_params, json)


@dataclass(frozen=True)
class ClientConfig:
    """Everything a transport needs, read once from an Airflow connection."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    auth_scheme: str = "Bearer"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    long_read_timeout: float = 330.0
    retry_limit: int = 3
    retry_delay: float = 1.0
    user_agent: str = "airflow-provider-cased"
    extras: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"{self.auth_scheme} {self.api_key}",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }

    def read_timeout_for(self, endpoint: Endpoint) -> float:
        return self.long_read_timeout if endpoint.long_running else self.read_timeout

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_limit, self.retry_delay)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def iso_timestamp(value: Any) -> float | None:
    """An API timestamp (``2024-01-15T10:30:00Z``) as epoch seconds; None if it is not one."""
    from datetime import datetime, timezone

    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration_hint(value: str | None) -> float | None:
    """Rate-limit reset hints such as ``45s``, ``1m30s``, ``500ms`` or a bare ``12``."""
    if not value:
        return None
    text = value.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


def server_wait_hint(status: int | None, headers: Any) -> float | None:
    """How long the server asked us to wait, if it said so."""
    if headers is None:
        return None
    hint = parse_retry_after(headers.get("Retry-After"))
    if hint is None and status == 429:
        hint = parse_duration_hint(headers.get("x-ratelimit-reset-requests"))
    return hint


@dataclass(frozen=True)
class RetryPolicy:
    retry_limit: int = 3
    retry_delay: float = 1.0

    def should_retry(
        self, endpoint: Endpoint, *, status: int | None = None, failure: Failure | None = None
    ) -> bool:
        if failure is not None:
            return endpoint.idempotent or failure is Failure.NOT_SENT
        if status is None:
            return False
        allowed = RETRYABLE_STATUSES if endpoint.idempotent else POST_RETRYABLE_STATUSES
        return status in allowed

    def next_delay(
        self,
        endpoint: Endpoint,
        retries_done: int,
        *,
        status: int | None = None,
        headers: Any = None,
        failure: Failure | None = None,
    ) -> float | None:
        """Seconds to wait before the next try, or None when the answer stands."""
        if retries_done >= self.retry_limit:
            return None
        if not self.should_retry(endpoint, status=status, failure=failure):
            return None
        hint = server_wait_hint(status, headers)
        if hint is not None:
            return min(hint, MAX_RETRY_AFTER_SECONDS)
        return self.backoff(retries_done)

    def backoff(self, retries_done: int) -> float:
        ceiling = min(MAX_BACKOFF_SECONDS, self.retry_delay * (2**retries_done))
        # "Equal jitter": never below half the ceiling, so a retry is never instant.
        return ceiling / 2 + random.uniform(0, ceiling / 2)
