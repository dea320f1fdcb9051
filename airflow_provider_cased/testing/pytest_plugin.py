"""pytest fixtures that run the API emulator, and (opt-in) a throwaway Airflow to run DAGs in.

Registered as a ``pytest11`` plugin, so installing the provider is enough.

``cased_emulator``: a fresh emulator per test, with ``AIRFLOW_CONN_CASED_DEFAULT``
and ``AIRFLOW_CONN_CASEDEV_DEFAULT`` pointing at it.
``cased_emulator_session``: one emulator for the whole session (faster); call
``reset()`` where a test needs a clean state.

With ``cased_airflow_home = true`` in the pytest configuration (ini or
``[tool.pytest.ini_options]``), before anything imports Airflow, each pytest process gets
a throwaway ``AIRFLOW_HOME`` on SQLite: examples off, ``cased_dags_folder`` (default
``dags``, relative to the configuration file) as the DAGs folder, the fast-poll cluster
policy installed, and the metadata database migrated before the first test. Since Airflow
applies cluster policies only to DAGs a ``DagBag`` loads, ``dag.test()`` on a DAG a test
imported applies this provider's policy to the DAG's tasks first, so both ways poll fast.

Only pytest and the standard library are imported at module level, so merely
installing the provider does not slow down or break anyone's pytest start-up.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_cased.testing.emulator import Emulator

AIRFLOW_HOME_INI = "cased_airflow_home"
DAGS_FOLDER_INI = "cased_dags_folder"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        AIRFLOW_HOME_INI,
        "Run the tests in a throwaway, migrated AIRFLOW_HOME (airflow-provider-cased)",
        type="bool",
        default=False,
    )
    parser.addini(
        DAGS_FOLDER_INI,
        "The DAGs folder of that AIRFLOW_HOME, relative to the pytest configuration file",
        default="dags",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Airflow reads AIRFLOW_HOME once, when first imported: set it before any conftest runs.
    if not early_config.getini(AIRFLOW_HOME_INI):
        return
    if "airflow" in sys.modules:
        raise pytest.UsageError(
            f"{AIRFLOW_HOME_INI}: Airflow was imported before pytest started, so its "
            "home can no longer be changed"
        )
    home = Path(tempfile.mkdtemp(prefix="cased-airflow-home-"))
    root = early_config.inipath.parent if early_config.inipath else Path.cwd()
    dags_folder = (root / str(early_config.getini(DAGS_FOLDER_INI))).resolve()
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow_provider_cased.testing.policy import install

    install(home)


@pytest.fixture(scope="session", autouse=True)
def cased_airflow_home(pytestconfig: pytest.Config) -> Iterator[Path | None]:
    """The throwaway ``AIRFLOW_HOME``, migrated, when ``cased_airflow_home`` is on (else None)."""
    if not pytestconfig.getini(AIRFLOW_HOME_INI):
        yield None
        return
    home = Path(os.environ["AIRFLOW_HOME"])
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed in {home}:\n{done.stderr[-3000:]}")
    with pytest.MonkeyPatch.context() as patch:
        _apply_policy_in_dag_test(patch)
        yield home
    shutil.rmtree(home, ignore_errors=True)


def _apply_policy_in_dag_test(patch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cased.testing.policy import task_policy

    for dag_class in _dag_classes():
        run_test = dag_class.__dict__.get("test")
        if run_test is None:
            continue

        @functools.wraps(run_test)
        def test(dag: Any, *args: Any, __run_test: Any = run_test, **kwargs: Any) -> Any:
            for task in dag.tasks:
                task_policy(task)
            return __run_test(dag, *args, **kwargs)

        patch.setattr(dag_class, "test", test)


def _dag_classes() -> list[type]:
    """Where ``DAG.test`` is defined: the Task SDK's DAG (3.x) and/or the models' one."""
    classes = []
    try:
        from airflow.sdk import DAG as SdkDag

        classes.append(SdkDag)
    except ImportError:  # Airflow 2.x
        pass
    with warnings.catch_warnings():  # 3.x names this import deprecated; 3.0 defines test() here
        warnings.simplefilter("ignore")
        try:
            from airflow.models.dag import DAG as ModelsDag

            # The old path on purpose: on 3.0 this class, not the SDK's, defines test().
            classes.append(ModelsDag)  # noqa: AIR311
        except ImportError:
            pass
    return list(dict.fromkeys(classes))


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
