"""Registration with Airflow: provider info, ProvidersManager, the connection form, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import pytest

from airflow_provider_cased import __version__, get_provider_info
from airflow_provider_cased.compat import AIRFLOW_V3
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import CaseDevHook


def test_provider_info_validates_against_airflow_schema():
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-cased"
    assert info["versions"] == [__version__]


def test_every_module_and_class_named_in_provider_info_imports():
    from importlib import import_module

    info = get_provider_info()
    modules = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for e in info[key]
        for m in e["python-modules"]
    ]
    classes = (
        info["notifications"]
        + info["extra-links"]
        + [c["hook-class-name"] for c in info["connection-types"]]
        + [p["plugin-class"] for p in info["plugins"]]
        + [u["handler"] for key in ("asset-uris", "dataset-uris") for u in info[key]]
    )
    for module in modules:
        import_module(module)
    for path in classes:
        module, _, name = path.rpartition(".")
        assert getattr(import_module(module), name)


def provider_managers():
    """The API server's manager, and on Airflow 3.3+ the task runtime's, which tasks use."""
    from airflow.providers_manager import ProvidersManager

    yield ProvidersManager()
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:
        return
    yield ProvidersManagerTaskRuntime()


# Airflow 3.3 deprecates ProvidersManager.hooks, but its API server still reads it.
@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_providers_manager_sees_both_connection_types():
    for manager in provider_managers():
        assert "airflow-provider-cased" in manager.providers, type(manager)
        hooks = manager.hooks
        assert hooks["cased"].hook_class_name.endswith("CasedHook")
        assert hooks["casedev"].hook_class_name.endswith("CaseDevHook")
        assert hooks["cased"].connection_id_attribute_name == "cased_conn_id"


def test_connection_form_declared_for_both_ui_generations():
    behaviour = CasedHook.get_ui_field_behaviour()
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port"}
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"}
    assert behaviour["placeholders"]["host"] == "https://app.cased.com"
    assert CaseDevHook.get_ui_field_behaviour()["placeholders"]["host"] == "https://api.case.dev"

    types = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    cased_fields = types["cased"]["conn-fields"]
    assert {
        "request_timeout",
        "retry_limit",
        "retry_delay",
        "agent_sessions_path",
        "auth_scheme",
    } <= set(cased_fields)
    assert all(f["label"] and f["description"] for f in cased_fields.values())
    assert "execute_timeout" in types["casedev"]["conn-fields"]
    assert types["cased"]["ui-field-behaviour"]["relabeling"]["password"] == "API key"


def test_the_webhook_secret_is_a_masked_field_in_every_form():
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_cased._connection_form import CASEDEV_FIELDS, form_widgets
    from airflow_provider_cased.compat import airflow_at_least

    if airflow_at_least(3, 2):  # the form comes from provider info's conn-fields
        widgets = ProvidersManager().connection_form_widgets
        assert widgets["extra__casedev__webhook_secret"].is_sensitive
        assert "extra__cased__webhook_secret" not in widgets  # a case.dev setting only
        return
    fab = form_widgets(CASEDEV_FIELDS)  # 2.11-3.1: the hook's wtforms widgets
    if not fab:
        pytest.skip("no Flask AppBuilder here: this Airflow shows no custom fields")
    assert fab["webhook_secret"].kwargs["widget"].input_type == "password"


def test_airflow_providers_list_shows_the_provider():
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    # Airflow may log to stdout first (3.0 logs a "[2026-…] {providers_manager…} INFO" line).
    listing = next(line for line in result.stdout.splitlines() if line.startswith("[{"))
    names = [p["package_name"] for p in json.loads(listing)]
    assert "airflow-provider-cased" in names


def test_dag_file_imports_stay_light():
    # What a DAG file pays on every parse: no HTTP client libraries, and no TaskFlow
    # decorator machinery (only DAGs that use task.cased_… load it).
    code = (
        "import sys, airflow_provider_cased.compat;"
        "before=set(sys.modules);"
        "import airflow_provider_cased.operators.cased, airflow_provider_cased.operators.casedev,"
        " airflow_provider_cased.sensors.cased, airflow_provider_cased.sensors.casedev,"
        " airflow_provider_cased.notifications.cased;"
        "heavy={'requests','httpx','aiohttp','urllib3','airflow_provider_cased.hooks.cased',"
        "'airflow.sdk.bases.decorator','airflow.decorators.base','airflow_provider_cased.decorators',"
        " 'airflow_provider_cased.plugins'}"
        " & (set(sys.modules)-before);"
        "print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.skipif(AIRFLOW_V3, reason="the Airflow 2.11 message")
def test_event_trigger_import_on_airflow_2_names_the_version_needed():
    with pytest.raises(ImportError, match="needs Airflow 3"):
        from airflow_provider_cased.triggers.cased import CasedWorkflowRunEventTrigger  # noqa: F401


def test_retry_policy_import_names_the_version_where_airflow_lacks_it():
    from airflow_provider_cased import retry_policy

    if retry_policy.RetryPolicy is not None:
        assert retry_policy.CasedRetryPolicy().serialize() == {}
        return
    with pytest.raises(ImportError, match=r"needs Airflow 3\.3"):
        from airflow_provider_cased.retry_policy import CasedRetryPolicy  # noqa: F401


@pytest.mark.parametrize("hook_class", [CasedHook, CaseDevHook])
def test_every_public_hook_method_documents_its_parameters(hook_class):
    import inspect

    from airflow_provider_cased.hooks._base import ApiHookBase

    ours = {hook_class.__name__, ApiHookBase.__name__}
    undocumented = {}
    for name, method in inspect.getmembers(hook_class, inspect.isfunction):
        if name.startswith("_") or method.__qualname__.split(".")[0] not in ours:
            continue
        parameters = inspect.signature(method).parameters.values()
        named = [p.name for p in parameters if p.name not in ("self", "cls")]
        doc = inspect.getdoc(method) or ""
        missing = [p for p in named if f":param {p}:" not in doc]
        if missing:
            undocumented[name] = missing
    assert not undocumented


def test_connections_from_the_environment_load_with_a_fernet_key_configured(
    airflow_db, monkeypatch
):
    # Deployments run with a Fernet key (``airflow db migrate`` writes one). On Airflow
    # 2.11 installed with today's cryptography, every connection then failed to load
    # ("'MultiFernet' object has no attribute 'is_encrypted'"); the Makefile installs
    # 2.11 as of its release (issue 23).
    from airflow.models.crypto import get_fernet

    fernet = get_fernet()
    assert fernet.is_encrypted, "the test Airflow has no Fernet key: deployments have one"
    assert fernet.decrypt(fernet.encrypt(b"key")) == b"key"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CASED_FERNET", json.dumps({"conn_type": "cased", "password": "k"})
    )
    assert CasedHook(cased_conn_id="cased_fernet").config.api_key == "k"
