"""The case.dev Actions API as the emulator answers it: routes, input checks, answer shapes.

Each answer carries the keys of the documented example
(``docs/api/casedev-actions-api.md``) and nothing more; where the documents leave a
shape open, a "Reading:" comment says which one was chosen. What both APIs share
(authentication, routing) is in ``api.py``, the clock behind execution statuses in
``timeline.py``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_cased._request_bodies import (
    CASEDEV_MAX_INPUT_BYTES,
    json_size,
    one_of,
    required_str,
)
from airflow_provider_cased.testing.api import (
    Api,
    Call,
    Handler,
    Response,
    iso,
    json_response,
    pick,
)
from airflow_provider_cased.testing.timeline import Timeline

ORGANIZATION_ID = "org_emulator"
# case.dev's per-minute budget as the default answers report it: generous, so users'
# DAG tests are never paced by it; rate-limit mode is the one that enforces a limit.
RATE_LIMIT_PER_MINUTE = 10_000

# The keys of the documented answers.
ACTION_KEYS = ("id", "name", "description", "isActive", "version", "createdAt")
# What an emulator starts with, and returns to on reset().
_SEED_ACTIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "Summarize document",
        "action_id": "action_summarize",
        "description": "Summarize a document in a few sentences.",
    },
    {
        "name": "Contract review",
        "action_id": "action_contract_review",
        "mode": "async",
        "description": "Review a contract and list risky clauses.",
    },
    {
        "name": "Broken OCR",
        "action_id": "action_broken_ocr",
        "outcome": "failed",
        "description": "OCR that always fails in the emulator.",
    },
)
# Reading: only the 429 body is documented ({"error": {"message", "type"}}); every error
# answers in that shape, its type by status (anything else is an invalid request).
_ERROR_TYPES = {401: "authentication_error", 404: "not_found", 429: "rate_limit_error"}


@dataclass
class _Execution:
    id: str
    action_id: str
    action_name: str
    input: dict[str, Any]
    is_async: bool
    output: object
    timeline: Timeline
    steps: int = 1

    @property
    def error(self) -> str:
        return f"Step 'step_1' failed: emulated failure of action '{self.action_name}'"

    def current_step(self, mono: float) -> int:
        """The step (0-based) a running execution is on: its steps share the running time."""
        run_seconds = self.timeline.run_seconds
        running_for = mono - self.timeline.start_mono - 0.2 * run_seconds
        share = max(0.0, running_for / max(1e-9, 0.8 * run_seconds))
        return min(self.steps - 1, int(share * self.steps))

    def progress(self, mono: float) -> tuple[str, float, bool]:
        """(status, seconds after start when it began, ended)."""
        if self.is_async or self.timeline.forced is not None:
            return self.timeline.now(mono)
        # A synchronous execution has ended when its answer comes; it "took" run_seconds.
        return self.timeline.outcome, self.timeline.run_seconds, True

    def view(self, mono: float) -> dict[str, Any]:
        """The execution as ``GET /actions/v1/executions/{id}`` answers it.

        Reading: the documented example is a completed execution. Before the end,
        ``output`` and ``completedAt`` are absent (nothing to show yet), ``durationMs`` is
        null and ``stepResults`` empty; a failed one carries ``error`` (the failure
        example's field) instead of ``output``. A multi-step action (``steps`` > 1, the
        emulator's opt-in) shows ``currentStep``/``totalSteps`` while running, named as
        the failure example names them.
        """
        status, since, ended = self.progress(mono)
        start_wall = self.timeline.start_wall
        data: dict[str, Any] = {
            "id": self.id,
            "actionId": self.action_id,
            "organizationId": ORGANIZATION_ID,
            "status": status,
            "input": self.input,
            "stepResults": {},
            "durationMs": None,
            "createdAt": iso(start_wall),
        }
        if status == "running" and self.steps > 1:
            data["currentStep"] = self.current_step(mono)
            data["totalSteps"] = self.steps
        if ended:
            duration_ms = round(since * 1000)
            data["durationMs"] = duration_ms
            data["completedAt"] = iso(start_wall + (since if self.is_async else 0.0))
            if status == "failed":
                data["error"] = self.error
            else:
                data["output"] = self.output
                data["stepResults"] = {
                    f"step_{n}": {"output": self.output, "duration_ms": duration_ms // self.steps}
                    for n in range(1, self.steps + 1)
                }
        return data


class CaseDevApi(Api):
    """``/actions/v1...``: action definitions and their executions."""

    path_prefix = "/actions/"
    unauthorized = "Invalid API key"
    not_found = "Not found"
    bad_json = "Invalid JSON body"
    throttled = "Rate limit exceeded"
    method_not_allowed = "Method {method} not allowed"

    _actions: dict[str, dict[str, Any]]
    _executions: dict[str, _Execution]
    _window_start: float  # the per-minute budget's window, as the headers report it
    _window_count: int

    def route_table(self) -> Iterable[tuple[str, dict[str, Handler]]]:
        return [
            ("/actions/v1", {"GET": self._list_actions}),
            ("/actions/v1/executions/{execution_id}", {"GET": self._get_execution}),
            ("/actions/v1/{id}", {"GET": self._get_action, "DELETE": self._delete_action}),
            ("/actions/v1/{id}/execute", {"POST": self._execute_action}),
        ]

    def error(self, status: int, message: str) -> Response:
        kind = _ERROR_TYPES.get(status, "invalid_request_error")
        return json_response(status, {"error": {"message": message, "type": kind}})

    def answer_headers(self) -> list[tuple[str, str]]:
        """The per-minute budget headers case.dev sends on every answer."""
        with self.lock:
            now = time.monotonic()
            if now - self._window_start >= 60.0:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            remaining = max(0, RATE_LIMIT_PER_MINUTE - self._window_count)
            # Seconds until this minute's window ends, as case.dev writes it ("45s").
            reset_in = max(1, math.ceil(60.0 - (now - self._window_start)))
        return [
            ("x-ratelimit-limit-requests", str(RATE_LIMIT_PER_MINUTE)),
            ("x-ratelimit-remaining-requests", str(remaining)),
            ("x-ratelimit-reset-requests", f"{reset_in}s"),
        ]

    # ------------------------------------------------------------------ objects

    def reset(self) -> None:
        with self.lock:
            self._actions, self._executions = {}, {}
            self._window_start, self._window_count = time.monotonic(), 0
        for seed in _SEED_ACTIONS:
            self.add_action(**seed)

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
        ``output``: what a completed execution gives (default: the input echoed).
        """
        one_of("mode", mode, ("sync", "async"))
        required_str("name", name)
        act_id = action_id or f"action_{uuid.uuid4().hex}"
        action: dict[str, Any] = {
            "id": act_id,
            "name": name,
            "description": description,
            "isActive": bool(is_active),
            "version": 1,
            "createdAt": iso(time.time()),
            "mode": mode,
            "outcome": outcome,
            "run_seconds": run_seconds,
            "output": output,
            "steps": max(1, int(steps)),
        }
        with self.lock:
            self._actions[act_id] = action
        return dict(action)

    def actions(self) -> dict[str, dict[str, Any]]:
        return self.snapshot(self._actions, dict)

    def executions(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return self.snapshot(self._executions, lambda execution: execution.view(now))

    def force_execution(self, execution_id: str, status: str) -> None:
        self.force(self._executions, execution_id, status)

    # ------------------------------------------------------------------ action definitions

    def _list_actions(self, call: Call) -> Response:
        with self.lock:
            data = [pick(a, ACTION_KEYS) for a in self._actions.values()]
        return json_response(200, {"data": data, "total": len(data)})

    # Reading: one action definition has the keys of a listed one.
    def _get_action(self, call: Call, action_id: str) -> Response:
        return self.answer_one(
            self._actions, action_id, lambda a: pick(a, ACTION_KEYS), "Action not found"
        )

    # Reading: the answer's body is not documented ("may be empty"): 204, no body.
    def _delete_action(self, call: Call, action_id: str) -> Response:
        with self.lock:
            removed = self._actions.pop(action_id, None)
        if removed is None:
            return self.error(404, "Action not found")
        return Response(204, b"", None)

    # ------------------------------------------------------------------ executions

    def _execute_action(self, call: Call, action_id: str) -> Response:
        with self.lock:
            action = self._actions.get(action_id)
            action = dict(action) if action is not None else None
        if action is None:
            return self.error(404, "Action not found")
        data = call.object_body()
        payload = data.get("input") if data is not None else None
        if not isinstance(payload, dict):
            return self.error(400, "input is required and must be an object")
        size = json_size(payload)  # measured as the provider measures it before sending
        if size > CASEDEV_MAX_INPUT_BYTES:
            return self.error(
                413,
                f"input is {size} bytes as JSON; the limit is {CASEDEV_MAX_INPUT_BYTES} (10 MB)",
            )
        webhook_id = data.get("webhook_id") if data is not None else None
        if webhook_id is not None and not isinstance(webhook_id, str):
            return self.error(400, "webhook_id must be a string")
        if not action["isActive"]:
            return self.error(400, "Action is not active")
        output = action["output"]
        if output is None:
            output = {"echo": payload, "result": "ok"}
        run_seconds = action["run_seconds"]
        execution = _Execution(
            id=f"exec_{uuid.uuid4().hex}",
            action_id=action_id,
            action_name=action["name"],
            input=payload,
            # The emulator's async action stands for one with a webhook configured.
            is_async=action["mode"] == "async" or webhook_id is not None,
            output=output,
            timeline=Timeline(
                self.settings.run_seconds if run_seconds is None else float(run_seconds),
                action["outcome"],
            ),
            steps=action.get("steps", 1),
        )
        with self.lock:
            self._executions[execution.id] = execution
        return json_response(200, self._execute_answer(execution))

    @staticmethod
    def _execute_answer(execution: _Execution) -> dict[str, Any]:
        """The execute answer: one of the three documented examples."""
        if execution.is_async:
            return {
                "execution_id": execution.id,
                "status": "running",
                "webhook_configured": True,
                "message": "Action execution started. Results will be sent to the webhook.",
            }
        if execution.timeline.outcome == "failed":
            return {
                "execution_id": execution.id,
                "status": "failed",
                "error": execution.error,
                "currentStep": 0,
                "totalSteps": 1,
            }
        duration_ms = round(execution.timeline.run_seconds * 1000)
        return {
            "execution_id": execution.id,
            "status": execution.timeline.outcome,
            "output": execution.output,
            "step_results": {"step_1": {"output": execution.output, "duration_ms": duration_ms}},
            "duration_ms": duration_ms,
        }

    def _get_execution(self, call: Call, execution_id: str) -> Response:
        return self.answer_one(
            self._executions,
            execution_id,
            lambda e: e.view(time.monotonic()),
            "Execution not found",
        )
