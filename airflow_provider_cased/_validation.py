"""Input checks shared by hooks (before a request leaves) and operators (at DAG-parse time).

Each raises ``ValueError`` naming the field; callers add the connection id.
Standard library only: operators import this while a DAG file is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

DEPLOYMENT_STATUSES = ("pending", "running", "success", "failure", "cancelled")
TRIGGERED_BY_VALUES = ("manual", "schedule", "event")
RUN_STATUS_FILTERS = ("pending", "running", "completed", "failed", "cancelled")


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


def json_object(field: str, value: Any, *, required: bool = False) -> dict[str, Any] | None:
    """A JSON object: a mapping with string keys that ``json.dumps`` accepts."""
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
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field} is not JSON-serialisable: {exc}") from None
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
