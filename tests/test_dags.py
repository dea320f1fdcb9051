"""Operators, sensors and the notifier inside real Airflow: ``dag.test()`` against the emulator."""

from __future__ import annotations

import importlib.util
import os
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_cased.testing import Fault

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("airflow_db")

# Airflow 3.0-3.2's dag.test() runs tasks in process (the task SDK's
# run_task_in_process) without putting the exception in the failure callback's
# context; their deployed task runner does, and so do 2.11, and 3.3 in dag.test()
# (3.3 added ``context["exception"] = error`` to run_task_in_process; read in the
# 3.0.6 and 3.2.2 sources, and the 3.1.8 run agrees).
_AIRFLOW = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
DAG_TEST_PASSES_EXCEPTION_TO_CALLBACKS = not (3, 0) <= _AIRFLOW < (3, 3)
AIRFLOW_3 = _AIRFLOW >= (3, 0)
# Airflow 3.0's task runtime gets ``ti.log_url`` from its deployed runner's startup(),
# which dag.test()'s in-process runner skips, so callbacks there see no log URL;
# 3.1+ compute it as a property, 2.11 has it on the ORM task instance.
DAG_TEST_HAS_LOG_URL = _AIRFLOW[:2] != (3, 0)
COMMON_AI = importlib.util.find_spec("airflow.providers.common.ai") is not None


@pytest.fixture(scope="module")
def bag(airflow_db):
    from airflow_provider_cased.compat import dag_bag

    dags = dag_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if _AIRFLOW[:2] == (3, 0):
        # 3.0's dag.test() never writes the DAG to the metadata DB (3.1+ do, as the DAG
        # processor does), so the assets in its outlets stay inactive and the task fails
        # with AirflowInactiveAssetInInletOrOutletException. Register them the
        # processor's way first.
        from airflow.dag_processing.bundles.manager import DagBundlesManager

        DagBundlesManager().sync_bundles_to_db()
        dags.sync_to_db("dags-folder", None)
    return dags


@pytest.fixture(params=[False, True], ids=["sync-wait", "deferrable"])
def deferrable(request, monkeypatch):
    monkeypatch.setenv("CASED_TEST_DEFERRABLE", "1" if request.param else "0")
    return request.param


def run_dag(bag, dag_id: str) -> tuple[str, dict[str, str]]:
    """Run a DAG with dag.test(); return the run's state and each task's state."""
    dag = bag.get_dag(dag_id)
    assert dag is not None, bag.import_errors
    dag_run = dag.test()
    tis = dag_run.get_task_instances()
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in tis}
    return str(getattr(dag_run.state, "value", dag_run.state)), states


def seed(emulator) -> None:
    emulator.add_workflow("Slow", workflow_id="wf_slow", run_seconds=60)
    emulator.add_workflow(
        "Paused", workflow_id="wf_paused", statuses=[("pending", 0), ("paused", 0.2)]
    )
    emulator.add_workflow("Odd", workflow_id="wf_odd", statuses=[("paused", 0), ("completed", 1.0)])
    emulator.add_action(
        "Async broken", action_id="action_async_broken", mode="async", outcome="failed"
    )


@pytest.fixture
def emu(emulator):
    seed(emulator)
    return emulator


EXAMPLE_DAG_IDS = [
    "cased_weekly_workflow_run",
    "cased_deploy_pipeline",
    "casedev_action_pipeline",
    "cased_fan_in_sensors",
    "cased_agent_session_on_failure",
    "cased_cost_review_follow_up",
    "casedev_contract_review_follow_up",
    "cased_workflow_run_decorator",
    "cased_agent_session_decorator",
    "casedev_action_decorator",
    # Event-driven scheduling (AssetWatcher) exists from Airflow 3.
    *(["cased_investigate_failed_migration_check"] if AIRFLOW_3 else []),
    # Only with the [ai] extra (the 3.3 line): without it the file defines no DAG.
    *(["casedev_ai_agent", "cased_ai_agent"] if COMMON_AI else []),
]


def test_example_dags_import_cleanly(bag):
    assert not bag.import_errors
    assert set(EXAMPLE_DAG_IDS) <= set(bag.dag_ids)


