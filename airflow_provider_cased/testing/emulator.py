"""A local emulator of the Cased public API and the case.dev Actions API: ``Emulator``.

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

- this module: ``Emulator``, what a test holds: start and stop, the APIs' objects,
  faults, rate-limit mode and the request log, each handed on to the part that owns it;
- ``server.py``: the HTTP server, and the order a request meets faults, the rate limit
  and the API;
- ``api.py``: what both APIs share (authentication, routing, the answer types);
  ``timeline.py``: the clock that moves runs, sessions and executions along;
- ``cased.py`` / ``casedev.py``: each API's routes: what each checks and what it answers;
- ``faults.py``, ``rate_limit.py``, ``traffic.py`` (the request log), ``control.py``
  (the ``/_emulator/`` endpoints another process drives an emulator with).

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

Rate-limit mode (``rate_limit=`` requests per second, ``--rate-limit`` on the
command line, or ``POST /_emulator/rate-limit`` at runtime): API requests
beyond the rate are answered 429 with ``Retry-After`` and the
``x-ratelimit-*-requests`` headers, like a real API gateway (``rate_limit.py``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

from airflow_provider_cased.testing.api import Api
from airflow_provider_cased.testing.control import ControlRoutes
from airflow_provider_cased.testing.faults import Fault, Faults
from airflow_provider_cased.testing.rate_limit import RateLimiter
from airflow_provider_cased.testing.server import Server, Site
from airflow_provider_cased.testing.traffic import RecordedRequest, Traffic

__all__ = ["DEFAULT_API_KEY", "Emulator"]

DEFAULT_API_KEY = "emulator-key"


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
        # Imported here, not at the top: the APIs check inputs with the provider's own rules
        # (_http), which import Airflow; importing the testing package stays standard library.
        from airflow_provider_cased.testing.cased import CasedApi
        from airflow_provider_cased.testing.casedev import CaseDevApi

        self.host = host
        self.port = port
        self.api_key = api_key
        self.run_seconds = run_seconds
        self.ssl_context = ssl_context
        self._requested_port = port
        self._scheme = "https" if ssl_context is not None else "http"

        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle_lock = threading.Lock()

        self._traffic = Traffic()
        self._faults = Faults()
        self._limiter = RateLimiter(rate_limit)

        # Switches that reproduce what a real service may do and the documents leave open
        # (settable at run time, kept across reset()); the APIs read them as they answer:
        self.runs_oldest_first = False  # list runs oldest first (no order is documented)
        self.list_key: str | None = None  # e.g. "results": lists under this key instead
        self.cursor_pages = False  # next links carry an opaque cursor, not a page number
        self.multi_project = False  # deployments need repository_full_name (several projects)

        self.cased = CasedApi(self)
        self.casedev = CaseDevApi(self)
        self._apis: tuple[Api, ...] = (self.cased, self.casedev)  # Cased answers other paths
        self._control = ControlRoutes(
            cased=self.cased,
            casedev=self.casedev,
            traffic=self._traffic,
            faults=self._faults,
            limiter=self._limiter,
            settings=self,
            url=lambda: self.url,
            reset=self.reset,
        )

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
            site = Site(
                apis=self._apis,
                control=self._control.answer,
                traffic=self._traffic,
                faults=self._faults,
                limiter=self._limiter,
                scheme=self._scheme,
                host=self.host,
            )
            server = Server((self.host, self._requested_port), family, site)
            if self.ssl_context is not None:
                # Handshakes happen per connection thread (see server._RequestHandler.setup).
                server.socket = self.ssl_context.wrap_socket(
                    server.socket, server_side=True, do_handshake_on_connect=False
                )
            self.port = server.server_port
            self._traffic.count_connections_afresh()
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
        server.close()
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
        self._faults.clear()
        self._traffic.clear()
        # The rate-limit mode is configuration (like run_seconds): it stays; its bucket refills.
        self._limiter.reset()

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
        return self._faults.inject(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.all()

    # ------------------------------------------------------------------ rate-limit mode

    @property
    def rate_limit(self) -> float | None:
        """API requests per second allowed in rate-limit mode; None when the mode is off."""
        return self._limiter.requests_per_second

    @property
    def rate_limited(self) -> int:
        """API requests answered 429 by the rate-limit mode since the emulator started or reset."""
        return self._limiter.rejected

    def set_rate_limit(self, requests_per_second: float | None) -> None:
        """Switch rate-limit mode on (requests per second > 0) or off (None); a full bucket."""
        self._limiter.set(requests_per_second)

    # ------------------------------------------------------------------ observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        return self._traffic.requests()

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with this method ("*" = any) whose path starts with the prefix."""
        return self._traffic.requests_to(method, path_prefix)

    @property
    def connections_opened(self) -> int:
        """Distinct TCP connections that carried API requests since start/reset."""
        return self._traffic.connections_opened

    @property
    def connections_accepted(self) -> int:
        """Every TCP connection accepted since start/reset (control-only ones included)."""
        return self._traffic.connections_accepted
