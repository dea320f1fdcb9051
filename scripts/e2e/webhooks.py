"""`make e2e`: case.dev webhooks through the real api-server (run by check.py).

An execution of ``action_contract_review`` finishes in the emulator, started from outside
Airflow; the check signs its delivery as case.dev does and POSTs it to
``<api-server>/casedev/webhooks/<conn id>``. Expected: one asset-triggered run of
``casedev_contract_review_follow_up`` whose event carries the execution (never the output)
and whose task reads the output from the API; the same delivery again, a wrong signature,
an oversized body and a body that is not JSON start nothing. It measures the time from the
webhook's 2xx to the DAG run's creation (its ``queued_at``), which the scheduler's loop bounds.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import time
import urllib.parse
from datetime import datetime
from typing import Any

DAG_ID = "casedev_contract_review_follow_up"
ACTION = "action_contract_review"
ASSET_URI = f"casedev://actions/{ACTION}"
# What the receiver refuses unread (airflow_provider_cased._webhooks.MAX_BODY_BYTES).
MAX_BODY_BYTES = 10 * 1024 * 1024
# How long "no second run" is watched: many scheduler loops (heartbeat 2 s, idle sleep 1 s).
QUIET_SECONDS = 6


def sign(secret: str, body: bytes) -> str:
    # Written out rather than imported: the check speaks the document, not our code.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class WebhookChecks:
    def __init__(self, checks: Any, api: Any, emulator: Any, args: Any, tools: Any) -> None:
        self.checks, self.api, self.emulator, self.args = checks, api, emulator, args
        # check.py's say, wait_for (bound to its services), CheckFailed, quote, OUTSIDE_AGENT.
        self.say, self.wait_for, self.failed = tools.say, tools.wait_for, tools.CheckFailed
        self.quote, self.outside = tools.quote, tools.OUTSIDE_AGENT
        url = urllib.parse.urlsplit(args.api_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.path = f"/casedev/webhooks/{urllib.parse.quote(args.webhook_conn_id, safe='')}"

    # -- case.dev's side (the emulator, and the delivery it would send) ------------------

    def finished_execution(self) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {self.args.emulator_api_key}",
            "User-Agent": self.outside,
        }
        started = self.emulator.ok(
            "POST",
            f"/actions/v1/{ACTION}/execute",
            {"input": {"document_url": "s3://contracts/e2e.pdf"}, "webhook_id": "wh_e2e"},
            headers=headers,
        )
        execution_id = str(started["execution_id"])
        self.emulator.ok(
            "POST",
            f"/_emulator/executions/{self.quote(execution_id)}/status",
            {"status": "completed"},
        )
        found = self.emulator.ok(
            "GET", f"/actions/v1/executions/{self.quote(execution_id)}", headers=headers
        )
        self.say(f"webhooks: execution {execution_id} of {ACTION} completed outside Airflow")
        return dict(found)

    @staticmethod
    def delivery(execution: dict[str, Any]) -> bytes:
        """The document's webhook body (snake_case), output and all."""
        return json.dumps(
            {
                "event_type": "action.completed",
                "execution_id": execution["id"],
                "action_id": execution["actionId"],
                "action_name": "Contract review",
                "status": execution["status"],
                "output": execution.get("output"),
                "step_results": execution.get("stepResults"),
                "duration_ms": execution.get("durationMs"),
                "completed_at": execution.get("completedAt"),
            }
        ).encode()

    def send(
        self, body: bytes, *, signature: str | None = None, length: int | None = None
    ) -> tuple[int, Any, float]:
        """POST a delivery: (status, JSON answer, when the answer arrived)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.putrequest("POST", self.path)
            try:
                fields = json.loads(body)
            except ValueError:  # the malformed body: headers as for any delivery
                fields = {}
            headers = {
                "Content-Type": "application/json",
                "Content-Length": str(len(body) if length is None else length),
                "X-CaseMark-Signature": signature or sign(self.args.webhook_secret, body),
                "X-CaseMark-Event": str(fields.get("event_type", "action.completed")),
            }
            if fields.get("execution_id"):
                headers["X-CaseMark-Execution-Id"] = str(fields["execution_id"])
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            # Refused unread (413): the server may close before it all left.
            with contextlib.suppress(OSError):
                connection.send(body)
            response = connection.getresponse()
            raw = response.read()
            arrived = time.time()
        finally:
            connection.close()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw.decode(errors="replace")
        return response.status, answer, arrived

    # -- Airflow's side (REST API) --------------------------------------------------------

    def runs(self) -> list[dict[str, Any]]:
        return list(self.api.ok("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"])

    def events_of(self, execution_id: str) -> list[dict[str, Any]]:
        assets = self.api.ok("GET", f"/api/v2/assets?uri_pattern={self.quote(ASSET_URI)}&limit=10")
        ids = [a["id"] for a in assets["assets"] if a["uri"] == ASSET_URI]
        found = []
        for asset_id in ids:
            answer = self.api.ok("GET", f"/api/v2/assets/events?asset_id={asset_id}&limit=100")
            found += [
                e
                for e in answer["asset_events"]
                if (e.get("extra") or {}).get("execution_id") == execution_id
            ]
        return found

    def ready(self) -> None:
        """The follow-up DAG parsed (so its asset exists) and unpaused (so an event queues it)."""

        def parsed() -> bool:
            status, _ = self.api.call("GET", f"/api/v2/dags/{DAG_ID}")
            return status == 200

        self.wait_for(f"the dag-processor to parse {DAG_ID}", parsed, 180, every=1)
        self.api.ok("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})

    def finished(self, run_id: str) -> dict[str, Any]:
        base = f"/api/v2/dags/{DAG_ID}/dagRuns/{self.quote(run_id)}"

        def probe() -> dict[str, Any] | None:
            run = self.api.ok("GET", base)
            return run if run["state"] in ("success", "failed") else None

        return dict(self.wait_for(f"{DAG_ID} [{run_id}] to end", probe, 180, every=1))

    # -- the checks -------------------------------------------------------------------------

    def run(self) -> None:
        expect = self.checks.expect
        self.ready()
        before = {r["dag_run_id"] for r in self.runs()}
        execution = self.finished_execution()
        body = self.delivery(execution)

        status, answer, answered_at = self.send(body)
        expect(
            status == 200 and isinstance(answer, dict) and answer.get("status") == "recorded",
            "webhooks: a signed action.completed is answered 200 once recorded",
            f"{status} {answer}",
        )

        def new_run() -> dict[str, Any] | None:
            new = [r for r in self.runs() if r["dag_run_id"] not in before]
            return new[0] if new else None

        run = self.wait_for(f"a run of {DAG_ID} after the webhook", new_run, 60, every=0.05)
        seen_at = time.time()
        created = epoch(run["queued_at"])
        self.say(
            f"webhooks: run {run['dag_run_id']} ({run['run_type']}) created "
            f"{created - answered_at:+.3f} s after the webhook's 200 (queued_at), seen by "
            f"REST polling after {seen_at - answered_at:.3f} s"
        )
        self.latency = created - answered_at
        expect(
            run["run_type"] == "asset_triggered",
            f"webhooks: the delivery started an asset-triggered run of {DAG_ID}",
            str(run["run_type"]),
        )
        base = f"/api/v2/dags/{DAG_ID}/dagRuns/{self.quote(run['dag_run_id'])}"
        upstream = self.api.ok("GET", f"{base}/upstreamAssetEvents")["asset_events"]
        extras = [e.get("extra") or {} for e in upstream]
        expect(
            len(extras) == 1
            and extras[0].get("execution_id") == execution["id"]
            and extras[0].get("status") == "completed"
            and extras[0].get("duration_ms") == execution.get("durationMs")
            and "output" not in extras[0],
            "webhooks: the run's asset event carries the execution id, status and duration, "
            "not the output",
            str(extras),
        )

        # What must start nothing: a replay, and what is refused.
        replay = self.send(body)
        wrong = self.send(body, signature=sign("not-the-secret", body))
        oversized = self.send(b"{}", length=MAX_BODY_BYTES + 1)
        not_json = self.send(b"{this is not json")
        codes = [replay[0], wrong[0], oversized[0], not_json[0]]
        expect(
            codes == [200, 401, 413, 400]
            and isinstance(replay[1], dict)
            and replay[1].get("status") == "duplicate",
            "webhooks: the same delivery again 200 (duplicate), a wrong signature 401, an "
            "oversized body 413 (unread), a body that is not JSON 400",
            f"codes {codes}, replay {replay[1]}",
        )
        time.sleep(QUIET_SECONDS)
        runs = [r for r in self.runs() if r["dag_run_id"] not in before]
        events = self.events_of(str(execution["id"]))
        expect(
            len(runs) == 1 and len(events) == 1,
            f"webhooks: still one DAG run and one asset event {QUIET_SECONDS} s after them",
            f"{len(runs)} runs, {len(events)} events",
        )
        final = self.finished(run["dag_run_id"])
        expect(
            final["state"] == "success",
            f"webhooks: {DAG_ID} read the execution's output from the API and succeeded",
            str(final["state"]),
        )