@pytest.mark.parametrize("dag_id", EXAMPLE_DAG_IDS)
def test_example_dag_succeeds(bag, emu, dag_id):
    state, tasks = run_dag(bag, dag_id)
    assert state == "success", tasks
    if dag_id == "cased_weekly_workflow_run":
        [run] = emu.runs.values()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", run["context"]["week_of"]), run["context"]
    if dag_id == "cased_deploy_pipeline":
        statuses = [d.get("deployment_status") for d in emu.deployments.values()]
        assert sorted(statuses) == ["running", "success"]
    if dag_id == "cased_agent_session_on_failure":
        assert tasks["check_inventory_feed"] == "failed"
        [session] = emu.agent_sessions.values()
        assert "check_inventory_feed" in session["prompt"]
        if DAG_TEST_PASSES_EXCEPTION_TO_CALLBACKS:
            assert "stale" in session["context"]["error"]
        else:
            assert "error" not in session["context"]
    if dag_id == "casedev_ai_agent":
        # The agent (pydantic-ai's test model) called the action as its tool, once.
        [execution] = emu.executions.values()
        assert execution["actionId"] == "action_summarize"
        assert execution["input"]["document_url"] == "s3://contracts/2024/acme-msa.pdf"
        assert isinstance(execution["input"]["prompt"], str)
    if dag_id == "cased_ai_agent":
        [session] = emu.agent_sessions.values()
        assert session["context"] == {"service": "checkout", "environment": "production"}
        assert session["status"] == "completed"


