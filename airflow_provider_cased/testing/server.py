"""A local emulator of the Cased public API and the case.dev Actions API: the core.

The emulator is an in-process HTTP server (standard library only) that speaks
both APIs well enough to run the provider's hooks, operators, sensors and
triggers against it: tests, demos and benchmarks use it instead of the real
services.

    from airflow_provider_cased.testing import Emulator, Fault

    with Emulator() as emu:
        emu.inject(Fault(method="POST", path="/api/v1/workflows/", status=503))
        ...  # point a connection at emu.url with password emu.api_key
        assert emu.requests_to("POST", "/api/v1/workflows/")

Where to look:

- this module: the HTTP server, ``Fault`` injection, the request log, rate-limit
  mode, the clock that moves runs, sessions and executions along (``Timeline``),
  the ``/_emulator/`` control endpoints and ``Emulator`` itself;
- ``cased.py``: the Cased routes: what each checks and what it answers;
- ``casedev.py``: the case.dev routes, likewise.

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

import abc
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import parse_qs, parse_qsl, unquote

from airflow_provider_cased.states import ACTION_EXECUTION, WORKFLOW_RUN

if TYPE_CHECKING:
    from airflow_provider_cased.testing.cased import CasedApi
    from airflow_provider_cased.testing.casedev import CaseDevApi

__all__ = ["DEFAULT_API_KEY", "Emulator", "Fault", "RecordedRequest"]

DEFAULT_API_KEY = "emulator-key"
_SWITCHES = ("runs_oldest_first", "list_key", "cursor_pages", "multi_project")
_MAX_BODY = 64 * 1024 * 1024
_JSON = "application/json"
_Object = TypeVar("_Object")


def iso(ts: float) -> str:
    """An epoch time as the APIs write it: ISO 8601, UTC, ``Z``."""
    stamp = datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: the services' parsers refuse them, so the emulator does.
    raise ValueError(f"{name} is not valid JSON")


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


# --------------------------------------------------------------------------- what an API module uses


@dataclass
class Response:
    """One answer, written to the socket in one piece."""

    status: int
    body: bytes = b""
    content_type: str | None = _JSON
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
    """Raised by a route to refuse a request: the core answers it in the API's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Timed(Protocol):
    timeline: Timeline


class Api(abc.ABC):
    """One emulated API as the core serves it.

    The core authenticates, finds the route, refuses what no route takes (404, 405,
    a body that is not JSON) and adds pacing headers; the API module checks inputs,
    keeps its objects and shapes its answers.
    """

    path_prefix: str  # the paths this API owns
    auth_schemes: tuple[str, ...] = ("bearer",)  # lower case
    # What the core answers on this API's behalf, before any route runs.
    unauthorized: str
    not_found: str
    bad_json: str
    throttled: str
    method_not_allowed: str  # with a {method} placeholder

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
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


def _route_pattern(template: str) -> re.Pattern[str]:
    literals = re.split(r"\{\w+\}", template)
    return re.compile("([^/]+)".join(re.escape(part) for part in literals))


# --------------------------------------------------------------------------- time-driven statuses

# The provider's own reading of the documented statuses: the emulator and the waits agree.
IN_PROGRESS = WORKFLOW_RUN.in_progress | ACTION_EXECUTION.in_progress
Schedule = Sequence[tuple[str, float]]


def progress(
    elapsed: float, run_seconds: float, outcome: str, schedule: Schedule | None
) -> tuple[str, float, bool]:
    """(status, seconds after start when it began, ended) after ``elapsed`` seconds."""
    if schedule:
        status, since = "pending", 0.0
        reached = -1
        for index, (name, at) in enumerate(schedule):
            if elapsed >= at:
                status, since, reached = name, at, index
            else:
                break
        ended = reached == len(schedule) - 1 and status not in IN_PROGRESS
        return status, since, ended
    if elapsed >= run_seconds:
        return outcome, run_seconds, True
    if elapsed >= 0.2 * run_seconds:
        return "running", 0.2 * run_seconds, False
    return "pending", 0.0, False


