"""Operator arguments checked at DAG-parse time; trigger events checked on return (fail closed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from airflow_provider_cased.exceptions import CasedProviderError, CasedTimeoutError
from airflow_provider_cased.notifications.cased import (
    CasedAgentSessionNotifier,
    CasedDeploymentNotifier,
)
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedDeploymentOperator,
    CasedWorkflowRunOperator,
    default_trigger_name,
    triggered_by_from_run,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator
from airflow_provider_cased.sensors.cased import CasedWorkflowRunSensor


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "exactly one of workflow_id or workflow_name"),
        ({"workflow_id": "a", "workflow_name": "b"}, "exactly one"),
        ({"workflow_id": ""}, "workflow_id"),
        ({"workflow_id": "a", "context": ["x"]}, "context"),
        ({"workflow_id": "a", "triggered_by": "cron"}, "triggered_by"),
        ({"workflow_id": "a", "poll_interval": 0}, "poll_interval"),
        ({"workflow_id": "a", "timeout": -5}, "timeout"),
    ],
)
def test_workflow_run_operator_rejects_bad_args_at_parse_time(kwargs, field):
    with pytest.raises(ValueError, match=field) as error:
        CasedWorkflowRunOperator(task_id="bad_task", **kwargs)
    assert "bad_task" in str(error.value)


def test_templated_values_are_checked_at_run_time_not_parse_time():
    op = CasedWorkflowRunOperator(
        task_id="ok",
        workflow_id="{{ params.wf }}",
        triggered_by="{{ params.how }}",
        context="{{ params.ctx }}",
    )
    assert set(op.template_fields) >= {
        "workflow_id",
        "workflow_name",
        "context",
        "trigger_name",
        "triggered_by",
    }


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: CaseDevActionOperator(task_id="t", input={"a": 1}), "exactly one of action_id"),
        (lambda: CaseDevActionOperator(task_id="t", action_id="a", input=None), "input"),
        (lambda: CaseDevActionOperator(task_id="t", action_id="a", input=[1]), "input"),
        (
            lambda: CaseDevActionOperator(task_id="t", action_id="a", input={}, webhook_id=3),
            "webhook_id",
        ),
        (
            lambda: CaseDevActionOperator(
                task_id="t", action_id="a", input={"blob": "x" * 10 * 1024 * 1024}
            ),
            r"input is [\d,]+ bytes as JSON, over the API's limit of 10,485,760 bytes",
        ),
        (lambda: CasedAgentSessionOperator(task_id="t", prompt=""), "prompt"),
        (
            lambda: CasedDeploymentOperator(task_id="t", deployment_request="d", status="ok"),
            "status",
        ),
        (
            lambda: CasedDeploymentOperator(
                task_id="t", deployment_request="d", event_metadata="x"
            ),
            "event_metadata",
        ),
        (lambda: CasedDeploymentNotifier(deployment_request=""), "deployment_request"),
        (lambda: CasedAgentSessionNotifier(prompt="p", agent_context=[1]), "agent_context"),
    ],
)
def test_other_bad_args_fail_at_parse_time(factory, field):
    with pytest.raises(ValueError, match=field):
        factory()


def test_default_trigger_name_is_unique_per_task_instance():
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="scheduled__2024", map_index=-1)
    mapped = SimpleNamespace(dag_id="d", task_id="t", run_id="scheduled__2024", map_index=3)
    assert default_trigger_name({"ti": ti}) == "airflow:d.t:scheduled__2024"
    assert default_trigger_name({"ti": mapped}) == "airflow:d.t[3]:scheduled__2024"


@pytest.mark.parametrize(
    ("run_type", "expected"),
    [
        ("scheduled", "schedule"),
        ("manual", "manual"),
        ("asset_triggered", "event"),
        ("dataset_triggered", "event"),
        ("backfill", "manual"),
        (None, "manual"),
    ],
)
def test_triggered_by_follows_the_dag_run_type(run_type, expected):
    assert triggered_by_from_run({"dag_run": SimpleNamespace(run_type=run_type)}) == expected


@pytest.mark.parametrize(
    "event",
    [
        None,
        "success",
        {"status": "done", "kind": "workflow_run", "remote_id": "r"},
        {
            "status": "success",
            "kind": "action_execution",
            "remote_id": "r",
            "answer": {"status": "completed"},
        },
        {
            "status": "success",
            "kind": "workflow_run",
            "remote_id": "",
            "answer": {"status": "completed"},
        },
        {"status": "success", "kind": "workflow_run", "remote_id": "r", "answer": None},
        {
            "status": "success",
            "kind": "workflow_run",
            "remote_id": "r",
            "answer": {"status": "running"},
        },
        {
            "status": "success",
            "kind": "workflow_run",
            "remote_id": "r",
            "answer": {"status": "failed"},
        },
        {"status": "error", "kind": "workflow_run", "remote_id": "r", "message": "boom"},
    ],
)
def test_execute_complete_fails_closed_on_unexpected_events(event):
    op = CasedWorkflowRunOperator(task_id="t", workflow_id="wf")
    with pytest.raises(CasedProviderError):
        op.execute_complete({}, event)


def test_execute_complete_timeout_event_is_a_timeout_error():
    op = CasedWorkflowRunOperator(task_id="t", workflow_id="wf")
    event = {"status": "timeout", "kind": "workflow_run", "remote_id": "r", "message": "Timed out"}
    with pytest.raises(CasedTimeoutError, match="Timed out"):
        op.execute_complete({}, event)


def test_deferrable_default_comes_from_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert CasedWorkflowRunOperator(task_id="a", workflow_id="w").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert CasedWorkflowRunOperator(task_id="b", workflow_id="w").deferrable is False


def test_operators_work_inside_a_dag_context():
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow import DAG  # type: ignore[no-redef]

    with DAG("args_dag", schedule=None, start_date=datetime(2024, 1, 1)):
        op = CasedWorkflowRunOperator(task_id="run", workflow_name="Weekly cost review")
    assert op.dag_id == "args_dag"
    assert [link.name for link in op.operator_extra_links] == ["Cased session"]


def test_waits_take_timedelta_wherever_seconds_are_taken():
    op = CasedWorkflowRunOperator(
        task_id="t",
        workflow_id="wf",
        poll_interval=timedelta(seconds=30),
        timeout=timedelta(hours=1),
        warn_after=timedelta(minutes=10),
    )
    assert (op.poll_interval, op.timeout, op.warn_after) == (30.0, 3600.0, 600.0)
    action = CaseDevActionOperator(
        task_id="a", action_id="x", input={}, poll_interval=timedelta(seconds=2)
    )
    assert action.poll_interval == 2.0
    with pytest.raises(ValueError, match="Task 'z': timeout must be a positive number"):
        CasedWorkflowRunOperator(task_id="z", workflow_id="wf", timeout=timedelta(seconds=-1))


def test_values_rendered_later_at_any_depth_are_left_to_run_time():
    from airflow_provider_cased._request_bodies import renders_later

    class TaskOutput:  # what Airflow's XComArg looks like to the check
        operator = None

        def resolve(self, context):
            return {}

    assert renders_later({"a": [{"b": TaskOutput()}]})
    assert renders_later(["x", ("{{ ds }}",)])
    assert not renders_later({"a": [1, {"b": "plain"}]})
    # A known bad value beside nothing rendered later is still refused at parse time.
    with pytest.raises(ValueError, match="context must have string keys"):
        CasedWorkflowRunOperator(task_id="t", workflow_id="wf", context={"a": 1, 2: "b"})


@pytest.mark.parametrize(
    ("make_task", "hint"),
    [
        (
            lambda: CasedWorkflowRunOperator(task_id="t", workflow_id="w", poll_intervall=30),
            "poll_intervall (did you mean poll_interval?)",
        ),
        (
            lambda: CaseDevActionOperator(task_id="t", action_id="a", input={}, inptu={}),
            "inptu (did you mean input?)",
        ),
        (
            lambda: CasedAgentSessionOperator(task_id="t", prompt="p", retires=2),
            "retires (did you mean retries?)",
        ),
        (
            lambda: CasedWorkflowRunSensor(
                task_id="t", workflow_id="w", run_id="r", poke_intervall=3
            ),
            "poke_intervall (did you mean poke_interval?)",
        ),
    ],
)
def test_a_misspelt_argument_gets_the_name_it_was_meant_to_be(make_task, hint):
    # Airflow's own refusal stays (TypeError on 3.x, AirflowException on 2.11), with a hint.
    with pytest.raises(Exception, match="Invalid arguments were") as error:
        make_task()
    assert hint in str(error.value)


def test_an_unknown_argument_like_no_other_is_refused_as_airflow_refuses_it():
    with pytest.raises(Exception, match="Invalid arguments were") as error:
        CasedWorkflowRunOperator(task_id="t", workflow_id="w", zzz_qqq=1)
    assert "did you mean" not in str(error.value)