def test_run_completes_with_templated_nested_context(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_run_completes")
    assert state == "success", tasks
    [run] = emu.runs.values()
    assert run["context"] == {"ticket": "OPS-1", "nested": {"dag": "t_run_completes"}}
    assert run["triggered_by"] == "manual"
    assert run["trigger_name"].startswith("airflow:t_run_completes.run:")
    polls = emu.requests_to("GET", f"/api/v1/workflows/wf_weekly_cost_review/runs/{run['id']}/")
    assert polls, "the wait polled the run"


def test_task_outputs_nested_in_arguments_are_rendered_before_the_request(bag, emu, deferrable):
    # Airflow resolves task outputs (and templates) at any depth of a templated field;
    # the parse-time check must leave them alone, and waits take timedelta (issue 21).
    state, tasks = run_dag(bag, "t_nested_task_outputs")
    assert state == "success", tasks
    window = {"start": "2024-01-01", "end": "2024-01-08"}
    [run] = emu.runs.values()
    assert run["context"] == {"range": window, "labels": [window, "t_nested_task_outputs"]}
    [execution] = emu.executions.values()
    assert execution["input"] == {"window": window}
    # emu.agent_sessions also holds the session the workflow run started.
    [session] = [s for s in emu.agent_sessions.values() if s["workflow_run_id"] is None]
    assert session["context"] == {"window": window}
    [deployment] = emu.deployments.values()
    assert deployment["event_metadata"] == {"window": window}


def test_run_by_name_without_waiting(bag, emu):
    state, tasks = run_dag(bag, "t_run_by_name_no_wait")
    assert state == "success", tasks
    assert emu.requests_to("GET", "/api/v1/workflows/")[0].query["name"] == ["Deploy watcher"]


@pytest.mark.parametrize(
    "dag_id",
    ["t_run_fails", "t_run_times_out", "t_run_unknown_status_times_out"],
)
def test_run_failure_paths_fail_the_task(bag, emu, deferrable, dag_id, logs):
    state, tasks = run_dag(bag, dag_id)
    assert (state, tasks) == ("failed", {"run": "failed"})
    text = logs()
    [run] = emu.runs.values()
    if dag_id == "t_run_fails":
        assert "ended with status 'failed'" in text and run["id"] in text
        assert f"{emu.url}/agents/{run['session_id']}" in text
    else:
        assert "Timed out waiting for workflow run" in text
    if dag_id == "t_run_unknown_status_times_out" and not deferrable:
        assert logs.count("unknown status 'paused'") == 1


def test_unknown_status_keeps_waiting_then_completes(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_run_unknown_status_then_completes")
    assert state == "success", tasks


def _outage(emulator, path: str) -> None:
    """More failed polls than the connection's retry limit (3): 503s, then dropped connections."""
    emulator.inject(Fault(method="GET", path=path, status=503, times=4))
    emulator.inject(Fault(method="GET", path=path, drop=True, times=3))


def test_waits_outlast_an_api_outage(bag, emu, deferrable, logs):
    _outage(emu, "/api/v1/workflows/wf_weekly_cost_review/runs/")
    state, tasks = run_dag(bag, "t_run_completes")
    assert state == "success", tasks
    assert len(emu.requests_to("POST", "/api/v1/workflows/")) == 1
    assert logs.count("Could not read the status of workflow run") == 1
    assert logs.count("The API answers again for workflow run") == 1


def test_sensors_outlast_an_api_outage(bag, emu, deferrable):
    _outage(emu, "/api/v1/workflows/wf_deploy_watcher/runs/")
    _outage(emu, "/actions/v1/executions/")
    state, tasks = run_dag(bag, "t_sensors")
    assert state == "success", tasks


def test_lost_answer_then_retry_reattaches_without_a_second_run(bag, emu):
    # Try 1: the POST's answer is lost and the look-up for it fails too (503s past the
    # connection's 3 retries: transient, so the task's retries apply) -> the task fails.
    # Try 2 finds the run its first try started (by trigger_name) and waits for it.
    emu.inject(Fault(method="POST", path="/api/v1/workflows/", lost_answer=True, status=502))
    emu.inject(
        Fault(
            method="GET",
            path="/api/v1/workflows/wf_weekly_cost_review/runs/",
            status=503,
            times=4,
            headers={"Retry-After": "0"},
        )
    )
    state, tasks = run_dag(bag, "t_run_retry_reattaches")
    assert state == "success", tasks
    assert len(emu.runs) == 1
    assert len(emu.requests_to("POST", "/api/v1/workflows/")) == 1


def test_retry_after_a_failed_wait_reattaches_to_the_same_run(bag, emu, deferrable):
    from airflow_provider_cased.compat import AIRFLOW_VERSION

    # Try 1 starts the run, then its first status check gets an error that ends the wait
    # (a 400 cannot heal) but that the retry policy leaves to the task's retries.
    emu.inject(
        Fault(method="GET", path="/api/v1/workflows/wf_weekly_cost_review/runs/", status=400)
    )
    state, tasks = run_dag(bag, "t_run_retry_after_wait_error")
    assert state == "success", tasks
    assert len(emu.runs) == 1
    assert len(emu.requests_to("POST", "/api/v1/workflows/")) == 1
    listed = [r for r in emu.requests if r.path.endswith("/runs/") and r.method == "GET"]
    if tuple(int(p) for p in AIRFLOW_VERSION.split(".")[:2]) >= (3, 3):
        assert listed == [], "3.3+ re-attaches through the task state store, no search"
    else:
        assert listed, "before 3.3 the run is found by its trigger_name"


def test_session_link_points_at_the_run_session(bag, emu):
    from airflow_provider_cased.compat import AIRFLOW_V3
    from airflow_provider_cased.links import SESSION_URL_XCOM_KEY, CasedSessionLink

    dag_run = bag.get_dag("t_run_completes").test()
    [run] = emu.runs.values()
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "run"]
    expected = f"{emu.url}/agents/{run['session_id']}"
    assert _stored_xcom(ti, SESSION_URL_XCOM_KEY) == expected
    if AIRFLOW_V3:  # the worker renders the link at the end of the task for the UI
        assert _stored_xcom(ti, CasedSessionLink().xcom_key) == expected
    else:  # the webserver asks the link class
        link = CasedSessionLink().get_link(
            bag.get_dag("t_run_completes").get_task("run"), ti_key=ti.key
        )
        assert link == expected


def _stored_xcom(ti, key):
    """Read an XCom from the metadata DB the way the UI does (version-specific model)."""
    try:
        from airflow.models.xcom import XComModel  # Airflow 3
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(
                key=key, run_id=ti.run_id, dag_ids=ti.dag_id, task_ids=ti.task_id
            )
            if hasattr(query, "with_only_columns"):  # 3.1+: a select()
                row = session.execute(query.with_only_columns(XComModel.value)).first()
            else:  # 3.0: an ORM Query (SQLAlchemy 1.4)
                row = query.with_session(session).with_entities(XComModel.value).first()
        import json

        try:  # the way XComOperatorLink reads it: JSON, or the plain string
            return json.loads(row.value)
        except (TypeError, ValueError):
            return row.value
    except ImportError:
        from airflow.models.xcom import XCom  # Airflow 2

        return XCom.get_one(key=key, run_id=ti.run_id, dag_id=ti.dag_id, task_id=ti.task_id)


def test_actions_sync_async(bag, emu, deferrable):
    for dag_id in ("t_action_sync", "t_action_async"):
        state, tasks = run_dag(bag, dag_id)
        assert state == "success", (dag_id, tasks)
    sync_polls = [r for r in emu.requests if "/executions/" in r.path]
    assert len(emu.executions) == 2
    assert sync_polls, "the async execution was polled"


@pytest.mark.parametrize("dag_id", ["t_action_sync_fails", "t_action_async_fails"])
def test_failed_actions_fail_the_task(bag, emu, deferrable, dag_id, logs):
    state, tasks = run_dag(bag, dag_id)
    assert (state, tasks) == ("failed", {"act": "failed"})
    [execution] = emu.executions.values()
    assert execution["id"] in logs()


def test_sensors(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_sensors")
    assert state == "success", tasks


def test_sensor_fails_fast_on_failed_run_and_respects_soft_fail(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_sensor_failed_run")
    assert state == "failed"
    assert tasks["wait_soft_fail_false"] == "failed"
    assert tasks["wait_soft_fail_true"] == "skipped"


def test_session_deployment_and_notifier(bag, emu):
    state, tasks = run_dag(bag, "t_session_and_deployment")
    assert state == "success", tasks
    [session] = emu.agent_sessions.values()
    assert session["prompt"] == "Investigate t_session_and_deployment"
    deployments = sorted(emu.deployments.values(), key=lambda d: d["deployment_request"])
    assert [d["deployment_request"] for d in deployments] == [
        "Deploy t_session_and_deployment",
        "Done deploy",
    ]
    started, done = deployments
    assert started["event_metadata"]["run"].startswith("manual__")
    assert done["deployment_status"] == "success"
    assert done["event_metadata"]["task_id"] == "deploy"
    if DAG_TEST_HAS_LOG_URL:
        assert done["external_url"]  # defaults to the task's log URL
    else:
        assert "external_url" not in done


# -- agent sessions you can wait on -------------------------------------------------------


def test_session_operator_waits_for_the_session(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_session_waits")
    assert state == "success", tasks
    [session] = emu.agent_sessions.values()
    polls = emu.requests_to("GET", f"/api/v1/agent/sessions/{session['session_id']}/")
    assert polls, "the wait read the session"


def test_failed_session_fails_the_task_with_its_link(bag, emu, deferrable, logs):
    state, tasks = run_dag(bag, "t_session_fails")
    assert (state, tasks) == ("failed", {"session": "failed"})
    [session] = emu.agent_sessions.values()
    text = logs()
    assert "Agent session" in text and "ended with status 'failed'" in text
    assert f"{emu.url}/agents/{session['session_id']}" in text


def test_session_sensor(bag, emu, deferrable):
    state, tasks = run_dag(bag, "t_session_sensor")
    assert state == "success", tasks


def test_retried_session_task_reattaches_on_airflow_with_a_task_state_store(bag, emu):
    from airflow_provider_cased.compat import AIRFLOW_VERSION

    # Try 1 starts the session, then its first read gets a 400 -> the task fails, retried.
    emu.inject(Fault(method="GET", path="/api/v1/agent/sessions/", status=400))
    state, tasks = run_dag(bag, "t_session_retry_reattaches")
    assert state == "success", tasks
    started = len(emu.requests_to("POST", "/api/v1/agent/sessions/"))
    if tuple(int(p) for p in AIRFLOW_VERSION.split(".")[:2]) >= (3, 3):
        assert started == 1, "3.3+ re-attaches through the task state store"
    else:
        assert started == 2, "no label to find a session by: the retry starts a new one"


def test_wait_logs_changes_once_and_ends_with_a_summary(bag, emu, logs):
    emu.run_seconds = 1.5  # several polls (0.3 s apart) per status
    state, tasks = run_dag(bag, "t_run_completes")  # sync wait
    assert state == "success", tasks
    [run] = emu.runs.values()
    assert logs.count(f"Workflow run {run['id']}: pending → running") == 1
    assert logs.count(f"Workflow run {run['id']}: running → completed") == 1
    assert f"Workflow run {run['id']} completed in" in logs()


def test_execution_summary_is_a_step_table(bag, emu, logs):
    state, tasks = run_dag(bag, "t_action_sync")
    assert state == "success", tasks
    text = logs()
    assert "step    status     duration" in text and "step_1  completed" in text


def _asset_event_extras(uri: str) -> list[dict]:
    from airflow.utils.session import create_session

    try:
        from airflow.models.asset import AssetEvent, AssetModel  # Airflow 3

        event, model = AssetEvent, AssetModel
        key = AssetEvent.asset_id
    except ImportError:
        from airflow.models.dataset import DatasetEvent, DatasetModel  # Airflow 2

        event, model = DatasetEvent, DatasetModel
        key = DatasetEvent.dataset_id
    with create_session() as session:
        rows = session.query(event).join(model, model.id == key).filter(model.uri == uri).all()
        return [dict(row.extra or {}) for row in rows]


def test_asset_events_carry_the_outcome(bag, emu, deferrable):
    if not AIRFLOW_3:  # 2.11's dag.test() records dataset events only for known datasets
        bag.get_dag("t_outcome_in_asset_events").sync_to_db()
    state, tasks = run_dag(bag, "t_outcome_in_asset_events")
    assert state == "success", tasks
    [run] = emu.runs.values()
    [execution] = emu.executions.values()
    run_extra = _asset_event_extras("cased://workflows/wf_weekly_cost_review")[-1]
    assert run_extra == {
        "kind": "workflow_run",
        "workflow_id": "wf_weekly_cost_review",
        "run_id": run["id"],
        "status": "completed",
        "link": f"{emu.url}/agents/{run['session_id']}",
    }
    exec_extra = _asset_event_extras("casedev://actions/action_contract_review")[-1]
    assert exec_extra["execution_id"] == execution["id"] and exec_extra["status"] == "completed"
    assert isinstance(exec_extra["duration_ms"], int) and "output" not in exec_extra


def test_examples_poll_as_in_production_and_the_test_policy_shortens_it(bag):
    import ast

    source = (ROOT / "example_dags" / "example_cased_weekly_workflow.py").read_text()
    assert "poll_interval=30" in source and "getenv" not in source
    ast.parse(source)
    # The shipped cluster policy (installed in the tests' AIRFLOW_HOME) shortens waits.
    task = bag.get_dag("cased_weekly_workflow_run").get_task("weekly_cost_review")
    assert task.poll_interval == 0.5
    sensor = bag.get_dag("cased_fan_in_sensors").get_task("wait_cost")
    assert sensor.poke_interval == 0.5


def test_policy_leaves_other_tasks_and_faster_waits_alone():
    from types import SimpleNamespace

    from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator
    from airflow_provider_cased.testing.policy import task_policy

    fast = CasedWorkflowRunOperator(task_id="f", workflow_id="wf", poll_interval=0.1)
    task_policy(fast)
    assert fast.poll_interval == 0.1
    other = SimpleNamespace(poll_interval=30)  # not this provider's
    task_policy(other)
    assert other.poll_interval == 30


# -- retry policy (Airflow 3.3, AIP-105) ------------------------------------------------------

RETRY_POLICIES = _AIRFLOW >= (3, 3)


def test_a_401_fails_at_once_instead_of_burning_retries(bag, emu):
    emu.inject(Fault(method="POST", path="/api/v1/workflows/", status=401, times=0))
    state, tasks = run_dag(bag, "t_run_retries_but_401_never_heals")
    assert (state, tasks) == ("failed", {"run": "failed"})
    posts = len(emu.requests_to("POST", "/api/v1/workflows/"))
    assert posts == (1 if RETRY_POLICIES else 4), "retries=3: four tries without the policy"


def test_a_failed_action_is_not_executed_again(bag, emu):
    state, tasks = run_dag(bag, "t_failed_action_is_not_retried")
    assert state == "failed", tasks
    executes = len(emu.requests_to("POST", "/actions/v1/action_broken_ocr/execute"))
    assert executes == (1 if RETRY_POLICIES else 3)
