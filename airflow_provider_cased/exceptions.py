"""The provider's exception types: one for API answers, one for remote work that failed."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased.compat import AirflowException, AirflowFailException


class CasedProviderError(AirflowException):
    """Base class of every error this provider raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes must survive pickling (executors and triggers ship exceptions).
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[CasedProviderError], message: str, state: dict[str, Any]) -> Any:
    error = cls(message)
    error.__dict__.update(state)
    return error


class CasedApiError(CasedProviderError):
    """An API call that did not succeed: an HTTP error answer, an unreadable body, or no answer.

    ``status_code`` is None when no answer arrived (connection refused, timeout,
    connection dropped). ``body`` is trimmed and never holds the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str = "",
        path: str = "",
        body: str = "",
        conn_id: str = "",
        retry_after: float | None = None,
        outcome_unknown: bool = False,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        # Shadows AirflowException's class-level HTTPStatus: here it is the API's answer, if any.
        self.status_code: int | None = status_code  # type: ignore[assignment]
        self.method = method
        self.path = path
        self.body = body
        self.conn_id = conn_id
        self.retry_after = retry_after
        # True when a non-idempotent request left but its outcome is unknown (5xx, lost answer).
        self.outcome_unknown = outcome_unknown
        # True when the same request may well succeed later (no answer, 408/429/5xx):
        # a status wait keeps going through such errors until its own deadline.
        self.transient = transient


class CasedInputError(CasedProviderError, ValueError):
    """A bad argument or connection setting, caught before any request left."""


class CasedRemoteFailure(CasedProviderError):
    """The remote run, session or execution ended in a failed (or cancelled) state."""

    def __init__(
        self, message: str, *, remote_id: str = "", status: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.remote_id = remote_id
        self.status = status
        self.kind = kind  # workflow_run, agent_session or action_execution


class CasedTimeoutError(CasedProviderError):
    """Waiting for a remote run or execution went past the task's ``timeout``."""


class CasedApprovalDenied(CasedProviderError, AirflowFailException):
    """A person rejected the request (or nobody answered in time): the task fails without
    retrying, since a retry would only ask again."""
