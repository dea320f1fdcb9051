"""``operators/_reattach.py``: a retry re-attaches to what its earlier try started; a
cleared task, or work a person abandoned, starts anew.

An operator's ``on_kill`` (the task killed in its worker) records the work it abandons;
a trigger's (``tests/triggers/test_triggers.py``) only logs it, and the next try records it. The
task state store is the one Airflow 3.3 gives a task (here a dict with its
``get``/``set``); ``make e2e`` checks the same against a real deployment (mark failed
through the REST API; restart the triggerer).
"""

from __future__ import annotations

import inspect
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_cased.exceptions import CasedTimeoutError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import CaseDevHook
from airflow_provider_cased.operators import _reattach
from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator
from airflow_provider_cased.states import (
    ACTION_EXECUTION,
    AGENT_SESSION,
    WORKFLOW_RUN,
    normalize_execution,
)


class MemoryTaskStateStore:
    """Stands in for Airflow 3.3's ``context["task_state_store"]`` (get/set)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def task_context(
    store: MemoryTaskStateStore | None,
    try_number: int = 1,
    *,
    retries: int | None = None,
    cleared_after: int | None = None,
) -> dict[str, Any]:
    """A try's context; with ``retries``, ``max_tries`` as Airflow keeps it (a clear after
    try ``cleared_after`` sets it to that try plus ``retries``)."""
    ti = SimpleNamespace(
        dag_id="d",
        task_id="t",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        xcom_push=lambda **_: None,
    )
    dag_run = SimpleNamespace(run_type="manual", start_date=datetime.now(timezone.utc))
    context = {"ti": ti, "task_instance": ti, "dag_run": dag_run, "task_state_store": store}
    if retries is not None:
        ti.max_tries = (cleared_after or 0) + retries
        context["task"] = SimpleNamespace(retries=retries)
    return context


# -- the next try never re-attaches to abandoned work (task state store, 3.3) -------------


def run_of_a_first_try(hook: CasedHook, store: MemoryTaskStateStore) -> tuple[Any, Any]:
    """A run started by try 1 of a task instance, stored as that try stores it."""
    run = hook.trigger_workflow_run("wf_slow", trigger_name="airflow:d.t:manual__1")
    first = task_context(store, 1)
    _reattach.remember(first, WORKFLOW_RUN, {"workflow_id": "wf_slow", "run_id": run["id"]})
    return run, first


def test_a_try_that_never_came_back_from_the_triggerer_was_abandoned(slow, logs):
    store = MemoryTaskStateStore()
    hook = CasedHook()
    run, first = run_of_a_first_try(hook, store)
    _reattach.waiting_in_triggerer(first, WORKFLOW_RUN, "https://example/agents/s1")

    cleared = task_context(store, 2)
    assert _reattach.earlier_run(hook, cleared, "wf_slow", "airflow:d.t:manual__1") is None
    assert store.values[_reattach.RUN_STATE_KEY]["phase"] == _reattach.ABANDONED
    assert f"Abandoned workflow run {run['id']}: https://example/agents/s1" in logs()
    # Later tries (or a re-run of this one after an approval) keep not re-attaching,
    # even by name.
    assert _reattach.earlier_run(hook, task_context(store, 3), "wf_slow", "x") is None


def test_a_wait_that_came_back_from_the_triggerer_is_still_reattached(slow):
    # A triggerer restart or hand-over does not end the try: the trigger's event still
    # resumes it, and a retry after that (say the deadline passed) re-attaches as before.
    store = MemoryTaskStateStore()
    hook = CasedHook()
    run, first = run_of_a_first_try(hook, store)
    _reattach.waiting_in_triggerer(first, WORKFLOW_RUN, "")
    _reattach.resumed(first, WORKFLOW_RUN)
    again = _reattach.earlier_run(hook, task_context(store, 2), "wf_slow", "x")
    assert again is not None and again["id"] == run["id"]


def work_of_a_first_try(spec: Any, store: MemoryTaskStateStore) -> tuple[Any, Any]:
    """An execution or session started by try 1, stored as that try stores it."""
    first = task_context(store, 1)
    if spec is ACTION_EXECUTION:
        hook: Any = CaseDevHook()
        answer = hook.execute_action("action_contract_review", {"doc": "x"})
        remote_id = str(normalize_execution(answer)["execution_id"])
    else:
        hook = CasedHook()
        remote_id = hook.create_agent_session("why?")["session_id"]
    _reattach.remember(first, spec, {spec.id_fields[-1]: remote_id})
    return hook, first


@pytest.mark.parametrize("spec", [ACTION_EXECUTION, AGENT_SESSION], ids=lambda s: s.kind)
def test_abandoned_executions_and_sessions_start_anew(emulator, spec):
    store = MemoryTaskStateStore()
    hook, first = work_of_a_first_try(spec, store)
    earlier = _reattach.earlier_execution_or_session
    read = hook.get_execution if spec is ACTION_EXECUTION else hook.get_agent_session
    assert earlier(task_context(store, 2), spec, read, hook.log) is not None  # not abandoned
    _reattach.waiting_in_triggerer(first, spec, "")
    assert earlier(task_context(store, 2), spec, read, hook.log) is None


# -- a clear starts anew, a retry re-attaches (any Airflow; the test Airflow's own) --------


@pytest.mark.parametrize("with_store", [True, False], ids=["state-store", "by-name"])
def test_a_retry_reattaches_and_a_cleared_task_starts_a_new_run(slow, logs, with_store):
    store = MemoryTaskStateStore()
    hook = CasedHook()
    run, _ = run_of_a_first_try(hook, store)
    found = _reattach.earlier_run
    name = "airflow:d.t:manual__1"
    kept = store if with_store else None

    retry = task_context(kept, 2, retries=1)
    assert found(hook, retry, "wf_slow", name)["id"] == run["id"]
    # Cleared after try 1 (it succeeded, failed or was marked): try 2 is the first of a
    # new cycle and looks nothing up.
    sent = len(slow.requests)
    assert found(hook, task_context(kept, 2, retries=1, cleared_after=1), "wf_slow", name) is None
    assert len(slow.requests) == sent
    assert ("the task was cleared" in logs()) is with_store
    # A retry after the clear re-attaches, as any retry does.
    after_clear = task_context(kept, 3, retries=1, cleared_after=1)
    assert found(hook, after_clear, "wf_slow", name)["id"] == run["id"]


@pytest.mark.parametrize("spec", [ACTION_EXECUTION, AGENT_SESSION], ids=lambda s: s.kind)
def test_a_cleared_task_starts_a_new_execution_or_session(emulator, spec):
    store = MemoryTaskStateStore()
    hook, _ = work_of_a_first_try(spec, store)
    earlier = _reattach.earlier_execution_or_session
    read = hook.get_execution if spec is ACTION_EXECUTION else hook.get_agent_session
    assert earlier(task_context(store, 2, retries=2), spec, read, hook.log) is not None
    cleared = task_context(store, 2, retries=2, cleared_after=1)
    assert earlier(cleared, spec, read, hook.log) is None


def test_a_first_try_looks_nothing_up(slow):
    hook = CasedHook()
    first = task_context(MemoryTaskStateStore(), 1, retries=3)
    assert _reattach.earlier_run(hook, first, "wf_slow", "airflow:d.t:manual__1") is None
    assert slow.requests == []


# -- the operator's on_kill (the wait in the worker) ---------------------------------------


def test_operator_on_kill_during_a_wait_records_the_abandoned_run(slow, logs):
    store = MemoryTaskStateStore()
    op = CasedWorkflowRunOperator(
        task_id="t", workflow_id="wf_slow", poll_interval=0.1, timeout=3, deferrable=False
    )
    outcome: dict[str, BaseException] = {}

    def first_try() -> None:
        try:
            # Unwrapped: Airflow 2.11's execute guard keeps thread-local state per task runner.
            inspect.unwrap(type(op).execute)(op, task_context(store, 1))
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=first_try, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not op._waiting_on and time.monotonic() < deadline:
        time.sleep(0.05)
    assert op._waiting_on, outcome
    [run] = slow.runs.values()
    op.on_kill()  # what Airflow's task runner calls on SIGTERM (mark failed, clear)
    worker.join(10)
    assert isinstance(outcome.get("error"), CasedTimeoutError)
    assert store.values[_reattach.RUN_STATE_KEY]["phase"] == _reattach.ABANDONED
    assert f"Abandoned workflow run {run['id']}: {slow.url}/agents/{run['session_id']}" in logs()

    # The cleared task's next try starts a new run instead of re-attaching.
    retry = CasedWorkflowRunOperator(
        task_id="t", workflow_id="wf_slow", wait_for_completion=False, deferrable=False
    )
    started = retry.execute(task_context(store, 2))
    assert started["id"] != run["id"]
    assert len(slow.requests_to("POST", "/api/v1/workflows/wf_slow/runs/")) == 2
