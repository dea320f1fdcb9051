"""What our task decorators share: the function runs when the task does, and what it
returns becomes the request's input; the operator does everything else, unchanged.

A decorated operator is Airflow's ``DecoratedOperator`` mixed with one of our operators
(as ``@task.bash`` and ``@task.docker`` are made), so waiting, deferral, re-attaching on
retry, approval and links are the operator's own code. Airflow imports these modules when
a DAG file uses ``task.cased_…``: a DAG of classic operators never loads TaskFlow's
decorator machinery.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow_provider_cased._request_bodies import SET_BY_TASK_FUNCTION
from airflow_provider_cased.compat import (
    Context,
    DecoratedOperator,
    airflow_at_least,
    call_task_function,
    task_decorator_factory,
)

if TYPE_CHECKING:
    from airflow_provider_cased.compat import TaskDecorator


def returned_kind(value: Any) -> str:
    """How an error names what a function returned: its type, never its content (which may
    hold anything, secrets included)."""
    return "None" if value is None else type(value).__name__


class TaskFunctionOperator(DecoratedOperator):
    """A decorated task whose function returns the request's input.

    Subclasses (which also inherit one of our operators) name the operator's fields the
    function fills in (``returns``) and set them from the return value (``use_returned``),
    refusing a wrong type before any request (``refuse``).
    """

    custom_operator_name: str  # "@task.<name>", how errors and the UI name the task's kind
    returns: ClassVar[tuple[str, ...]]
    hook: Any  # the operator's hook (a cached property)
    # The function's values, not the placeholder, become the task's rendered fields. Not
    # on 3.0: its task runner sends them even after a failed try, when the server no
    # longer knows that try (404), and the retry never runs.
    overwrite_rtif_after_execution: bool = airflow_at_least(3, 1)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        for name in self.returns:
            if name in kwargs:
                raise TypeError(
                    f"{self.custom_operator_name} (task '{kwargs.get('task_id')}'): the "
                    f"function returns {name}; do not pass {name}= as well"
                )
        placeholders: dict[str, Any] = dict.fromkeys(self.returns, SET_BY_TASK_FUNCTION)
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **placeholders,
            **kwargs,
        )

    def use_returned(self, returned: Any) -> None:
        """Set the operator's fields from the function's return value (``refuse`` a wrong type)."""
        raise NotImplementedError

    def refuse(self, problem: str) -> NoReturn:
        """Fail the task on a wrong return value, naming the decorator, the task and the
        connection: nothing was sent."""
        with self.hook.checking_inputs():
            raise ValueError(f"{self.custom_operator_name} (task '{self.task_id}'): {problem}")
        raise AssertionError("unreachable")  # pragma: no cover - checking_inputs re-raises

    def execute(self, context: Context) -> Any:
        # Also the path an approved request resumes on (approval_complete runs execute
        # again): the function runs again, as templates are rendered again.
        self.use_returned(
            call_task_function(self.python_callable, self.op_args, self.op_kwargs, context)
        )
        # The operator's execute, past DecoratedOperator's: that one only collects assets
        # among the function's arguments and return value (here the request's input, never
        # an asset), and on Airflow 3.0 calls self.xcom_push, which the Task SDK's
        # BaseOperator lacks there.
        return super(DecoratedOperator, self).execute(context)


def decorator(
    operator_class: type[TaskFunctionOperator],
    python_callable: Callable[..., Any] | None,
    multiple_outputs: bool | None,
    kwargs: dict[str, Any],
) -> TaskDecorator:
    """``task_decorator_factory`` for one of our decorated operators."""
    # The function's return value is the request's input, not the task's result: a
    # ``-> dict`` annotation must not split the operator's result into one XCom per key.
    return task_decorator_factory(  # type: ignore[no-any-return]
        python_callable=python_callable,
        multiple_outputs=bool(multiple_outputs),
        decorated_operator_class=operator_class,
        **kwargs,
    )
