"""A cluster policy for tests and demos: every Cased and case.dev wait polls quickly.

Production DAGs poll every 30 s or more; against the local emulator that only makes a
test slow. Instead of editing DAGs (or reading test-only settings in them), put this in
the test Airflow's ``$AIRFLOW_HOME/config/airflow_local_settings.py``::

    from airflow_provider_cased.testing.policy import task_policy  # noqa: F401

Airflow applies it to every task as DAG files are parsed (in the dag-processor and in
the worker alike). It only shortens waits: a task that already polls faster keeps its
interval. ``CASED_TEST_POLL_INTERVAL`` sets the interval (seconds, default 0.5).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LOCAL_SETTINGS = "from airflow_provider_cased.testing.policy import task_policy  # noqa: F401\n"


def fast_poll_interval() -> float:
    return float(os.environ.get("CASED_TEST_POLL_INTERVAL", "0.5"))


def task_policy(task: Any) -> None:
    """Shorten the waits of this provider's operators and sensors (others are left alone)."""
    if not type(task).__module__.startswith("airflow_provider_cased."):
        return
    fast = fast_poll_interval()
    for name in ("poll_interval", "poke_interval"):
        value = getattr(task, name, None)
        if isinstance(value, (int, float)) and value > fast:
            setattr(task, name, fast)


def install(airflow_home: str | os.PathLike[str]) -> Path:
    """Write the local settings that apply ``task_policy`` into an Airflow home."""
    config = Path(airflow_home) / "config"
    config.mkdir(parents=True, exist_ok=True)
    target = config / "airflow_local_settings.py"
    target.write_text(LOCAL_SETTINGS)
    return target
