"""Triggers in a real asyncio event loop against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_cased.exceptions import CasedApiError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import CaseDevHook
from airflow_provider_cased.states import normalize_execution
from airflow_provider_cased.testing import Fault
from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger
from airflow_provider_cased.triggers.casedev import CaseDevActionExecutionTrigger


def first_event(trigger):
    async def run():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(run())


def test_serialize_round_trip_is_plain_json():
    import json
    from importlib import import_module

    for trigger in (
        CasedWorkflowRunTrigger("wf_1", "run_1", "my_cased", 2.5, 1_900_000_000.0),
        CaseDevActionExecutionTrigger("exec_1", "my_casedev", 3, None),
    ):
        path, kwargs = trigger.serialize()
        assert json.loads(json.dumps(kwargs)) == kwargs
        module, _, name = path.rpartition(".")
        rebuilt = getattr(import_module(module), name)(**kwargs)
        assert rebuilt.serialize() == (path, kwargs)


def test_run_trigger_reports_success_with_the_run(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review", trigger_name="t")
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "success" and event["remote_id"] == run["id"]
    assert event["answer"]["status"] == "completed" and event["kind"] == "workflow_run"


def test_run_trigger_reports_failed_run(emulator):
    run = CasedHook().trigger_workflow_run("wf_flaky_migration_check")
    event = first_event(
        CasedWorkflowRunTrigger("wf_flaky_migration_check", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "failed" and event["answer"]["status"] == "failed"


def test_trigger_deadline_yields_timeout_event(emulator):
    emulator.add_workflow("Slow", workflow_id="wf_slow", run_seconds=60)
    run = CasedHook().trigger_workflow_run("wf_slow")
    started = time.monotonic()
    event = first_event(
        CasedWorkflowRunTrigger("wf_slow", run["id"], poll_interval=5, end_time=time.time() + 0.5)
    )
    assert event["status"] == "timeout" and "Timed out" in event["message"]
    assert time.monotonic() - started < 2  # the sleep is cut short at the deadline


def test_unknown_status_keeps_polling_and_warns_once(emulator, logs):
    emulator.add_workflow("Odd", workflow_id="wf_odd", statuses=[("paused", 0), ("completed", 2.0)])
    run = CasedHook().trigger_workflow_run("wf_odd")
    event = first_event(CasedWorkflowRunTrigger("wf_odd", run["id"], poll_interval=0.1))
    assert event["status"] == "success"
    assert logs.count("unknown status 'paused'") == 1


def test_api_error_yields_error_event(emulator):
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", "no-such-run", poll_interval=0.1)
    )
    assert event["status"] == "error" and "404" in event["message"]


def test_missing_connection_key_yields_error_event(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NOKEY", '{"conn_type": "cased", "host": "http://127.0.0.1:9"}')
    # A short interval: the connection is read at the first poll, after a random start
    # delay of up to one interval (the operator has read it before it defers).
    event = first_event(CasedWorkflowRunTrigger("wf", "r", conn_id="nokey", poll_interval=0.1))
    assert event["status"] == "error" and "nokey" in event["message"]


def test_plain_http_connection_yields_error_event_without_polling(monkeypatch):
    conn = '{"conn_type": "cased", "host": "http://cased.example", "password": "k"}'
    monkeypatch.setenv("AIRFLOW_CONN_PLAIN", conn)
    event = first_event(CasedWorkflowRunTrigger("wf", "r", conn_id="plain", poll_interval=0.1))
    assert event["status"] == "error" and "allow_plain_http" in event["message"]


@pytest.mark.usefixtures("fast_retries")
def test_trigger_retries_transient_errors_with_the_same_policy(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    emulator.inject(Fault(method="GET", status=503, times=2, headers={"Retry-After": "0"}))
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "success"


def test_execution_trigger(emulator):
    started = CaseDevHook().execute_action("action_contract_review", {"a": 1})
    event = first_event(CaseDevActionExecutionTrigger(started["execution_id"], poll_interval=0.1))
    assert event["status"] == "success" and event["answer"]["status"] == "completed"
    assert event["kind"] == "action_execution"


def test_many_triggers_share_a_few_connections(emulator):
    hook = CasedHook()
    runs = [hook.trigger_workflow_run("wf_weekly_cost_review") for _ in range(60)]
    before = emulator.connections_opened

    async def all_events():
        triggers = [
            CasedWorkflowRunTrigger("wf_weekly_cost_review", r["id"], poll_interval=0.1)
            for r in runs
        ]

        async def first(trigger):
            async for event in trigger.run():
                return event.payload

        return await asyncio.gather(*(first(t) for t in triggers))

    events = asyncio.run(all_events())
    assert [e["status"] for e in events] == ["success"] * 60
    assert emulator.connections_opened - before <= 8


def test_triggers_starting_together_build_one_client_off_the_event_loop(emulator, monkeypatch):
    """The blocking part (library import, TLS context, proxy look-up) runs in a worker thread."""
    import aiohttp

    from airflow_provider_cased.hooks import _transport

    config = CasedHook().config
    blocking_on: list[int] = []
    find_proxy = _transport.env_proxy

    def recording_find_proxy(base_url: str) -> str | None:
        import threading

        blocking_on.append(threading.get_ident())
        return find_proxy(base_url)

    monkeypatch.setattr(_transport, "env_proxy", recording_find_proxy)

    async def many_at_once():
        import threading

        clients = await asyncio.gather(*(_transport.shared_async_client(config) for _ in range(50)))
        return clients, threading.get_ident()

    clients, loop_thread = asyncio.run(many_at_once())
    assert len({id(c) for c in clients}) == 1
    assert isinstance(clients[0].session, aiohttp.ClientSession)
    assert len(blocking_on) == 1 and blocking_on[0] != loop_thread
    # Closed when its loop ended (an aiohttp session left open logs an error).
    assert clients[0].closed


def test_polls_far_apart_reuse_the_idle_connection(emulator):
    """Idle connections outlive the gap between polls (httpx's default 5 s did not): no new
    TLS handshake per poll."""
    from airflow_provider_cased._http import build_request
    from airflow_provider_cased.hooks._transport import AsyncTransport
    from airflow_provider_cased.hooks.cased import ENDPOINTS

    hook = CasedHook()
    run = hook.trigger_workflow_run("wf_weekly_cost_review")
    request = build_request(
        ENDPOINTS["get_workflow_run"],
        {"workflow_id": "wf_weekly_cost_review", "run_id": run["id"]},
    )
    before = emulator.connections_opened

    async def two_polls_apart():
        transport = AsyncTransport(hook.config)
        await transport.send(request)
        await asyncio.sleep(6)
        await transport.send(request)

    asyncio.run(two_polls_apart())
    assert emulator.connections_opened - before == 1


def _outage(emulator, path: str, answers: int = 4, drops: int = 4) -> None:
    """An API outage as a proxy shows it: 503s first, then dropped connections."""
    emulator.inject(Fault(method="GET", path=path, status=503, times=answers))
    emulator.inject(Fault(method="GET", path=path, drop=True, times=drops))


@pytest.mark.usefixtures("fast_retries")
def test_trigger_waits_out_an_outage_longer_than_the_retry_limit(emulator, logs):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    _outage(emulator, "/api/v1/workflows/wf_weekly_cost_review/runs/")
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "success", event
    # Once when the trouble starts, once when it ends: not a line per failed poll.
    assert logs.count("Could not read the status of workflow run") == 1
    assert logs.count("The API answers again for workflow run") == 1
    assert logs.count("retry 1 of") == 0, "polls back off on the wait's clock, not the hook's"


@pytest.mark.usefixtures("fast_retries")
def test_execution_trigger_waits_out_an_outage(emulator):
    started = CaseDevHook().execute_action("action_contract_review", {"a": 1})
    _outage(emulator, f"/actions/v1/executions/{started['execution_id']}")
    event = first_event(CaseDevActionExecutionTrigger(started["execution_id"], poll_interval=0.1))
    assert event["status"] == "success", event


@pytest.mark.usefixtures("fast_retries")
def test_outage_past_the_deadline_is_a_timeout_not_an_error(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    emulator.inject(Fault(method="GET", path="/api/v1/workflows/", status=503, times=0))
    started = time.monotonic()
    event = first_event(
        CasedWorkflowRunTrigger(
            "wf_weekly_cost_review", run["id"], poll_interval=0.2, end_time=time.time() + 1.0
        )
    )
    assert event["status"] == "timeout", event
    assert "no usable answer" in event["message"] and "503" in event["message"]
    assert time.monotonic() - started < 3


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("status", [401, 403, 404])
def test_answers_that_cannot_heal_end_the_wait_at_once(emulator, status):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    emulator.inject(Fault(method="GET", path="/api/v1/workflows/", status=status, times=0))
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "error" and str(status) in event["message"]
    polls = emulator.requests_to("GET", "/api/v1/workflows/wf_weekly_cost_review/runs/")
    assert len(polls) == 1


@pytest.mark.usefixtures("fast_retries")
def test_retry_after_spaces_the_polls_of_a_rate_limited_wait(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    emulator.inject(
        Fault(method="GET", path="/api/v1/workflows/", status=429, headers={"Retry-After": "1"})
    )
    started = time.monotonic()
    event = first_event(
        CasedWorkflowRunTrigger("wf_weekly_cost_review", run["id"], poll_interval=0.1)
    )
    assert event["status"] == "success"
    assert time.monotonic() - started >= 1.0


# -- one budget per API in a triggerer ---------------------------------------------------


def _all_events(triggers):
    async def run():
        async def first(trigger):
            async for event in trigger.run():
                return event.payload

        return await asyncio.gather(*(first(t) for t in triggers))

    return asyncio.run(run())


def _executions(count: int) -> list[str]:
    hook = CaseDevHook()
    return [
        hook.execute_action("action_contract_review", {"n": n})["execution_id"]
        for n in range(count)
    ]


def test_a_429_pauses_every_trigger_of_the_api_not_just_the_one_that_got_it(emulator):
    emulator.run_seconds = 2.0
    ids = _executions(20)
    emulator.inject(
        Fault(
            method="GET", path="/actions/v1/executions/", status=429, headers={"Retry-After": "1"}
        )
    )
    events = _all_events([CaseDevActionExecutionTrigger(i, poll_interval=0.1) for i in ids])
    assert [e["status"] for e in events] == ["success"] * 20
    polls = emulator.requests_to("GET", "/actions/v1/executions/")
    [limited] = [r for r in polls if r.status == 429]
    # Requests already on the wire may land just after it; nothing new starts in the pause.
    in_pause = [r for r in polls if limited.time + 0.2 < r.time < limited.time + 0.9]
    assert in_pause == [], [round(r.time - limited.time, 2) for r in in_pause]


def test_rate_limit_headers_pace_triggers_ahead_of_the_limit(emulator):
    emulator.run_seconds = 4.0
    ids = _executions(30)
    emulator.set_rate_limit(20)
    try:
        events = _all_events([CaseDevActionExecutionTrigger(i, poll_interval=0.5) for i in ids])
        limited = emulator.rate_limited
    finally:
        emulator.set_rate_limit(None)
    assert [e["status"] for e in events] == ["success"] * 30
    polls = emulator.requests_to("GET", "/actions/v1/executions/")
    # 30 triggers polling every 0.5 s offer 60 req/s against a limit of 20 req/s.
    assert limited <= max(1, len(polls) // 100), (limited, len(polls))


def test_hooks_of_one_process_honour_the_same_budget(emulator):
    emulator.set_rate_limit(10)
    try:
        hook = CaseDevHook()
        for _ in range(30):
            hook.get_action("action_summarize")
        limited = emulator.rate_limited
    finally:
        emulator.set_rate_limit(None)
    assert limited <= 1


def test_triggers_deferred_together_do_not_poll_in_lockstep(emulator):
    emulator.run_seconds = 5.0
    ids = _executions(40)
    since = time.time()

    async def first_polls():
        triggers = [CaseDevActionExecutionTrigger(i, poll_interval=2.0) for i in ids]
        tasks = [asyncio.ensure_future(t.run().__anext__()) for t in triggers]
        await asyncio.sleep(2.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(first_polls())
    times = sorted(r.time - since for r in emulator.requests_to("GET", "/actions/v1/executions/"))
    assert len(times) >= 40
    first = times[:40]
    assert first[-1] - first[0] > 1.0, "first polls spread over the interval"


# -- coalesced polling of workflow runs -----------------------------------------------------


def _runs(workflow_id: str, count: int) -> list[str]:
    hook = CasedHook()
    return [hook.trigger_workflow_run(workflow_id)["id"] for _ in range(count)]


def test_waits_on_runs_of_one_workflow_share_one_list_poll(emulator):
    emulator.add_workflow("Batch", workflow_id="wf_batch", run_seconds=2.0)
    run_ids = _runs("wf_batch", 50)
    emulator.clear_faults()
    before = len(emulator.requests)
    events = _all_events(
        [CasedWorkflowRunTrigger("wf_batch", r, poll_interval=0.2) for r in run_ids]
    )
    assert [(e["status"], e["remote_id"], e["answer"]["id"]) for e in events] == [
        ("success", r, r) for r in run_ids
    ]
    polls = [r for r in emulator.requests[before:] if r.method == "GET"]
    singles = [r for r in polls if not r.path.endswith("/runs/")]
    # ~2 s of waiting at 0.2 s: about ten list calls, where 50 triggers used to make ~500 GETs.
    assert singles == [] and len(polls) <= 20, len(polls)


def test_each_trigger_gets_its_own_outcome_and_leaving_ones_do_not_disturb_the_rest(emulator):
    emulator.add_workflow("Mixed ok", workflow_id="wf_ok", run_seconds=1.5)
    emulator.add_workflow("Mixed bad", workflow_id="wf_bad", run_seconds=1.5, outcome="failed")
    good, bad = _runs("wf_ok", 6), _runs("wf_bad", 3)

    async def scenario():
        async def first(trigger):
            async for event in trigger.run():
                return event.payload

        leaving = [
            asyncio.ensure_future(first(CasedWorkflowRunTrigger("wf_ok", r, poll_interval=0.1)))
            for r in good[:3]
        ]
        staying = [
            first(CasedWorkflowRunTrigger(wf, r, poll_interval=0.1))
            for wf, r in [*(("wf_ok", r) for r in good[3:]), *(("wf_bad", r) for r in bad)]
        ]
        await asyncio.sleep(0.4)
        for task in leaving:  # moved to another triggerer, or the task was cleared
            task.cancel()
        return await asyncio.gather(*staying)

    events = asyncio.run(scenario())
    assert [(e["status"], e["answer"]["id"]) for e in events] == [
        *(("success", r) for r in good[3:]),
        *(("failed", r) for r in bad),
    ]
    ended = time.time()
    time.sleep(0.5)
    assert [r for r in emulator.requests if r.time > ended] == [], "no poll outlives its watchers"


def test_runs_beyond_the_pages_read_are_fetched_singly(emulator, monkeypatch):
    from airflow_provider_cased.triggers import _shared_poll

    monkeypatch.setattr(_shared_poll, "MAX_PAGES", 1)
    emulator.add_workflow("Busy", workflow_id="wf_busy", run_seconds=1.0)
    [oldest] = _runs("wf_busy", 1)
    newer = _runs("wf_busy", 110)  # the oldest run is now on the second page
    event = first_event(CasedWorkflowRunTrigger("wf_busy", oldest, poll_interval=0.2))
    assert event["status"] == "success" and event["answer"]["id"] == oldest
    singles = emulator.requests_to("GET", f"/api/v1/workflows/wf_busy/runs/{oldest}/")
    assert singles and len(newer) == 110


def test_session_trigger_reports_completed_and_failed_sessions(emulator):
    from airflow_provider_cased.triggers.cased import CasedAgentSessionTrigger

    hook = CasedHook()
    ok, bad = hook.create_agent_session("fine"), hook.create_agent_session("[fail] it")
    events = _all_events(
        [CasedAgentSessionTrigger(s["session_id"], poll_interval=0.1) for s in (ok, bad)]
    )
    assert [(e["status"], e["kind"], e["answer"]["status"]) for e in events] == [
        ("success", "agent_session", "completed"),
        ("failed", "agent_session", "failed"),
    ]
    path, kwargs = CasedAgentSessionTrigger("s", "c", 1, None).serialize()
    assert path == "airflow_provider_cased.triggers.cased.CasedAgentSessionTrigger"
    assert set(kwargs) == {"session_id", "conn_id", "poll_interval", "end_time", "warn_after"}


# -- waits you can watch --------------------------------------------------------------------


def test_trigger_logs_each_status_change_once_and_steps_as_they_change(emulator, logs):
    emulator.add_action(
        "Three steps", action_id="action_steps", mode="async", steps=3, run_seconds=1.5
    )
    started = CaseDevHook().execute_action("action_steps", {"doc": 1})
    event = first_event(CaseDevActionExecutionTrigger(started["execution_id"], poll_interval=0.05))
    assert event["status"] == "success"
    text = logs()
    execution_id = started["execution_id"]
    assert logs.count(f"Action execution {execution_id}: ") >= 3
    for change in ("running, step 1/3 → running, step 2/3", "running, step 3/3 → completed"):
        assert logs.count(change) == 1, text
    # ~30 polls, a handful of lines: nothing is logged for polls that change nothing.
    assert logs.count(f"Action execution {execution_id}: ") <= 6


def test_warn_after_names_the_run_and_its_link_once(emulator, logs):
    emulator.add_workflow("Long", workflow_id="wf_long", run_seconds=1.2)
    run = CasedHook().trigger_workflow_run("wf_long")
    event = first_event(
        CasedWorkflowRunTrigger("wf_long", run["id"], poll_interval=0.1, warn_after=0.4)
    )
    assert event["status"] == "success"
    assert logs.count("past warn_after=0 s") == 1
    assert f"{emulator.url}/agents/{run['session_id']}" in logs()


# -- the async client (aiohttp) fails and retries as the sync one does -------------------


@pytest.mark.usefixtures("fast_retries")
def test_async_client_retry_gets_through_drops_timeouts_and_503s(emulator):
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    emulator.inject(Fault(method="GET", drop=True))
    emulator.inject(Fault(method="GET", delay=2.5))  # request_timeout is 2 s
    emulator.inject(Fault(method="GET", status=503, headers={"Retry-After": "0"}))
    answer = asyncio.run(CasedHook().a_get_workflow_run("wf_weekly_cost_review", run["id"]))
    assert answer["id"] == run["id"]
    assert len(emulator.requests_to("GET", "/api/v1/workflows/")) == 4


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    "fault",  # a new Fault per test: an injected one counts its uses
    [{"lost_answer": True, "drop": True}, {"lost_answer": True, "delay": 2.5}, {"status": 503}],
)
def test_async_client_never_repeats_a_post_the_server_may_have_acted_on(emulator, fault):
    emulator.inject(Fault(method="POST", path="/api/v1/deployments/", **fault))
    with pytest.raises(CasedApiError):
        asyncio.run(CasedHook().a_notify_deployment("deploy"))
    assert len(emulator.requests_to("POST", "/api/v1/deployments/")) == 1


def test_async_client_does_not_follow_redirects(emulator):
    emulator.inject(
        Fault(method="GET", status=301, headers={"Location": "https://elsewhere.example/"})
    )
    with pytest.raises(CasedApiError, match="redirected"):
        asyncio.run(CasedHook().a_get_workflow_run("wf_weekly_cost_review", "r_1"))
    assert len(emulator.requests) == 1


def test_the_proxy_comes_from_the_environment(monkeypatch):
    from airflow_provider_cased.hooks._transport import env_proxy

    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://app.cased.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "cased.internal.example")
    assert env_proxy("https://app.cased.com") == "http://proxy.internal:3128"
    assert env_proxy("https://cased.internal.example") is None
    assert env_proxy("http://127.0.0.1:8080") is None  # no HTTP_PROXY set


# -- the trigger's on_kill (Airflow 3.3 calls it on mark failed/success or clear) ---------


def _killed_after_first_poll(trigger) -> None:
    async def scenario() -> None:
        async def consume() -> None:
            async for _ in trigger.run():
                pass

        task = asyncio.create_task(consume())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if trigger._last_response:
                break
        task.cancel()  # what the triggerer does first, then on_kill
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.on_kill()

    asyncio.run(scenario())


def test_trigger_on_kill_logs_the_abandoned_run_with_its_link(slow, logs):
    run = CasedHook().trigger_workflow_run("wf_slow", trigger_name="k")
    _killed_after_first_poll(CasedWorkflowRunTrigger("wf_slow", run["id"], poll_interval=0.1))
    assert f"Abandoned workflow run {run['id']}: {slow.url}/agents/{run['session_id']}" in logs()
    assert "neither API can cancel it" in logs()


def test_trigger_on_kill_of_an_execution_names_its_api_url(emulator, logs):
    answer = CaseDevHook().execute_action("action_contract_review", {"doc": "x"})
    execution_id = normalize_execution(answer)["execution_id"]
    _killed_after_first_poll(CaseDevActionExecutionTrigger(execution_id, poll_interval=0.1))
    assert (
        f"Abandoned action execution {execution_id}: "
        f"{emulator.url}/actions/v1/executions/{execution_id}" in logs()
    )
