"""Operator for case.dev: execute a saved action and return its normalised result."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._request_bodies import ExecuteBody, check_parse_time, required_str
from airflow_provider_cased.compat import Context
from airflow_provider_cased.operators._base import (
    RemoteWaitOperator,
    id_and_name,
    id_in_response,
    record_outcome,
)
from airflow_provider_cased.states import ACTION_EXECUTION, normalize_execution

if TYPE_CHECKING:
    from airflow_provider_cased.approval import Approval
    from airflow_provider_cased.hooks.casedev import CaseDevHook


class CaseDevActionOperator(RemoteWaitOperator):
    """Execute a case.dev action and (by default) wait for its result.

    A synchronous response (``completed``) returns at once; an asynchronous one
    (``running``, when a webhook is configured or given) is polled on
    ``GET /actions/v1/executions/{id}`` or handed to the triggerer.

    :param action_id: the action to run; or give ``action_name`` (exact name).
    :param action_name: resolved to one action by exact name.
    :param input: the action's input, one JSON object (templated, nested).
    :param webhook_id: overrides the action's webhook for this run (makes it asynchronous).
    :param wait_for_completion: wait for an asynchronous execution to end (default True).
    :param poll_interval: seconds between status checks (default 30).
    :param timeout: total seconds to wait; None waits as long as it takes.
    :param warn_after: log a warning once the wait passes this many seconds.
    :param deferrable: hand the wait to the triggerer (default ``[operators] default_deferrable``).
    :param require_approval: ask a person in the Airflow UI before the execution is started,
        showing the action and a summary of the rendered input (Airflow 3.1+).
    :param approval: an ``Approval`` (assigned users, message, timeout, on reject/timeout).
    :param review_output: ask a person to approve, edit or reject the completed execution's
        output before the task returns it to downstream tasks (``True`` or an ``Approval``;
        Airflow 3.1+). Not with ``approval`` on the same task: Airflow keeps one
        human-in-the-loop request per task try.
    :param casedev_conn_id: the ``casedev`` connection.
    :return: one snake_case dict: ``execution_id``, ``action_id``, ``status``, ``output``,
        ``step_results``, ``duration_ms``, ``error``, …
    """

    template_fields: Sequence[str] = ("action_id", "action_name", "input", "webhook_id")
    template_fields_renderers = {"input": "json"}
    ui_color = "#fff4e0"
    spec = ACTION_EXECUTION

    def __init__(
        self,
        *,
        input: dict[str, Any],
        action_id: str | None = None,
        action_name: str | None = None,
        webhook_id: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 30,
        timeout: float | None = None,
        warn_after: float | None = None,
        deferrable: bool | None = None,
        require_approval: bool = False,
        approval: Approval | None = None,
        review_output: bool | Approval = False,
        casedev_conn_id: str = "casedev_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(require_approval=require_approval, approval=approval, **kwargs)
        owner = f"Task '{self.task_id}'"
        self.review: Approval | None = None
        if review_output is not False:
            from airflow_provider_cased.approval import approval_from

            self.review = approval_from(owner, "review_output", False, review_output)
        if self.review is not None and self.approval is not None:
            raise ValueError(
                f"{owner}: give require_approval/approval or review_output, not both: Airflow "
                "keeps one human-in-the-loop request per task try (use two tasks)"
            )
        if self.review is not None and not wait_for_completion:
            raise ValueError(f"{owner}: review_output needs wait_for_completion=True")
        if (action_id is None) == (action_name is None):
            raise ValueError(f"Task '{self.task_id}': give exactly one of action_id or action_name")
        owner = f"Task '{self.task_id}'"
        check_parse_time(
            owner,
            [
                (partial(required_str, "action_id"), action_id),
                (partial(required_str, "action_name"), action_name),
            ],
        )
        ExecuteBody.check_known(owner, {"input": input, "webhook_id": webhook_id})
        if input is None:
            raise ValueError(f"Task '{self.task_id}': input is required and must be a JSON object")
        self.action_id = action_id
        self.action_name = action_name
        self.input = input
        self.webhook_id = webhook_id
        self.set_wait(wait_for_completion, poll_interval, timeout, warn_after, deferrable)
        self.casedev_conn_id = casedev_conn_id
        self.resolved_action_id: str | None = action_id

    @cached_property
    def hook(self) -> CaseDevHook:
        from airflow_provider_cased.hooks.casedev import CaseDevHook

        return CaseDevHook(casedev_conn_id=self.casedev_conn_id)

    def execute(self, context: Context) -> Any:
        from airflow_provider_cased.operators import _reattach  # task time only

        with closing(self.hook) as hook:
            body = self._execute_body(hook)
            action_id = self._action_id(hook)
            execution = _reattach.earlier_execution_or_session(
                context, self.spec, hook.get_execution, self.log
            )
            if execution is None:
                request = hook.execute_action_request(action_id, body)
                shown = id_and_name(action_id, self.action_name)
                title = f"Execute case.dev action {shown}"
                self.ask_approval(context, hook, request, title, {"Action": shown}, ("input",))
                execution = hook.send(request)
                execution_id = id_in_response(
                    normalize_execution(execution)["execution_id"],
                    execution,
                    "case.dev responded to the execute request without an id",
                    hook.conn_id,
                )
                _reattach.remember(context, self.spec, self.remote_ids(execution_id))
                self.log.info("case.dev execution %s is %s", execution_id, execution.get("status"))
            execution_id = str(normalize_execution(execution)["execution_id"])
            return self.finish(context, execution_id, self.wait(context, execution_id, execution))

    def _execute_body(self, hook: CaseDevHook) -> ExecuteBody:
        """The body, every rendered input checked before the first request (the name look-up)."""
        with hook.checking_inputs():
            body = ExecuteBody(input=self.input, webhook_id=self.webhook_id)
            if self.action_name is None:
                self.resolved_action_id = required_str("action_id", self.action_id)
            else:
                required_str("action_name", self.action_name)
        return body

    def _action_id(self, hook: CaseDevHook) -> str:
        """The action id given, else the one found by its exact name."""
        if self.action_name is None:
            return str(self.resolved_action_id)
        action = hook.find_action_by_name(self.action_name)  # checked in _execute_body
        self.resolved_action_id = str(action["id"])
        self.log.info("Action %r is %s", self.action_name, self.resolved_action_id)
        return self.resolved_action_id

    def remote_ids(self, remote_id: str) -> dict[str, str]:
        return {"execution_id": remote_id}

    def fetch(self, remote_id: str) -> dict[str, Any]:
        return self.hook.get_execution(remote_id, retry=False)

    def deferral_trigger(self, remote_id: str, end_time: float | None) -> Any:
        from airflow_provider_cased.triggers.casedev import CaseDevActionExecutionTrigger

        return CaseDevActionExecutionTrigger(
            execution_id=remote_id,
            conn_id=self.hook.conn_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
            warn_after=self.warn_after,
        )

    def task_result(
        self, context: Context, remote_id: str, response: dict[str, Any], outcome: dict[str, Any]
    ) -> Any:
        """The execution in one snake_case shape; with ``review_output``, once a person has
        approved (or edited) its output."""
        result = normalize_execution(response, self.resolved_action_id)
        result.pop("raw")  # XCom keeps one copy of the output, not two
        if self.review is None:
            return result
        from airflow_provider_cased._attempts import redact
        from airflow_provider_cased.operators._approval import (
            APPROVE,
            REJECT,
            REVIEW_XCOM_KEY,
            USE_EDITED,
            ask,
            shown_json,
        )

        # Kept in XCom (which a resumed try keeps) for review_complete: defer(kwargs=…) is
        # not kept by every runner. The asset-event extra is recorded again there.
        context["ti"].xcom_push(key=REVIEW_XCOM_KEY, value={"result": result, "outcome": outcome})
        self.log.info("Asking for a review of the output of execution %s", remote_id)
        params = {"output": self._output_param(result.get("output"))}
        action = self.resolved_action_id or self.action_name or "?"
        body = (
            (self.review.message.strip() + "\n\n" if self.review.message else "")
            + f"**Output of case.dev action {action}, execution {remote_id}**\n\n"
            f"Approve it as it is, edit the `output` field and choose {USE_EDITED!r}, or "
            f"reject it. Downstream tasks get what you approve.\n\n"
            f"```json\n{shown_json(result.get('output'))}\n```"
        )
        with closing(self.hook) as hook:
            body = redact(body, hook.config.api_key)
        ask(
            self,
            context,
            self.review,
            subject=self.review.subject or f"Review: output of case.dev action {action}",
            body=body,
            options=[APPROVE, USE_EDITED, REJECT],
            method_name="review_complete",
            params=params,
        )
        return result  # pragma: no cover - ask() parks or defers the task

    @staticmethod
    def _output_param(output: Any) -> dict[str, Any]:
        from airflow_provider_cased.compat import HumanInput

        return HumanInput.param(output, "The output downstream tasks get (edit it if needed)")

    def review_complete(self, context: Context, event: Any = None) -> Any:
        """Resume after the review: the output as approved (or edited); reject fails or skips."""
        from airflow_provider_cased.exceptions import CasedApiError
        from airflow_provider_cased.operators._approval import (
            APPROVE,
            REVIEW_XCOM_KEY,
            USE_EDITED,
            decide,
        )

        assert self.review is not None
        decision = decide(self, self.review, event, "output", allowed=(APPROVE, USE_EDITED))
        ti = context["ti"]
        held = ti.xcom_pull(task_ids=ti.task_id, key=REVIEW_XCOM_KEY, map_indexes=ti.map_index)
        if not isinstance(held, dict) or not isinstance(held.get("result"), dict):
            raise CasedApiError(
                "The output under review is gone from XCom (was the task cleared?)",
                conn_id=self.casedev_conn_id,
            )
        result: dict[str, Any] = held["result"]
        if decision["chosen_options"] == [USE_EDITED]:
            edited = (decision.get("params_input") or {}).get("output", result.get("output"))
            if edited != result.get("output"):
                self.log.info("The reviewer edited the output; downstream tasks get the edit")
            result["output"] = edited
        user = decision.get("responded_by_user") or {}
        result["reviewed_by"] = user.get("id") if isinstance(user, dict) else None
        record_outcome(context, self.outlets, held.get("outcome") or {})
        return result
