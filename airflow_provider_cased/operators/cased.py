"""Operators for Cased: run a workflow, start an agent session, notify a deployment."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._request_bodies import (
    DeploymentBody,
    RunBody,
    SessionBody,
    check_parse_time,
    optional_str,
    required_str,
)
from airflow_provider_cased.compat import Context
from airflow_provider_cased.links import SESSION_URL_XCOM_KEY, CasedSessionLink
from airflow_provider_cased.operators._base import (
    RemoteWaitOperator,
    StartingOperator,
    id_and_name,
    id_in_response,
)
from airflow_provider_cased.states import AGENT_SESSION, WORKFLOW_RUN

if TYPE_CHECKING:
    from airflow_provider_cased.approval import Approval
    from airflow_provider_cased.hooks.cased import CasedHook


def default_trigger_name(context: Context) -> str:
    """Unique per task instance, so a retry can find the run its earlier try started."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    suffix = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
    return f"airflow:{ti.dag_id}.{ti.task_id}{suffix}:{ti.run_id}"


def triggered_by_from_run(context: Context) -> str:
    """``schedule`` for scheduled DAG runs, ``event`` for asset/dataset-triggered, else ``manual``."""
    dag_run = context.get("dag_run")
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", None) or "")
    run_type = run_type or str(getattr(dag_run, "run_type", "") or "")
    if run_type == "scheduled":
        return "schedule"
    if run_type in ("asset_triggered", "dataset_triggered", "asset_materialization"):
        return "event"
    return "manual"


def push_session_link(context: Context, hook: CasedHook, session_id: Any, url: Any = None) -> str:
    """Store the "Cased session" link for the UI; returns it ("" when unknown)."""
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        link = url
    elif isinstance(url, str) and url.startswith("/"):
        link = hook.base_url + url
    elif session_id:
        link = hook.session_url(str(session_id))
    else:
        return ""
    context["ti"].xcom_push(key=SESSION_URL_XCOM_KEY, value=link)
    return link


