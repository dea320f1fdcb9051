"""Hook for the case.dev Actions API: action definitions and their executions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_provider_cased._connection_form import (
    CASEDEV_DEFAULT_HOST,
    CASEDEV_FIELDS,
    CASEDEV_KEY_HINT,
    DEFAULT_EXECUTE_TIMEOUT,
)
from airflow_provider_cased._http import ApiRequest, Endpoint
from airflow_provider_cased._request_bodies import ExecuteBody
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError
from airflow_provider_cased.hooks._base import ApiHookBase
from airflow_provider_cased.hooks._connection import extra_number
from airflow_provider_cased.states import normalize_execution

ENDPOINTS = {
    "list_actions": Endpoint("GET", "/actions/v1"),
    "get_action": Endpoint("GET", "/actions/v1/{action_id}"),
    "execute_action": Endpoint("POST", "/actions/v1/{action_id}/execute", long_running=True),
    "get_execution": Endpoint("GET", "/actions/v1/executions/{execution_id}"),
    "delete_action": Endpoint("DELETE", "/actions/v1/{action_id}"),
}

__all__ = ["CaseDevHook", "normalize_execution"]


class CaseDevHook(ApiHookBase):
    """Talks to the case.dev Actions API (``https://api.case.dev``).

    :param casedev_conn_id: Airflow connection of type ``casedev``: password = API
        key (``sk_case_…``), host = base URL (empty for ``https://api.case.dev``).
    """

    conn_name_attr = "casedev_conn_id"
    default_conn_name = "casedev_default"
    conn_type = "casedev"
    hook_name = "case.dev"
    default_host = CASEDEV_DEFAULT_HOST
    api_key_hint = CASEDEV_KEY_HINT
    connection_fields = CASEDEV_FIELDS

    def __init__(self, casedev_conn_id: str = default_conn_name) -> None:
        super().__init__(casedev_conn_id)
        self.casedev_conn_id = casedev_conn_id

    @classmethod
    def long_read_timeout_from(cls, extras: dict[str, Any], conn_id: str, timeout: float) -> float:
        return extra_number(
            extras, "execute_timeout", DEFAULT_EXECUTE_TIMEOUT, conn_id, positive=True
        )

    def list_actions(self) -> Iterator[dict[str, Any]]:
        """Every action definition (``GET /actions/v1``), as an iterator."""
        response = self.request(ENDPOINTS["list_actions"])
        if not isinstance(response, dict) or not isinstance(response.get("data"), list):
            raise CasedApiError(
                "GET /actions/v1 answered without a 'data' list",
                method="GET",
                path="/actions/v1",
                conn_id=self.conn_id,
            )
        return iter(response["data"])

    def get_action(self, action_id: str) -> dict[str, Any]:
        """One action definition.

        :param action_id: the action.
        """
        return self.request(ENDPOINTS["get_action"], {"action_id": action_id})

    def find_action_by_name(self, name: str) -> dict[str, Any]:
        """The one action named exactly ``name``; none or several is a clear error.

        :param name: the exact action name.
        """
        actions = list(self.list_actions())
        exact = [a for a in actions if a.get("name") == name]
        if len(exact) == 1:
            return exact[0]
        listed = ", ".join(f"{a.get('name')!r} ({a.get('id')})" for a in (exact or actions)[:10])
        problem = f"matches {len(exact)} actions" if exact else "matches no action"
        raise CasedInputError(
            f"action_name {name!r} {problem} on connection '{self.conn_id}'"
            + (f"; {'candidates' if exact else 'available'}: {listed}" if listed else "")
        )

    def execute_action(
        self, action_id: str, input: dict[str, Any], webhook_id: str | None = None
    ) -> dict[str, Any]:
        """Run a saved action (``POST /actions/v1/{id}/execute``); returns the raw response.

        Without a webhook the response may take up to 5 minutes and holds the result
        (``status: completed``/``failed``); with one it comes at once (``running``).
        Use :func:`normalize_execution` for one snake_case shape. Never repeated
        after it may have reached the server: an action can have side effects.

        :param action_id: the action to run.
        :param input: the action's input, one JSON object.
        :param webhook_id: overrides the action's webhook for this run (makes it asynchronous).
        """
        with self.checking_inputs():
            body = ExecuteBody(input=input, webhook_id=webhook_id)
        return self.send(self.execute_action_request(action_id, body))

    def execute_action_request(self, action_id: str, body: ExecuteBody) -> ApiRequest:
        """The POST that runs an action, built and not sent (what an approval shows).

        :param action_id: the action to run.
        :param body: its input and webhook, checked when it was built.
        """
        return self.prepare(ENDPOINTS["execute_action"], {"action_id": action_id}, json=body.json())

    def get_execution(self, execution_id: str, *, retry: bool = True) -> dict[str, Any]:
        """An execution's status and result (camelCase, as the API sends it).

        :param execution_id: the execution.
        :param retry: retry transient failures by the connection's retry policy; status
            waits pass False because they back off on their own clock.
        """
        return self.request(ENDPOINTS["get_execution"], {"execution_id": execution_id}, retry=retry)

    async def a_get_execution(self, execution_id: str, *, retry: bool = True) -> dict[str, Any]:
        """``get_execution`` for triggers, over the event loop's shared client.

        :param execution_id: the execution.
        :param retry: False: one attempt, however it ends (status polls back off on their
            own clock instead).
        """
        request = self.prepare(ENDPOINTS["get_execution"], {"execution_id": execution_id})
        response: dict[str, Any] = await self.asend(request, retry=retry)
        return response

    def delete_action(self, action_id: str) -> dict[str, Any]:
        """Delete an action definition; an empty (204) response gives ``{}``.

        :param action_id: the action.
        """
        response = self.request(ENDPOINTS["delete_action"], {"action_id": action_id}, json={})
        return response if isinstance(response, dict) else {}

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated GET, for the UI's Test button: ``(ok, message)``."""
        return self.check_connection(ENDPOINTS["list_actions"])
