"""Hook for the Cased public API: deployments, agent sessions, workflows and their runs.

Longer than most modules on purpose: one hook holds every endpoint of its API, each with
its documented parameters and a thin ``a_…`` async twin, as Airflow's own hooks do, so a
reader finds every call to Cased in one place. What both hooks share is in ``_base``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._connection_form import (
    AUTH_SCHEMES,
    CASED_DEFAULT_HOST,
    CASED_FIELDS,
    CASED_KEY_HINT,
    DEFAULT_AGENT_SESSIONS_PATH,
)
from airflow_provider_cased._http import Endpoint, iso_timestamp
from airflow_provider_cased._request_bodies import (
    TRIGGERED_BY_VALUES,
    DeploymentBody,
    RunBody,
    SessionBody,
    optional_one_of,
    optional_str,
    required_str,
)
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError
from airflow_provider_cased.hooks._base import ApiHookBase
from airflow_provider_cased.states import RUN_STATUS_FILTERS

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_cased._http import ApiRequest
    from airflow_provider_cased._request_bodies import DeploymentFields

# A run created up to this long before we asked still counts as ours: clocks differ.
CLOCK_SKEW_SECONDS = 60.0
ENDPOINTS = {
    "notify_deployment": Endpoint("POST", "/api/v1/deployments/"),
    "list_workflows": Endpoint("GET", "/api/v1/workflows/", items_key="workflows"),
    "get_workflow": Endpoint("GET", "/api/v1/workflows/{workflow_id}/"),
    "trigger_workflow_run": Endpoint("POST", "/api/v1/workflows/{workflow_id}/runs/"),
    "list_workflow_runs": Endpoint(
        "GET", "/api/v1/workflows/{workflow_id}/runs/", items_key="workflow_runs"
    ),
    "get_workflow_run": Endpoint("GET", "/api/v1/workflows/{workflow_id}/runs/{run_id}/"),
}


@contextmanager
def _repository_hint() -> Iterator[None]:
    """A 400 asking for repository_full_name says what to do about it."""
    try:
        yield
    except CasedApiError as error:
        if error.status_code == 400 and "repository_full_name" in (error.body or ""):
            error.args = (
                f"{error} — Cased requires repository_full_name ('org/repo') when the "
                "organisation has more than one project: set it on the operator or notifier",
            )
        raise


class CasedHook(ApiHookBase):
    """Talks to the Cased public API (``https://app.cased.com/api/``).

    :param cased_conn_id: Airflow connection of type ``cased``: password = API key,
        host = base URL (empty for ``https://app.cased.com``).
    """

    conn_name_attr = "cased_conn_id"
    default_conn_name = "cased_default"
    conn_type = "cased"
    hook_name = "Cased"
    default_host = CASED_DEFAULT_HOST
    api_key_hint = CASED_KEY_HINT
    connection_fields = CASED_FIELDS

    def __init__(self, cased_conn_id: str = default_conn_name) -> None:
        super().__init__(cased_conn_id)
        self.cased_conn_id = cased_conn_id

    @classmethod
    def auth_scheme_from(cls, extras: dict[str, Any], conn_id: str) -> str:
        value = extras.get("auth_scheme") or "Bearer"
        for scheme in AUTH_SCHEMES:
            if str(value).strip().lower() == scheme.lower():
                return scheme
        raise CasedInputError(
            f"Extra 'auth_scheme' of Airflow connection '{conn_id}' must be one of "
            f"{', '.join(AUTH_SCHEMES)}; got {value!r}"
        )

    @classmethod
    def service_extras(cls, extras: dict[str, Any], conn_id: str) -> dict[str, Any]:
        path = extras.get("agent_sessions_path") or DEFAULT_AGENT_SESSIONS_PATH
        if not isinstance(path, str) or not path.startswith("/") or ".." in path:
            raise CasedInputError(
                f"Extra 'agent_sessions_path' of Airflow connection '{conn_id}' must be an "
                f"absolute API path such as {DEFAULT_AGENT_SESSIONS_PATH}; got {path!r}"
            )
        return {"agent_sessions_path": path if path.endswith("/") else path + "/"}

    # -- deployments and agent sessions ---------------------------------------------------

    def notify_deployment(
        self, deployment_request: str, **fields: Unpack[DeploymentFields]
    ) -> dict[str, Any]:
        """Tell Cased a deployment happened (``POST /api/v1/deployments/``).

        :param deployment_request: what was deployed, e.g. "Production deploy v1.2.3".
        :param fields: by name, each optional: ``repository_full_name`` (``org/repo``;
            Cased requires it when the organisation has more than one project, a 400
            naming this field otherwise), ``status`` (``pending``, ``running``,
            ``success`` (the API's default), ``failure`` or ``cancelled``),
            ``external_url`` (link back to the deploy system), ``commit_sha``,
            ``commit_message``, ``ref`` (e.g. ``refs/heads/main``) and
            ``event_metadata`` (free-form JSON object).
        :return: the API's response (``id``, ``status``, ``created_at``).
        """
        with self.checking_inputs():
            body = DeploymentBody(deployment_request=deployment_request, **fields)
        return self.send_deployment(self.notify_deployment_request(body))

    def notify_deployment_request(self, body: DeploymentBody) -> ApiRequest:
        """The POST that notifies a deployment, built and not sent (what an approval shows).

        :param body: the notification's fields, checked when it was built.
        """
        return self.prepare(ENDPOINTS["notify_deployment"], json=body.json())

    def send_deployment(self, request: ApiRequest) -> dict[str, Any]:
        """Send what ``notify_deployment_request`` built.

        :param request: the deployment notification's POST.
        :return: the API's response (``id``, ``status``, ``created_at``).
        """
        with _repository_hint():
            response: dict[str, Any] = self.send(request)
        return response

    async def a_notify_deployment(
        self, deployment_request: str, **fields: Unpack[DeploymentFields]
    ) -> dict[str, Any]:
        """``notify_deployment`` for the triggerer (Deadline Alert callbacks).

        :param deployment_request: what was deployed, e.g. "Production deploy v1.2.3".
        :param fields: the other fields of ``notify_deployment``, by name.
        :return: the API's response (``id``, ``status``, ``created_at``).
        """
        with self.checking_inputs():
            body = DeploymentBody(deployment_request=deployment_request, **fields)
        request = self.notify_deployment_request(body)
        with _repository_hint():
            response: dict[str, Any] = await self.asend(request)
        return response

    def create_agent_session(
        self, prompt: str, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start an AI agent session (``POST /api/v1/agent/sessions/``, or the connection's path).

        :param prompt: the problem or task for the agent.
        :param context: optional JSON object of supporting detail (errors, logs, …).
        :return: the API's response (``session_id``, ``status``, ``url``, …).
        """
        with self.checking_inputs():
            body = SessionBody(prompt=prompt, context=context)
        response: dict[str, Any] = self.send(self.create_agent_session_request(body))
        return response

    def create_agent_session_request(self, body: SessionBody) -> ApiRequest:
        """The POST that starts an agent session, built and not sent (what an approval shows).

        :param body: the session's prompt and context, checked when it was built.
        """
        return self.prepare(self._sessions_endpoint("POST"), json=body.json())

    async def a_create_agent_session(
        self, prompt: str, context: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``create_agent_session`` for the triggerer (Deadline Alert callbacks).

        :param prompt: the problem or task for the agent.
        :param context: free-form JSON object handed to the agent.
        :return: the API's response (``session_id``, ``url``).
        """
        with self.checking_inputs():
            body = SessionBody(prompt=prompt, context=context)
        await self.aconfig()
        response: dict[str, Any] = await self.asend(self.create_agent_session_request(body))
        return response

    def _sessions_endpoint(self, method: str, one: bool = False) -> Endpoint:
        path = self.config.extras["agent_sessions_path"]
        if one:
            return Endpoint(method, path + "{session_id}/")
        return Endpoint(method, path, items_key=None if method == "POST" else "sessions")

    def get_agent_session(self, session_id: str, *, retry: bool = True) -> dict[str, Any]:
        """One agent session (``GET /api/v1/agent/sessions/{id}/``, under the connection's
        ``agent_sessions_path``), as Cased's own CLI reads it.

        :param session_id: the session.
        :param retry: retry transient failures by the connection's retry policy; status
            waits pass False because they back off on their own clock.
        """
        endpoint = self._sessions_endpoint("GET", one=True)
        return self.request(endpoint, {"session_id": session_id}, retry=retry)

    async def a_get_agent_session(self, session_id: str, *, retry: bool = True) -> dict[str, Any]:
        """``get_agent_session`` for triggers, over the event loop's shared client.

        :param session_id: the session.
        :param retry: False: one attempt, however it ends (status polls back off on their
            own clock instead).
        """
        await self.aconfig()
        request = self.prepare(self._sessions_endpoint("GET", one=True), {"session_id": session_id})
        response: dict[str, Any] = await self.asend(request, retry=retry)
        return response

    def list_agent_sessions(self) -> Iterator[dict[str, Any]]:
        """Every agent session, all pages, lazily (a plain list response is one page)."""
        return self.paginate(self._sessions_endpoint("GET"))

    # -- workflows --------------------------------------------------------------------------

    def list_workflows(
        self,
        *,
        name: str | None = None,
        agent_name: str | None = None,
        repository: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every workflow matching the filters, all pages, lazily.

        :param name: partial match on the workflow's name.
        :param agent_name: the agent that runs it.
        :param repository: a repository id.
        """
        with self.checking_inputs():
            params = {
                "name": optional_str("name", name),
                "agent_name": optional_str("agent_name", agent_name),
                "repository": optional_str("repository", repository),
            }
        return self.paginate(ENDPOINTS["list_workflows"], params=params)

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """One workflow (``GET /api/v1/workflows/{id}/``).

        :param workflow_id: the workflow.
        """
        return self.request(ENDPOINTS["get_workflow"], {"workflow_id": workflow_id})

    def find_workflow_by_name(self, name: str) -> dict[str, Any]:
        """The one workflow whose name is exactly ``name``; none or several is a clear error.

        :param name: the exact workflow name.
        """
        with self.checking_inputs():
            required_str("workflow_name", name)
        candidates = list(self.list_workflows(name=name))
        exact = [w for w in candidates if w.get("name") == name]
        if len(exact) == 1:
            return exact[0]
        shown = ", ".join(f"{w.get('name')!r} ({w.get('id')})" for w in (exact or candidates)[:10])
        if not exact:
            found = f"close matches: {shown}" if shown else "no workflow matches it"
            raise CasedInputError(
                f"workflow_name {name!r} matches no workflow exactly on connection "
                f"'{self.conn_id}' ({found})"
            )
        raise CasedInputError(
            f"workflow_name {name!r} matches {len(exact)} workflows on connection "
            f"'{self.conn_id}': {shown}. Use workflow_id instead"
        )

    # -- workflow runs ----------------------------------------------------------------------

    def trigger_workflow_run(
        self,
        workflow_id: str,
        *,
        triggered_by: str = "manual",
        trigger_name: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start a run (``POST .../runs/``).

        The POST is never blindly repeated. If its response is lost (5xx, read
        timeout, dropped connection) and ``trigger_name`` is set, the runs of the
        workflow are searched for that name: a run found is returned, and only
        when none exists is the POST sent again. Without ``trigger_name`` a lost
        response is an error, since the run may or may not exist.

        :param workflow_id: the workflow to run.
        :param triggered_by: ``manual`` (default), ``schedule`` or ``event``.
        :param trigger_name: a label for the run; also how a lost response is reconciled.
        :param context: JSON object of inputs for the workflow's variable substitution.
        :return: the created run.
        """
        with self.checking_inputs():
            body = RunBody(triggered_by=triggered_by, trigger_name=trigger_name, context=context)
        return self.send_run_request(
            workflow_id, self.trigger_workflow_run_request(workflow_id, body)
        )

    def trigger_workflow_run_request(self, workflow_id: str, body: RunBody) -> ApiRequest:
        """The POST that starts a run, built and not sent (what an approval shows).

        :param workflow_id: the workflow to run.
        :param body: the run's fields, checked when it was built.
        """
        return self.prepare(
            ENDPOINTS["trigger_workflow_run"], {"workflow_id": workflow_id}, json=body.json()
        )

    def send_run_request(self, workflow_id: str, request: ApiRequest) -> dict[str, Any]:
        """Send a run's POST; if its response is lost, look for the run before sending again.

        :param workflow_id: the workflow the request starts a run of.
        :param request: what ``trigger_workflow_run_request`` built; its ``trigger_name`` is how a
            lost response is reconciled (without one, a lost response is an error).
        :return: the created run.
        """
        trigger_name = (request.json or {}).get("trigger_name")
        policy = self.config.policy()
        # Only a run created after the POST first left can be its outcome: an older run with
        # the same name (last week's "nightly") is someone else's.
        first_sent = time.time() - CLOCK_SKEW_SECONDS
        for reconciliations in range(policy.retry_limit + 1):
            try:
                run: dict[str, Any] = self.send(request)
                return run
            except CasedApiError as error:
                if not (error.outcome_unknown and trigger_name):
                    raise
                self.log.warning(
                    "The response to %s %s was lost (%s); looking for a run named %r before "
                    "deciding whether to send it again",
                    request.method,
                    request.path,
                    error.status_code or "no response",
                    trigger_name,
                )
                # Give a slow server time to finish what it may still be doing before looking.
                time.sleep(policy.backoff(reconciliations))
                existing = self.find_run_by_trigger_name(
                    workflow_id, trigger_name, created_since=first_sent
                )
                if existing is not None:
                    self.log.info("Run %s was created; using it", existing.get("id"))
                    return existing
                if reconciliations == policy.retry_limit:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def list_workflow_runs(
        self,
        workflow_id: str,
        *,
        status: str | None = None,
        triggered_by: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every run of a workflow (newest first, as the API orders them), all pages, lazily.

        :param workflow_id: the workflow.
        :param status: only runs in this status (``pending``, ``running``, ``completed``,
            ``failed``: the values the API documents for the filter).
        :param triggered_by: only runs started this way (``manual``, ``schedule``, ``event``).
        """
        with self.checking_inputs():
            params = {
                "status": optional_one_of("status", status, RUN_STATUS_FILTERS),
                "triggered_by": optional_one_of("triggered_by", triggered_by, TRIGGERED_BY_VALUES),
            }
        return self.paginate(
            ENDPOINTS["list_workflow_runs"], {"workflow_id": workflow_id}, params=params
        )

    async def a_list_workflow_runs(
        self, workflow_id: str, *, retry: bool = True
    ) -> AsyncIterator[dict[str, Any]]:
        """``list_workflow_runs`` for triggers (newest first); stop iterating to stop paging.

        :param workflow_id: the workflow.
        :param retry: False: one attempt, however it ends (status polls back off on their
            own clock instead).
        """
        async for run in self.apaginate(
            ENDPOINTS["list_workflow_runs"], {"workflow_id": workflow_id}, retry=retry
        ):
            yield run

    def get_workflow_run(
        self, workflow_id: str, run_id: str, *, retry: bool = True
    ) -> dict[str, Any]:
        """One run (``GET .../runs/{run_id}/``).

        :param workflow_id: the workflow the run belongs to.
        :param run_id: the run.
        :param retry: retry transient failures by the connection's retry policy; status
            waits pass False because they back off on their own clock.
        """
        return self.request(
            ENDPOINTS["get_workflow_run"],
            {"workflow_id": workflow_id, "run_id": run_id},
            retry=retry,
        )

    async def a_get_workflow_run(
        self, workflow_id: str, run_id: str, *, retry: bool = True
    ) -> dict[str, Any]:
        """``get_workflow_run`` for triggers, over the event loop's shared client.

        :param workflow_id: the workflow the run belongs to.
        :param run_id: the run.
        :param retry: False: one attempt, however it ends (status polls back off on their
            own clock instead).
        """
        request = self.prepare(
            ENDPOINTS["get_workflow_run"], {"workflow_id": workflow_id, "run_id": run_id}
        )
        response: dict[str, Any] = await self.asend(request, retry=retry)
        return response

    def find_run_by_trigger_name(
        self, workflow_id: str, trigger_name: str, *, created_since: float | None = None
    ) -> dict[str, Any] | None:
        """The newest run of the workflow carrying ``trigger_name``, or None.

        Runs are compared by ``created_at``, not by their place in the list (the API
        does not document an order): every page is read unless the list proves newest
        first and has passed ``created_since``.

        :param workflow_id: the workflow.
        :param trigger_name: the exact label the run was started with.
        :param created_since: epoch seconds: only a run created at or after this counts
            (one without a readable ``created_at`` then does not).
        """
        return self.newest_run(workflow_id, lambda name: name == trigger_name, created_since)

    def newest_run(
        self,
        workflow_id: str,
        name_matches: Callable[[str], bool],
        created_since: float | None = None,
    ) -> dict[str, Any] | None:
        """The newest run whose ``trigger_name`` matches, created at or after ``created_since``.

        Reads the list only as far as it must: it stops early once the responses prove
        themselves newest first.

        :param workflow_id: the workflow.
        :param name_matches: tells whether a run's ``trigger_name`` is one of ours.
        :param created_since: epoch seconds; older runs are not ours (None: any age).
        """
        best: tuple[float, dict[str, Any]] | None = None
        previous: float | None = None
        descending = 0  # -1 once the list went up in time: the order is not newest first
        for run in self.list_workflow_runs(workflow_id):
            created = iso_timestamp(run.get("created_at"))
            if created is None or (previous is not None and created > previous):
                descending = -1
            elif previous is not None and created < previous and descending == 0:
                descending = 1
            previous = created if created is not None else previous
            # Proven newest first, and already older than the window: none further counts.
            if (
                descending == 1
                and created is not None
                and created_since is not None
                and created < created_since
            ):
                break
            if not name_matches(str(run.get("trigger_name") or "")):
                continue
            if created_since is not None and (created is None or created < created_since):
                continue
            key = created if created is not None else float("-inf")
            if best is None or key > best[0]:
                best = (key, run)
        return best[1] if best is not None else None

    # -- links and checks -------------------------------------------------------------------

    def session_url(self, session_id: str) -> str:
        """The web app's page for an agent session (where a run's progress shows).

        :param session_id: the agent session.
        """
        from urllib.parse import quote

        return f"{self.base_url}/agents/{quote(str(session_id), safe='')}"

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated GET, for the UI's Test button: ``(ok, message)``."""
        return self.check_connection(ENDPOINTS["list_workflows"])
