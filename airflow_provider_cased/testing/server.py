"""The HTTP server: reads each request, meets it with faults and the rate limit, answers it.

One thread per connection (the standard library's ``ThreadingHTTPServer``), keep-alive,
optional TLS, each answer written in one piece. A request meets what a real deployment
puts in front of an API in the same order: faults first (a failing proxy), then the rate
limit (the API gateway), then the API itself. ``/_emulator/`` control requests skip all
of it and are never recorded.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, parse_qsl

from airflow_provider_cased.testing.api import Api, Call, Response, api_for
from airflow_provider_cased.testing.faults import Fault, Faults
from airflow_provider_cased.testing.rate_limit import RateLimiter
from airflow_provider_cased.testing.traffic import RecordedRequest, Traffic

_MAX_BODY = 64 * 1024 * 1024


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the services' parsers refuse them, so the emulator does.
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class Site:
    """What the server serves: everything a request meets on its way in."""

    apis: Sequence[Api]  # each owns a path prefix; the first answers any other path
    control: Callable[[str, str, str, bytes], Response]  # (method, path, query, body)
    traffic: Traffic
    faults: Faults
    limiter: RateLimiter
    scheme: str
    host: str


class Server(ThreadingHTTPServer):
    """Serves one ``Site`` until ``close()``; one thread per connection."""

    daemon_threads = True
    # Joining handler threads on close would hang on clients' idle keep-alive sockets.
    block_on_close = False
    # Many pollers may connect at once; the default backlog of 5 drops SYNs (1 s stalls).
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], family: int, site: Site) -> None:
        self.address_family = family
        self.site = site
        self.stopping = threading.Event()  # set by close(): wakes handlers in a delay fault
        self._sockets_lock = threading.Lock()
        self._open_sockets: set[socket.socket] = set()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS look-up that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (timeouts, drop faults) are normal here: stay quiet.
        pass

    def connection_opened(self, sock: socket.socket) -> int:
        """Track an accepted connection until it closes; its id."""
        with self._sockets_lock:
            self._open_sockets.add(sock)
        return self.site.traffic.connection_opened()

    def connection_closed(self, sock: socket.socket) -> None:
        with self._sockets_lock:
            self._open_sockets.discard(sock)

    def close(self) -> None:
        """Stop serving and hang up every open connection (call from another thread)."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        with self._sockets_lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cased-emulator/1.0"
    sys_version = ""
    # Each answer is one write, but disable Nagle anyway so small answers never wait for ACKs.
    disable_nagle_algorithm = True
    connection_id = 0

    @property
    def _server(self) -> Server:
        return cast(Server, self.server)

    def setup(self) -> None:
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            # Handshake here, in the connection's thread, not in the accept loop.
            sock.settimeout(10.0)
            sock.do_handshake()
            sock.settimeout(None)
        super().setup()
        self.connection_id = self._server.connection_opened(sock)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.connection_closed(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing

    def _refuse_body(self, api: Api, status: int, message: str) -> None:
        # The rest of the body is never read: the connection cannot carry another request.
        self.close_connection = True
        self._send(api.error(status, message))

    def _read_body(self, api: Api) -> bytes | None:
        """The request body, or None after refusing it (unreadable framing, too large)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(api)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0:
            self._refuse_body(api, 400, "Invalid Content-Length.")
            return None
        if size > _MAX_BODY:
            self._refuse_body(api, 413, "Request body too large.")
            return None
        return self.rfile.read(size) if size else b""

    def _read_chunked(self, api: Api) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._refuse_body(api, 400, "Invalid chunked body.")
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                self._refuse_body(api, 413, "Request body too large.")
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, resp: Response) -> None:
        status = resp.status
        lines = [
            f"HTTP/1.1 {status} {_reason(status)}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        has_body = status >= 200 and status not in (204, 304)
        if has_body:
            if resp.content_type:
                lines.append(f"Content-Type: {resp.content_type}")
            lines.append(f"Content-Length: {len(resp.body)}")
        for name, value in resp.headers:
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
                continue
            lines.append(f"{name}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write per answer: a split header/body write can meet delayed ACKs (40 ms stalls).
        self.wfile.write(head + resp.body if has_body else head)

    def _sleep(self, fault: Fault) -> bool:
        """Sleep for the fault's delay; True when close() cut it short."""
        return fault.delay > 0 and self._server.stopping.wait(fault.delay)

    def _drop(self) -> None:
        self.close_connection = True
        # socket.socket.shutdown directly: SSLSocket.shutdown would unwrap TLS first.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        site = self._server.site
        received = time.time()
        raw_path, _, query_string = self.path.partition("?")
        api = api_for(site.apis, raw_path)
        body = self._read_body(api)
        if body is None:
            return
        if raw_path == "/_emulator" or raw_path.startswith("/_emulator/"):
            self._send(site.control(self.command, raw_path, query_string, body))
            return

        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        payload: Any = None
        json_error = False
        if body.strip():
            try:
                payload = json.loads(body, parse_constant=_reject_constant)
            except ValueError:
                json_error = True
        record = RecordedRequest(
            method=self.command,
            path=raw_path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers=headers,
            body=body,
            json=payload,
            status=0,
            connection_id=self.connection_id,
            time=received,
        )
        site.traffic.record(record)

        fault = site.faults.take(self.command, raw_path)
        if fault is not None and not fault.lost_answer:
            # Sleep first (delay + drop = a slow hang-up); stopping during the delay hangs up.
            if self._sleep(fault) or fault.drop:
                self._drop()
                return
            if fault.status is not None:
                resp = fault.answer(fault.status)
                record.status = resp.status
                self._send(resp)
                return

        # The limiter stands behind the faults (a proxy in front of the gateway).
        admitted, pacing = site.limiter.check()
        if not admitted:
            resp = api.error(429, api.throttled)
            resp.headers.extend(pacing)
            record.status = resp.status
            self._send(resp)
            return

        host = headers.get("host") or f"{site.host}:{self._server.server_port}"
        call = Call(
            method=self.command,
            path=raw_path,
            params=parse_qsl(query_string, keep_blank_values=True),
            headers=headers,
            json=payload,
            json_error=json_error,
            base_url=f"{site.scheme}://{host}",
        )
        resp = api.answer(call)
        # Rate-limit mode: its budget is the one that counts, on both APIs.
        resp.headers.extend(pacing or api.answer_headers())

        if fault is not None and fault.lost_answer:
            # The work is done (state changed); only the answer goes missing.
            if self._sleep(fault) or fault.drop:
                self._drop()
                return
            resp = fault.answer(fault.status or 502)
        record.status = resp.status
        self._send(resp)
