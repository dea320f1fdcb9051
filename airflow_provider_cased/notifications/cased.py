"""Notifier that reports a task's or DAG run's outcome to Cased as a deployment event."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._validation import DeploymentBody, SessionBody
from airflow_provider_cased.compat import BaseNotifier, Context

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.cased import CasedHook

# Airflow states a callback sees -> the deployment status Cased expects.
_STATUS_FROM_STATE = {
    "success": "success",
    "failed": "failure",
    "upstream_failed": "failure",
    "running": "running",
    "queued": "pending",
    "scheduled": "pending",
    "skipped": "cancelled",
}


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
    def __init__(self, cased_conn_id: str) -> None:
        super().__init__()
        self.cased_conn_id = cased_conn_id

    @cached_property
    def hook(self) -> CasedHook:
        from airflow_provider_cased.hooks.cased import CasedHook

        return CasedHook(cased_conn_id=self.cased_conn_id)


class CasedDeploymentNotifier(_CasedNotifier):
    """Send a Cased deployment notification from ``on_success_callback``/``on_failure_callback``.

    Fields are those of :class:`CasedDeploymentOperator`, templated against the
    callback's context. Defaults: ``status`` from the task/DAG run state
    (success → ``success``, failed → ``failure``), ``external_url`` the task's
    log URL, ``event_metadata`` the DAG id, run id, task id, try number and state.
    A failure to notify is logged and never changes the task's own outcome.
    """

    template_fields: Sequence[str] = DeploymentBody.field_names()

    def __init__(
        self,
        *,
        deployment_request: str,
        repository_full_name: str | None = None,
        status: str | None = None,
        external_url: str | None = None,
        commit_sha: str | None = None,
        commit_message: str | None = None,
        ref: str | None = None,
        event_metadata: dict[str, Any] | None = None,
        cased_conn_id: str = "cased_default",
    ) -> None:
        super().__init__(cased_conn_id)
        self.deployment_request = deployment_request
        self.repository_full_name = repository_full_name
        self.status = status
        self.external_url = external_url
        self.commit_sha = commit_sha
        self.commit_message = commit_message
        self.ref = ref
        self.event_metadata = event_metadata
        DeploymentBody.check_known("CasedDeploymentNotifier", self._fields())

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DeploymentBody.field_names()}

    def fields_for(self, context: Context) -> dict[str, Any]:
        """The request fields for this callback: the notifier's, with defaults from the context."""
        fields = self._fields()
        facts = callback_facts(context)
        if fields["status"] is None and facts["state"] in _STATUS_FROM_STATE:
            fields["status"] = _STATUS_FROM_STATE[facts["state"]]
        if fields["external_url"] is None:
            fields["external_url"] = facts.get("log_url")
        if fields["event_metadata"] is None:
            fields["event_metadata"] = {
                key: facts[key] for key in ("dag_id", "run_id", "task_id", "try_number", "state")
            }
        return fields

    def notify(self, context: Context) -> None:
        try:
            with closing(self.hook) as hook:
                answer = hook.notify_deployment(**self.fields_for(context))
        except Exception:
            self.log.exception("Could not send the Cased deployment notification")
            return
        self.log.info("Cased deployment event %s recorded", answer.get("id"))


class CasedAgentSessionNotifier(_CasedNotifier):
    """Start a Cased agent session from a callback, typically ``on_failure_callback``.

    :param prompt: what to ask the agent (templated against the callback context,
        e.g. ``"Why did {{ ti.task_id }} fail in {{ dag.dag_id }}?"``).
    :param agent_context: JSON object for the agent; default: the DAG id, run id,
        task id, try number, state, log URL and the error message. (Not ``context``:
        BaseNotifier keeps the callback context under that name.)
    A failure to start the session is logged and never changes the task's outcome.
    """

    template_fields: Sequence[str] = ("prompt", "agent_context")

    def __init__(
        self,
        *,
        prompt: str,
        agent_context: dict[str, Any] | None = None,
        cased_conn_id: str = "cased_default",
    ) -> None:
        super().__init__(cased_conn_id)
        self.prompt = prompt
        self.agent_context = agent_context
        SessionBody.check_known(
            "CasedAgentSessionNotifier",
            {"prompt": prompt, "context": agent_context},
            names={"context": "agent_context"},
        )

    def notify(self, context: Context) -> None:
        agent_context = self.agent_context
        if agent_context is None:
            agent_context = callback_facts(context)
        try:
            with closing(self.hook) as hook:
                answer = hook.create_agent_session(self.prompt, agent_context)
        except Exception:
            self.log.exception("Could not start the Cased agent session")
            return
        url = answer.get("url")
        link = self.hook.base_url + url if isinstance(url, str) and url.startswith("/") else url
        self.log.info("Cased agent session %s started: %s", answer.get("session_id"), link)
