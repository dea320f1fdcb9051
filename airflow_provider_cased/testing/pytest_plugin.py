"""pytest fixtures that run the API emulator (registered as a ``pytest11`` plugin).

``cased_emulator``: a fresh emulator per test, with ``AIRFLOW_CONN_CASED_DEFAULT``
and ``AIRFLOW_CONN_CASEDEV_DEFAULT`` pointing at it.
``cased_emulator_session``: one emulator for the whole session (faster); call
``reset()`` where a test needs a clean state.

Only pytest and the standard library are imported at module level, so merely
installing the provider does not slow down or break anyone's pytest start-up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_cased.testing.emulator import Emulator


@pytest.fixture
def cased_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A running emulator for one test; the default connections point at it."""
    from airflow_provider_cased.testing import Emulator, connection_env

    emulator = Emulator("127.0.0.1", 0).start()
    try:
        for name, value in connection_env(emulator).items():
            monkeypatch.setenv(name, value)
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def cased_emulator_session() -> Iterator[Emulator]:
    """One running emulator for the session; the default connections point at it."""
    from airflow_provider_cased.testing import Emulator, connection_env

    emulator = Emulator("127.0.0.1", 0).start()
    env = connection_env(emulator)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield emulator
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        emulator.stop()
