"""Event-driven scheduling: CasedWorkflowRunEventTrigger in a real event loop against
the emulator (issue 12). Airflow 3 only; on 2.11 importing it is a clear error."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_cased.compat import AIRFLOW_V3
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.testing import Fault

pytestmark = pytest.mark.skipif(not AIRFLOW_V3, reason="AssetWatcher triggers need Airflow 3")


def events_of(trigger, *, until: int, within: float, during=None):
    """Events the trigger yields, until ``until`` arrived or ``within`` seconds passed;
    ``during(elapsed)`` runs each 0.05 s (to start runs while it watches)."""

    async def watch():
        found: list[dict] = []

        async def consume():
            # Like the triggerer: keep iterating after an event (the watcher then saves
            # its watermark), until told to stop.
            async for event in trigger.run():
                found.append(event.payload)

        task = asyncio.ensure_future(consume())
        started = time.monotonic()
        enough_at = None
        while not task.done() and time.monotonic() - started < within:
            if during is not None:
                await asyncio.to_thread(during, time.monotonic() - started)
            if enough_at is None and len(found) >= until:
                enough_at = time.monotonic()
            if enough_at is not None and time.monotonic() - enough_at > 0.3:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return found

    return asyncio.run(watch())


def trigger(**kwargs):
    from airflow_provider_cased.triggers.cased import CasedWorkflowRunEventTrigger

    kwargs.setdefault("poll_interval", 0.1)
    return CasedWorkflowRunEventTrigger(**kwargs)


class Starter:
    """Starts runs (through the API, as someone outside Airflow would) at given times."""

    def __init__(self, plan):
        self.plan = sorted(plan)  # (seconds after the watch began, workflow id)
        self.started: list[dict] = []

    def __call__(self, elapsed: float) -> None:
        while self.plan and self.plan[0][0] <= elapsed:
            _, workflow_id = self.plan.pop(0)
            self.started.append(CasedHook().trigger_workflow_run(workflow_id))


@pytest.fixture
def workflows(emulator):
    emulator.add_workflow("Review", workflow_id="wf_review", run_seconds=0.3)
    emulator.add_workflow(
        "Review bad", workflow_id="wf_review_bad", run_seconds=0.3, outcome="failed"
    )
    return emulator


def test_history_is_never_replayed_and_each_run_is_one_event(workflows):
    hook = CasedHook()
    history = [hook.trigger_workflow_run("wf_review") for _ in range(3)]
    time.sleep(0.5)  # they ended before the watcher started
    starter = Starter([(0.3, "wf_review"), (0.5, "wf_review")])
    found = events_of(trigger(workflow_id="wf_review"), until=3, within=3.0, during=starter)
    assert [e["run_id"] for e in found] == [r["id"] for r in starter.started]
    assert not {r["id"] for r in history} & {e["run_id"] for e in found}
    event = found[0]
    assert event["status"] == "completed" and event["workflow_id"] == "wf_review"
    assert event["link"].endswith(f"/agents/{event['session_id']}") and event["ended_at"]


def test_status_filter(workflows):
    workflows.add_workflow("Mixed", workflow_id="wf_mixed", run_seconds=0.3)
    starter = Starter([(0.2, "wf_mixed")])
    bad = Starter([(0.2, "wf_review_bad")])
    failed_only = trigger(workflow_id="wf_review_bad", statuses=["failed"])

    found = events_of(failed_only, until=2, within=2.0, during=lambda t: (starter(t), bad(t)))
    assert [(e["run_id"], e["status"]) for e in found] == [(bad.started[0]["id"], "failed")]


class MemoryStateStore:
    """Stands in for the asset state store Airflow 3.3 injects (``aget``/``aset``)."""

    def __init__(self):
        self.values: dict = {}

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.values[key] = value


def test_a_restarted_watcher_neither_re_emits_nor_misses(workflows):
    store = MemoryStateStore()
    first = trigger(workflow_id="wf_review")
    first.asset_state_store = store
    before = Starter([(0.2, "wf_review")])
    found_before = events_of(first, until=1, within=2.0, during=before)
    assert [e["run_id"] for e in found_before] == [before.started[0]["id"]]
    # The triggerer is down: a run starts and ends meanwhile.
    while_down = CasedHook().trigger_workflow_run("wf_review")
    time.sleep(0.5)
    restarted = trigger(workflow_id="wf_review")
    restarted.asset_state_store = store
    found_after = events_of(restarted, until=2, within=1.5)
    assert [e["run_id"] for e in found_after] == [while_down["id"]]
    # Without a state store (Airflow 3.0-3.2) a restart starts from now: that run is lost.
    assert events_of(trigger(workflow_id="wf_review"), until=1, within=1.0) == []


def test_siblings_share_one_poll_key_and_a_watcher_polls_once_per_interval(workflows):
    a = trigger(workflow_id="wf_review", statuses=["failed"])
    b = trigger(workflow_id="wf_review", statuses=["completed"], cased_conn_id="cased_default")
    other = trigger(workflow_id="wf_review_bad")
    assert a.shared_stream_key() == b.shared_stream_key() != other.shared_stream_key()
    events_of(trigger(workflow_id="wf_review", poll_interval=0.25), until=99, within=1.6)
    polls = workflows.requests_to("GET", "/api/v1/workflows/wf_review/runs/")
    assert 4 <= len(polls) <= 8, len(polls)


def test_api_trouble_never_ends_the_watcher(workflows, logs):
    workflows.inject(
        Fault(method="GET", path="/api/v1/workflows/wf_review/runs/", status=503, times=5)
    )
    workflows.inject(
        Fault(method="GET", path="/api/v1/workflows/wf_review/runs/", drop=True, times=3)
    )
    starter = Starter([(0.1, "wf_review")])
    found = events_of(trigger(workflow_id="wf_review"), until=1, within=6.0, during=starter)
    assert [e["run_id"] for e in found] == [starter.started[0]["id"]]
    assert logs.count("the API gives no usable answer") == 1
    assert logs.count("the API answers again") == 1


def test_an_answer_that_cannot_heal_is_logged_and_the_watcher_goes_on(workflows, logs):
    found = events_of(trigger(workflow_id="wf_missing"), until=1, within=1.0)
    assert found == []
    assert logs.count("Watching workflow wf_missing failed") == 1  # not once per poll


def test_serialized_form_is_stable_and_checked():
    from airflow_provider_cased.triggers.cased import CasedWorkflowRunEventTrigger

    path, kwargs = trigger(workflow_id="wf_review", statuses=["failed"]).serialize()
    assert path == "airflow_provider_cased.triggers.cased.CasedWorkflowRunEventTrigger"
    assert kwargs == {
        "workflow_id": "wf_review",
        "statuses": ["failed"],
        "conn_id": "cased_default",
        "poll_interval": 0.1,
    }
    assert CasedWorkflowRunEventTrigger(**kwargs).serialize() == (path, kwargs)
    with pytest.raises(ValueError, match="statuses"):
        trigger(workflow_id="wf_review", statuses=["done"])
