"""Rate-limit mode: beyond N API requests a second, answer 429, like a real API gateway.

A token bucket holding one second's worth of requests; off by default. Requests beyond
the rate are answered 429 with ``Retry-After`` and the ``x-ratelimit-*-requests``
headers; admitted ones carry the same budget headers.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """The token bucket of rate-limit mode; ``requests_per_second`` None switches it off."""

    def __init__(self, requests_per_second: float | None = None) -> None:
        self._lock = threading.Lock()
        self._rps: float | None = None
        self._tokens = 0.0
        self._stamp = time.monotonic()
        self._rejected = 0
        self.set(requests_per_second)

    @property
    def requests_per_second(self) -> float | None:
        with self._lock:
            return self._rps

    @property
    def rejected(self) -> int:
        """Requests answered 429 since the limiter was made or reset."""
        with self._lock:
            return self._rejected

    def set(self, requests_per_second: float | None) -> None:
        """Switch the mode on (requests per second > 0) or off (None); a full bucket."""
        rps = None if requests_per_second is None else float(requests_per_second)
        if rps is not None and not (rps > 0 and math.isfinite(rps)):
            raise ValueError("rate limit must be a positive number of requests per second")
        with self._lock:
            self._rps = rps
            self._tokens = self._bucket_size(rps)
            self._stamp = time.monotonic()

    def reset(self) -> None:
        """The same rate (configuration stays), a full bucket, no rejections counted."""
        self.set(self.requests_per_second)
        with self._lock:
            self._rejected = 0

    @staticmethod
    def _bucket_size(rps: float | None) -> float:
        # One second's worth of requests, but at least one (a rate below 1/s still admits some).
        return max(1.0, rps or 0.0)

    def check(self) -> tuple[bool, list[tuple[str, str]]]:
        """(admitted, the mode's headers for the answer); (True, []) when the mode is off."""
        with self._lock:
            rps = self._rps
            if rps is None:
                return True, []
            size = self._bucket_size(rps)
            now = time.monotonic()
            self._tokens = min(size, self._tokens + (now - self._stamp) * rps)
            self._stamp = now
            admitted = self._tokens >= 1.0
            if admitted:
                self._tokens -= 1.0
            else:
                self._rejected += 1
            tokens = self._tokens
        # Seconds until the bucket is full again / until the next request would be admitted.
        full_in = (size - tokens) / rps
        headers = [
            ("x-ratelimit-limit-requests", f"{size:g}"),
            ("x-ratelimit-remaining-requests", str(int(tokens))),
            ("x-ratelimit-reset-requests", f"{full_in:.3f}s"),
        ]
        if not admitted:
            # Whole seconds (delta-seconds), never 0: a client must actually back off.
            next_in = (1.0 - tokens) / rps
            headers.append(("Retry-After", str(max(1, math.ceil(next_in)))))
        return admitted, headers
