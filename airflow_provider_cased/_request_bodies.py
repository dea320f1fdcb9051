"""Request bodies declared once, with the input checks that run while a DAG file is parsed
and again, on the rendered values, before the hook sends a request.

Operators import this module at DAG-parse time, so it is standard library only and
declares no dataclasses (each costs about a millisecond to build at import). Every check
raises ``ValueError`` naming the field; callers add the task or the connection id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from functools import partial
from typing import Any, ClassVar, TypedDict

DEPLOYMENT_STATUSES = ("pending", "running", "success", "failure", "cancelled")
TRIGGERED_BY_VALUES = ("manual", "schedule", "event")
# case.dev refuses an action input over "10 MB", and says no more of how it counts. Reading:
# 10 MB is 10 * 1024 * 1024 bytes (as body-size limits such as Express's "10mb" count),
# and an input's size is that of its JSON encoding (see json_size).
CASEDEV_MAX_INPUT_BYTES = 10 * 1024 * 1024


def required_str(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "an empty string" if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{field} is required and must be a non-empty string, got {shown}")
    return value


def optional_str(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string, got {type(value).__name__}")
    return value


def one_of(field: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def optional_one_of(field: str, value: Any, allowed: Iterable[str]) -> str | None:
    return None if value is None else one_of(field, value, allowed)


def json_size(value: Any) -> int:
    """UTF-8 bytes of ``value`` as JSON, written as ``requests`` sends a ``json=`` body
    (``json.dumps`` defaults). ``ValueError`` for NaN or infinity, which JSON lacks."""
    return len(json.dumps(value, allow_nan=False).encode("utf-8"))


def json_object(
    field: str, value: Any, *, required: bool = False, max_bytes: int | None = None
) -> dict[str, Any] | None:
    """A JSON object: a mapping with string keys that ``json.dumps`` accepts, and at most
    ``max_bytes`` long as JSON when a limit is given."""
    if value is None:
        if required:
            raise ValueError(f"{field} is required and must be a JSON object (a dict)")
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be a JSON object (a dict), got {type(value).__name__}")
    bad_keys = [k for k in value if not isinstance(k, str)]
    if bad_keys:
        raise ValueError(f"{field} must have string keys; got {bad_keys[0]!r}")
    try:
        size = json_size(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} is not JSON-serialisable: {exc}") from None
    if max_bytes is not None and size > max_bytes:
        raise ValueError(
            f"{field} is {size:,} bytes as JSON, over the API's limit of {max_bytes:,} bytes"
            f" ({max_bytes / 2**20:g} MB)"
        )
    return dict(value)


def positive_number(field: str, value: Any, *, allow_none: bool = False) -> float | None:
    """Seconds, given as a number or (as Airflow's own ``timeout`` takes them) a ``timedelta``."""
    if value is None and allow_none:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(
            f"{field} must be a positive number of seconds or a timedelta, got {value!r}"
        )
    return float(seconds)


def is_template(value: Any) -> bool:
    """True for a string Airflow will render later: it cannot be checked at parse time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class SetByTaskFunction:
    """A field a decorated task's function fills in when the task runs (``@task.cased_…``):
    nothing to check at parse time. One instance, kept by copies and pickles."""

    def __repr__(self) -> str:
        return "DYNAMIC (returned by the task's function)"

    def __copy__(self) -> SetByTaskFunction:
        return self

    def __deepcopy__(self, memo: Any) -> SetByTaskFunction:
        return self

    def __reduce__(self) -> str:
        return "SET_BY_TASK_FUNCTION"


SET_BY_TASK_FUNCTION = SetByTaskFunction()


def _is_xcom_arg(value: Any) -> bool:
    # Duck-typed so no Airflow module is imported for it: XComArg/PlainXComArg/MappedArgument.
    return hasattr(value, "resolve") and hasattr(value, "operator")


def renders_later(value: Any) -> bool:
    """True when Airflow fills in part of ``value`` at run time: a template or a task output,
    at any depth of its dicts and lists (Airflow renders templated fields all the way down),
    or a decorated task's function returns it."""
    if is_template(value) or _is_xcom_arg(value) or value is SET_BY_TASK_FUNCTION:
        return True
    if isinstance(value, Mapping):
        return any(renders_later(item) for item in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(renders_later(item) for item in value)
    return False


def check_parse_time(owner: str, checks: Iterable[tuple[Callable[[Any], Any], Any]]) -> None:
    """Run input checks on values known at parse time; a value Airflow renders later is
    checked once rendered, before the first request."""
    for check, value in checks:
        if value is None or renders_later(value):
            continue
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None


Check = Callable[[str, Any], Any]
_REQUIRED = object()


class RequestBody:
    """A request body: its fields in order, each with its check and (unless required) its
    default. Building one checks every field (``ValueError`` naming it); ``check_known``
    checks at parse time the values known then."""

    fields: ClassVar[dict[str, tuple[Check, Any]]]

    def __init__(self, *args: Any, **values: Any) -> None:
        names = list(self.fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} fields")
        given = dict(zip(names, args, strict=False))  # fewer positional than fields
        for name, value in values.items():
            if name not in self.fields:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {name!r}"
                )
            if name in given:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            given[name] = value
        for name, (check, default) in self.fields.items():
            value = given.get(name, default)
            if value is _REQUIRED:
                raise TypeError(f"{type(self).__name__}() missing required field {name!r}")
            setattr(self, name, check(name, value))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls.fields)

    @classmethod
    def check_known(
        cls, owner: str, values: Mapping[str, Any], *, names: Mapping[str, str] | None = None
    ) -> None:
        """Check the values known at parse time; ``names`` maps a field to the caller's
        argument name, so the error names what the user wrote."""
        names = names or {}
        check_parse_time(
            owner,
            [
                (partial(check, names.get(name, name)), values[name])
                for name, (check, _) in cls.fields.items()
                if name in values
            ],
        )

    @classmethod
    def values_of(cls, holder: Any) -> dict[str, Any]:
        """The fields as attributes of an operator or notifier (rendered, once templates are)."""
        return {name: getattr(holder, name) for name in cls.fields}

    def json(self) -> dict[str, Any]:
        return without_none(self.values_of(self))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.values_of(other) == self.values_of(self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.values_of(self).items())
        return f"{type(self).__name__}({shown})"


