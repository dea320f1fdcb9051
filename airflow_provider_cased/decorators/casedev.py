"""``@task.casedev_action``: the function returns the execution's input; the operator
does the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.decorators._base import (
    TaskFunctionOperator,
    decorator,
    returned_kind,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator

if TYPE_CHECKING:
    from airflow_provider_cased.compat import TaskDecorator


class CaseDevActionDecoratedOperator(TaskFunctionOperator, CaseDevActionOperator):
    """``CaseDevActionOperator`` whose ``input`` the decorated function returns."""

    custom_operator_name = "@task.casedev_action"
    returns = ("input",)
    template_fields: Sequence[str] = (
        *TaskFunctionOperator.template_fields,
        *CaseDevActionOperator.template_fields,
    )
    template_fields_renderers = {
        **TaskFunctionOperator.template_fields_renderers,
        **CaseDevActionOperator.template_fields_renderers,
    }

    def use_returned(self, returned: Any) -> None:
        if not isinstance(returned, dict):
            self.refuse(
                "the function must return the execution's input, a dict; it returned "
                + returned_kind(returned)
            )
        self.input = returned


def casedev_action_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.casedev_action(action_id=… | action_name=…, …)``: the function returns the
    execution's ``input`` (a dict); every other argument is ``CaseDevActionOperator``'s. The
    task returns the execution, as the operator does.

    :param python_callable: the decorated function (``@task.casedev_action`` passes it).
    :param multiple_outputs: push each key of the task's result as its own XCom too
        (default False: the function's ``-> dict`` annotation describes its return value,
        the request's input, not the task's result).
    """
    return decorator(CaseDevActionDecoratedOperator, python_callable, multiple_outputs, kwargs)
