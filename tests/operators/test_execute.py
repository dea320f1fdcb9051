"""What every operator's ``execute`` promises, whatever it starts: rendered inputs checked
before any request, an id in the response that started the work, its hook closed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_cased.exceptions import CasedApiError, CasedInputError
from airflow_provider_cased.operators.cased import (
    CasedAgentSessionOperator,
    CasedWorkflowRunOperator,
)
from airflow_provider_cased.operators.casedev import CaseDevActionOperator
from airflow_provider_cased.testing import Fault


class _TaskInstance(SimpleNamespace):
    def xcom_push(self, key, value):
        self.pushed[key] = value


def _context():
    ti = _TaskInstance(
        dag_id="d", task_id="t", run_id="manual__1", map_index=-1, try_number=1, pushed={}
    )
    return {"ti": ti, "dag_run": SimpleNamespace(run_type="manual")}


def test_operators_close_their_session(emulator):
    op = CasedAgentSessionOperator(task_id="t", prompt="why")
    op.execute(_context())
    assert op.hook._transport is not None and op.hook._transport._session is None
    run_op = CasedWorkflowRunOperator(
        task_id="t", workflow_id="wf_weekly_cost_review", wait_for_completion=False
    )
    run_op.execute(_context())
    assert run_op.hook._transport._session is None


@pytest.mark.parametrize("body", ["{}", '{"id": ""}'])
def test_response_without_a_run_id_is_an_api_error(emulator, body):
    emulator.inject(Fault(method="POST", path="/api/v1/workflows/", status=201, body=body))
    op = CasedWorkflowRunOperator(task_id="t", workflow_id="wf_weekly_cost_review")
    with pytest.raises(CasedApiError, match="without a run id"):
        op.execute(_context())


def test_execute_response_without_an_id_is_an_api_error(emulator):
    emulator.inject(Fault(method="POST", path="/actions/v1/", status=200, body='{"status": "x"}'))
    op = CaseDevActionOperator(task_id="t", action_id="action_summarize", input={})
    with pytest.raises(CasedApiError, match="without an id"):
        op.execute(_context())


def _first_try_context() -> dict:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    return {"ti": ti, "task_instance": ti, "dag_run": None}


@pytest.mark.parametrize(
    ("operator", "rendered", "field", "conn_id"),
    [
        (
            lambda: CasedWorkflowRunOperator(task_id="t", workflow_id="{{ x }}"),
            {"workflow_id": ""},
            "workflow_id",
            "cased_default",
        ),
        (
            lambda: CasedWorkflowRunOperator(task_id="t", workflow_name="{{ x }}"),
            {"workflow_name": " "},
            "name",
            "cased_default",
        ),
        (
            lambda: CaseDevActionOperator(task_id="t", action_id="{{ x }}", input={}),
            {"action_id": ""},
            "action_id",
            "casedev_default",
        ),
        (
            lambda: CaseDevActionOperator(task_id="t", action_name="{{ x }}", input={}),
            {"action_name": " "},
            "action_name",
            "casedev_default",
        ),
    ],
)
def test_operators_refuse_bad_rendered_ids_before_any_request(
    emulator, operator, rendered, field, conn_id
):
    """Templated ids are checked once rendered: the error names the field and the
    connection, and no request (not even a look-up by name) leaves."""
    task = operator()
    for name, value in rendered.items():
        setattr(task, name, value)
    with pytest.raises(CasedInputError, match=field) as error:
        task.execute(_first_try_context())
    assert conn_id in str(error.value)
    assert emulator.requests == []
