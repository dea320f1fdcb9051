"""``task.cased_workflow_run``, ``task.cased_agent_session`` and ``task.casedev_action`` in
real ``dag.test()`` runs against the emulator (DAGs in ``tests/dags/decorator_test_dags.py``)."""

from __future__ import annotations

import json
import os
import re

import pytest
from test_dags import run_dag

from airflow_provider_cased.testing import Fault

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def bag(airflow_db):
    from airflow_provider_cased.compat import dag_bag

    return dag_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def stored_xcom(ti, key):
    """The XCom the task pushed under ``key`` as the metadata DB holds it (None if none)."""
    try:
        from airflow.models.xcom import XComModel  # Airflow 3
    except ImportError:
        from airflow.models.xcom import XCom  # Airflow 2

        return XCom.get_one(key=key, run_id=ti.run_id, dag_id=ti.dag_id, task_id=ti.task_id)
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == ti.dag_id,
                XComModel.task_id == ti.task_id,
                XComModel.run_id == ti.run_id,
                XComModel.key == key,
            )
        )
    try:  # JSON, or (a link's URL) the plain string, as XComOperatorLink reads it
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def task_instance(dag_run, task_id):
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti


def test_task_names_resolve_to_our_decorated_operators(bag):
    from airflow_provider_cased.decorators.cased import (
        CasedAgentSessionDecoratedOperator,
        CasedWorkflowRunDecoratedOperator,
    )
    from airflow_provider_cased.decorators.casedev import CaseDevActionDecoratedOperator

    assert not bag.import_errors
    tasks = {
        ("d_workflow_run", "review"): CasedWorkflowRunDecoratedOperator,
        ("d_agent_session", "ask_plain"): CasedAgentSessionDecoratedOperator,
        ("d_casedev_action_sync", "summarize"): CaseDevActionDecoratedOperator,
    }
    for (dag_id, task_id), operator_class in tasks.items():
        assert type(bag.get_dag(dag_id).get_task(task_id)) is operator_class


def test_workflow_run_sends_the_returned_context_and_renders_the_other_arguments(bag, emulator):
    dag_run = bag.get_dag("d_workflow_run").test()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    [run] = emulator.runs.values()
    # op_args: an upstream task's output and a rendered template; the context key asked for.
    assert run["context"]["ticket"] == "OPS-7"
    assert run["context"]["env"] == "production"
    assert run["context"]["run_type"]
    # trigger_name, one of the operator's template fields, rendered (the try suffix is the
    # operator's own, so a retry can find this run).
    assert run["trigger_name"].startswith("d_workflow_run-production")
    assert emulator.requests_to("GET", f"/api/v1/workflows/wf_weekly_cost_review/runs/{run['id']}/")
    # The task's XCom is the run as plain JSON (no per-key split from ``-> dict``), and the
    # session link is pushed as the operator pushes it.
    ti = task_instance(dag_run, "review")
    value = stored_xcom(ti, "return_value")
    assert type(value) is dict and json.loads(json.dumps(value)) == value
    assert value["id"] == run["id"] and value["status"] == "completed"
    assert stored_xcom(ti, "status") is None
    from airflow_provider_cased.links import SESSION_URL_XCOM_KEY

    assert stored_xcom(ti, SESSION_URL_XCOM_KEY) == f"{emulator.url}/agents/{run['session_id']}"


def test_workflow_run_by_name_with_no_context(bag, emulator):
    state, tasks = run_dag(bag, "d_workflow_run_no_context")
    assert state == "success", tasks
    [run] = emulator.runs.values()
    assert run["workflow"] == "wf_deploy_watcher" and not run.get("context")


def test_workflow_run_defers_and_resumes(bag, emulator, logs):
    state, tasks = run_dag(bag, "d_workflow_run_deferred")
    assert state == "success", tasks
    assert "[DAG TEST] running trigger in line" in logs()  # it deferred
    [run] = emulator.runs.values()
    assert run["context"] == {"ticket": "OPS-8"}
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 1


