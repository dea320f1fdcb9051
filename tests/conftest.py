"""Test set-up: a project-local AIRFLOW_HOME on SQLite, a DAGs folder, the emulator.

Environment is set before anything imports Airflow: Airflow reads its config at import.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cased.testing.policy import install as install_fast_waits

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_VERSION = version("apache-airflow")
# pytest-xdist workers (`-n 2`) each get a home of their own: SQLite takes one writer.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
AIRFLOW_HOME = ROOT / (
    f".airflow-test-{AIRFLOW_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    + (f"-{WORKER}" if WORKER else "")
)
DAGS_FOLDER = AIRFLOW_HOME / "dags"

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Deployments run with a Fernet key (``airflow db migrate`` writes one), and so do the tests:
# Airflow 2.11 with a too-new cryptography fails only then. A fixed test key: homes persist.
os.environ["AIRFLOW__CORE__FERNET_KEY"] = "Y2FzZWQtdGVzdC1mZXJuZXQta2V5LTMyLWJ5dGVzISE="
# Example DAGs poll every 30 s, as in production: the shipped cluster policy makes every
# wait of this provider poll every 0.5 s here (installed before Airflow is imported).
os.environ["CASED_TEST_POLL_INTERVAL"] = "0.5"
# common.ai's agents (the [ai] extra) get pydantic-ai's offline test model: no LLM, no network.
os.environ["AIRFLOW_CONN_PYDANTICAI_DEFAULT"] = (
    '{"conn_type": "pydanticai", "extra": {"model": "test"}}'
)


def _populate_dags_folder() -> None:
    # dag.test() on Airflow 3.1+ needs the DAG in the DAGs folder, so examples and
    # test DAGs are copied there (copies, so a DagBag of it sees plain files).
    if DAGS_FOLDER.exists():
        shutil.rmtree(DAGS_FOLDER)
    DAGS_FOLDER.mkdir(parents=True)
    for source in [*(ROOT / "example_dags").glob("*.py"), *(ROOT / "tests" / "dags").glob("*.py")]:
        shutil.copy(source, DAGS_FOLDER / source.name)


_populate_dags_folder()
install_fast_waits(AIRFLOW_HOME)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata DB (SQLite) migrated once per environment."""
    marker = AIRFLOW_HOME / ".migrated"
    if not marker.exists():
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        marker.touch()


@pytest.fixture
def emulator(cased_emulator_session):  # type: ignore[no-untyped-def]
    """The session's emulator, reset to its seeded state (and settings) for this test."""
    run_seconds = cased_emulator_session.run_seconds
    cased_emulator_session.reset()
    yield cased_emulator_session
    cased_emulator_session.run_seconds = run_seconds
    cased_emulator_session.set_rate_limit(None)
    cased_emulator_session.runs_oldest_first = cased_emulator_session.cursor_pages = False
    cased_emulator_session.multi_project = False
    cased_emulator_session.list_key = None
    cased_emulator_session.reset()


@pytest.fixture
def slow(emulator):  # type: ignore[no-untyped-def]
    """The emulator with a workflow whose runs take a minute: waits on them are cut short."""
    emulator.add_workflow("Slow", workflow_id="wf_slow", run_seconds=60)
    return emulator


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch, cased_emulator_session) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Default connections with short retry delays, so retry tests take milliseconds."""
    import json

    from airflow_provider_cased.testing import connection_env

    for name, value in connection_env(cased_emulator_session).items():
        conn = json.loads(value)
        conn["extra"] = {"retry_delay": 0.01, "retry_limit": 3, "request_timeout": 2}
        monkeypatch.setenv(name, json.dumps(conn))
    yield


_ANSI_SGR = re.compile(r"\x1b\[[0-9;]*m")


class CapturedLogs:
    """What was logged, whichever way this Airflow routes it.

    Airflow 3 logs through structlog to stdout; 2.x through ``logging`` (and may
    echo the same records to stdout, several times), so counts prefer ``logging``'s.
    Terminal colour codes are dropped: Airflow 3.0's dag.test() renders a task's
    exception with rich, which colours parts of the message even into a pipe.
    """

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capsys = capsys
        self.stdout = ""

    def _read(self) -> None:
        captured = self.capsys.readouterr()
        self.stdout += _ANSI_SGR.sub("", captured.out + captured.err)

    def __call__(self) -> str:
        self._read()
        return self.caplog.text + self.stdout

    def count(self, text: str) -> int:
        self._read()
        return self.caplog.text.count(text) or self.stdout.count(text)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> CapturedLogs:
    import logging

    caplog.set_level(logging.INFO)
    return CapturedLogs(caplog, capsys)


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``set_connection(conn_id, host, password=..., conn_type="cased", extra=None)``:
    an Airflow connection from the environment (``AIRFLOW_CONN_<ID>``, as users define
    them), for this test only. ``password=None`` leaves the API key out."""
    import json

    def define(
        conn_id: str,
        host: str,
        *,
        password: str | None,
        conn_type: str = "cased",
        extra: dict[str, Any] | None = None,
    ) -> str:
        conn: dict[str, Any] = {"conn_type": conn_type, "host": host}
        if password is not None:
            conn["password"] = password
        if extra is not None:
            conn["extra"] = extra
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return define