@dataclass
class Timeline:
    """How a run, an execution or an agent session moves along, read off the clock.

    ``pending`` for the first 20% of ``run_seconds``, then ``running``, then
    ``outcome``; or the ``schedule`` of (status, seconds after start) pairs.
    ``force()`` freezes a status, whatever the clock says.
    """

    run_seconds: float
    outcome: str
    schedule: Schedule | None = None
    start_mono: float = field(default_factory=time.monotonic)
    start_wall: float = field(default_factory=time.time)
    forced: tuple[str, float] | None = None  # (status, wall time it was forced)

    def now(self, mono: float | None = None) -> tuple[str, float, bool]:
        """(status, seconds after start when it began, ended), at monotonic time ``mono``."""
        if self.forced is not None:
            status, changed = self.forced
            return status, max(0.0, changed - self.start_wall), status not in IN_PROGRESS
        elapsed = (time.monotonic() if mono is None else mono) - self.start_mono
        return progress(elapsed, self.run_seconds, self.outcome, self.schedule)

    def force(self, status: str) -> None:
        self.forced = (status, time.time())


def schedule_from(statuses: Iterable[Sequence[Any]] | None) -> list[tuple[str, float]] | None:
    """A checked, sorted schedule of (status, seconds after start) pairs; None for none."""
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


# --------------------------------------------------------------------------- HTTP server


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

    def _drop(self) -> None:
        self.close_connection = True
        # socket.socket.shutdown directly: SSLSocket.shutdown would unwrap TLS first.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _dispatch(self) -> None:
        emu = self.emulator
        received = time.time()
        raw_path, _, query_string = self.path.partition("?")
        api = emu._api_for(raw_path)
        body = self._read_body(api)
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
            resp = api.error(429, api.throttled)
            resp.headers.extend(pacing)
            record.status = resp.status
            self._send(resp)
            return

        host = headers.get("host") or f"{emu.host}:{emu.port}"
        call = Call(
            method=self.command,
            path=raw_path,
            params=parse_qsl(query_string, keep_blank_values=True),
            headers=headers,
            json=payload,
            json_error=json_error,
            base_url=f"{emu._scheme}://{host}",
        )
        resp = emu._answer(api, call)
        # Rate-limit mode: its budget is the one that counts, on both APIs.
        resp.headers.extend(pacing or api.answer_headers())

        if fault is not None and fault.lost_answer:
            # The work is done (state changed); only the answer goes missing.
            if emu._fault_sleep(fault) or fault.drop:
                self._drop()
                return
            resp = _fault_response(fault, fault.status or 502)
        record.status = resp.status
        self._send(resp)