class _CasedOperator(StartingOperator):
    """Talks to Cased through a ``cased`` connection."""

    def __init__(self, *, cased_conn_id: str = "cased_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cased_conn_id = cased_conn_id

    @cached_property
    def hook(self) -> CasedHook:
        from airflow_provider_cased.hooks.cased import CasedHook

        return CasedHook(cased_conn_id=self.cased_conn_id)


class CasedWorkflowRunOperator(RemoteWaitOperator, _CasedOperator):
    """Run a Cased workflow and (by default) wait for it to finish.

    :param workflow_id: the workflow to run; or give ``workflow_name`` (exact name).
    :param workflow_name: resolved to one workflow by exact name.
    :param context: inputs for the workflow's variable substitution (templated, nested).
    :param trigger_name: label of the run; default unique per task instance
        (``airflow:<dag>.<task>[<map index>]:<run id>``), which is how a retried
        task finds and re-attaches to the run its earlier try started.
    :param triggered_by: ``manual``/``schedule``/``event``; default from the DAG run type.
    :param wait_for_completion: wait for a terminal status (default True).
    :param poll_interval: seconds between status checks (default 30).
    :param timeout: total seconds to wait; None waits as long as the run takes.
    :param warn_after: log a warning (with the run's link) once the wait passes this many seconds.
    :param deferrable: hand the wait to the triggerer (default ``[operators] default_deferrable``).
    :param require_approval: ask a person in the Airflow UI (Required Actions) before the
        run is started, showing the workflow and the rendered request (Airflow 3.1+).
    :param approval: an ``Approval`` (assigned users, message, timeout, what a reject or
        timeout does); implies ``require_approval``.
    :param cased_conn_id: the ``cased`` connection.
    :return: the final run (or the created run when not waiting) as a dict.
    """

    template_fields: Sequence[str] = (
        "workflow_id",
        "workflow_name",
        "context",
        "trigger_name",
        "triggered_by",
    )
    template_fields_renderers = {"context": "json"}
    operator_extra_links = (CasedSessionLink(),)
    ui_color = "#e8e4ff"
    spec = WORKFLOW_RUN

    def __init__(
        self,
        *,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        context: dict[str, Any] | None = None,
        trigger_name: str | None = None,
        triggered_by: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30,
        timeout: float | None = None,
        warn_after: float | None = None,
        deferrable: bool | None = None,
        require_approval: bool = False,
        approval: Approval | None = None,
        cased_conn_id: str = "cased_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            cased_conn_id=cased_conn_id,
            require_approval=require_approval,
            approval=approval,
            **kwargs,
        )
        if (workflow_id is None) == (workflow_name is None):
            raise ValueError(
                f"Task '{self.task_id}': give exactly one of workflow_id or workflow_name"
            )
        owner = f"Task '{self.task_id}'"
        check_parse_time(
            owner,
            [
                (partial(required_str, "workflow_id"), workflow_id),
                (partial(required_str, "workflow_name"), workflow_name),
            ],
        )
        RunBody.check_known(
            owner, {"context": context, "trigger_name": trigger_name, "triggered_by": triggered_by}
        )
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.context = context
        self.trigger_name = trigger_name
        self.triggered_by = triggered_by
        self.set_wait(wait_for_completion, poll_interval, timeout, warn_after, deferrable)
        self.resolved_workflow_id: str | None = workflow_id

    def execute(self, context: Context) -> Any:
        from airflow_provider_cased.operators import _reattach  # task time only

        with closing(self.hook) as hook:
            body, base_name = self._run_body(hook, context)
            workflow_id = self._workflow_id(hook)
            run = _reattach.earlier_run(hook, context, workflow_id, base_name)
            if run is None:
                request = hook.trigger_workflow_run_request(workflow_id, body)
                workflow = id_and_name(workflow_id, self.workflow_name)
                title = f"Start a run of Cased workflow {workflow}"
                self.ask_approval(context, hook, request, title, {"Workflow": workflow})
                run = hook.send_run_request(workflow_id, request)
                self.log.info(
                    "Started Cased workflow run %s (%r)", run.get("id"), body.trigger_name
                )
            run_id = id_in_response(
                run.get("id"),
                run,
                "Cased responded to the run request without a run id",
                hook.conn_id,
            )
            _reattach.remember(context, self.spec, self.remote_ids(run_id))
            push_session_link(context, hook, run.get("session_id"))
            return self.finish(context, run_id, self.wait(context, run_id, run))

    def _run_body(self, hook: CasedHook, context: Context) -> tuple[RunBody, str]:
        """The run's body, every rendered input checked before the first request (a look-up
        by name, a retry's search), and the name all tries of this task share."""
        from airflow_provider_cased.operators import _reattach  # task time only

        with hook.checking_inputs():
            base_name = optional_str("trigger_name", self.trigger_name)
            base_name = base_name or default_trigger_name(context)
            body = RunBody(
                triggered_by=self.triggered_by or triggered_by_from_run(context),
                trigger_name=_reattach.name_for_try(base_name, context),
                context=self.context,
            )
            if self.workflow_name is None:
                self.resolved_workflow_id = required_str("workflow_id", self.workflow_id)
        return body, base_name

    def _workflow_id(self, hook: CasedHook) -> str:
        """The workflow id given, else the one found by its exact name."""
        if self.resolved_workflow_id is not None:
            return self.resolved_workflow_id
        workflow = hook.find_workflow_by_name(self.workflow_name or "")
        self.resolved_workflow_id = str(workflow["id"])
        self.log.info("Workflow %r is %s", self.workflow_name, self.resolved_workflow_id)
        return self.resolved_workflow_id

    def remote_ids(self, remote_id: str) -> dict[str, str]:
        return {"workflow_id": self.resolved_workflow_id or "", "run_id": remote_id}

    def fetch(self, remote_id: str) -> dict[str, Any]:
        return self.hook.get_workflow_run(self.resolved_workflow_id or "", remote_id, retry=False)

    def deferral_trigger(self, remote_id: str, end_time: float | None) -> Any:
        from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger

        return CasedWorkflowRunTrigger(
            workflow_id=self.resolved_workflow_id or "",
            run_id=remote_id,
            conn_id=self.hook.conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
            warn_after=self.warn_after,
        )


class CasedAgentSessionOperator(RemoteWaitOperator, _CasedOperator):
    """Start a Cased AI agent session and, if asked, wait for it to end.

    :param prompt: the problem or task for the agent (templated).
    :param context: optional JSON object of supporting detail (templated, nested).
    :param wait_for_completion: wait for ``completed`` (default False: start and return).
    :param poll_interval: seconds between status checks (default 30).
    :param timeout: total seconds to wait; None waits as long as the session takes.
    :param warn_after: log a warning (with the session's link) once the wait passes this long.
    :param deferrable: hand the wait to the triggerer (default ``[operators] default_deferrable``).
    :param require_approval: ask a person in the Airflow UI before the session is started,
        showing the rendered prompt and context (Airflow 3.1+).
    :param approval: an ``Approval`` (assigned users, message, timeout, on reject/timeout).
    :param cased_conn_id: the ``cased`` connection.
    :return: the API's response (``session_id``, ``url``, …); when waiting, the final session.
        A ``failed`` or ``cancelled`` session fails the task with its link.
    """

    template_fields: Sequence[str] = ("prompt", "context")
    template_fields_renderers = {"context": "json"}
    operator_extra_links = (CasedSessionLink(),)
    ui_color = "#e8e4ff"
    spec = AGENT_SESSION

    def __init__(
        self,
        *,
        prompt: str,
        context: dict[str, Any] | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 30,
        timeout: float | None = None,
        warn_after: float | None = None,
        deferrable: bool | None = None,
        require_approval: bool = False,
        approval: Approval | None = None,
        cased_conn_id: str = "cased_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            cased_conn_id=cased_conn_id,
            require_approval=require_approval,
            approval=approval,
            **kwargs,
        )
        SessionBody.check_known(f"Task '{self.task_id}'", {"prompt": prompt, "context": context})
        self.prompt = prompt
        self.context = context
        self.set_wait(wait_for_completion, poll_interval, timeout, warn_after, deferrable)

    def execute(self, context: Context) -> Any:
        from airflow_provider_cased.operators import _reattach  # task time only

        with closing(self.hook) as hook:
            with hook.checking_inputs():
                body = SessionBody(prompt=self.prompt, context=self.context)
            session = _reattach.earlier_execution_or_session(
                context, self.spec, hook.get_agent_session, self.log
            )
            if session is None:
                request = hook.create_agent_session_request(body)
                self.ask_approval(context, hook, request, "Start a Cased agent session")
                session = hook.send(request)
                self.log.info("Started Cased agent session %s", session.get("session_id"))
            session_id = id_in_response(
                session.get("session_id"),
                session,
                "Cased responded to the session request without a session_id",
                hook.conn_id,
            )
            _reattach.remember(context, self.spec, self.remote_ids(session_id))
            push_session_link(context, hook, session_id, session.get("url"))
            return self.finish(context, session_id, self.wait(context, session_id, session))

    def remote_ids(self, remote_id: str) -> dict[str, str]:
        return {"session_id": remote_id}

    def fetch(self, remote_id: str) -> dict[str, Any]:
        return self.hook.get_agent_session(remote_id, retry=False)

    def deferral_trigger(self, remote_id: str, end_time: float | None) -> Any:
        from airflow_provider_cased.triggers.cased import CasedAgentSessionTrigger

        return CasedAgentSessionTrigger(
            session_id=remote_id,
            conn_id=self.hook.conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
            warn_after=self.warn_after,
        )


class CasedDeploymentOperator(_CasedOperator):
    """Tell Cased that a deployment happened; Cased watches it in Mission Control.

    Every field is templated. ``external_url`` defaults to this task instance's
    Airflow log URL. Returns the API's response.

    ``require_approval=True`` (or ``approval=Approval(...)``) asks a person in the Airflow
    UI before the notification is sent, showing it (Airflow 3.1+).

    :param deployment_request: what was deployed, e.g. "Production deploy of checkout v1.2.3".
    :param repository_full_name: ``org/repo``; Cased requires it when the organisation has
        more than one project.
    :param status: ``pending``, ``running``, ``success`` (the API's default), ``failure``
        or ``cancelled``.
    :param external_url: link back to the deploy system (default: this task's log URL).
    :param commit_sha: the deployed commit.
    :param commit_message: its message.
    :param ref: the deployed ref, e.g. ``refs/heads/main``.
    :param event_metadata: free-form JSON object (templated, nested).
    :param require_approval: ask a person in the Airflow UI before the notification is
        sent (Airflow 3.1+).
    :param approval: an ``Approval`` (assigned users, message, timeout, on reject/timeout).
    :param cased_conn_id: the ``cased`` connection.
    """

    template_fields: Sequence[str] = DeploymentBody.field_names()
    template_fields_renderers = {"event_metadata": "json", "commit_message": "md"}
    ui_color = "#e8e4ff"

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
        require_approval: bool = False,
        approval: Approval | None = None,
        cased_conn_id: str = "cased_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            cased_conn_id=cased_conn_id,
            require_approval=require_approval,
            approval=approval,
            **kwargs,
        )
        # The signature names each field (typed, and default_args apply to them).
        self.deployment_request = deployment_request
        self.repository_full_name = repository_full_name
        self.status = status
        self.external_url = external_url
        self.commit_sha = commit_sha
        self.commit_message = commit_message
        self.ref = ref
        self.event_metadata = event_metadata
        DeploymentBody.check_known(f"Task '{self.task_id}'", DeploymentBody.values_of(self))

    def execute(self, context: Context) -> Any:
        fields = DeploymentBody.values_of(self)
        if fields["external_url"] is None:
            fields["external_url"] = getattr(context["ti"], "log_url", None)
        with closing(self.hook) as hook:
            with hook.checking_inputs():
                body = DeploymentBody(**fields)
            request = hook.notify_deployment_request(body)
            self.ask_approval(context, hook, request, "Notify Cased of a deployment")
            response = hook.send_deployment(request)
        self.log.info("Cased deployment event %s recorded", response.get("id"))
        return response
