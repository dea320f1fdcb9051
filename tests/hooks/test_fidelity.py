"""Correctness against what the real APIs may do where their documents are silent:
never adopt someone else's run, read lists however they page, never report a retry
as a success (issue 16). Each switch of the emulator reproduces one such answer."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from airflow_provider_cased.exceptions import CasedApiError
from airflow_provider_cased.hooks import cased as cased_hook_module
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.notifications.cased import CasedDeploymentNotifier
from airflow_provider_cased.states import ACTION_EXECUTION, AGENT_SESSION, WORKFLOW_RUN
from airflow_provider_cased.testing import Fault

WF = "wf_weekly_cost_review"


@pytest.fixture
def no_skew(monkeypatch):
    monkeypatch.setattr(cased_hook_module, "CLOCK_SKEW_SECONDS", 0.0)


@pytest.mark.usefixtures("fast_retries", "no_skew")
@pytest.mark.parametrize("lost", [True, False], ids=["created-answer-lost", "not-created"])
def test_a_lost_answer_never_adopts_an_older_run_with_the_same_name(emulator, lost):
    hook = CasedHook()
    last_week = hook.trigger_workflow_run(WF, trigger_name="Weekly cost review")
    time.sleep(0.05)
    emulator.inject(Fault(method="POST", path="/api/v1/workflows/", status=502, lost_answer=lost))
    run = hook.trigger_workflow_run(WF, trigger_name="Weekly cost review")
    assert run["id"] != last_week["id"]
    assert len(emulator.runs) == 2, "exactly one new run, whether or not the first POST landed"


@pytest.mark.usefixtures("fast_retries", "no_skew")
def test_reconcile_finds_the_new_run_on_a_server_listing_oldest_first(emulator):
    emulator.runs_oldest_first = True
    hook = CasedHook()
    for _ in range(3):
        hook.trigger_workflow_run(WF, trigger_name="nightly")
    emulator.inject(Fault(method="POST", path="/api/v1/workflows/", status=502, lost_answer=True))
    run = hook.trigger_workflow_run(WF, trigger_name="nightly")
    newest = max(emulator.runs.values(), key=lambda r: r["created_at"])
    assert run["id"] == newest["id"] and len(emulator.runs) == 4


def test_newest_run_is_chosen_by_created_at_not_list_position(emulator):
    hook = CasedHook()
    ids = [hook.trigger_workflow_run(WF, trigger_name="n")["id"] for _ in range(3)]
    for oldest_first in (False, True):
        emulator.runs_oldest_first = oldest_first
        assert hook.find_run_by_trigger_name(WF, "n")["id"] == ids[-1]


def test_a_proven_newest_first_list_stops_at_the_window(emulator):
    hook = CasedHook()
    for _ in range(150):
        hook.trigger_workflow_run(WF, trigger_name="old")
    since = time.time() + 5  # nothing is that new: one page proves it
    assert hook.find_run_by_trigger_name(WF, "old", created_since=since) is None
    assert len(emulator.requests_to("GET", f"/api/v1/workflows/{WF}/runs/")) == 1


@pytest.mark.parametrize(
    "switches",
    [
        {"list_key": "results"},
        {"cursor_pages": True},
        {"list_key": "results", "cursor_pages": True},
    ],
    ids=["results-key", "cursor-next-links", "both"],
)
def test_lists_follow_next_links_and_the_results_key(emulator, switches):
    hook = CasedHook()
    ids = {hook.trigger_workflow_run(WF)["id"] for _ in range(130)}
    for name, value in switches.items():
        setattr(emulator, name, value)
    assert {r["id"] for r in hook.list_workflow_runs(WF)} == ids


def test_a_next_link_to_another_host_never_gets_the_key(emulator):
    body = (
        '{"workflow_runs": [{"id": "r1"}], "count": 2,'
        ' "next": "https://elsewhere.example/api/v1/workflows/x/runs/?page=2"}'
    )
    last = '{"workflow_runs": [{"id": "r2"}], "count": 2, "next": null}'
    path = f"/api/v1/workflows/{WF}/runs/"
    emulator.inject(Fault(method="GET", path=path, status=200, body=body))
    emulator.inject(Fault(method="GET", path=path, status=200, body=last))
    assert [r["id"] for r in CasedHook().list_workflow_runs(WF)] == ["r1", "r2"]
    second = emulator.requests_to("GET", path)[-1]
    assert second.query["page"] == ["2"], "the next page is asked of the connection's own host"


@pytest.mark.parametrize(
    ("state", "error", "status"),
    [
        ("success", None, "success"),
        ("failed", "boom", "failure"),
        ("up_for_retry", "boom", "running"),
        ("up_for_reschedule", None, "running"),
        ("upstream_failed", None, "failure"),
        ("skipped", None, "cancelled"),
        ("removed", None, "cancelled"),
        ("queued", None, "pending"),
        ("something_new", "boom", "failure"),
        ("something_new", None, "running"),
    ],
)
def test_every_airflow_state_maps_to_an_explicit_deployment_status(state, error, status):
    notifier = CasedDeploymentNotifier(deployment_request="Deploy")
    context = {"ti": SimpleNamespace(state=state, task_id="t", dag_id="d", run_id="r")}
    if error:
        context["exception"] = RuntimeError(error)
    assert notifier.fields_for(context)["status"] == status


def test_multi_project_organisation_needs_repository_full_name(emulator, logs):
    emulator.multi_project = True
    with pytest.raises(CasedApiError, match=r"repository_full_name.*more than one project"):
        CasedHook().notify_deployment("Deploy v1")
    notifier = CasedDeploymentNotifier(deployment_request="Deploy v1")
    notifier.notify({"ti": SimpleNamespace(state="success", task_id="t", dag_id="d", run_id="r")})
    assert logs.count("Could not send the Cased deployment notification") == 1
    assert "requires repository_full_name" in logs()
    assert CasedHook().notify_deployment("Deploy v1", repository_full_name="org/repo")["id"]


@pytest.mark.parametrize(
    ("status", "ends", "ok"),
    [
        ("canceled", True, False),
        ("error", True, False),
        ("errored", True, False),
        ("success", True, True),
        ("succeeded", True, True),
        ("paused", False, False),
    ],
)
def test_common_spellings_of_an_end_end_every_wait(status, ends, ok):
    for spec in (WORKFLOW_RUN, ACTION_EXECUTION, AGENT_SESSION):
        state = spec.state({"status": status})
        assert (state.is_terminal, state.is_successful) == (ends, ok), spec.kind


def test_an_unknown_status_is_logged_again_while_it_lasts(monkeypatch):
    from airflow_provider_cased import _waiting

    monkeypatch.setattr(_waiting, "UNKNOWN_STATUS_WARN_EVERY", 0.05)
    lines: list[str] = []
    log = SimpleNamespace(warning=lambda msg, *a: lines.append(msg % a), info=lambda *a: None)
    waiter = _waiting.Waiter(WORKFLOW_RUN, "r1", 0.01, None, log)
    for _ in range(3):
        waiter.check({"status": "paused"})
        time.sleep(0.06)
    warned = [line for line in lines if "unknown status 'paused'" in line]
    assert len(warned) == 3 and "no timeout is set" in warned[0]


def test_retry_policy_decisions():
    from airflow_provider_cased.exceptions import CasedInputError, CasedRemoteFailure
    from airflow_provider_cased.retry_policy import decide

    assert decide(CasedApiError("x", status_code=401))[0] == "fail"
    assert decide(CasedApiError("x", status_code=404))[0] == "fail"
    assert decide(CasedApiError("x", status_code=429, retry_after=12.0))[:2] == ("retry", 12.0)
    assert decide(CasedApiError("x", status_code=503))[0] == "default"
    assert decide(CasedInputError("bad"))[0] == "fail"
    assert decide(CasedRemoteFailure("f", kind="action_execution"))[0] == "fail"
    assert decide(CasedRemoteFailure("f", kind="workflow_run"))[0] == "default"
    assert decide(RuntimeError("?"))[0] == "default"
