"""Notifier that reports a task's or DAG run's outcome to Cased as a deployment event."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._request_bodies import DeploymentBody, SessionBody
from airflow_provider_cased.compat import BaseNotifier, Context

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_cased._request_bodies import DeploymentFields
    from airflow_provider_cased.hooks.cased import CasedHook

# Every Airflow task/DAG-run state -> the deployment status Cased records. Sending no
# status would make Cased record "success", so none is left out: a task that will be
# retried (or rescheduled, or deferred) is still "running", not done.
STATUS_FROM_STATE = {
    "success": "success",
    "failed": "failure",
    "upstream_failed": "failure",
    "up_for_retry": "running",
    "up_for_reschedule": "running",
    "restarting": "running",
    "deferred": "running",
    "awaiting_input": "running",
    "running": "running",
    "queued": "pending",
    "scheduled": "pending",
    "none": "pending",
    "skipped": "cancelled",
    "removed": "cancelled",
}


def deployment_status(state: str | None, failed: bool) -> str:
    """The status for a state; one no table knows is "failure" when the callback saw an
    error, else "running" (never a silent success)."""
    if state in STATUS_FROM_STATE:
        return STATUS_FROM_STATE[state]
    return "failure" if failed else "running"


def _state_of(context: Context) -> str | None:
    for key in ("ti", "dag_run"):
        obj = context.get(key)
        state = getattr(obj, "state", None)
        if state is not None:
            return str(getattr(state, "value", state))
    return None


def callback_facts(context: Context) -> dict[str, Any]:
    """What a callback knows about the run: ids, try number, state, log URL and the error."""
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    facts = {
        "dag_id": getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None),
        "run_id": getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "state": _state_of(context),
    }
    if context.get("exception") is not None:
        facts["error"] = str(context["exception"])[:2000]
    if ti is not None and getattr(ti, "log_url", None):
        facts["log_url"] = ti.log_url
    return facts


class _CasedNotifier(BaseNotifier):
    def __init__(self, cased_conn_id: str, context: Context | None = None) -> None:
        super().__init__()
        self.cased_conn_id = cased_conn_id
        # Airflow 3.1+ Deadline Alerts build the notifier with the context, then await it.
        if context is not None:
            self.context = context

    @cached_property
    def hook(self) -> CasedHook:
        from airflow_provider_cased.hooks.cased import CasedHook

        return CasedHook(cased_conn_id=self.cased_conn_id)

    @contextmanager
    def _reporting(self, what: str) -> Iterator[None]:
        """Log a failure, never raise it: a notification must not change the outcome."""
        try:
            yield
        except Exception as error:
            from airflow_provider_cased.exceptions import CasedApiError

            if isinstance(error, CasedApiError):  # says what went wrong: no traceback needed
                self.log.error("Could not %s: %s", what, error)
            else:
                self.log.exception("Could not %s", what)


class CasedDeploymentNotifier(_CasedNotifier):
    """Send a Cased deployment notification from ``on_success_callback``/``on_failure_callback``.

    Fields are those of :class:`CasedDeploymentOperator`, templated against the
    callback's context. Defaults: ``status`` from the task/DAG run state
    (success → ``success``, failed → ``failure``), ``external_url`` the task's
    log URL, ``event_metadata`` the DAG id, run id, task id, try number and state.
    A failure to notify is logged and never changes the task's own outcome.

    :param deployment_request: what was deployed (templated).
    :param fields: by name, the operator's optional fields (``repository_full_name``,
        ``status``, ``external_url``, ``commit_sha``, ``commit_message``, ``ref``,
        ``event_metadata``); any other name is refused.
    :param cased_conn_id: the ``cased`` connection.
    :param context: Airflow's callback context (Airflow passes it; DAG code leaves it out).
    """

    template_fields: Sequence[str] = DeploymentBody.field_names()

    def __init__(
        self,
        *,
        deployment_request: str,
        cased_conn_id: str = "cased_default",
        context: Context | None = None,
        **fields: Unpack[DeploymentFields],
    ) -> None:
        unknown = sorted(set(fields) - set(DeploymentBody.field_names()))
        if unknown:
            raise TypeError(f"CasedDeploymentNotifier got unexpected keyword arguments: {unknown}")
        super().__init__(cased_conn_id, context)
        self.deployment_request = deployment_request
        self.repository_full_name = fields.get("repository_full_name")
        self.status = fields.get("status")
        self.external_url = fields.get("external_url")
        self.commit_sha = fields.get("commit_sha")
        self.commit_message = fields.get("commit_message")
        self.ref = fields.get("ref")
        self.event_metadata = fields.get("event_metadata")
        DeploymentBody.check_known("CasedDeploymentNotifier", DeploymentBody.values_of(self))

    def fields_for(self, context: Context) -> dict[str, Any]:
        """The request fields for this callback: the notifier's, with defaults from the context."""
        fields = DeploymentBody.values_of(self)
        facts = callback_facts(context)
        if fields["status"] is None:
            fields["status"] = deployment_status(facts["state"], "error" in facts)
        if fields["external_url"] is None:
            fields["external_url"] = facts.get("log_url")
        if fields["event_metadata"] is None:
            fields["event_metadata"] = {
                key: facts[key] for key in ("dag_id", "run_id", "task_id", "try_number", "state")
            }
        return fields

    def notify(self, context: Context) -> None:
        with self._reporting("send the Cased deployment notification"):
            with closing(self.hook) as hook:
                answer = hook.notify_deployment(**self.fields_for(context))
            self.log.info("Cased deployment event %s recorded", answer.get("id"))

    async def async_notify(self, context: Context) -> None:
        """The same, from the triggerer (Airflow 3.1+ Deadline Alerts)."""
        with self._reporting("send the Cased deployment notification"):
            answer = await self.hook.a_notify_deployment(**self.fields_for(context))
            self.log.info("Cased deployment event %s recorded", answer.get("id"))