class DeploymentFields(TypedDict, total=False):
    """The optional fields of a deployment notification, for typed ``**fields`` (PEP 692).

    ``repository_full_name``: ``org/repo`` (Cased requires it when the organisation has
    more than one project); ``status``: one of ``DEPLOYMENT_STATUSES`` (the API's default
    is ``success``); ``external_url``: a link back to the deploy system; ``commit_sha``,
    ``commit_message``, ``ref`` (``refs/heads/main``); ``event_metadata``: a JSON object.
    """

    repository_full_name: str | None
    status: str | None
    external_url: str | None
    commit_sha: str | None
    commit_message: str | None
    ref: str | None
    event_metadata: dict[str, Any] | None


class DeploymentBody(RequestBody):
    """``POST /api/v1/deployments/``."""

    deployment_request: str
    repository_full_name: str | None
    status: str | None
    external_url: str | None
    commit_sha: str | None
    commit_message: str | None
    ref: str | None
    event_metadata: dict[str, Any] | None
    fields = {
        "deployment_request": (required_str, _REQUIRED),
        "repository_full_name": (optional_str, None),
        "status": (partial(optional_one_of, allowed=DEPLOYMENT_STATUSES), None),
        "external_url": (optional_str, None),
        "commit_sha": (optional_str, None),
        "commit_message": (optional_str, None),
        "ref": (optional_str, None),
        "event_metadata": (json_object, None),
    }


class RunBody(RequestBody):
    """``POST /api/v1/workflows/{id}/runs/``."""

    triggered_by: str
    trigger_name: str | None
    context: dict[str, Any] | None
    fields = {
        "triggered_by": (partial(one_of, allowed=TRIGGERED_BY_VALUES), "manual"),
        "trigger_name": (optional_str, None),
        "context": (json_object, None),
    }


class SessionBody(RequestBody):
    """``POST /api/v1/agent/sessions/``."""

    prompt: str
    context: dict[str, Any] | None
    fields = {"prompt": (required_str, _REQUIRED), "context": (json_object, None)}


class ExecuteBody(RequestBody):
    """``POST /actions/v1/{id}/execute``."""

    input: dict[str, Any]
    webhook_id: str | None
    fields = {
        "input": (
            partial(json_object, required=True, max_bytes=CASEDEV_MAX_INPUT_BYTES),
            _REQUIRED,
        ),
        "webhook_id": (optional_str, None),
    }