def test_retry_reattaches_to_the_run_the_first_try_started(bag, emulator):
    # Try 1 starts the run; its first status read gets a 400 (cannot heal: the wait ends,
    # the task's retry follows). Try 2 runs the function again and the operator's own
    # re-attach finds the run: one POST in all.
    emulator.inject(
        Fault(method="GET", path="/api/v1/workflows/wf_weekly_cost_review/runs/", status=400)
    )
    state, tasks = run_dag(bag, "d_workflow_run_retry_reattaches")
    assert state == "success", tasks
    assert len(emulator.runs) == 1
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 1


def test_agent_session_takes_a_prompt_or_a_prompt_and_context(bag, emulator):
    state, tasks = run_dag(bag, "d_agent_session")
    assert state == "success", tasks
    sessions = {s["prompt"]: s for s in emulator.agent_sessions.values()}
    assert set(sessions) == {"Why is d_agent_session slow?", "Check the feed"}
    assert sessions["Check the feed"]["context"] == {"feed": "inventory"}
    assert not sessions["Why is d_agent_session slow?"].get("context")


def test_casedev_action_defers_on_an_async_execution(bag, emulator, logs):
    dag_run = bag.get_dag("d_casedev_action_deferred").test()
    assert str(getattr(dag_run.state, "value", dag_run.state)) == "success"
    assert "[DAG TEST] running trigger in line" in logs()  # it deferred
    [execution] = emulator.executions.values()
    assert execution["input"] == {"document_url": "s3://contracts/d_casedev_action_deferred.pdf"}
    value = stored_xcom(task_instance(dag_run, "review_contract"), "return_value")
    assert type(value) is dict and json.loads(json.dumps(value)) == value
    assert value["execution_id"] == execution["id"]


def test_casedev_action_sync(bag, emulator):
    state, tasks = run_dag(bag, "d_casedev_action_sync")
    assert state == "success", tasks
    [execution] = emulator.executions.values()
    assert execution["input"] == {"doc": "q3-report"}


def test_a_wrong_return_type_fails_the_task_naming_it_and_sends_nothing(bag, emulator, logs):
    state, tasks = run_dag(bag, "d_wrong_returns")
    assert state == "failed"
    assert set(tasks.values()) == {"failed"}, tasks
    # One line: Airflow 3.0's dag.test() prints the exception in a wrapped, boxed panel.
    text = " ".join(re.sub(r"[│┃╭╮╰╯─━]", " ", logs()).split())
    for message in (
        "@task.cased_workflow_run (task 'run_returns_list'): the function must return the "
        "run's context, a dict (or None); it returned list [connection 'cased_default'; "
        "no request was sent]",
        "@task.cased_agent_session (task 'session_returns_int'): the function must return the "
        "prompt, a str, or a dict with 'prompt' (a str) and optionally 'context' (a dict); "
        "it returned int",
        "(task 'session_returns_misspelt_key'): the function must return the prompt, a str, "
        "or a dict with 'prompt' (a str) and optionally 'context' (a dict); it returned a "
        "dict with the unknown key(s) 'promt'",
        "@task.casedev_action (task 'action_returns_str'): the function must return the "
        "execution's input, a dict; it returned str [connection 'casedev_default'; no "
        "request was sent]",
    ):
        assert message in text
    assert [r for r in emulator.requests if r.method == "POST"] == []


def test_arguments_the_function_returns_are_refused_at_parse_time():
    from airflow_provider_cased.decorators.cased import cased_agent_session_task

    with pytest.raises(TypeError, match=r"the function returns prompt; do not pass prompt="):
        cased_agent_session_task(lambda: "x", prompt="y")()


def test_a_mapped_decorated_task_runs_once_per_argument(bag, emulator):
    state, tasks = run_dag(bag, "d_casedev_action_mapped")
    assert state == "success", tasks
    inputs = sorted(e["input"]["doc"] for e in emulator.executions.values())
    assert inputs == ["q1-report", "q2-report"]
