"""Fault injection: failures put in front of the emulated APIs, like a failing proxy.

A ``Fault`` answers a status, delays, drops the connection, or loses the answer after
the work was done (``lost_answer``). ``Faults`` holds the injected ones, in order.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airflow_provider_cased.testing.api import JSON_TYPE, Response


@dataclass
class Fault:
    """A failure to inject in front of the emulated APIs (like a failing proxy).

    Faults are checked in injection order; the first live one whose method and
    path prefix match applies, before authentication. ``times`` matching
    requests spend it (0 or negative: never spent).
    """

    method: str = "*"
    path: str = ""
    times: int = 1
    status: int | None = None
    body: bytes | str | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    lost_answer: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", "") and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path)

    @property
    def spent(self) -> bool:
        return self.times > 0 and self.hits >= self.times

    def answer(self, status: int) -> Response:
        """What this fault answers with ``status``: its own body, or a JSON ``detail``."""
        if self.body is None:
            body = json.dumps({"detail": f"Emulated fault: HTTP {status}."}).encode("utf-8")
        elif isinstance(self.body, str):
            body = self.body.encode("utf-8")
        else:
            body = self.body
        return Response(status, body, self.content_type, list(self.headers.items()))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.body, bytes):
            data["body"] = self.body.decode("utf-8", "replace")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)} - {"hits"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


class Faults:
    """The injected faults, in injection order; safe to use from every handler thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(self, fault: Fault) -> Fault:
        """Add a fault (after the existing ones); returns it so tests can read ``hits``."""
        if fault.status is not None and not 100 <= int(fault.status) <= 599:
            raise ValueError("fault status must be an HTTP status code")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, one hit spent; None if none."""
        with self._lock:
            for fault in self._faults:
                if not fault.spent and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None
