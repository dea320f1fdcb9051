"""A local emulator of the Cased public API and the case.dev Actions API.

The emulator is an in-process HTTP server (standard library only) that speaks
both APIs well enough to run the provider's hooks, operators, sensors and
triggers against it: tests, demos and benchmarks use it instead of the real
services.

    from airflow_provider_cased.testing import Emulator, Fault

    with Emulator() as emu:
        emu.inject(Fault(method="POST", path="/api/v1/workflows/", status=503))
        ...  # point a connection at emu.url with password emu.api_key
        assert emu.requests_to("POST", "/api/v1/workflows/")

Answers carry the keys of the documented examples and nothing more, so a DAG test
cannot come to rely on a field the real service never sends. What the emulator knows
beyond them (a run's context, a session's prompt, a deployment's fields) is read from
the ``Emulator``'s attributes, the ``/_emulator/`` endpoints or the request log.

Run and execution statuses are computed from the clock when they are read
(no background threads): a run is ``pending`` for the first 20% of its
``run_seconds``, then ``running``, then its workflow's ``outcome``. Agent
sessions read back the same way as ``created``, ``agent_running``, then
``completed`` (``failed`` when the prompt contains ``[fail]``).

TLS: pass a server-side ``ssl.SSLContext`` (``ssl.PROTOCOL_TLS_SERVER`` with
``load_cert_chain``) and ``url`` becomes ``https://...``. Clients must trust
the certificate, e.g. via ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` or their
own ``verify=`` setting; the host given to the emulator must match the
certificate's subject alternative names.

Control endpoints under ``/_emulator/`` (no authentication, never recorded)
let another process drive an emulator started from the command line:
``GET health``, ``GET requests``, ``GET stats``, ``POST reset``,
``GET|POST|DELETE faults``, ``POST workflows``, ``POST actions``,
``POST runs/{id}/status``, ``POST executions/{id}/status``,
``POST sessions/{id}/status``, ``POST switches``,
``GET|POST|DELETE rate-limit``, ``GET runs`` (``?workflow=``),
``GET executions`` (``?action=``), ``GET sessions``, ``GET deployments``.

Rate-limit mode (``rate_limit=`` requests per second, ``--rate-limit`` on the
command line, or ``POST /_emulator/rate-limit`` at runtime): API requests
beyond the rate are answered 429 with ``Retry-After`` and the
``x-ratelimit-*-requests`` headers, like a real API gateway. A token bucket
holding one second's worth of requests; off by default.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import re
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode

__all__ = ["DEFAULT_API_KEY", "Emulator", "Fault", "RecordedRequest"]

DEFAULT_API_KEY = "emulator-key"
ORGANIZATION_ID = "org_emulator"
# case.dev's per-minute budget as the default answers report it: generous, so users'
# DAG tests are never paced by it; rate-limit mode is the one that enforces a limit.
RATE_LIMIT_PER_MINUTE = 10_000

_CASED = "cased"
_CASEDEV = "casedev"
_DEPLOYMENT_STATUSES = ("pending", "running", "success", "failure", "cancelled")
_TRIGGERED_BY = ("manual", "schedule", "event")
_IN_PROGRESS = frozenset({"pending", "running"})
_SWITCHES = ("runs_oldest_first", "list_key", "cursor_pages", "multi_project")
# An agent session whose prompt holds this ends "failed" (a failing case for DAG tests).
SESSION_FAILURE_MARKER = "[fail]"
_DEFAULT_PAGE_SIZE = 20
# The keys of the documented answers (shared/api docs); the emulator answers these, no more.
_DEPLOYMENT_KEYS = ("id", "status", "created_at")
_SESSION_KEYS = ("session_id", "status", "created_at", "url")
_WORKFLOW_KEYS = ("id", "name", "agent_name", "description", "status")
_WORKFLOW_DETAIL_KEYS = (*_WORKFLOW_KEYS, "instruction", "created_at", "updated_at")
_RUN_KEYS = (
    "id",
    "workflow",
    "workflow_name",
    "triggered_by",
    "trigger_name",
    "status",
    "session_id",
    "started_at",
    "created_at",
)
# Reading: a listed run is the started run's keys plus ``ended_at``, as the example shows
# (``{…run…, "ended_at": "…"}``), without what only the single-run answer adds.
_RUN_LISTED_KEYS = (*_RUN_KEYS, "ended_at")
_RUN_DETAIL_KEYS = (*_RUN_LISTED_KEYS, "artifacts", "updated_at")
# What the emulator's own views (``Emulator.runs``, ``/_emulator/...``) add to the answers.
_RUN_INSPECTED_KEYS = (*_RUN_DETAIL_KEYS, "context")
_SESSION_INSPECTED_KEYS = (*_SESSION_KEYS, "prompt", "context", "workflow_run_id")
_MAX_PAGE_SIZE = 100
_MAX_BODY = 64 * 1024 * 1024
_JSON = "application/json"


def _iso(ts: float) -> str:
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# --------------------------------------------------------------------------- public types


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
    content_type: str = _JSON
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


# --------------------------------------------------------------------------- internals


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json_response(status: int, payload: object) -> _Response:
    return _Response(status, json.dumps(payload).encode("utf-8"))


def _cased_error(status: int, detail: str) -> _Response:
    return _json_response(status, {"detail": detail})


def _casedev_error(status: int, message: str, kind: str) -> _Response:
    return _json_response(status, {"error": {"message": message, "type": kind}})


@dataclass
class _Call:
    """An authenticated-or-not API request, parsed once."""

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


Schedule = Sequence[tuple[str, float]]


def _progress(
    elapsed: float, run_seconds: float, outcome: str, schedule: Schedule | None
) -> tuple[str, float, bool]:
    """(status, seconds after start when it began, ended) for a run/execution."""
    if schedule:
        status, since = "pending", 0.0
        reached = -1
        for index, (name, at) in enumerate(schedule):
            if elapsed >= at:
                status, since, reached = name, at, index
            else:
                break
        ended = reached == len(schedule) - 1 and status not in _IN_PROGRESS
        return status, since, ended
    if elapsed >= run_seconds:
        return outcome, run_seconds, True
    if elapsed >= 0.2 * run_seconds:
        return "running", 0.2 * run_seconds, False
    return "pending", 0.0, False


@dataclass
class _Run:
    id: str
    workflow: str
    workflow_name: str
    triggered_by: str
    trigger_name: str | None
    context: dict[str, Any]
    session_id: str
    start_mono: float
    start_wall: float
    run_seconds: float
    outcome: str
    schedule: list[tuple[str, float]] | None
    forced: tuple[str, float] | None = None  # (status, wall time it was forced)

    def view(self, now_mono: float, keys: Sequence[str] = _RUN_INSPECTED_KEYS) -> dict[str, Any]:
        created = _iso(self.start_wall)
        if self.forced is not None:
            status, changed = self.forced
            ended_at = _iso(changed) if status not in _IN_PROGRESS else None
            updated = _iso(changed)
        else:
            status, since, ended = _progress(
                now_mono - self.start_mono, self.run_seconds, self.outcome, self.schedule
            )
            updated = _iso(self.start_wall + since)
            ended_at = updated if ended else None
        known = {
            "id": self.id,
            "workflow": self.workflow,
            "workflow_name": self.workflow_name,
            "triggered_by": self.triggered_by,
            "trigger_name": self.trigger_name,
            "status": status,
            "session_id": self.session_id,
            "started_at": created,
            "created_at": created,
            "ended_at": ended_at,
            "updated_at": updated,
            "context": self.context,
            "artifacts": {"session_id": self.session_id},
        }
        return {key: known[key] for key in keys}


@dataclass
class _Execution:
    id: str
    action_id: str
    action_name: str
    input: dict[str, Any]
    is_async: bool
    outcome: str
    run_seconds: float
    output: object
    start_mono: float
    start_wall: float
    steps: int = 1
    forced: tuple[str, float] | None = None

    @property
    def error(self) -> str:
        return f"Step 'step_1' failed: emulated failure of action '{self.action_name}'"

    def current_step(self, now_mono: float) -> int:
        """The step (0-based) a running execution is on: its steps share the running time."""
        running_for = now_mono - self.start_mono - 0.2 * self.run_seconds
        share = max(0.0, running_for / max(1e-9, 0.8 * self.run_seconds))
        return min(self.steps - 1, int(share * self.steps))

    def status_now(self, now_mono: float) -> tuple[str, float, bool]:
        if self.forced is not None:
            status, changed = self.forced
            return status, max(0.0, changed - self.start_wall), status not in _IN_PROGRESS
        if not self.is_async:
            return self.outcome, self.run_seconds, True
        return _progress(now_mono - self.start_mono, self.run_seconds, self.outcome, None)

    def view(self, now_mono: float) -> dict[str, Any]:
        status, since, ended = self.status_now(now_mono)
        data: dict[str, Any] = {
            "id": self.id,
            "actionId": self.action_id,
            "organizationId": ORGANIZATION_ID,
            "status": status,
            "input": self.input,
            "stepResults": {},
            "durationMs": None,
            "createdAt": _iso(self.start_wall),
        }
        if status == "running" and self.steps > 1:
            data["currentStep"] = self.current_step(now_mono)
            data["totalSteps"] = self.steps
        if ended:
            duration_ms = round(since * 1000)
            data["durationMs"] = duration_ms
            data["completedAt"] = _iso(self.start_wall + (since if self.is_async else 0.0))
            if status == "failed":
                data["error"] = self.error
            else:
                data["output"] = self.output
                data["stepResults"] = {
                    f"step_{n}": {"output": self.output, "duration_ms": duration_ms // self.steps}
                    for n in range(1, self.steps + 1)
                }
        return data


_Handler = Callable[..., _Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Joining handler threads on close would hang on clients' idle keep-alive sockets.
    block_on_close = False
    # Many pollers may connect at once; the default backlog of 5 drops SYNs (1 s stalls).
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], emulator: Emulator, family: int) -> None:
        self.address_family = family
        self.emulator = emulator
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


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cased-emulator/1.0"
    sys_version = ""
    # Each answer is one write, but disable Nagle anyway so small answers never wait for ACKs.
    disable_nagle_algorithm = True
    connection_id = 0

    @property
    def emulator(self) -> Emulator:
        return cast(_Server, self.server).emulator

    def setup(self) -> None:
        sock = self.request
        if isinstance(sock, ssl.SSLSocket):
            # Handshake here, in the connection's thread, not in the accept loop.
            sock.settimeout(10.0)
            sock.do_handshake()
            sock.settimeout(None)
        super().setup()
        self.connection_id = self.emulator._connection_opened(sock)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.emulator._connection_closed(self.request)

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

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400 for unreadable framing."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0 or size > _MAX_BODY:
            self.close_connection = True
            self._send(_cased_error(400, "Invalid Content-Length."))
            return None
        return self.rfile.read(size) if size else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self._send(_cased_error(400, "Invalid chunked body."))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                self.close_connection = True
                self._send(_cased_error(400, "Body too large."))
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, resp: _Response) -> None:
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

    def _drop(self) -> None:
        self.close_connection = True
        # socket.socket.shutdown directly: SSLSocket.shutdown would unwrap TLS first.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        emu = self.emulator
        received = time.time()
        raw_path, _, query_string = self.path.partition("?")
        body = self._read_body()
        if body is None:
            return
        if raw_path == "/_emulator" or raw_path.startswith("/_emulator/"):
            self._send(emu._control(self.command, raw_path, query_string, body))
            return

        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        payload: Any = None
        json_error = False
        if body.strip():
            try:
                payload = json.loads(body)
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
        emu._record(record)

        fault = emu._take_fault(self.command, raw_path)
        if fault is not None and not fault.lost_answer:
            # Sleep first (delay + drop = a slow hang-up); a stop() during the delay hangs up.
            if emu._fault_sleep(fault) or fault.drop:
                self._drop()
                return
            if fault.status is not None:
                resp = _fault_response(fault, fault.status)
                record.status = resp.status
                self._send(resp)
                return

        # The limiter stands behind the faults (a proxy in front of the gateway).
        admitted, pacing = emu._rate_limit_check()
        if not admitted:
            if raw_path == "/actions/v1" or raw_path.startswith("/actions/"):
                resp = _casedev_error(429, "Rate limit exceeded", "rate_limit_error")
            else:
                resp = _cased_error(429, "Request was throttled (rate limit).")
            resp.headers.extend(pacing)
            record.status = resp.status
            self._send(resp)
            return

        host = headers.get("host") or f"{emu.host}:{emu.port}"
        call = _Call(
            method=self.command,
            path=raw_path,
            params=parse_qsl(query_string, keep_blank_values=True),
            headers=headers,
            json=payload,
            json_error=json_error,
            base_url=f"{emu._scheme}://{host}",
        )
        resp = emu._handle_api(call, pacing)

        if fault is not None and fault.lost_answer:
            # The work is done (state changed); only the answer goes missing.
            if emu._fault_sleep(fault) or fault.drop:
                self._drop()
                return
            resp = _fault_response(fault, fault.status or 502)
        record.status = resp.status
        self._send(resp)


def _fault_response(fault: Fault, status: int) -> _Response:
    if fault.body is None:
        body = json.dumps({"detail": f"Emulated fault: HTTP {status}."}).encode("utf-8")
    elif isinstance(fault.body, str):
        body = fault.body.encode("utf-8")
    else:
        body = fault.body
    return _Response(status, body, fault.content_type, list(fault.headers.items()))


# --------------------------------------------------------------------------- the emulator


class Emulator:
    """Both APIs on one local port. See the module docstring for an overview."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = DEFAULT_API_KEY,
        run_seconds: float = 0.3,
        ssl_context: ssl.SSLContext | None = None,
        rate_limit: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.run_seconds = run_seconds
        self.ssl_context = ssl_context
        self._requested_port = port
        self._scheme = "https" if ssl_context is not None else "http"

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle_lock = threading.Lock()
        self._stopping = threading.Event()

        # Short critical sections only: no lock is ever held during socket I/O.
        self._state_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._conn_lock = threading.Lock()

        self._log: list[RecordedRequest] = []
        self._conn_seen: set[int] = set()
        self._faults: list[Fault] = []
        self._next_connection_id = 0
        self._connections_accepted = 0
        self._open_sockets: set[socket.socket] = set()
        self._rate_window_start = time.monotonic()
        self._rate_count = 0
        self._limiter_lock = threading.Lock()
        self._limit_rps: float | None = None
        self._limit_tokens = 0.0
        self._limit_stamp = time.monotonic()
        self._limit_rejected = 0
        self.set_rate_limit(rate_limit)

        self._workflows: dict[str, dict[str, Any]] = {}
        self._actions: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, _Run] = {}
        self._runs_by_workflow: dict[str, list[str]] = {}
        self._executions: dict[str, _Execution] = {}
        self._deployments: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, dict[str, Any]] = {}
        self._session_clock: dict[str, tuple[float, float, str]] = {}
        # Switches that reproduce what a real service may do and the documents leave open
        # (settable at run time, kept across reset()):
        self.runs_oldest_first = False  # list runs oldest first (no order is documented)
        self.list_key: str | None = None  # e.g. "results": lists under this key instead
        self.cursor_pages = False  # next links carry an opaque cursor, not a page number
        self.multi_project = False  # deployments need repository_full_name (several projects)
        self._session_forced: dict[str, tuple[str, float]] = {}

        self._routes = self._build_routes()
        self._seed()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL without a trailing slash (valid after start())."""
        if self._server is None:
            raise RuntimeError("Emulator is not running: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Emulator:
        """Serve in a daemon thread; returns self. Calling it again while running is a no-op."""
        with self._lifecycle_lock:
            if self._server is not None:
                return self
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            server = _Server((self.host, self._requested_port), self, family)
            if self.ssl_context is not None:
                # Handshakes happen per connection thread (see _RequestHandler.setup).
                server.socket = self.ssl_context.wrap_socket(
                    server.socket, server_side=True, do_handshake_on_connect=False
                )
            self.port = server.server_port
            self._stopping.clear()
            with self._log_lock:
                self._conn_seen.clear()
            with self._conn_lock:
                self._connections_accepted = 0
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # short, so stop() returns quickly
                name=f"cased-emulator:{self.port}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections. Safe to call twice."""
        with self._lifecycle_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a delay fault
        server.shutdown()
        server.server_close()
        with self._conn_lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<Emulator {where}>"

    def reset(self) -> None:
        """Back to the initial state: seeds only, no faults, empty request log."""
        with self._state_lock:
            self._workflows.clear()
            self._actions.clear()
            self._runs.clear()
            self._runs_by_workflow.clear()
            self._executions.clear()
            self._deployments.clear()
            self._sessions.clear()
            self._session_clock.clear()
            self._session_forced.clear()
        self._seed()
        self.clear_faults()
        with self._log_lock:
            self._log.clear()
            self._conn_seen.clear()
        with self._conn_lock:
            self._connections_accepted = 0
            self._rate_window_start = time.monotonic()
            self._rate_count = 0
        # The rate-limit mode is configuration (like run_seconds): it stays; its bucket refills.
        self.set_rate_limit(self.rate_limit)
        with self._limiter_lock:
            self._limit_rejected = 0

    # ------------------------------------------------------------------ seeding

    def _seed(self) -> None:
        self.add_workflow(
            "Weekly cost review",
            workflow_id="wf_weekly_cost_review",
            description="Review last week's cloud spend and flag anomalies.",
        )
        self.add_workflow(
            "Deploy watcher",
            workflow_id="wf_deploy_watcher",
            description="Watch a deployment and report regressions.",
            repository="acme/web",
        )
        self.add_workflow(
            "Flaky migration check",
            workflow_id="wf_flaky_migration_check",
            description="Checks database migrations; always fails in the emulator.",
            outcome="failed",
        )
        self.add_action(
            "Summarize document",
            action_id="action_summarize",
            description="Summarize a document in a few sentences.",
        )
        self.add_action(
            "Contract review",
            action_id="action_contract_review",
            mode="async",
            description="Review a contract and list risky clauses.",
        )
        self.add_action(
            "Broken OCR",
            action_id="action_broken_ocr",
            outcome="failed",
            description="OCR that always fails in the emulator.",
        )

    def add_workflow(
        self,
        name: str,
        *,
        agent_name: str = "ops-agent",
        description: str = "",
        outcome: str = "completed",
        run_seconds: float | None = None,
        statuses: Iterable[Sequence[Any]] | None = None,
        workflow_id: str | None = None,
        repository: str | None = None,
        instruction: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace, same id) a workflow; returns its dict.

        ``statuses``: optional schedule of ``(status, seconds_after_start)`` pairs
        used instead of pending -> running -> outcome.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        schedule = _schedule(statuses)
        now = _iso(time.time())
        wf_id = workflow_id or f"wf_{uuid.uuid4().hex}"
        workflow: dict[str, Any] = {
            "id": wf_id,
            "name": name,
            "agent_name": agent_name,
            "description": description,
            "status": "active",
            "repository": repository,
            "instruction": instruction if instruction is not None else f"Run '{name}'.",
            "created_at": now,
            "updated_at": now,
            "outcome": outcome,
            "run_seconds": run_seconds,
            "statuses": schedule,
        }
        with self._state_lock:
            self._workflows[wf_id] = workflow
            self._runs_by_workflow.setdefault(wf_id, [])
        return dict(workflow)

    def add_action(
        self,
        name: str,
        *,
        mode: str = "sync",
        outcome: str = "completed",
        run_seconds: float | None = None,
        output: object = None,
        action_id: str | None = None,
        is_active: bool = True,
        description: str = "",
        steps: int = 1,
    ) -> dict[str, Any]:
        """Add (or replace, same id) an action definition; returns its dict.

        ``mode``: ``sync`` answers execute with the result; ``async`` answers
        ``running`` and progresses like a workflow run, through ``steps`` steps
        (``currentStep``/``totalSteps`` while running, one ``stepResults`` entry each).
        """
        if mode not in ("sync", "async"):
            raise ValueError("mode must be 'sync' or 'async'")
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        act_id = action_id or f"action_{uuid.uuid4().hex}"
        action: dict[str, Any] = {
            "id": act_id,
            "name": name,
            "description": description,
            "isActive": bool(is_active),
            "version": 1,
            "createdAt": _iso(time.time()),
            "mode": mode,
            "outcome": outcome,
            "run_seconds": run_seconds,
            "output": output,
            "steps": max(1, int(steps)),
        }
        with self._state_lock:
            self._actions[act_id] = action
        return dict(action)

    # ------------------------------------------------------------------ faults

    def inject(self, fault: Fault) -> Fault:
        """Add a fault (after the existing ones); returns it so tests can read ``hits``."""
        if fault.status is not None and not 100 <= int(fault.status) <= 599:
            raise ValueError("fault status must be an HTTP status code")
        with self._fault_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._fault_lock:
            return list(self._faults)

    def _fault_sleep(self, fault: Fault) -> bool:
        """Sleep for the fault's delay; True when stop() cut it short."""
        return fault.delay > 0 and self._stopping.wait(fault.delay)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._fault_lock:
            for fault in self._faults:
                if not fault.spent and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    # ------------------------------------------------------------------ rate-limit mode

    @property
    def rate_limit(self) -> float | None:
        """API requests per second allowed in rate-limit mode; None when the mode is off."""
        with self._limiter_lock:
            return self._limit_rps

    @property
    def rate_limited(self) -> int:
        """API requests answered 429 by the rate-limit mode since the emulator started or reset."""
        with self._limiter_lock:
            return self._limit_rejected

    def set_rate_limit(self, requests_per_second: float | None) -> None:
        """Switch rate-limit mode on (requests per second > 0) or off (None); a full bucket."""
        rps = None if requests_per_second is None else float(requests_per_second)
        if rps is not None and not (rps > 0 and math.isfinite(rps)):
            raise ValueError("rate limit must be a positive number of requests per second")
        with self._limiter_lock:
            self._limit_rps = rps
            self._limit_tokens = self._bucket_size(rps)
            self._limit_stamp = time.monotonic()

    @staticmethod
    def _bucket_size(rps: float | None) -> float:
        # One second's worth of requests, but at least one (a rate below 1/s still admits some).
        return max(1.0, rps or 0.0)

    def _rate_limit_check(self) -> tuple[bool, list[tuple[str, str]]]:
        """(admitted, the mode's headers for the answer); (True, []) when the mode is off."""
        with self._limiter_lock:
            rps = self._limit_rps
            if rps is None:
                return True, []
            size = self._bucket_size(rps)
            now = time.monotonic()
            self._limit_tokens = min(size, self._limit_tokens + (now - self._limit_stamp) * rps)
            self._limit_stamp = now
            admitted = self._limit_tokens >= 1.0
            if admitted:
                self._limit_tokens -= 1.0
            else:
                self._limit_rejected += 1
            tokens = self._limit_tokens
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

    # ------------------------------------------------------------------ observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method ("*" = any) whose path starts with the prefix."""
        wanted = method.upper()
        return [
            r for r in self.requests if wanted in ("*", r.method) and r.path.startswith(path_prefix)
        ]

    @property
    def connections_opened(self) -> int:
        """Distinct TCP connections that carried API requests since start/reset."""
        with self._log_lock:
            return len(self._conn_seen)

    @property
    def connections_accepted(self) -> int:
        """Every TCP connection accepted since start/reset (control-only ones included)."""
        with self._conn_lock:
            return self._connections_accepted

    def _record(self, record: RecordedRequest) -> None:
        with self._log_lock:
            self._log.append(record)
            self._conn_seen.add(record.connection_id)

    def _connection_opened(self, sock: socket.socket) -> int:
        with self._conn_lock:
            self._next_connection_id += 1
            self._connections_accepted += 1
            self._open_sockets.add(sock)
            return self._next_connection_id

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._conn_lock:
            self._open_sockets.discard(sock)

    # ------------------------------------------------------------------ state access

    @property
    def workflows(self) -> dict[str, dict[str, Any]]:
        with self._state_lock:
            return {k: dict(v) for k, v in self._workflows.items()}

    @property
    def actions(self) -> dict[str, dict[str, Any]]:
        with self._state_lock:
            return {k: dict(v) for k, v in self._actions.items()}

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run as ``GET .../runs/{id}/`` shows it now, plus the ``context`` it was sent."""
        now = time.monotonic()
        with self._state_lock:
            return {k: v.view(now) for k, v in self._runs.items()}

    @property
    def executions(self) -> dict[str, dict[str, Any]]:
        """Every execution as GET /actions/v1/executions/{id} would show it now."""
        now = time.monotonic()
        with self._state_lock:
            return {k: v.view(now) for k, v in self._executions.items()}

    @property
    def deployments(self) -> dict[str, dict[str, Any]]:
        """Every deployment event: the answer's fields plus what was sent (``deployment_status``
        is the ``status`` sent: the answer's ``status`` is the watching session's)."""
        with self._state_lock:
            return {k: dict(v) for k, v in self._deployments.items()}

    @property
    def agent_sessions(self) -> dict[str, dict[str, Any]]:
        """Every agent session as ``GET`` shows it now, plus its ``prompt``, ``context`` and
        ``workflow_run_id`` (the run that started it, or None)."""
        with self._state_lock:
            return {k: self._session_view(k, _SESSION_INSPECTED_KEYS) for k in self._sessions}

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._state_lock:
            run = self._runs.get(run_id)
            return run.view(time.monotonic()) if run is not None else None

    def set_run_status(self, run_id: str, status: str) -> None:
        """Force a run's status (any string) and freeze it there. KeyError if unknown."""
        with self._state_lock:
            self._runs[run_id].forced = (status, time.time())

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        with self._state_lock:
            execution = self._executions.get(execution_id)
            return execution.view(time.monotonic()) if execution is not None else None

    def set_execution_status(self, execution_id: str, status: str) -> None:
        """Force an execution's status and freeze it there. KeyError if unknown."""
        with self._state_lock:
            self._executions[execution_id].forced = (status, time.time())

    # ------------------------------------------------------------------ routing

    def _build_routes(self) -> list[tuple[re.Pattern[str], str, dict[str, _Handler]]]:
        seg = "([^/]+)"
        table: list[tuple[str, str, dict[str, _Handler]]] = [
            ("/api/v1/deployments/", _CASED, {"POST": self._post_deployment}),
            (
                "/api/v1/agent/sessions/",
                _CASED,
                {"POST": self._post_session, "GET": self._list_sessions},
            ),
            (
                "/api/v1/agent-sessions/",
                _CASED,
                {"POST": self._post_session, "GET": self._list_sessions},
            ),
            (f"/api/v1/agent/sessions/{seg}/", _CASED, {"GET": self._get_session}),
            (f"/api/v1/agent-sessions/{seg}/", _CASED, {"GET": self._get_session}),
            ("/api/v1/workflows/", _CASED, {"GET": self._list_workflows}),
            (f"/api/v1/workflows/{seg}/", _CASED, {"GET": self._get_workflow}),
            (
                f"/api/v1/workflows/{seg}/runs/",
                _CASED,
                {"GET": self._list_runs, "POST": self._post_run},
            ),
            (f"/api/v1/workflows/{seg}/runs/{seg}/", _CASED, {"GET": self._get_run}),
            ("/actions/v1", _CASEDEV, {"GET": self._list_actions}),
            (f"/actions/v1/executions/{seg}", _CASEDEV, {"GET": self._get_execution}),
            (
                f"/actions/v1/{seg}",
                _CASEDEV,
                {"GET": self._get_action, "DELETE": self._delete_action},
            ),
            (f"/actions/v1/{seg}/execute", _CASEDEV, {"POST": self._execute_action}),
        ]
        return [(re.compile(pattern), api, handlers) for pattern, api, handlers in table]

    def _handle_api(self, call: _Call, pacing: Sequence[tuple[str, str]] = ()) -> _Response:
        is_casedev = call.path == "/actions/v1" or call.path.startswith("/actions/")
        resp = self._route(call, _CASEDEV if is_casedev else _CASED)
        if pacing:
            # Rate-limit mode: its budget is the one that counts, on both APIs.
            resp.headers.extend(pacing)
        elif is_casedev:
            resp.headers.extend(self._rate_limit_headers())
        return resp

    def _route(self, call: _Call, api: str) -> _Response:
        for pattern, route_api, handlers in self._routes:
            match = pattern.fullmatch(call.path)
            if match is None:
                continue
            if not self._authorized(call, route_api):
                if route_api == _CASED:
                    return _cased_error(401, "Invalid token.")
                return _casedev_error(401, "Invalid API key", "authentication_error")
            handler = handlers.get(call.method)
            if handler is None:
                resp = (
                    _cased_error(405, f'Method "{call.method}" not allowed.')
                    if route_api == _CASED
                    else _casedev_error(
                        405, f"Method {call.method} not allowed", "invalid_request_error"
                    )
                )
                resp.headers.append(("Allow", ", ".join(sorted(handlers))))
                return resp
            if call.json_error:
                if route_api == _CASED:
                    return _cased_error(400, "JSON parse error - invalid JSON body.")
                return _casedev_error(400, "Invalid JSON body", "invalid_request_error")
            return handler(call, *(unquote(g) for g in match.groups()))
        if api == _CASEDEV:
            return _casedev_error(404, "Not found", "not_found")
        return _cased_error(404, "Not found.")

    def _authorized(self, call: _Call, api: str) -> bool:
        scheme, _, token = call.headers.get("authorization", "").strip().partition(" ")
        allowed = ("bearer", "token") if api == _CASED else ("bearer",)
        if scheme.lower() not in allowed:
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def _rate_limit_headers(self) -> list[tuple[str, str]]:
        with self._conn_lock:
            now = time.monotonic()
            if now - self._rate_window_start >= 60.0:
                self._rate_window_start, self._rate_count = now, 0
            self._rate_count += 1
            remaining = max(0, RATE_LIMIT_PER_MINUTE - self._rate_count)
            # Seconds until this minute's window ends, as case.dev writes it ("45s").
            reset_in = max(1, math.ceil(60.0 - (now - self._rate_window_start)))
        return [
            ("x-ratelimit-limit-requests", str(RATE_LIMIT_PER_MINUTE)),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-reset-requests", f"{reset_in}s"),
        ]

    def _paginate(
        self, call: _Call, items: Sequence[Any], key: str, render: Callable[[Any], Any]
    ) -> _Response:
        """DRF-style page-number pagination with absolute next/previous links."""
        page_size = _DEFAULT_PAGE_SIZE
        raw_size = call.param("page_size")
        if raw_size is not None:
            try:
                page_size = int(raw_size)
            except ValueError:
                page_size = _DEFAULT_PAGE_SIZE
            if page_size <= 0:
                page_size = _DEFAULT_PAGE_SIZE
            page_size = min(page_size, _MAX_PAGE_SIZE)
        raw_page = call.param("page")
        cursor = call.param("cursor")
        if cursor is not None:  # cursor mode: an opaque token for the page number
            raw_page = str(int.from_bytes(bytes.fromhex(cursor), "big") - 7)
        page = 1
        if raw_page is not None:
            try:
                page = int(raw_page)
            except ValueError:
                return _cased_error(404, "Invalid page.")
        count = len(items)
        pages = max(1, math.ceil(count / page_size))
        if page < 1 or page > pages:
            return _cased_error(404, "Invalid page.")
        start = (page - 1) * page_size
        chunk = [render(item) for item in items[start : start + page_size]]
        others = [(k, v) for k, v in call.params if k not in ("page", "cursor")]

        def link(number: int) -> str:
            if self.cursor_pages:
                token = (number + 7).to_bytes(4, "big").hex()
                params = [*others, ("cursor", token)]
            else:
                params = others if number == 1 else [*others, ("page", str(number))]
            query = urlencode(params)
            return f"{call.base_url}{call.path}" + (f"?{query}" if query else "")

        return _json_response(
            200,
            {
                self.list_key or key: chunk,
                "count": count,
                "next": link(page + 1) if page < pages else None,
                "previous": link(page - 1) if page > 1 else None,
            },
        )

    # ------------------------------------------------------------------ Cased handlers

    def _post_deployment(self, call: _Call) -> _Response:
        data = call.object_body()
        if data is None:
            return _cased_error(400, "Invalid data. Expected a dictionary.")
        request = data.get("deployment_request")
        if not isinstance(request, str) or not request.strip():
            return _cased_error(
                400, "deployment_request: This field is required (a non-empty string)."
            )
        status = data.get("status")
        if status is None:
            status = "success"
        if status not in _DEPLOYMENT_STATUSES:
            return _cased_error(
                400,
                f'status: "{status}" is not a valid choice ({", ".join(_DEPLOYMENT_STATUSES)}).',
            )
        if self.multi_project and not data.get("repository_full_name"):
            return _json_response(
                400,
                {
                    "repository_full_name": [
                        "This field is required when the organization has more than one project."
                    ]
                },
            )
        stored: dict[str, Any] = {}
        for name in ("repository_full_name", "external_url", "commit_sha", "commit_message", "ref"):
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                return _cased_error(400, f"{name}: Not a valid string.")
            stored[name] = value
        metadata = data.get("event_metadata")
        if metadata is not None:
            if not isinstance(metadata, dict):
                return _cased_error(400, "event_metadata: Expected a JSON object.")
            stored["event_metadata"] = metadata
        deployment: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": "running",  # the watching session's status, as the API answers
            "created_at": _iso(time.time()),
            "deployment_request": request,
            "deployment_status": status,  # the requested deploy status (name taken by above)
            **stored,
        }
        with self._state_lock:
            self._deployments[deployment["id"]] = deployment
        return _json_response(201, {key: deployment[key] for key in _DEPLOYMENT_KEYS})

    def _new_session(
        self, prompt: str, context: dict[str, Any] | None, run_id: str | None = None
    ) -> dict[str, Any]:
        session_id = str(uuid.uuid4())
        session: dict[str, Any] = {
            "session_id": session_id,
            "status": "active",
            "created_at": _iso(time.time()),
            "url": f"/agents/{session_id}",
            "prompt": prompt,
            "context": context or {},
            "workflow_run_id": run_id,
        }
        self._sessions[session_id] = session  # caller holds _state_lock
        outcome = "failed" if SESSION_FAILURE_MARKER in prompt else "completed"
        self._session_clock[session_id] = (time.monotonic(), time.time(), outcome)
        return session

    # Reading: no answer of a session read is documented (only Cased's CLI reads them):
    # a read shows the documented start answer's keys, its status moving on
    # created -> agent_running -> completed/failed; a list pages like the other lists.
    def _session_view(self, session_id: str, keys: Sequence[str] = _SESSION_KEYS) -> dict[str, Any]:
        """A session as Cased's CLI reads it: created -> agent_running -> its outcome,
        over ``run_seconds`` (caller holds _state_lock)."""
        view = dict(self._sessions[session_id])
        forced = self._session_forced.get(session_id)
        start_mono, _, outcome = self._session_clock[session_id]
        if forced is not None:
            view["status"] = forced[0]
        else:
            status, _, _ = _progress(time.monotonic() - start_mono, self.run_seconds, outcome, None)
            view["status"] = {"pending": "created", "running": "agent_running"}.get(status, status)
        return {key: view[key] for key in keys}

    def set_session_status(self, session_id: str, status: str) -> None:
        """Force an agent session's status (any string) and freeze it. KeyError if unknown."""
        with self._state_lock:
            if session_id not in self._sessions:
                raise KeyError(session_id)
            self._session_forced[session_id] = (status, time.time())

    def _post_session(self, call: _Call) -> _Response:
        data = call.object_body()
        if data is None:
            return _cased_error(400, "Invalid data. Expected a dictionary.")
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _cased_error(400, "prompt: This field is required (a non-empty string).")
        context = data.get("context")
        if context is not None and not isinstance(context, dict):
            return _cased_error(400, "context: Expected a JSON object.")
        with self._state_lock:
            session = dict(self._new_session(prompt, context))
        # The documented start answer says "active"; reads show the clock's statuses.
        return _json_response(201, {key: session[key] for key in _SESSION_KEYS})

    def _list_sessions(self, call: _Call) -> _Response:
        with self._state_lock:
            sessions = [self._session_view(i) for i in reversed(list(self._sessions))]
        return self._paginate(call, sessions, "sessions", lambda s: s)

    def _get_session(self, call: _Call, session_id: str) -> _Response:
        with self._state_lock:
            found = self._session_view(session_id) if session_id in self._sessions else None
        if found is None:
            return _cased_error(404, "Not found.")
        return _json_response(200, found)

    @staticmethod
    def _workflow_summary(wf: dict[str, Any]) -> dict[str, Any]:
        return {k: wf[k] for k in _WORKFLOW_KEYS}

    @staticmethod
    def _workflow_detail(wf: dict[str, Any]) -> dict[str, Any]:
        return {k: wf[k] for k in _WORKFLOW_DETAIL_KEYS}

    def _list_workflows(self, call: _Call) -> _Response:
        name = call.param("name")
        agent = call.param("agent_name")
        repository = call.param("repository")
        with self._state_lock:
            selected = [
                self._workflow_summary(wf)
                for wf in self._workflows.values()
                if (not name or name.casefold() in wf["name"].casefold())
                and (agent is None or wf["agent_name"] == agent)
                and (repository is None or wf["repository"] == repository)
            ]
        return self._paginate(call, selected, "workflows", lambda wf: wf)

    def _get_workflow(self, call: _Call, workflow_id: str) -> _Response:
        with self._state_lock:
            wf = self._workflows.get(workflow_id)
            detail = self._workflow_detail(wf) if wf is not None else None
        if detail is None:
            return _cased_error(404, "Not found.")
        return _json_response(200, detail)

    def _post_run(self, call: _Call, workflow_id: str) -> _Response:
        data = call.object_body()
        if data is None:
            return _cased_error(400, "Invalid data. Expected a dictionary.")
        triggered_by = data.get("triggered_by")
        if triggered_by is None:
            triggered_by = "manual"
        if triggered_by not in _TRIGGERED_BY:
            return _cased_error(
                400,
                f'triggered_by: "{triggered_by}" is not a valid choice '
                f"({', '.join(_TRIGGERED_BY)}).",
            )
        trigger_name = data.get("trigger_name")
        if trigger_name is not None and not isinstance(trigger_name, str):
            return _cased_error(400, "trigger_name: Not a valid string.")
        context = data.get("context")
        if context is not None and not isinstance(context, dict):
            return _cased_error(400, "context: Expected a JSON object.")
        now_mono, now_wall = time.monotonic(), time.time()
        with self._state_lock:
            wf = self._workflows.get(workflow_id)
            if wf is None:
                return _cased_error(404, "Not found.")
            run_id = str(uuid.uuid4())
            session = self._new_session(f"Workflow run: {wf['name']}", context, run_id)
            run_seconds = wf["run_seconds"]
            run = _Run(
                id=run_id,
                workflow=workflow_id,
                workflow_name=wf["name"],
                triggered_by=triggered_by,
                trigger_name=trigger_name,
                context=context or {},
                session_id=session["session_id"],
                start_mono=now_mono,
                start_wall=now_wall,
                run_seconds=self.run_seconds if run_seconds is None else float(run_seconds),
                outcome=wf["outcome"],
                schedule=wf["statuses"],
            )
            self._runs[run_id] = run
            self._runs_by_workflow.setdefault(workflow_id, []).append(run_id)
            view = run.view(now_mono, _RUN_KEYS)
        return _json_response(201, view)

    def _list_runs(self, call: _Call, workflow_id: str) -> _Response:
        status = call.param("status")
        triggered_by = call.param("triggered_by")
        now = time.monotonic()
        with self._state_lock:
            if workflow_id not in self._workflows:
                return _cased_error(404, "Not found.")
            ids = self._runs_by_workflow.get(workflow_id, [])
            runs = [self._runs[i] for i in reversed(ids) if i in self._runs]
            if self.runs_oldest_first:
                runs.reverse()
            if triggered_by is not None:
                runs = [r for r in runs if r.triggered_by == triggered_by]
            if status is not None:
                runs = [r for r in runs if r.view(now, ("status",))["status"] == status]
            # Only the returned page is rendered.
            return self._paginate(
                call, runs, "workflow_runs", lambda r: r.view(now, _RUN_LISTED_KEYS)
            )

    def _get_run(self, call: _Call, workflow_id: str, run_id: str) -> _Response:
        with self._state_lock:
            run = self._runs.get(run_id)
            if run is None or run.workflow != workflow_id:
                return _cased_error(404, "Not found.")
            view = run.view(time.monotonic(), _RUN_DETAIL_KEYS)
        return _json_response(200, view)

    # ------------------------------------------------------------------ case.dev handlers

    @staticmethod
    def _action_view(action: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "name", "description", "isActive", "version", "createdAt")
        return {k: action[k] for k in keys}

    def _list_actions(self, call: _Call) -> _Response:
        with self._state_lock:
            data = [self._action_view(a) for a in self._actions.values()]
        return _json_response(200, {"data": data, "total": len(data)})

    def _get_action(self, call: _Call, action_id: str) -> _Response:
        with self._state_lock:
            action = self._actions.get(action_id)
            view = self._action_view(action) if action is not None else None
        if view is None:
            return _casedev_error(404, "Action not found", "not_found")
        return _json_response(200, view)

    def _delete_action(self, call: _Call, action_id: str) -> _Response:
        with self._state_lock:
            removed = self._actions.pop(action_id, None)
        if removed is None:
            return _casedev_error(404, "Action not found", "not_found")
        return _Response(204, b"", None)

    def _execute_action(self, call: _Call, action_id: str) -> _Response:
        with self._state_lock:
            action = self._actions.get(action_id)
            action = dict(action) if action is not None else None
        if action is None:
            return _casedev_error(404, "Action not found", "not_found")
        data = call.object_body()
        payload = data.get("input") if data is not None else None
        if not isinstance(payload, dict):
            return _casedev_error(
                400, "input is required and must be an object", "invalid_request_error"
            )
        webhook_id = data.get("webhook_id") if data is not None else None
        if webhook_id is not None and not isinstance(webhook_id, str):
            return _casedev_error(400, "webhook_id must be a string", "invalid_request_error")
        if not action["isActive"]:
            return _casedev_error(400, "Action is not active", "invalid_request_error")
        output = action["output"]
        if output is None:
            output = {"echo": payload, "result": "ok"}
        run_seconds = action["run_seconds"]
        execution = _Execution(
            id=f"exec_{uuid.uuid4().hex}",
            action_id=action_id,
            action_name=action["name"],
            input=payload,
            is_async=action["mode"] == "async" or webhook_id is not None,
            outcome=action["outcome"],
            run_seconds=self.run_seconds if run_seconds is None else float(run_seconds),
            output=output,
            start_mono=time.monotonic(),
            start_wall=time.time(),
            steps=action.get("steps", 1),
        )
        with self._state_lock:
            self._executions[execution.id] = execution
        if execution.is_async:
            return _json_response(
                200,
                {
                    "execution_id": execution.id,
                    "status": "running",
                    "webhook_configured": True,
                    "message": "Action execution started. Results will be sent to the webhook.",
                },
            )
        if execution.outcome == "failed":
            return _json_response(
                200,
                {
                    "execution_id": execution.id,
                    "status": "failed",
                    "error": execution.error,
                    "currentStep": 0,
                    "totalSteps": 1,
                },
            )
        duration_ms = round(execution.run_seconds * 1000)
        return _json_response(
            200,
            {
                "execution_id": execution.id,
                "status": execution.outcome,
                "output": output,
                "step_results": {"step_1": {"output": output, "duration_ms": duration_ms}},
                "duration_ms": duration_ms,
            },
        )

    def _get_execution(self, call: _Call, execution_id: str) -> _Response:
        view = self.get_execution(execution_id)
        if view is None:
            return _casedev_error(404, "Execution not found", "not_found")
        return _json_response(200, view)

    # ------------------------------------------------------------------ control endpoints

    def _rate_limit_view(self) -> dict[str, Any]:
        return {"requests_per_second": self.rate_limit, "rejected": self.rate_limited}

    def _control(self, method: str, path: str, query_string: str, body: bytes) -> _Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return _cased_error(400, "Malformed JSON body.")
        try:
            return self._control_route(method, path.rstrip("/"), query_string, data)
        except (TypeError, ValueError) as exc:
            return _cased_error(400, str(exc))

    def _control_route(self, method: str, path: str, query_string: str, data: Any) -> _Response:
        route = (method, path)
        if route == ("GET", "/_emulator/health"):
            return _json_response(200, {"status": "ok", "url": self.url})
        if route == ("GET", "/_emulator/stats"):
            return _json_response(
                200,
                {
                    "requests": len(self.requests),
                    "connections_opened": self.connections_opened,
                    "connections_accepted": self.connections_accepted,
                    "rate_limited": self.rate_limited,
                },
            )
        if route == ("GET", "/_emulator/requests"):
            params = parse_qs(query_string)
            wanted_method = params.get("method", ["*"])[0]
            prefix = params.get("path", [""])[0]
            records = self.requests_to(wanted_method, prefix)
            # ?since=<epoch seconds>: only what arrived since, so pollers need not refetch it all.
            since = float(params.get("since", ["-inf"])[0])
            return _json_response(200, [r.to_dict() for r in records if r.time >= since])
        if route == ("GET", "/_emulator/runs"):
            # Every run as the API shows it now, oldest first (the API lists one workflow only).
            wanted = parse_qs(query_string).get("workflow", [None])[0]
            runs = [r for r in self.runs.values() if wanted in (None, r["workflow"])]
            return _json_response(200, runs)
        if route == ("GET", "/_emulator/executions"):
            # The case.dev API has no list of executions at all.
            wanted = parse_qs(query_string).get("action", [None])[0]
            found = [e for e in self.executions.values() if wanted in (None, e["actionId"])]
            return _json_response(200, found)
        if route == ("GET", "/_emulator/sessions"):
            # What the API's answers leave out: each session's prompt, context and run.
            return _json_response(200, list(self.agent_sessions.values()))
        if route == ("GET", "/_emulator/deployments"):
            return _json_response(200, list(self.deployments.values()))
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return _json_response(200, {"status": "reset"})
        if route == ("GET", "/_emulator/rate-limit"):
            return _json_response(200, self._rate_limit_view())
        if route == ("DELETE", "/_emulator/rate-limit"):
            self.set_rate_limit(None)
            return _json_response(200, self._rate_limit_view())
        if route == ("GET", "/_emulator/faults"):
            return _json_response(200, [f.to_dict() for f in self.faults])
        if route == ("DELETE", "/_emulator/faults"):
            self.clear_faults()
            return _json_response(200, {"status": "cleared"})
        if not isinstance(data, dict):
            raise ValueError("Expected a JSON object.")
        if route == ("POST", "/_emulator/rate-limit"):
            unknown = set(data) - {"requests_per_second"}
            if unknown:
                raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
            rps = data.get("requests_per_second")
            if isinstance(rps, bool) or not isinstance(rps, (int, float, type(None))):
                raise ValueError("requests_per_second: a number, or null to switch off")
            self.set_rate_limit(rps)
            return _json_response(200, self._rate_limit_view())
        if route == ("POST", "/_emulator/switches"):
            for name, value in data.items():
                if name not in _SWITCHES:
                    raise ValueError(f"unknown switch {name!r}; known: {', '.join(_SWITCHES)}")
                setattr(self, name, value)
            return _json_response(200, {name: getattr(self, name) for name in _SWITCHES})
        if route == ("POST", "/_emulator/faults"):
            return _json_response(201, self.inject(Fault.from_dict(data)).to_dict())
        if route == ("POST", "/_emulator/workflows"):
            return _json_response(201, self.add_workflow(**data))
        if route == ("POST", "/_emulator/actions"):
            return _json_response(201, self.add_action(**data))
        match = re.fullmatch(r"/_emulator/(runs|executions|sessions)/([^/]+)/status", path)
        if method == "POST" and match is not None:
            status = data.get("status")
            if not isinstance(status, str) or not status:
                raise ValueError("status: a non-empty string is required.")
            object_id = unquote(match.group(2))
            try:
                if match.group(1) == "runs":
                    self.set_run_status(object_id, status)
                    return _json_response(200, self.get_run(object_id))
                if match.group(1) == "sessions":
                    self.set_session_status(object_id, status)
                    return _json_response(200, self.agent_sessions[object_id])
                self.set_execution_status(object_id, status)
                return _json_response(200, self.get_execution(object_id))
            except KeyError:
                return _cased_error(404, "Not found.")
        return _cased_error(404, "Not found.")


def _schedule(statuses: Iterable[Sequence[Any]] | None) -> list[tuple[str, float]] | None:
    if statuses is None:
        return None
    schedule: list[tuple[str, float]] = []
    for entry in statuses:
        if len(entry) != 2:
            raise ValueError("statuses entries must be (status, seconds_after_start) pairs")
        name, at = entry
        if not isinstance(name, str):
            raise ValueError("statuses: status must be a string")
        schedule.append((name, float(at)))
    if not schedule:
        return None
    schedule.sort(key=lambda item: item[1])
    return schedule
