"""What reached the emulator: the log of API requests and the connections that carried them.

Control requests (``/_emulator/...``) are never recorded; every accepted connection
is counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedRequest:
    """One API request as the emulator received it (control requests are not recorded)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: object | None
    status: int  # the status answered; 0 while in flight or when the connection was dropped
    connection_id: int
    time: float

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """JSON-friendly form (no body bytes); the API key is masked unless redact=False."""
        headers = dict(self.headers)
        auth = headers.get("authorization")
        if redact and auth is not None:
            scheme, _, _ = auth.partition(" ")
            headers["authorization"] = f"{scheme} ***"
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "json": self.json,
            "status": self.status,
            "connection_id": self.connection_id,
            "time": self.time,
        }


class Traffic:
    """The request log and connection counts, safe to use from every handler thread."""

    def __init__(self) -> None:
        # Short critical sections only: no lock is ever held during socket I/O.
        self._log_lock = threading.Lock()
        self._conn_lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._conn_seen: set[int] = set()
        self._next_connection_id = 0  # never reset: ids stay unique for the emulator's life
        self._connections_accepted = 0

    def record(self, record: RecordedRequest) -> None:
        with self._log_lock:
            self._log.append(record)
            self._conn_seen.add(record.connection_id)

    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method ("*" = any) whose path starts with the prefix."""
        wanted = method.upper()
        return [
            r
            for r in self.requests()
            if wanted in ("*", r.method) and r.path.startswith(path_prefix)
        ]

    def connection_opened(self) -> int:
        """Count an accepted connection; its id."""
        with self._conn_lock:
            self._next_connection_id += 1
            self._connections_accepted += 1
            return self._next_connection_id

    @property
    def connections_opened(self) -> int:
        """Distinct TCP connections that carried API requests since the counts last started."""
        with self._log_lock:
            return len(self._conn_seen)

    @property
    def connections_accepted(self) -> int:
        """Every TCP connection accepted since the counts last started (control-only ones too)."""
        with self._conn_lock:
            return self._connections_accepted

    def count_connections_afresh(self) -> None:
        """Both connection counts from zero (the log stays)."""
        with self._log_lock:
            self._conn_seen.clear()
        with self._conn_lock:
            self._connections_accepted = 0

    def clear(self) -> None:
        """An empty log and connection counts from zero."""
        with self._log_lock:
            self._log.clear()
        self.count_connections_afresh()
