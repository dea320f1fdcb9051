"""``CasedRetryPolicy``: Airflow 3.3's task retry policy (AIP-105) for this provider's tasks.

A task's ``retries`` are for trouble that may heal. Some failures never do, and
retrying them only repeats the POST and delays the alert:

- a bad argument or connection setting (``CasedInputError``), a 401 (wrong key),
  a 403 (no permission) or a 404 (no such workflow/action): fail at once;
- a case.dev action that failed (a failing step reports its error: the same input
  fails the same way): fail at once;
- a 429 that survived the request's own retries: retry after the server's hint;
- everything else: the task's own retry settings decide.

Our operators use it by default on Airflow 3.3+ (pass ``retry_policy=None`` explicitly
to opt out, or another policy to replace it); it does not exist before 3.3.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_cased.compat import missing_before
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError, CasedRemoteFailure
from airflow_provider_cased.states import ACTION_EXECUTION

try:
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
except ImportError:  # Airflow < 3.3
    RetryDecision = RetryPolicy = None  # type: ignore[assignment,misc]

NEVER_HEALS = frozenset({401, 403, 404})


def decide(exception: BaseException) -> tuple[str, float | None, str]:
    """("fail" | "retry" | "default", retry delay in seconds, reason), version-free."""
    if isinstance(exception, CasedInputError):
        return "fail", None, f"bad input, retrying cannot help: {exception}"
    if isinstance(exception, CasedApiError):
        if exception.status_code in NEVER_HEALS:
            return "fail", None, f"HTTP {exception.status_code} will not heal by retrying"
        if exception.status_code == 429 and exception.retry_after is not None:
            return "retry", exception.retry_after, "rate limited: retry when the server said"
    if isinstance(exception, CasedRemoteFailure) and exception.kind == ACTION_EXECUTION.kind:
        return "fail", None, "the case.dev action failed: the same input fails the same way"
    return "default", None, ""


if RetryPolicy is not None:

    class CasedRetryPolicy(RetryPolicy):  # type: ignore[misc,valid-type]
        """Fail at once on failures that never heal; see the module docstring."""

        def evaluate(
            self,
            exception: BaseException,
            try_number: int,
            max_tries: int,
            context: Any = None,
        ) -> Any:
            action, delay, reason = decide(exception)
            if action == "fail":
                return RetryDecision.fail(reason)
            if action == "retry":
                return RetryDecision.retry(delay=timedelta(seconds=delay or 0), reason=reason)
            return RetryDecision.default()

        def serialize(self) -> dict[str, Any]:
            return {}

        @classmethod
        def deserialize(cls, data: dict[str, Any]) -> CasedRetryPolicy:
            return cls()

else:
    __getattr__ = missing_before(__name__, {"CasedRetryPolicy": "3.3 (task retry policies)"})


def default_retry_policy() -> Any:
    """A policy instance for our operators, or None where Airflow has no retry policies."""
    return CasedRetryPolicy() if RetryPolicy is not None else None
