"""``@task.cased_workflow_run`` and ``@task.cased_agent_session``: the function returns
the run's context, or the session's prompt (and context); the operator does the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.decorators._base import (
    TaskFunctionOperator,
    decorator,
    returned_kind,
)
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedWorkflowRunOperator,
)

if TYPE_CHECKING:
    from airflow_provider_cased.compat import TaskDecorator


class CasedWorkflowRunDecoratedOperator(TaskFunctionOperator, CasedWorkflowRunOperator):
    """``CasedWorkflowRunOperator`` whose ``context`` the decorated function returns."""

    custom_operator_name = "@task.cased_workflow_run"
    returns = ("context",)
    template_fields: Sequence[str] = (
        *TaskFunctionOperator.template_fields,
        *CasedWorkflowRunOperator.template_fields,
    )
    template_fields_renderers = {
        **TaskFunctionOperator.template_fields_renderers,
        **CasedWorkflowRunOperator.template_fields_renderers,
    }

    def use_returned(self, returned: Any) -> None:
        if returned is not None and not isinstance(returned, dict):
            self.refuse(
                "the function must return the run's context, a dict (or None); it returned "
                + returned_kind(returned)
            )
        self.context = returned


class CasedAgentSessionDecoratedOperator(TaskFunctionOperator, CasedAgentSessionOperator):
    """``CasedAgentSessionOperator`` whose ``prompt`` (and ``context``) the function returns."""

    custom_operator_name = "@task.cased_agent_session"
    returns = ("prompt", "context")
    template_fields: Sequence[str] = (
        *TaskFunctionOperator.template_fields,
        *CasedAgentSessionOperator.template_fields,
    )
    template_fields_renderers = {
        **TaskFunctionOperator.template_fields_renderers,
        **CasedAgentSessionOperator.template_fields_renderers,
    }

    def use_returned(self, returned: Any) -> None:
        expected = (
            "the prompt, a str, or a dict with 'prompt' (a str) and optionally 'context' (a dict)"
        )
        if isinstance(returned, str):
            self.prompt, self.context = returned, None
            return
        if not isinstance(returned, dict):
            self.refuse(
                f"the function must return {expected}; it returned {returned_kind(returned)}"
            )
        unknown = sorted(str(key) for key in returned if key not in ("prompt", "context"))
        if unknown:
            self.refuse(
                f"the function must return {expected}; it returned a dict with the unknown "
                f"key(s) {', '.join(map(repr, unknown))}"
            )
        prompt, context = returned.get("prompt"), returned.get("context")
        if not isinstance(prompt, str):
            self.refuse(
                f"the function must return {expected}; its 'prompt' is {returned_kind(prompt)}"
            )
        if context is not None and not isinstance(context, dict):
            self.refuse(
                f"the function must return {expected}; its 'context' is {returned_kind(context)}"
            )
        self.prompt, self.context = prompt, context


def cased_workflow_run_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.cased_workflow_run(workflow_id=… | workflow_name=…, …)``: the function returns
    the run's ``context`` (a dict, or None); every other argument is
    ``CasedWorkflowRunOperator``'s. The task returns the run, as the operator does.

    :param python_callable: the decorated function (``@task.cased_workflow_run`` passes it).
    :param multiple_outputs: push each key of the task's result as its own XCom too
        (default False: the function's ``-> dict`` annotation describes its return value,
        the request's input, not the task's result).
    """
    return decorator(CasedWorkflowRunDecoratedOperator, python_callable, multiple_outputs, kwargs)


def cased_agent_session_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.cased_agent_session(…)``: the function returns the prompt (a str), or a dict
    with ``prompt`` and optionally ``context``; every other argument is
    ``CasedAgentSessionOperator``'s. The task returns the session, as the operator does.

    :param python_callable: the decorated function (``@task.cased_agent_session`` passes it).
    :param multiple_outputs: push each key of the task's result as its own XCom too
        (default False: the function's ``-> dict`` annotation describes its return value,
        the request's input, not the task's result).
    """
    return decorator(CasedAgentSessionDecoratedOperator, python_callable, multiple_outputs, kwargs)
