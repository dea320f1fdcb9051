"""Operator for case.dev: execute a saved action and return its normalised result."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_cased import _start_once
from airflow_provider_cased._validation import ExecuteBody, check_parse_time, required_str
from airflow_provider_cased.compat import BaseOperator, Context
from airflow_provider_cased.exceptions import CasedApiError
from airflow_provider_cased.operators._base import RemoteWaitMixin, use_default_retry_policy
from airflow_provider_cased.states import ACTION_EXECUTION, normalize_execution

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.casedev import CaseDevHook


class CaseDevActionOperator(RemoteWaitMixin, BaseOperator):
    """Execute a case.dev action and (by default) wait for its result.

    A synchronous answer (``completed``) returns at once; an asynchronous one
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
        casedev_conn_id: str = "casedev_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        use_default_retry_policy(self, kwargs)
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
        with closing(self.hook) as hook:
            with hook.checking_inputs():
                body = ExecuteBody(input=self.input, webhook_id=self.webhook_id)
                if self.action_id is not None:
                    self.resolved_action_id = required_str("action_id", self.action_id)
            if self.action_id is None:
                action = hook.find_action_by_name(required_str("action_name", self.action_name))
                self.resolved_action_id = str(action["id"])
                self.log.info("Action %r is %s", self.action_name, self.resolved_action_id)
            assert self.resolved_action_id is not None

            answer = _start_once.earlier_execution(hook, context)
            if answer is None:
                answer = hook.execute_action(self.resolved_action_id, body.input, body.webhook_id)
                execution_id = str(normalize_execution(answer)["execution_id"] or "")
                if not execution_id:
                    raise CasedApiError(
                        f"case.dev answered the execute request without an id: {answer!r}"[:500],
                        conn_id=hook.conn_id,
                    )
                _start_once.remember_execution(context, execution_id)
                self.log.info("case.dev execution %s is %s", execution_id, answer.get("status"))
            execution_id = str(normalize_execution(answer)["execution_id"])
            return self.wait_for(context, execution_id, answer)

    # -- RemoteWaitMixin ------------------------------------------------------------------

    def ids_for(self, remote_id: str) -> dict[str, str]:
        return {"execution_id": remote_id}

    def result(self, answer: dict[str, Any]) -> Any:
        normalized = normalize_execution(answer, self.resolved_action_id)
        normalized.pop("raw")  # XCom keeps one copy of the output, not two
        return normalized
