"""The Airflow plugin that mounts the case.dev webhook receiver on the api-server (Airflow 3.1+).

Airflow imports this module wherever it loads plugins (scheduler, DAG processor, task
processes), so it imports nothing heavy: the FastAPI app is built the first time
Airflow reads ``fastapi_apps``, which only the api-server (and ``airflow plugins``) do.
On Airflow 2.11 nothing reads ``fastapi_apps``; on 3.0 it is empty (the receiver needs
3.1+). Either way the plugin loads and does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_cased import compat

log = logging.getLogger(__name__)

# Where the app is mounted: the webhook URL is <api-server base URL>/casedev/webhooks/<conn id>.
URL_PREFIX = "/casedev"


def webhook_apps() -> list[dict[str, Any]]:
    """The ``fastapi_apps`` entry, or none on an Airflow the receiver does not support."""
    if not compat.airflow_at_least(3, 1):
        log.info(
            "case.dev webhooks need Airflow 3.1+; this is Airflow %s: no endpoint mounted",
            compat.AIRFLOW_VERSION,
        )
        return []
    from airflow_provider_cased.plugins._webhook_app import build_app

    return [{"app": build_app(), "url_prefix": URL_PREFIX, "name": "case.dev webhooks"}]


class _BuiltOnFirstRead:
    """A class attribute whose value is built when first read (not at import)."""

    def __init__(self) -> None:
        self.value: list[dict[str, Any]] | None = None

    def __get__(self, instance: Any, owner: Any) -> list[dict[str, Any]]:
        if self.value is None:
            self.value = webhook_apps()
        return self.value


class CaseDevWebhooksPlugin(compat.AirflowPlugin):  # type: ignore[misc,name-defined]
    """Receives signed case.dev webhooks and records them as asset events (docs/webhooks.md)."""

    name = "casedev_webhooks"
    fastapi_apps = _BuiltOnFirstRead()
