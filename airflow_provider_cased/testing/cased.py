"""The Cased public API as the emulator answers it: routes, input checks, answer shapes.

Each answer carries the keys of the documented example (``docs/api/cased-public-api.md``)
and nothing more; where the documents leave a shape open, a "Reading:" comment says
which one was chosen. What both APIs share (authentication, routing) is in ``api.py``,
the clock behind run and session statuses in ``timeline.py``. One module for the whole
API (longer than most, on purpose), so it reads beside the API document it answers for.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from airflow_provider_cased._request_bodies import (
    DEPLOYMENT_STATUSES,
    TRIGGERED_BY_VALUES,
    required_str,
)
from airflow_provider_cased.testing.api import (
    Api,
    Call,
    Handler,
    Refusal,
    Response,
    iso,
    json_response,
    pick,
)
from airflow_provider_cased.testing.timeline import Timeline, schedule_from

# An agent session whose prompt holds this ends "failed" (a failing case for DAG tests).
SESSION_FAILURE_MARKER = "[fail]"
_DEFAULT_PAGE_SIZE = 20
_MAX_PAGE_SIZE = 100

# The keys of the documented answers.
DEPLOYMENT_KEYS = ("id", "status", "created_at")
SESSION_KEYS = ("session_id", "status", "created_at", "url")
WORKFLOW_KEYS = ("id", "name", "agent_name", "description", "status")
WORKFLOW_DETAIL_KEYS = (*WORKFLOW_KEYS, "instruction", "created_at", "updated_at")
RUN_KEYS = (
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
RUN_LISTED_KEYS = (*RUN_KEYS, "ended_at")
RUN_DETAIL_KEYS = (*RUN_LISTED_KEYS, "artifacts", "updated_at")

# What the emulator's own views (``Emulator.runs``, ``/_emulator/...``) add to the answers.
_RUN_INSPECTED_KEYS = (*RUN_DETAIL_KEYS, "context")
_SESSION_INSPECTED_KEYS = (*SESSION_KEYS, "prompt", "context", "workflow_run_id")
# What an emulator starts with, and returns to on reset().
_SEED_WORKFLOWS: tuple[dict[str, Any], ...] = (
    {
        "name": "Weekly cost review",
        "workflow_id": "wf_weekly_cost_review",
        "description": "Review last week's cloud spend and flag anomalies.",
    },
    {
        "name": "Deploy watcher",
        "workflow_id": "wf_deploy_watcher",
        "description": "Watch a deployment and report regressions.",
        "repository": "acme/web",
    },
    {
        "name": "Flaky migration check",
        "workflow_id": "wf_flaky_migration_check",
        "description": "Checks database migrations; always fails in the emulator.",
        "outcome": "failed",
    },
)
# A session's status as Cased's CLI reads it, for the clock's pending/running.
_SESSION_STATUS = {"pending": "created", "running": "agent_running"}


# --------------------------------------------------------------------------- input checks


# Each refuses a bad field with Cased's wording (a DRF-style "field: problem" detail).


def _fields(call: Call) -> dict[str, Any]:
    data = call.object_body()
    if data is None:
        raise Refusal(400, "Invalid data. Expected a dictionary.")
    return data


def _required_text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Refusal(400, f"{name}: This field is required (a non-empty string).")
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise Refusal(400, f"{name}: Not a valid string.")
    return value


def _choice(data: dict[str, Any], name: str, choices: Sequence[str], default: str) -> str:
    value = data.get(name)
    if value is None:
        return default
    if value not in choices:
        raise Refusal(400, f'{name}: "{value}" is not a valid choice ({", ".join(choices)}).')
    return str(value)


def _optional_object(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is not None and not isinstance(value, dict):
        raise Refusal(400, f"{name}: Expected a JSON object.")
    return value


# --------------------------------------------------------------------------- objects


@dataclass
class _Run:
    id: str
    workflow: str
    workflow_name: str
    triggered_by: str
    trigger_name: str | None
    context: dict[str, Any]
    session_id: str
    timeline: Timeline

    def status(self, mono: float) -> str:
        return self.timeline.now(mono)[0]

    def view(self, keys: Sequence[str], mono: float) -> dict[str, Any]:
        status, since, ended = self.timeline.now(mono)
        created = iso(self.timeline.start_wall)
        updated = iso(self.timeline.start_wall + since)
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
            "ended_at": updated if ended else None,
            "updated_at": updated,
            "artifacts": {"session_id": self.session_id},
            "context": self.context,
        }
        return pick(known, keys)


@dataclass
class _Session:
    id: str
    prompt: str
    context: dict[str, Any]
    workflow_run_id: str | None
    timeline: Timeline

    def view(self, keys: Sequence[str]) -> dict[str, Any]:
        status = self.timeline.now()[0]
        known = {
            "session_id": self.id,
            "status": _SESSION_STATUS.get(status, status),
            "created_at": iso(self.timeline.start_wall),
            "url": f"/agents/{self.id}",
            "prompt": self.prompt,
            "context": self.context,
            "workflow_run_id": self.workflow_run_id,
        }
        return pick(known, keys)


class CasedApi(Api):
    """``/api/v1/...``: deployments, agent sessions, workflows and their runs."""

    path_prefix = "/api/"
    # The docs say Bearer; Cased's own GitHub Action sends Token: both are accepted.
    auth_schemes = ("bearer", "token")
    unauthorized = "Invalid token."
    not_found = "Not found."
    bad_json = "JSON parse error - invalid JSON body."
    throttled = "Request was throttled (rate limit)."
    method_not_allowed = 'Method "{method}" not allowed.'

    _workflows: dict[str, dict[str, Any]]
    _runs: dict[str, _Run]
    _runs_by_workflow: dict[str, list[str]]  # run ids, oldest first
    _deployments: dict[str, dict[str, Any]]
    _sessions: dict[str, _Session]

    def route_table(self) -> Iterable[tuple[str, dict[str, Handler]]]:
        sessions = {"POST": self._post_session, "GET": self._list_sessions}
        return [
            ("/api/v1/deployments/", {"POST": self._post_deployment}),
            # The documents give both paths (heading and curl example): both answer.
            ("/api/v1/agent/sessions/", sessions),
            ("/api/v1/agent-sessions/", sessions),
            ("/api/v1/agent/sessions/{session_id}/", {"GET": self._get_session}),
            ("/api/v1/agent-sessions/{session_id}/", {"GET": self._get_session}),
            ("/api/v1/workflows/", {"GET": self._list_workflows}),
            ("/api/v1/workflows/{workflow_id}/", {"GET": self._get_workflow}),
            (
                "/api/v1/workflows/{workflow_id}/runs/",
                {"GET": self._list_runs, "POST": self._post_run},
            ),
            ("/api/v1/workflows/{workflow_id}/runs/{run_id}/", {"GET": self._get_run}),
        ]

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"detail": message})

    # ------------------------------------------------------------------ objects

    def reset(self) -> None:
        with self.lock:
            self._workflows, self._runs, self._runs_by_workflow = {}, {}, {}
            self._deployments, self._sessions = {}, {}
        for seed in _SEED_WORKFLOWS:
            self.add_workflow(**seed)

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

        ``outcome``: how its runs end; ``run_seconds``: how long they take (default: the
        emulator's); ``statuses``: optional schedule of ``(status, seconds_after_start)``
        pairs used instead of pending -> running -> outcome; ``repository``: what the
        list's ``repository`` filter matches (never answered).
        """
        required_str("name", name)
        schedule = schedule_from(statuses)
        now = iso(time.time())
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
        with self.lock:
            self._workflows[wf_id] = workflow
            self._runs_by_workflow.setdefault(wf_id, [])
        return dict(workflow)

    def workflows(self) -> dict[str, dict[str, Any]]:
        return self.snapshot(self._workflows, dict)

    def runs(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return self.snapshot(self._runs, lambda run: run.view(_RUN_INSPECTED_KEYS, now))

    def deployments(self) -> dict[str, dict[str, Any]]:
        return self.snapshot(self._deployments, dict)

    def sessions(self) -> dict[str, dict[str, Any]]:
        return self.snapshot(self._sessions, lambda session: session.view(_SESSION_INSPECTED_KEYS))

    def force_run(self, run_id: str, status: str) -> None:
        self.force(self._runs, run_id, status)

    def force_session(self, session_id: str, status: str) -> None:
        self.force(self._sessions, session_id, status)

    # ------------------------------------------------------------------ deployments

    def _post_deployment(self, call: Call) -> Response:
        data = _fields(call)
        request = _required_text(data, "deployment_request")
        status = _choice(data, "status", DEPLOYMENT_STATUSES, "success")
        if self.settings.multi_project and not data.get("repository_full_name"):
            return json_response(
                400,
                {
                    "repository_full_name": [
                        "This field is required when the organization has more than one project."
                    ]
                },
            )
        texts = ("repository_full_name", "external_url", "commit_sha", "commit_message", "ref")
        sent: dict[str, Any] = {name: _optional_text(data, name) for name in texts}
        sent["event_metadata"] = _optional_object(data, "event_metadata")
        deployment: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": "running",  # the watching session's status, as the API answers
            "created_at": iso(time.time()),
            "deployment_request": request,
            "deployment_status": status,  # the requested deploy status (name taken by above)
            **{name: value for name, value in sent.items() if value is not None},
        }
        with self.lock:
            self._deployments[deployment["id"]] = deployment
        return json_response(201, pick(deployment, DEPLOYMENT_KEYS))

    # ------------------------------------------------------------------ agent sessions

    def _new_session(
        self, prompt: str, context: dict[str, Any] | None, run_id: str | None = None
    ) -> _Session:
        """A session, stored (the caller holds the lock)."""
        outcome = "failed" if SESSION_FAILURE_MARKER in prompt else "completed"
        session = _Session(
            id=str(uuid.uuid4()),
            prompt=prompt,
            context=context or {},
            workflow_run_id=run_id,
            timeline=Timeline(self.settings.run_seconds, outcome),
        )
        self._sessions[session.id] = session
        return session

    def _post_session(self, call: Call) -> Response:
        data = _fields(call)
        prompt = _required_text(data, "prompt")
        context = _optional_object(data, "context")
        with self.lock:
            started = self._new_session(prompt, context).view(SESSION_KEYS)
        # The documented start answer says "active"; reads show the clock's statuses.
        return json_response(201, {**started, "status": "active"})

    # Reading: no answer of a session read is documented (only Cased's CLI reads them):
    # a read shows the documented start answer's keys, its status moving on
    # created -> agent_running -> completed/failed; a list pages like the other lists.
    def _list_sessions(self, call: Call) -> Response:
        with self.lock:
            sessions = [s.view(SESSION_KEYS) for s in reversed(list(self._sessions.values()))]
        return self._paginate(call, sessions, "sessions")

    def _get_session(self, call: Call, session_id: str) -> Response:
        return self.answer_one(
            self._sessions, session_id, lambda s: s.view(SESSION_KEYS), "Not found."
        )

    # ------------------------------------------------------------------ workflows

    def _list_workflows(self, call: Call) -> Response:
        name = call.param("name")
        agent = call.param("agent_name")
        repository = call.param("repository")
        with self.lock:
            selected = [
                pick(wf, WORKFLOW_KEYS)
                for wf in self._workflows.values()
                if (not name or name.casefold() in wf["name"].casefold())
                and (agent is None or wf["agent_name"] == agent)
                and (repository is None or wf["repository"] == repository)
            ]
        return self._paginate(call, selected, "workflows")

    def _get_workflow(self, call: Call, workflow_id: str) -> Response:
        return self.answer_one(
            self._workflows, workflow_id, lambda wf: pick(wf, WORKFLOW_DETAIL_KEYS), "Not found."
        )

    # ------------------------------------------------------------------ workflow runs

    def _post_run(self, call: Call, workflow_id: str) -> Response:
        data = _fields(call)
        triggered_by = _choice(data, "triggered_by", TRIGGERED_BY_VALUES, "manual")
        trigger_name = _optional_text(data, "trigger_name")
        context = _optional_object(data, "context")
        with self.lock:
            wf = self._workflows.get(workflow_id)
            if wf is None:
                return self.error(404, "Not found.")
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
                session_id=session.id,
                timeline=Timeline(
                    self.settings.run_seconds if run_seconds is None else float(run_seconds),
                    wf["outcome"],
                    wf["statuses"],
                ),
            )
            self._runs[run_id] = run
            self._runs_by_workflow.setdefault(workflow_id, []).append(run_id)
            view = run.view(RUN_KEYS, run.timeline.start_mono)
        return json_response(201, view)

    def _list_runs(self, call: Call, workflow_id: str) -> Response:
        status = call.param("status")
        triggered_by = call.param("triggered_by")
        now = time.monotonic()
        with self.lock:
            if workflow_id not in self._workflows:
                return self.error(404, "Not found.")
            ids = self._runs_by_workflow.get(workflow_id, [])
            runs = [self._runs[i] for i in reversed(ids) if i in self._runs]
            if self.settings.runs_oldest_first:
                runs.reverse()
            if triggered_by is not None:
                runs = [r for r in runs if r.triggered_by == triggered_by]
            if status is not None:
                runs = [r for r in runs if r.status(now) == status]
            # Only the returned page is rendered.
            return self._paginate(
                call, runs, "workflow_runs", lambda r: r.view(RUN_LISTED_KEYS, now)
            )

    def _get_run(self, call: Call, workflow_id: str, run_id: str) -> Response:
        return self.answer_one(
            self._runs,
            run_id,
            lambda run: run.view(RUN_DETAIL_KEYS, time.monotonic()),
            "Not found.",
            where=lambda run: run.workflow == workflow_id,
        )

    # ------------------------------------------------------------------ pagination

    def _paginate(
        self,
        call: Call,
        items: Sequence[Any],
        key: str,
        render: Callable[[Any], Any] = lambda item: item,
    ) -> Response:
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
                return self.error(404, "Invalid page.")
        count = len(items)
        pages = max(1, math.ceil(count / page_size))
        if page < 1 or page > pages:
            return self.error(404, "Invalid page.")
        start = (page - 1) * page_size
        chunk = [render(item) for item in items[start : start + page_size]]
        others = [(k, v) for k, v in call.params if k not in ("page", "cursor")]

        def link(number: int) -> str:
            if self.settings.cursor_pages:
                token = (number + 7).to_bytes(4, "big").hex()
                params = [*others, ("cursor", token)]
            else:
                params = others if number == 1 else [*others, ("page", str(number))]
            query = urlencode(params)
            return f"{call.base_url}{call.path}" + (f"?{query}" if query else "")

        return json_response(
            200,
            {
                self.settings.list_key or key: chunk,
                "count": count,
                "next": link(page + 1) if page < pages else None,
                "previous": link(page - 1) if page > 1 else None,
            },
        )