def _fault_response(fault: Fault, status: int) -> Response:
    if fault.body is None:
        body = json.dumps({"detail": f"Emulated fault: HTTP {status}."}).encode("utf-8")
    elif isinstance(fault.body, str):
        body = fault.body.encode("utf-8")
    else:
        body = fault.body
    return Response(status, body, fault.content_type, list(fault.headers.items()))


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
        # The API modules build on this module's pieces, so they are imported here, once
        # this module is complete, rather than at its top.
        from airflow_provider_cased.testing.cased import CasedApi
        from airflow_provider_cased.testing.casedev import CaseDevApi

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
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._conn_lock = threading.Lock()

        self._log: list[RecordedRequest] = []
        self._conn_seen: set[int] = set()
        self._faults: list[Fault] = []
        self._next_connection_id = 0
        self._connections_accepted = 0
        self._open_sockets: set[socket.socket] = set()
        self._limiter_lock = threading.Lock()
        self._limit_rps: float | None = None
        self._limit_tokens = 0.0
        self._limit_stamp = time.monotonic()
        self._limit_rejected = 0
        self.set_rate_limit(rate_limit)

        # Switches that reproduce what a real service may do and the documents leave open
        # (settable at run time, kept across reset()):
        self.runs_oldest_first = False  # list runs oldest first (no order is documented)
        self.list_key: str | None = None  # e.g. "results": lists under this key instead
        self.cursor_pages = False  # next links carry an opaque cursor, not a page number
        self.multi_project = False  # deployments need repository_full_name (several projects)

        self.cased: CasedApi = CasedApi(self)
        self.casedev: CaseDevApi = CaseDevApi(self)
        self._apis: tuple[Api, ...] = (self.cased, self.casedev)

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
        for api in self._apis:
            api.reset()
        self.clear_faults()
        with self._log_lock:
            self._log.clear()
            self._conn_seen.clear()
        with self._conn_lock:
            self._connections_accepted = 0
        # The rate-limit mode is configuration (like run_seconds): it stays; its bucket refills.
        self.set_rate_limit(self.rate_limit)
        with self._limiter_lock:
            self._limit_rejected = 0

    # ------------------------------------------------------------------ the APIs' objects

    def add_workflow(self, name: str, **options: Any) -> dict[str, Any]:
        """Add (or replace, same id) a Cased workflow; options: ``CasedApi.add_workflow``."""
        return self.cased.add_workflow(name, **options)

    def add_action(self, name: str, **options: Any) -> dict[str, Any]:
        """Add (or replace, same id) a case.dev action; options: ``CaseDevApi.add_action``."""
        return self.casedev.add_action(name, **options)

    @property
    def workflows(self) -> dict[str, dict[str, Any]]:
        """Every workflow definition, with the emulator's settings (outcome, run_seconds...)."""
        return self.cased.workflows()

    @property
    def actions(self) -> dict[str, dict[str, Any]]:
        """Every action definition, with the emulator's settings (mode, outcome...)."""
        return self.casedev.actions()

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run as ``GET .../runs/{id}/`` shows it now, plus the ``context`` it was sent."""
        return self.cased.runs()

    @property
    def executions(self) -> dict[str, dict[str, Any]]:
        """Every execution as ``GET /actions/v1/executions/{id}`` shows it now."""
        return self.casedev.executions()

    @property
    def deployments(self) -> dict[str, dict[str, Any]]:
        """Every deployment event: the answer's fields plus what was sent (``deployment_status``
        is the ``status`` sent: the answer's ``status`` is the watching session's)."""
        return self.cased.deployments()

    @property
    def agent_sessions(self) -> dict[str, dict[str, Any]]:
        """Every agent session as ``GET`` shows it now, plus its ``prompt``, ``context`` and
        ``workflow_run_id`` (the run that started it, or None)."""
        return self.cased.sessions()

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run as ``runs`` shows it; None if unknown."""
        return self.cased.runs().get(run_id)

    def set_run_status(self, run_id: str, status: str) -> None:
        """Force a run's status (any string) and freeze it there. KeyError if unknown."""
        self.cased.force_run(run_id, status)

    def set_session_status(self, session_id: str, status: str) -> None:
        """Force an agent session's status (any string) and freeze it. KeyError if unknown."""
        self.cased.force_session(session_id, status)

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        """One execution as ``executions`` shows it; None if unknown."""
        return self.casedev.executions().get(execution_id)

    def set_execution_status(self, execution_id: str, status: str) -> None:
        """Force an execution's status and freeze it there. KeyError if unknown."""
        self.casedev.force_execution(execution_id, status)

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

    # ------------------------------------------------------------------ routing

    def _api_for(self, path: str) -> Api:
        for api in self._apis:
            if path.startswith(api.path_prefix):
                return api
        # Any other path is answered (404) the way Cased answers it.
        return self.cased

    def _answer(self, api: Api, call: Call) -> Response:
        for pattern, handlers in api.routes:
            match = pattern.fullmatch(call.path)
            if match is None:
                continue
            if not self._authorized(call, api):
                return api.error(401, api.unauthorized)
            handler = handlers.get(call.method)
            if handler is None:
                resp = api.error(405, api.method_not_allowed.format(method=call.method))
                resp.headers.append(("Allow", ", ".join(sorted(handlers))))
                return resp
            if call.json_error:
                return api.error(400, api.bad_json)
            try:
                return handler(call, *(unquote(g) for g in match.groups()))
            except Refusal as refusal:
                return api.error(refusal.status, refusal.message)
        return api.error(404, api.not_found)

    def _authorized(self, call: Call, api: Api) -> bool:
        scheme, _, token = call.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() not in api.auth_schemes:
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    # ------------------------------------------------------------------ control endpoints

    def _rate_limit_view(self) -> dict[str, Any]:
        return {"requests_per_second": self.rate_limit, "rejected": self.rate_limited}

    def _control(self, method: str, path: str, query_string: str, body: bytes) -> Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return json_response(400, {"detail": "Malformed JSON body."})
        try:
            return self._control_route(method, path.rstrip("/"), query_string, data)
        except (TypeError, ValueError) as exc:
            return json_response(400, {"detail": str(exc)})

    def _control_route(self, method: str, path: str, query_string: str, data: Any) -> Response:
        route = (method, path)
        params = parse_qs(query_string)
        if route == ("GET", "/_emulator/health"):
            return json_response(200, {"status": "ok", "url": self.url})
        if route == ("GET", "/_emulator/stats"):
            return json_response(
                200,
                {
                    "requests": len(self.requests),
                    "connections_opened": self.connections_opened,
                    "connections_accepted": self.connections_accepted,
                    "rate_limited": self.rate_limited,
                },
            )
        if route == ("GET", "/_emulator/requests"):
            wanted_method = params.get("method", ["*"])[0]
            prefix = params.get("path", [""])[0]
            records = self.requests_to(wanted_method, prefix)
            # ?since=<epoch seconds>: only what arrived since, so pollers need not refetch it all.
            since = float(params.get("since", ["-inf"])[0])
            return json_response(200, [r.to_dict() for r in records if r.time >= since])
        if route == ("GET", "/_emulator/runs"):
            # Every run as the API shows it now, oldest first (the API lists one workflow only).
            wanted = params.get("workflow", [None])[0]
            runs = [r for r in self.runs.values() if wanted in (None, r["workflow"])]
            return json_response(200, runs)
        if route == ("GET", "/_emulator/executions"):
            # The case.dev API has no list of executions at all.
            wanted = params.get("action", [None])[0]
            found = [e for e in self.executions.values() if wanted in (None, e["actionId"])]
            return json_response(200, found)
        if route == ("GET", "/_emulator/sessions"):
            # What the API's answers leave out: each session's prompt, context and run.
            return json_response(200, list(self.agent_sessions.values()))
        if route == ("GET", "/_emulator/deployments"):
            return json_response(200, list(self.deployments.values()))
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return json_response(200, {"status": "reset"})
        if route == ("GET", "/_emulator/rate-limit"):
            return json_response(200, self._rate_limit_view())
        if route == ("DELETE", "/_emulator/rate-limit"):
            self.set_rate_limit(None)
            return json_response(200, self._rate_limit_view())
        if route == ("GET", "/_emulator/faults"):
            return json_response(200, [f.to_dict() for f in self.faults])
        if route == ("DELETE", "/_emulator/faults"):
            self.clear_faults()
            return json_response(200, {"status": "cleared"})
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
            return json_response(200, self._rate_limit_view())
        if route == ("POST", "/_emulator/switches"):
            for name, value in data.items():
                if name not in _SWITCHES:
                    raise ValueError(f"unknown switch {name!r}; known: {', '.join(_SWITCHES)}")
                setattr(self, name, value)
            return json_response(200, {name: getattr(self, name) for name in _SWITCHES})
        if route == ("POST", "/_emulator/faults"):
            return json_response(201, self.inject(Fault.from_dict(data)).to_dict())
        if route == ("POST", "/_emulator/workflows"):
            return json_response(201, self.add_workflow(**data))
        if route == ("POST", "/_emulator/actions"):
            return json_response(201, self.add_action(**data))
        match = re.fullmatch(r"/_emulator/(runs|executions|sessions)/([^/]+)/status", path)
        if method == "POST" and match is not None:
            return self._force_status(match.group(1), unquote(match.group(2)), data)
        return json_response(404, {"detail": "Not found."})

    def _force_status(self, kind: str, object_id: str, data: dict[str, Any]) -> Response:
        """``POST /_emulator/{runs|executions|sessions}/{id}/status``: the object, forced."""
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise ValueError("status: a non-empty string is required.")
        force, read = {
            "runs": (self.set_run_status, self.get_run),
            "executions": (self.set_execution_status, self.get_execution),
            "sessions": (self.set_session_status, lambda found: self.agent_sessions.get(found)),
        }[kind]
        try:
            force(object_id, status)
        except KeyError:
            return json_response(404, {"detail": "Not found."})
        return json_response(200, read(object_id))
