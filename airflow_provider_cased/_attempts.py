"""One request's attempts: what each answer means (errors, JSON), and when to try again
under the retry policy and the rate budget shared by every request to a base URL.

The transports send and sleep; this module only decides, so sync and async follow the
same rules. No I/O.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from airflow_provider_cased._http import (
    MAX_RETRY_AFTER_SECONDS,
    RETRYABLE_STATUSES,
    ApiRequest,
    ClientConfig,
    Failure,
    RetryPolicy,
    parse_duration_hint,
    server_wait_hint,
)
from airflow_provider_cased.exceptions import CasedApiError

BODY_EXCERPT_CHARS = 500


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def _excerpt(body: bytes | str, secret: str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = redact(text.strip(), secret)
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
    return text


def _detail(body: bytes | str) -> str | None:
    """The human message in the usual error shapes: ``{"detail"}``, ``{"error"}``, ``{"error": {"message"}}``."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    for key in ("detail", "error", "message"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value:
            return value
    return None


def error_from_answer(
    config: ClientConfig,
    request: ApiRequest,
    status: int,
    body: bytes | str,
    headers: Any = None,
) -> CasedApiError:
    detail = _detail(body)
    excerpt = _excerpt(body, config.api_key)
    what = redact(detail, config.api_key) if detail else (excerpt or "(empty body)")
    message = f"{request.method} {request.path} failed with HTTP {status}: {what}"
    if status in (401, 403):
        message += (
            f". Check the API key (password) of Airflow connection '{config.conn_id}'"
            if status == 401
            else f". The API key of Airflow connection '{config.conn_id}' lacks permission"
        )
    elif status == 429:
        message += " (rate limited; retries exhausted)"
    return CasedApiError(
        message,
        status_code=status,
        method=request.method,
        path=request.path,
        body=excerpt,
        conn_id=config.conn_id,
        retry_after=server_wait_hint(status, headers),
        transient=status in RETRYABLE_STATUSES,
        # A 5xx to a POST leaves its outcome unknown: the server may have acted before failing.
        outcome_unknown=not request.endpoint.idempotent and status >= 500,
    )


def error_from_failure(
    config: ClientConfig,
    request: ApiRequest,
    failure: Failure,
    cause: BaseException,
    *,
    transient: bool = True,
) -> CasedApiError:
    reason = redact(f"{type(cause).__name__}: {cause}", config.api_key)
    if failure is Failure.NOT_SENT:
        what = f"could not reach {config.base_url} ({reason})"
    else:
        what = f"sent, but no answer arrived ({reason})"
    return CasedApiError(
        f"{request.method} {request.path} failed: {what} [connection '{config.conn_id}']",
        method=request.method,
        path=request.path,
        conn_id=config.conn_id,
        outcome_unknown=failure is Failure.NO_ANSWER and not request.endpoint.idempotent,
        transient=transient,
    )


