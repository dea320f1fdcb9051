"""A plain HTTP client for the emulator's tests: the standard library only, so the
tests see exactly what travels over the wire."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cased.testing import Emulator

KEY = "emulator-key"  # written out: tests check the documented default, not whatever it is


class Resp:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive HTTP connection to the emulator."""

    def __init__(self, emu: Emulator, *, context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(emu.url)
        assert parts.hostname and parts.port
        self.conn: http.client.HTTPConnection
        if parts.scheme == "https":
            self.conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=5, context=context
            )
        else:
            self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: str | None = f"Bearer {KEY}",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Resp:
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = auth
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=sent)
        resp = self.conn.getresponse()
        return Resp(resp.status, resp.headers, resp.read())

    def close(self) -> None:
        self.conn.close()


def call(emu: Emulator, method: str, path: str, body: Any = None, **kwargs: Any) -> Resp:
    client = Client(emu)
    try:
        return client.call(method, path, body, **kwargs)
    finally:
        client.close()
