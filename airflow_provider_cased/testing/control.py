"""The ``/_emulator/`` control endpoints: another process drives and inspects an emulator.

No authentication, never recorded: ``GET health``, ``GET requests`` (``?method=``,
``?path=``, ``?since=``), ``GET stats``, ``POST reset``, ``GET|POST|DELETE faults``,
``POST workflows``, ``POST actions``, ``POST runs/{id}/status``,
``POST executions/{id}/status``, ``POST sessions/{id}/status``, ``POST switches``,
``GET|POST|DELETE rate-limit``, ``GET runs`` (``?workflow=``), ``GET executions``
(``?action=``), ``GET sessions``, ``GET deployments``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from airflow_provider_cased.testing.api import SWITCHES, Response, Settings, json_response
from airflow_provider_cased.testing.faults import Fault, Faults
from airflow_provider_cased.testing.rate_limit import RateLimiter
from airflow_provider_cased.testing.traffic import Traffic

if TYPE_CHECKING:
    # Annotations only: the API modules import Airflow (see Emulator.__init__).
    from airflow_provider_cased.testing.cased import CasedApi
    from airflow_provider_cased.testing.casedev import CaseDevApi


@dataclass(frozen=True)
class ControlRoutes:
    """The control endpoints over the parts of one emulator."""

    cased: CasedApi
    casedev: CaseDevApi
    traffic: Traffic
    faults: Faults
    limiter: RateLimiter
    settings: Settings  # the switches are set on it
    url: Callable[[], str]
    reset: Callable[[], None]  # the emulator's whole reset

    def answer(self, method: str, path: str, query_string: str, body: bytes) -> Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return json_response(400, {"detail": "Malformed JSON body."})
        try:
            return self._route(method, path.rstrip("/"), query_string, data)
        except (TypeError, ValueError) as exc:
            return json_response(400, {"detail": str(exc)})

    def _rate_limit_view(self) -> dict[str, Any]:
        limiter = self.limiter
        return {"requests_per_second": limiter.requests_per_second, "rejected": limiter.rejected}

    def _route(self, method: str, path: str, query_string: str, data: Any) -> Response:
        route = (method, path)
        params = parse_qs(query_string)
        if route == ("GET", "/_emulator/health"):
            return json_response(200, {"status": "ok", "url": self.url()})
        if route == ("GET", "/_emulator/stats"):
            return json_response(
                200,
                {
                    "requests": len(self.traffic.requests()),
                    "connections_opened": self.traffic.connections_opened,
                    "connections_accepted": self.traffic.connections_accepted,
                    "rate_limited": self.limiter.rejected,
                },
            )
        if route == ("GET", "/_emulator/requests"):
            wanted_method = params.get("method", ["*"])[0]
            prefix = params.get("path", [""])[0]
            records = self.traffic.requests_to(wanted_method, prefix)
            # ?since=<epoch seconds>: only what arrived since, so pollers need not refetch it all.
            since = float(params.get("since", ["-inf"])[0])
            return json_response(200, [r.to_dict() for r in records if r.time >= since])
        if route == ("GET", "/_emulator/runs"):
            # Every run as the API shows it now, oldest first (the API lists one workflow only).
            wanted = params.get("workflow", [None])[0]
            runs = [r for r in self.cased.runs().values() if wanted in (None, r["workflow"])]
            return json_response(200, runs)
        if route == ("GET", "/_emulator/executions"):
            # The case.dev API has no list of executions at all.
            wanted = params.get("action", [None])[0]
            executions = self.casedev.executions().values()
            found = [e for e in executions if wanted in (None, e["actionId"])]
            return json_response(200, found)
        if route == ("GET", "/_emulator/sessions"):
            # What the API's answers leave out: each session's prompt, context and run.
            return json_response(200, list(self.cased.sessions().values()))
        if route == ("GET", "/_emulator/deployments"):
            return json_response(200, list(self.cased.deployments().values()))
        if route == ("POST", "/_emulator/reset"):
            self.reset()
            return json_response(200, {"status": "reset"})
        if route == ("GET", "/_emulator/rate-limit"):
            return json_response(200, self._rate_limit_view())
        if route == ("DELETE", "/_emulator/rate-limit"):
            self.limiter.set(None)
            return json_response(200, self._rate_limit_view())
        if route == ("GET", "/_emulator/faults"):
            return json_response(200, [f.to_dict() for f in self.faults.all()])
        if route == ("DELETE", "/_emulator/faults"):
            self.faults.clear()
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
            self.limiter.set(rps)
            return json_response(200, self._rate_limit_view())
        if route == ("POST", "/_emulator/switches"):
            for name, value in data.items():
                if name not in SWITCHES:
                    raise ValueError(f"unknown switch {name!r}; known: {', '.join(SWITCHES)}")
                setattr(self.settings, name, value)
            return json_response(200, {name: getattr(self.settings, name) for name in SWITCHES})
        if route == ("POST", "/_emulator/faults"):
            return json_response(201, self.faults.inject(Fault.from_dict(data)).to_dict())
        if route == ("POST", "/_emulator/workflows"):
            return json_response(201, self.cased.add_workflow(**data))
        if route == ("POST", "/_emulator/actions"):
            return json_response(201, self.casedev.add_action(**data))
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
            "runs": (self.cased.force_run, self.cased.runs),
            "executions": (self.casedev.force_execution, self.casedev.executions),
            "sessions": (self.cased.force_session, self.cased.sessions),
        }[kind]
        try:
            force(object_id, status)
        except KeyError:
            return json_response(404, {"detail": "Not found."})
        return json_response(200, read().get(object_id))