def decode_answer(
    config: ClientConfig, request: ApiRequest, status: int, body: bytes, content_type: str
) -> Any:
    """The JSON of a successful answer; an empty body is ``None``; anything else is a clear error."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        kind = "HTML" if "html" in (content_type or "").lower() else "malformed JSON"
        raise CasedApiError(
            f"{request.method} {request.path} answered HTTP {status} with {kind} instead of "
            f"JSON: {_excerpt(body, config.api_key)[:200]}",
            status_code=status,
            method=request.method,
            path=request.path,
            body=_excerpt(body, config.api_key),
            conn_id=config.conn_id,
        ) from None


# A 429 that names no wait still pauses every request to its base URL this long.
DEFAULT_RATE_LIMIT_PAUSE_SECONDS = 1.0


def _header_number(headers: Any, name: str) -> float | None:
    try:
        return float(headers.get(name))
    except (TypeError, ValueError):
        return None


class RateGate:
    """One API budget shared by every request to a base URL from one process (hooks) or
    one event loop (triggers).

    A 429 pauses them all until the server's hint, instead of each caller finding
    out by itself; ``x-ratelimit-remaining/reset-requests`` pace them ahead of the
    limit (the remaining budget spread evenly over the reset window), so 429s become
    rare. The transports do the sleeping; this only decides.

    Nothing is booked ahead: a caller told to wait asks again, so a new hint (a pause,
    a wider or narrower spacing) applies at once; callers waiting together wake at
    spread-out times, in proportion to how many wait, not all in the same instant.
    """

    # Spread of the wake-ups after a pause from a server that gave no pacing headers.
    MIN_SPREAD_SECONDS = 0.01
    MAX_SPREAD_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()  # hooks may share a gate across threads
        self.paused_until = 0.0  # time.monotonic()
        self.spacing = 0.0  # seconds between requests while pacing
        self.waiting = 0  # callers told to wait, not yet admitted
        self._last_sent = float("-inf")

    def waits(self) -> Iterator[float]:
        """The sleeps before one request may go (none when it may go now)."""
        wait = self.admit(time.monotonic())
        if wait <= 0:
            return
        self.waiting += 1
        try:
            while wait > 0:
                yield wait
                wait = self.admit(time.monotonic())
        finally:
            self.waiting -= 1

    def admit(self, now: float) -> float:
        """0.0 when a request may go now (and it is counted); else seconds to wait first."""
        with self._lock:
            ready = max(self.paused_until, self._last_sent + self.spacing)
            if now >= ready:
                self._last_sent = now
                return 0.0
            # Wide enough that waiters do not all wake at once, narrow enough that a
            # brief near-empty budget (a wide spacing) does not push them far out.
            step = max(self.spacing, self.MIN_SPREAD_SECONDS)
            spread = min(step * self.waiting, step + self.MAX_SPREAD_SECONDS)
            return ready - now + random.uniform(0, spread)

    def observe(self, status: int, headers: Any, now: float, log: Any, base_url: str) -> None:
        if headers is None:
            return
        pause = None
        if status == 429:
            pause = server_wait_hint(status, headers) or DEFAULT_RATE_LIMIT_PAUSE_SECONDS
        remaining = _header_number(headers, "x-ratelimit-remaining-requests")
        reset = parse_duration_hint(headers.get("x-ratelimit-reset-requests"))
        limit = _header_number(headers, "x-ratelimit-limit-requests")
        with self._lock:
            if remaining is not None and reset is not None:
                if remaining < 1:
                    pause = max(pause or 0.0, reset)
                    # After the reset, spend the new budget evenly, not in one burst.
                    self.spacing = reset / limit if limit else 0.0
                else:
                    self.spacing = reset / remaining
            if pause is None:
                return
            until = now + min(pause, MAX_RETRY_AFTER_SECONDS)
            starts = self.paused_until <= now
            self.paused_until = max(self.paused_until, until)
        if starts:
            log.warning(
                "Rate limit reached at %s: every request to it waits %.1f s", base_url, pause
            )


class Attempts:
    """One request's retry loop state, driven by a transport.

    The transport sends, then reports what happened: ``answered`` for an HTTP
    answer, ``failed`` for no answer. Each returns the seconds to wait before
    trying again, or ends the loop (None = success; an exception = final error).
    """

    def __init__(
        self,
        config: ClientConfig,
        request: ApiRequest,
        log: Any,
        *,
        retry: bool = True,
        gate: RateGate | None = None,
    ) -> None:
        self.config = config
        self.request = request
        self.gate = gate
        # Without retries the caller owns the backing off (a status wait polls on its own clock).
        self.policy = config.policy() if retry else RetryPolicy(0, config.retry_delay)
        self.log = log
        self.retries_done = 0

    def answered(self, status: int, headers: Any, body: bytes) -> float | None:
        if self.gate is not None:
            self.gate.observe(status, headers, time.monotonic(), self.log, self.config.base_url)
        if 200 <= status < 300:
            return None
        delay = self.policy.next_delay(
            self.request.endpoint, self.retries_done, status=status, headers=headers
        )
        if delay is None:
            if 300 <= status < 400:
                raise self._redirect_error(status, headers)
            raise error_from_answer(self.config, self.request, status, body, headers)
        return self._retrying(f"answered HTTP {status}", delay)

    def decoded(self, status: int, headers: Any, body: bytes) -> Any:
        """The JSON of the successful answer ``answered`` accepted."""
        return decode_answer(
            self.config, self.request, status, body, headers.get("Content-Type", "")
        )

    def failed(self, failure: Failure | None, cause: BaseException) -> float:
        if failure is None:  # a mistake on our side (bad URL...), not worth repeating
            raise error_from_failure(
                self.config, self.request, Failure.NOT_SENT, cause, transient=False
            ) from cause
        delay = self.policy.next_delay(self.request.endpoint, self.retries_done, failure=failure)
        if delay is None:
            raise error_from_failure(self.config, self.request, failure, cause) from cause
        what = "could not connect" if failure is Failure.NOT_SENT else "got no answer"
        return self._retrying(f"{what} ({type(cause).__name__})", delay)

    def _retrying(self, what: str, delay: float) -> float:
        self.retries_done += 1
        self.log.warning(
            "%s %s %s; retry %d of %d in %.1f s",
            self.request.method,
            self.request.path,
            what,
            self.retries_done,
            self.policy.retry_limit,
            delay,
        )
        return delay

    def _redirect_error(self, status: int, headers: Any) -> CasedApiError:
        target = headers.get("Location", "?") if headers is not None else "?"
        return CasedApiError(
            f"{self.request.method} {self.request.path} was redirected (HTTP {status}) to "
            f"{target}: set the Base URL (host) of Airflow connection '{self.config.conn_id}' "
            "to the final address, scheme included",
            status_code=status,
            method=self.request.method,
            path=self.request.path,
            conn_id=self.config.conn_id,
        )
