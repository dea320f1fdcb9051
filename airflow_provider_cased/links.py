"""Extra links from a task in the Airflow UI to the remote work it started."""

from __future__ import annotations

from typing import Any

from airflow_provider_cased.compat import BaseOperatorLink, TaskInstanceKey, xcom_value

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
