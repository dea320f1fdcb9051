"""Every import of an Airflow base class goes through here.

Airflow 3 moved the DAG-author surface into ``airflow.sdk`` over several minor
releases (BaseHook in 3.1, TaskDeferred's home in 3.2, ResumableJobMixin and the
task state store in 3.3); Airflow 2.11 keeps the old homes. The rest of the
package imports from this module only, so a move is fixed in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.triggers import base as _trigger_base
from airflow.triggers.base import BaseTrigger, TriggerEvent

# Airflow 3's base for AssetWatcher triggers (event-driven scheduling); None on 2.11.
BaseEventTrigger: Any = getattr(_trigger_base, "BaseEventTrigger", None)

AIRFLOW_V3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3


def _version_tuple(version: str) -> tuple[int, int]:
    digits = ["".join(ch for ch in part if ch.isdigit()) for part in version.split(".")[:2]]
    major, minor = [*(int(d or 0) for d in digits), 0, 0][:2]
    return major, minor


AIRFLOW_VERSION_TUPLE = _version_tuple(AIRFLOW_VERSION)


def airflow_at_least(major: int, minor: int) -> bool:
    return (major, minor) <= AIRFLOW_VERSION_TUPLE


if AIRFLOW_V3:
    from airflow.sdk import Asset, BaseNotifier, BaseOperator, BaseOperatorLink, BaseSensorOperator

    try:
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSkipException,
        )
    except ImportError:  # 3.0/3.1 keep them in airflow.exceptions
        from airflow.exceptions import (  # type: ignore[assignment,no-redef]
            AirflowException,
            AirflowFailException,
            AirflowSkipException,
        )
else:  # Airflow 2.11
    from airflow.datasets import Dataset as Asset  # type: ignore[assignment,no-redef]
    from airflow.exceptions import (  # type: ignore[assignment,no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
    )
    from airflow.models.baseoperator import BaseOperator  # type: ignore[assignment,no-redef]
    from airflow.models.baseoperatorlink import (  # type: ignore[assignment,no-redef]
        BaseOperatorLink,
    )
    from airflow.notifications.basenotifier import (  # type: ignore[assignment,no-redef]
        BaseNotifier,
    )
    from airflow.sensors.base import BaseSensorOperator  # type: ignore[assignment,no-redef]

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, Context
    from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
    from airflow.sdk.types import TaskInstanceKey
else:
    TaskInstanceKey = Any
    Context = dict


def missing_before(module: str, needs: dict[str, str]) -> Any:
    """A module ``__getattr__`` for names this Airflow cannot offer: importing one raises
    an ImportError that says which Airflow it needs, instead of a bare "cannot import"."""

    def __getattr__(name: str) -> Any:
        if name in needs:
            raise ImportError(
                f"{name} needs Airflow {needs[name]}; this is Airflow {AIRFLOW_VERSION}"
            )
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


def _conf() -> Any:
    conf: Any
    try:
        from airflow.sdk import conf
    except ImportError:  # 2.11 and 3.0
        from airflow.configuration import conf
    return conf


def get_conf_flag(section: str, key: str, fallback: bool) -> bool:
    """Read a boolean from Airflow's config (``[operators] default_deferrable`` and the like)."""
    return bool(_conf().getboolean(section, key, fallback=fallback))


def default_deferrable() -> bool:
    return get_conf_flag("operators", "default_deferrable", fallback=False)


async def aget_connection(conn_id: str) -> Any:
    """Fetch a connection without blocking the triggerer's event loop.

    Airflow 3.1+ has ``BaseHook.aget_connection``; on 2.11/3.0 the sync getter
    runs in a worker thread instead (sync DB/API I/O would stall every trigger).
    """
    BaseHook = base_hook()
    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:
        return await getter(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


class HumanInput:
    """Airflow's human-in-the-loop pieces (3.1+, the standard provider's HITL):
    ``upsert_detail`` writes the request the Required Actions page shows;
    ``awaiting_input`` is 3.3's ``TaskAwaitingInput`` (park the task: no worker slot,
    no triggerer), None before 3.3, where ``trigger`` (``HITLTrigger``) waits instead."""

    def __init__(self) -> None:
        if not airflow_at_least(3, 1):
            raise ImportError(
                f"Human-in-the-loop approval needs Airflow 3.1+; this is Airflow {AIRFLOW_VERSION}"
            )
        try:
            from airflow.providers.standard.triggers.hitl import HITLTrigger
            from airflow.sdk.execution_time.hitl import upsert_hitl_detail
        except ImportError as exc:  # pragma: no cover - a standard provider without HITL
            raise ImportError(
                "Human-in-the-loop approval needs apache-airflow-providers-standard 1.6+ "
                f"(HITLTrigger): {exc}"
            ) from exc
        self.upsert_detail: Any = upsert_hitl_detail
        self.trigger: Any = HITLTrigger
        try:
            from airflow.sdk.exceptions import TaskAwaitingInput
        except ImportError:  # 3.1/3.2: the triggerer waits for the answer
            self.awaiting_input: Any = None
        else:
            self.awaiting_input = TaskAwaitingInput

    @staticmethod
    def param(value: Any, description: str) -> dict[str, Any]:
        """One form field of the request, serialised the way ``HITLTrigger`` reads it back."""
        from airflow.sdk import Param

        kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value))
        if kind is None:
            kind = "number" if isinstance(value, (int, float)) else "null"
        param = Param(
            value, type=[kind, "null"] if kind != "null" else "null", description=description
        )
        serialize = getattr(param, "serialize", None)
        if callable(serialize):
            return dict(serialize())
        return {"value": value, "description": description, "schema": param.schema}


