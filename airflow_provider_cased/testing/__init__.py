"""Testing tools shipped with the provider: a local emulator of the Cased and case.dev APIs.

    from airflow_provider_cased.testing import Emulator, Fault, connection_env

    with Emulator() as emu:
        os.environ.update(connection_env(emu))  # cased_default / casedev_default -> emulator
        ...

Also: ``python -m airflow_provider_cased.testing`` (a standalone server) and the
pytest fixtures ``cased_emulator`` / ``cased_emulator_session``
(``airflow_provider_cased.testing.pytest_plugin``).

Standard library only: importing this package pulls in neither Airflow nor requests.
"""

from __future__ import annotations

import json

from airflow_provider_cased.testing.emulator import DEFAULT_API_KEY, Emulator
from airflow_provider_cased.testing.faults import Fault
from airflow_provider_cased.testing.traffic import RecordedRequest

__all__ = [
    "CASEDEV_CONN_ENV",
    "CASED_CONN_ENV",
    "DEFAULT_API_KEY",
    "Emulator",
    "Fault",
    "RecordedRequest",
    "connection_env",
]

CASED_CONN_ENV = "AIRFLOW_CONN_CASED_DEFAULT"
CASEDEV_CONN_ENV = "AIRFLOW_CONN_CASEDEV_DEFAULT"


def connection_env(emulator: Emulator) -> dict[str, str]:
    """Environment variables pointing ``cased_default`` and ``casedev_default`` at the emulator."""

    def conn(conn_type: str) -> str:
        return json.dumps(
            {"conn_type": conn_type, "host": emulator.url, "password": emulator.api_key}
        )

    return {CASED_CONN_ENV: conn("cased"), CASEDEV_CONN_ENV: conn("casedev")}