class CasedAgentSessionNotifier(_CasedNotifier):
    """Start a Cased agent session from a callback, typically ``on_failure_callback``.

    :param prompt: what to ask the agent (templated against the callback context,
        e.g. ``"Why did {{ ti.task_id }} fail in {{ dag.dag_id }}?"``).
    :param agent_context: JSON object for the agent; default: the DAG id, run id,
        task id, try number, state, log URL and the error message. (Not ``context``:
        BaseNotifier keeps the callback context under that name.)
    :param cased_conn_id: the ``cased`` connection.
    :param context: Airflow's callback context (Airflow passes it; DAG code leaves it out).

    A failure to start the session is logged and never changes the task's outcome.
    """

    template_fields: Sequence[str] = ("prompt", "agent_context")

    def __init__(
        self,
        *,
        prompt: str,
        agent_context: dict[str, Any] | None = None,
        cased_conn_id: str = "cased_default",
        context: Context | None = None,
    ) -> None:
        super().__init__(cased_conn_id, context)
        self.prompt = prompt
        self.agent_context = agent_context
        SessionBody.check_known(
            "CasedAgentSessionNotifier",
            {"prompt": prompt, "context": agent_context},
            names={"context": "agent_context"},
        )

    def notify(self, context: Context) -> None:
        with self._reporting("start the Cased agent session"):
            with closing(self.hook) as hook:
                answer = hook.create_agent_session(self.prompt, self._agent_context(context))
            self._started(answer)

    async def async_notify(self, context: Context) -> None:
        """The same, from the triggerer (Airflow 3.1+ Deadline Alerts)."""
        with self._reporting("start the Cased agent session"):
            answer = await self.hook.a_create_agent_session(
                self.prompt, self._agent_context(context)
            )
            self._started(answer)

    def _agent_context(self, context: Context) -> dict[str, Any]:
        return self.agent_context if self.agent_context is not None else callback_facts(context)

    def _started(self, answer: dict[str, Any]) -> None:
        url = answer.get("url")
        link = self.hook.base_url + url if isinstance(url, str) and url.startswith("/") else url
        self.log.info("Cased agent session %s started: %s", answer.get("session_id"), link)