def redact_secrets(value: Any) -> Any:
    """Airflow's secrets masker over a value (sensitive key names, registered secrets), where
    this Airflow exposes it; the value unchanged otherwise."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:
        try:
            from airflow.sdk.execution_time.secrets_masker import redact  # type: ignore[no-redef]
        except ImportError:
            return value
    try:
        return redact(value)
    except Exception:  # pragma: no cover - the masker must never break a task
        return value


def xcom_value(ti_key: TaskInstanceKey, key: str) -> Any:
    """Read back an XCom the task pushed, for extra links (``get_link(operator, *, ti_key)``)."""
    if AIRFLOW_V3:
        from airflow.sdk.execution_time.xcom import XCom
    else:
        from airflow.models.xcom import XCom  # type: ignore[no-redef]
    return XCom.get_value(ti_key=ti_key, key=key)


def base_hook() -> type[BaseHook]:
    """Airflow's ``BaseHook``: in ``airflow.sdk`` from 3.1, in ``airflow.hooks.base`` before."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # 3.0 and 2.11
        from airflow.hooks.base import BaseHook  # type: ignore[attr-defined,no-redef]
    return BaseHook


def _taskflow() -> Any:
    """TaskFlow's decorator module: ``airflow.sdk.bases.decorator`` on 3.0-3.4,
    ``airflow.decorators.base`` on 2.11."""
    if AIRFLOW_V3:
        from airflow.sdk.bases import decorator
    else:
        from airflow.decorators import base as decorator  # type: ignore[no-redef,attr-defined]
    return decorator


def call_task_function(python_callable: Any, op_args: Any, op_kwargs: Any, context: Context) -> Any:
    """Call a decorated task's function as ``@task`` does: ``op_args``, then ``op_kwargs``
    and the context keys its signature names (``ds``, ``ti``, ``**context``)."""
    try:
        from airflow.sdk.definitions.context import context_merge  # 3.1+
    except ImportError:
        from airflow.utils.context import context_merge  # type: ignore[no-redef,attr-defined]
    try:
        from airflow.sdk.bases.decorator import determine_kwargs  # 3.2+
    except ImportError:
        from airflow.utils.operator_helpers import (  # type: ignore[no-redef]
            determine_kwargs,
        )
    context_merge(context, op_kwargs)
    return python_callable(*op_args, **determine_kwargs(python_callable, op_args, context))


def __getattr__(name: str) -> Any:
    # Only hooks subclass BaseHook, and DAG files never import a hook: importing it here,
    # on first use, keeps it out of DAG parsing.
    if name == "BaseHook":
        return base_hook()
    # Only our task decorators need TaskFlow's machinery; Airflow imports them when a DAG
    # file uses ``task.cased_…``, so a DAG of classic operators never pays for it.
    if name == "DecoratedOperator":
        return _taskflow().DecoratedOperator
    if name == "task_decorator_factory":
        return _taskflow().task_decorator_factory
    if name == "AirflowPlugin":
        # Only the webhook plugin subclasses it, and DAG files never import that. The same
        # home on 2.11 and every 3.x (3.3 re-exports the shared one; its plugin loaders
        # check the class name, not its identity).
        from airflow.plugins_manager import AirflowPlugin

        return AirflowPlugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_V3",
    "AIRFLOW_VERSION",
    "AIRFLOW_VERSION_TUPLE",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "BaseEventTrigger",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "DecoratedOperator",
    "HumanInput",
    "TaskInstanceKey",
    "TriggerEvent",
    "aget_connection",
    "airflow_at_least",
    "call_task_function",
    "default_deferrable",
    "missing_before",
    "redact_secrets",
    "task_decorator_factory",
    "xcom_value",
]


def dag_bag(dag_folder: str) -> Any:
    """A DagBag of one folder, without Airflow's examples (tests, demo, wheel check)."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    # 3.3 removed include_examples; AIRFLOW__CORE__LOAD_EXAMPLES=False covers every version.
    return DagBag(dag_folder=dag_folder)
