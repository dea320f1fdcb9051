"""Links from a task to the remote work it waits on: the UI's extra link, the pages logs name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_cased.compat import BaseOperatorLink, TaskInstanceKey, xcom_value

if TYPE_CHECKING:
    from airflow_provider_cased.states import RemoteSpec

SESSION_URL_XCOM_KEY = "cased_session_url"


class CasedSessionLink(BaseOperatorLink):
    """ "Cased session": the agent session where a workflow run's progress shows.

    The URL is pushed to XCom while the task runs (it needs the connection's
    base URL and the run's session id); the link only reads it back, which
    works on the Airflow 2 webserver and in the Airflow 3 worker alike.
    """

    name = "Cased session"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        value = xcom_value(ti_key, SESSION_URL_XCOM_KEY)
        return value if isinstance(value, str) else ""


def web_link(spec: RemoteSpec, hook: Any, response: dict[str, Any]) -> str:
    """The Cased page where the work can be watched, or "" when there is none."""
    if not spec.session_link:
        return ""
    session_id = response.get("session_id") or (response.get("artifacts") or {}).get("session_id")
    return hook.session_url(str(session_id)) if session_id else ""


def web_link_or_api_url(
    spec: RemoteSpec, hook: Any, response: dict[str, Any], ids: dict[str, str]
) -> str:
    """The web page to watch the work on, else its API URL (what to look at once abandoned)."""
    link = web_link(spec, hook, response)
    if link or not spec.api_path:
        return link
    return hook.base_url + spec.api_path.format(
        **{name: quote(str(value), safe="") for name, value in ids.items()}
    )
