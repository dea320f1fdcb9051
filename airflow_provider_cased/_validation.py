"""Input checks shared by hooks (before a request leaves) and operators (at DAG-parse time).

Each raises ``ValueError`` naming the field; callers add the connection id.
Standard library only: operators import this while a DAG file is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any

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
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{field} must be a positive number of seconds, got {value!r}")
    return float(value)


def is_template(value: Any) -> bool:
    """True for a string Airflow will render later: it cannot be checked at parse time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _is_xcom_arg(value: Any) -> bool:
    # Duck-typed so no Airflow module is imported for it: XComArg/PlainXComArg/MappedArgument.
    return hasattr(value, "resolve") and hasattr(value, "operator")


def check_parse_time(owner: str, checks: Iterable[tuple[Callable[[Any], Any], Any]]) -> None:
    """Run input checks on values known at parse time; templated values wait for run time."""
    for check, value in checks:
        if value is None or is_template(value) or _is_xcom_arg(value):
            continue
        try:
            check(value)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None


Check = Callable[[str, Any], Any]


def _check(check: Check) -> dict[str, Check]:
    """The metadata that declares a body field's check beside the field."""
    return {"check": check}


@dataclass(frozen=True)
class RequestBody:
    """A request body declared once: its checks run at parse time on the values known
    then (``check_known``) and in full before the hook sends it (construction)."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            object.__setattr__(
                self, spec.name, spec.metadata["check"](spec.name, getattr(self, spec.name))
            )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(spec.name for spec in fields(cls))

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
                (
                    partial(spec.metadata["check"], names.get(spec.name, spec.name)),
                    values[spec.name],
                )
                for spec in fields(cls)
                if spec.name in values
            ],
        )

    def json(self) -> dict[str, Any]:
        return without_none({spec.name: getattr(self, spec.name) for spec in fields(self)})


@dataclass(frozen=True)
class DeploymentBody(RequestBody):
    """``POST /api/v1/deployments/``."""

    deployment_request: str = field(metadata=_check(required_str))
    repository_full_name: str | None = field(default=None, metadata=_check(optional_str))
    status: str | None = field(
        default=None, metadata=_check(partial(optional_one_of, allowed=DEPLOYMENT_STATUSES))
    )
    external_url: str | None = field(default=None, metadata=_check(optional_str))
    commit_sha: str | None = field(default=None, metadata=_check(optional_str))
    commit_message: str | None = field(default=None, metadata=_check(optional_str))
    ref: str | None = field(default=None, metadata=_check(optional_str))
    event_metadata: dict[str, Any] | None = field(default=None, metadata=_check(json_object))


@dataclass(frozen=True)
class RunBody(RequestBody):
    """``POST /api/v1/workflows/{id}/runs/``."""

    triggered_by: str = field(
        default="manual", metadata=_check(partial(one_of, allowed=TRIGGERED_BY_VALUES))
    )
    trigger_name: str | None = field(default=None, metadata=_check(optional_str))
    context: dict[str, Any] | None = field(default=None, metadata=_check(json_object))


@dataclass(frozen=True)
class SessionBody(RequestBody):
    """``POST /api/v1/agent/sessions/``."""

    prompt: str = field(metadata=_check(required_str))
    context: dict[str, Any] | None = field(default=None, metadata=_check(json_object))


@dataclass(frozen=True)
class ExecuteBody(RequestBody):
    """``POST /actions/v1/{id}/execute``."""

    input: dict[str, Any] = field(
        metadata=_check(partial(json_object, required=True, max_bytes=CASEDEV_MAX_INPUT_BYTES))
    )
    webhook_id: str | None = field(default=None, metadata=_check(optional_str))
