"""Apache Airflow provider for Cased and case.dev."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-cased"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (``apache_airflow_provider`` entry point)."""
    from airflow_provider_cased._connection_form import (
        CASED_DEFAULT_HOST,
        CASED_KEY_HINT,
        CASEDEV_DEFAULT_HOST,
        CASEDEV_KEY_HINT,
        provider_info_connection_type,
    )

    cased, casedev = "Cased", "case.dev"
    asset_uris = [
        {
            "schemes": ["casedev"],
            "handler": "airflow_provider_cased._asset_uris.normalize_casedev_uri",
        }
    ]
    return {
        "package-name": PACKAGE_NAME,
        "name": "Cased",
        "description": (
            "Run Cased workflows, start agent sessions and send deployment notifications; "
            "execute case.dev actions."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": cased,
                "external-doc-url": "https://docs.cased.com",
                "tags": ["service"],
            },
            {
                "integration-name": casedev,
                "external-doc-url": "https://docs.case.dev",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": cased, "python-modules": ["airflow_provider_cased.hooks.cased"]},
            {
                "integration-name": casedev,
                "python-modules": ["airflow_provider_cased.hooks.casedev"],
            },
        ],
        "operators": [
            {
                "integration-name": cased,
                "python-modules": ["airflow_provider_cased.operators.cased"],
            },
            {
                "integration-name": casedev,
                "python-modules": ["airflow_provider_cased.operators.casedev"],
            },
        ],
        "sensors": [
            {"integration-name": cased, "python-modules": ["airflow_provider_cased.sensors.cased"]},
            {
                "integration-name": casedev,
                "python-modules": ["airflow_provider_cased.sensors.casedev"],
            },
        ],
        "triggers": [
            {
                "integration-name": cased,
                "python-modules": ["airflow_provider_cased.triggers.cased"],
            },
            {
                "integration-name": casedev,
                "python-modules": ["airflow_provider_cased.triggers.casedev"],
            },
        ],
        "notifications": [
            "airflow_provider_cased.notifications.cased.CasedDeploymentNotifier",
            "airflow_provider_cased.notifications.cased.CasedAgentSessionNotifier",
        ],
        "extra-links": ["airflow_provider_cased.links.CasedSessionLink"],
        # task.<name> in DAG files (Airflow imports the module on first use).
        "task-decorators": [
            {
                "name": "cased_workflow_run",
                "class-name": "airflow_provider_cased.decorators.cased.cased_workflow_run_task",
            },
            {
                "name": "cased_agent_session",
                "class-name": "airflow_provider_cased.decorators.cased.cased_agent_session_task",
            },
            {
                "name": "casedev_action",
                "class-name": "airflow_provider_cased.decorators.casedev.casedev_action_task",
            },
        ],
        # The case.dev webhook receiver on the api-server (3.1+; inert on 2.11 and 3.0).
        "plugins": [
            {
                "name": "casedev_webhooks",
                "plugin-class": (
                    "airflow_provider_cased.plugins.casedev_webhooks.CaseDevWebhooksPlugin"
                ),
            }
        ],
        # casedev://actions/<action_id>; Airflow 2.11 reads the older key.
        "asset-uris": asset_uris,
        "dataset-uris": asset_uris,
        "connection-types": [
            provider_info_connection_type(
                "cased",
                "airflow_provider_cased.hooks.cased.CasedHook",
                cased,
                CASED_DEFAULT_HOST,
                CASED_KEY_HINT,
            ),
            provider_info_connection_type(
                "casedev",
                "airflow_provider_cased.hooks.casedev.CaseDevHook",
                casedev,
                CASEDEV_DEFAULT_HOST,
                CASEDEV_KEY_HINT,
            ),
        ],
    }
