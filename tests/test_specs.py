"""The one spec per waited resource, the names stored with deferred and retried tasks,
and the request bodies declared once."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_cased._request_bodies import DeploymentBody, ExecuteBody, RunBody, SessionBody
from airflow_provider_cased.exceptions import CasedInputError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import CaseDevHook
from airflow_provider_cased.operators import _reattach
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedDeploymentOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator
from airflow_provider_cased.sensors.cased import CasedAgentSessionSensor, CasedWorkflowRunSensor
from airflow_provider_cased.sensors.casedev import CaseDevActionExecutionSensor
from airflow_provider_cased.states import (
    ACTION_EXECUTION,
    AGENT_SESSION,
    RUN_STATUS_FILTERS,
    WORKFLOW_RUN,
    WorkflowRunStatus,
)
from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger
from airflow_provider_cased.triggers.casedev import CaseDevActionExecutionTrigger


def test_stored_names_are_pinned():
    """Deferred tasks store the trigger's class path and kwargs, retried tasks the state-store
    keys: a rename must fail here, not strand tasks in flight."""
    run_path, run_kwargs = CasedWorkflowRunTrigger("wf", "r", "c", 2, 5.0).serialize()
    assert run_path == "airflow_provider_cased.triggers.cased.CasedWorkflowRunTrigger"
    common = {"conn_id", "poll_interval", "end_time", "warn_after"}
    assert set(run_kwargs) == {"workflow_id", "run_id", *common}
    exec_path, exec_kwargs = CaseDevActionExecutionTrigger("e", "c", 2, None).serialize()
    assert exec_path == "airflow_provider_cased.triggers.casedev.CaseDevActionExecutionTrigger"
    assert set(exec_kwargs) == {"execution_id", *common}
    from airflow_provider_cased.triggers.cased import CasedAgentSessionTrigger

    session_path, session_kwargs = CasedAgentSessionTrigger("s", "c", 2, None).serialize()
    assert session_path == "airflow_provider_cased.triggers.cased.CasedAgentSessionTrigger"
    assert set(session_kwargs) == {"session_id", *common}
    # What the operators and sensors defer with is exactly these classes, with these kwargs.
    run_op = CasedWorkflowRunOperator(task_id="t", workflow_id="wf")
    session_op = CasedAgentSessionOperator(task_id="t", prompt="p")
    exec_op = CaseDevActionOperator(task_id="t", action_id="a", input={})
    run_sensor = CasedWorkflowRunSensor(task_id="t", workflow_id="wf", run_id="r")
    session_sensor = CasedAgentSessionSensor(task_id="t", session_id="s")
    exec_sensor = CaseDevActionExecutionSensor(task_id="t", execution_id="e")
    for trigger, path in (
        (run_op.deferral_trigger("r", None), run_path),
        (session_op.deferral_trigger("s", None), session_path),
        (exec_op.deferral_trigger("e", None), exec_path),
        (run_sensor.deferral_trigger(5.0), run_path),
        (session_sensor.deferral_trigger(5.0), session_path),
        (exec_sensor.deferral_trigger(5.0), exec_path),
    ):
        assert trigger.serialize()[0] == path
        assert set(trigger.serialize()[1]) >= common
    assert _reattach.RUN_STATE_KEY == "cased_workflow_run"
    assert _reattach.EXECUTION_STATE_KEY == "casedev_execution"
    assert _reattach.SESSION_STATE_KEY == "cased_agent_session"


def test_every_waiting_class_reads_one_spec():
    from airflow_provider_cased.triggers.cased import CasedAgentSessionTrigger

    for spec, classes in (
        (
            AGENT_SESSION,
            (CasedAgentSessionOperator, CasedAgentSessionSensor, CasedAgentSessionTrigger),
        ),
        (WORKFLOW_RUN, (CasedWorkflowRunOperator, CasedWorkflowRunSensor, CasedWorkflowRunTrigger)),
        (
            ACTION_EXECUTION,
            (CaseDevActionOperator, CaseDevActionExecutionSensor, CaseDevActionExecutionTrigger),
        ),
    ):
        assert all(cls.spec is spec for cls in classes)


def test_status_sets_come_from_the_enum():
    # Every documented status is in exactly one set; the failure set adds common spellings.
    assert WORKFLOW_RUN.failed == {"failed", "cancelled", "canceled", "error", "errored"}
    assert WORKFLOW_RUN.in_progress | WORKFLOW_RUN.succeeded | WORKFLOW_RUN.failed >= {
        s.value for s in WorkflowRunStatus
    }
    assert not WORKFLOW_RUN.in_progress & WORKFLOW_RUN.failed
    assert not WORKFLOW_RUN.state({"status": "paused"}).is_known
    # The list filter sends only the values the API documents for it.
    assert RUN_STATUS_FILTERS == ("pending", "running", "completed", "failed")


def test_undocumented_run_filter_is_refused_before_sending(emulator):
    with pytest.raises(CasedInputError, match="status must be one of pending"):
        CasedHook().list_workflow_runs("wf_weekly_cost_review", status="cancelled")
    assert emulator.requests == []


def test_async_hook_methods_read_what_the_sync_ones_read(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    execution = CaseDevHook().execute_action("action_contract_review", {"a": 1})

    async def both():
        return (
            await CasedHook().a_get_workflow_run("wf_weekly_cost_review", run["id"]),
            await CaseDevHook().a_get_execution(execution["execution_id"]),
        )

    got_run, got_execution = asyncio.run(both())
    assert got_run["id"] == run["id"] and got_execution["id"] == execution["execution_id"]


def test_bodies_declare_fields_and_checks_once():
    assert CasedDeploymentOperator.template_fields == DeploymentBody.field_names()
    assert DeploymentBody("Deploy", status="success").json() == {
        "deployment_request": "Deploy",
        "status": "success",
    }
    assert RunBody(trigger_name="n").json() == {"triggered_by": "manual", "trigger_name": "n"}
    for build, field in (
        (lambda: DeploymentBody("d", event_metadata=[1]), "event_metadata"),
        (lambda: RunBody(triggered_by="cron"), "triggered_by"),
        (lambda: SessionBody(""), "prompt"),
        (lambda: ExecuteBody(None), "input"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=field):
            build()


def test_zero_request_timeout_is_refused_naming_the_field(emulator, set_connection):
    set_connection("cased_zero", emulator.url, password="k", extra={"request_timeout": 0})
    with pytest.raises(CasedInputError, match=r"request_timeout.*cased_zero.*> 0"):
        CasedHook("cased_zero").get_workflow("wf_weekly_cost_review")
    assert emulator.requests == []
