"""Child of bench_triggers.py and bench_fanout.py: N triggers in one asyncio event loop, like one triggerer.

``--impl cased`` runs ``CasedWorkflowRunTrigger`` (``--kind runs``, spread over
``--workflows`` workflows) or ``CaseDevActionExecutionTrigger`` (``--kind
executions``); ``--impl dbt`` runs the dbt Cloud
provider's real ``DbtCloudRunJobTrigger`` (needs the anchor venv), with two
adapters so it can talk to our emulator: its URL builder maps
``/api/v2/accounts/{account}/runs/{run}/`` to ``/api/v1/workflows/{wf}/runs/{run}/``
and its status reader maps the Cased status words to dbt's codes. Everything
else is dbt's own code: a new aiohttp session (so a new TLS connection) per poll,
tenacity retries, the async connection lookup.

The worker creates the runs itself (after its imports, so run clocks do not tick
during start-up), then runs every trigger's ``run()`` to its first event and
writes one JSON object to ``--out``. Each worker is a fresh process, so
``ru_maxrss`` is this measurement's peak alone.

``--rate-limit RPS`` switches the emulator's rate-limit mode on (429 +
``Retry-After`` + ``x-ratelimit-*`` beyond RPS) after set-up, just before the
triggers start, so set-up is never throttled and the bucket starts full.
``--variant`` patches the transport at run time to measure a proposed change
(see bench_fanout.py); the default measures the package as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import math
import resource
import time
from pathlib import Path
from typing import Any

from _common import EmulatorClient, iso_to_epoch, percentile, server_cpu_seconds

WORKFLOW_BUCKETS = 200  # distinct run durations, evenly spaced


def rss_now_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return math.nan
    return pages * resource.getpagesize() / 2**20


def durations(n: int, min_run: float, max_run: float) -> list[float]:
    """N run lengths spread evenly over [min_run, max_run], longest first.

    Longest first: a run created late in set-up is a short one, so every run still
    ends >= min_run after the triggers start, however long set-up took.
    """
    if n == 1:
        return [max_run]
    return [max_run - (max_run - min_run) * i / (n - 1) for i in range(n)]


def create_runs(
    client: EmulatorClient, n: int, min_run: float, max_run: float, workflows: int = 0
) -> list[dict]:
    """N runs ending spread between ``min_run`` and ``max_run`` seconds from now.

    ``workflows=0``: one workflow per distinct run length (up to 200), the original
    shape. Otherwise the runs are dealt round-robin to that many workflows; the
    emulator's run length is a workflow setting, so each workflow is re-posted
    (same id) with the next run's length just before that run is created, and
    every run gets its own end: spread evenly over [min_run, max_run] after the
    expected end of set-up (the median of 20 calibration runs, with a margin).
    """
    if not workflows:
        buckets = min(n, WORKFLOW_BUCKETS)
        made = []
        for k in range(buckets):
            seconds = min_run + (max_run - min_run) * (k / max(1, buckets - 1))
            wf = client.call(
                "POST", "/_emulator/workflows", {"name": f"bench {k}", "run_seconds": seconds}
            )
            made.append((wf["id"], seconds))
        plan = [made[buckets - 1 - i * buckets // n] for i in range(n)]
    else:
        ids = [
            client.call("POST", "/_emulator/workflows", {"name": f"bench {k}"})["id"]
            for k in range(workflows)
        ]
        plan = [
            (ids[i % workflows], seconds)
            for i, seconds in enumerate(durations(n, min_run, max_run))
        ]
    runs = []
    current: dict[str, float] = {}
    per_run = 0.0  # seconds of set-up per run, measured on a throwaway workflow
    if workflows:
        spare = client.call("POST", "/_emulator/workflows", {"name": "calibration"})["id"]
        took = []
        for k in range(20):
            tick = time.time()
            body = {"workflow_id": spare, "name": "calibration", "run_seconds": 600 + k}
            client.call("POST", "/_emulator/workflows", body)
            client.call("POST", f"/api/v1/workflows/{spare}/runs/", {}, auth=True)
            took.append(time.time() - tick)
        # The median: one stall of a loaded machine must not push every run far out.
        per_run = sorted(took)[len(took) // 2]
    # Every run gets its own length, chosen so that it ends at a planned moment: the
    # expected end of set-up (with a margin) plus its share of [min_run, max_run]. The
    # moment is fixed once, so the spread of the ends is exact whatever set-up takes.
    setup_end = time.time() + per_run * len(plan) * 1.3 + 1.0
    for wf_id, planned in plan:
        seconds = planned
        if workflows:
            seconds = round(max(1.0, setup_end + planned - time.time()), 3)
        if workflows and current.get(wf_id) != seconds:
            client.call(
                "POST",
                "/_emulator/workflows",
                {"workflow_id": wf_id, "name": f"bench {wf_id}", "run_seconds": seconds},
            )
            current[wf_id] = seconds
        run = client.call("POST", f"/api/v1/workflows/{wf_id}/runs/", {}, auth=True)
        # The emulator stamps created_at when it starts the run's clock.
        runs.append(
            {"workflow": wf_id, "id": run["id"], "end": iso_to_epoch(run["created_at"]) + seconds}
        )
    return runs


def create_executions(client: EmulatorClient, n: int, min_run: float, max_run: float) -> list[dict]:
    """N async case.dev executions ending spread between ``min_run`` and ``max_run`` s from now."""
    buckets = min(n, WORKFLOW_BUCKETS)
    actions = []
    for k in range(buckets):
        seconds = min_run + (max_run - min_run) * (k / max(1, buckets - 1))
        action = client.call(
            "POST",
            "/_emulator/actions",
            {"name": f"bench {k}", "mode": "async", "run_seconds": seconds},
        )
        actions.append((action["id"], seconds))
    runs = []
    for i in range(n):
        action_id, seconds = actions[buckets - 1 - i * buckets // n]  # longest first
        started = client.call("POST", f"/actions/v1/{action_id}/execute", {"input": {}}, auth=True)
        execution_id = started["execution_id"]
        view = client.call("GET", f"/actions/v1/executions/{execution_id}", auth=True)
        runs.append({"id": execution_id, "end": iso_to_epoch(view["createdAt"]) + seconds})
    return runs


def cased_triggers(runs: list[dict], poll: float, deadline: float) -> list[Any]:
    from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger

    return [
        CasedWorkflowRunTrigger(r["workflow"], r["id"], "cased_default", poll, deadline)
        for r in runs
    ]


def casedev_triggers(runs: list[dict], poll: float, deadline: float) -> list[Any]:
    from airflow_provider_cased.triggers.casedev import CaseDevActionExecutionTrigger

    return [CaseDevActionExecutionTrigger(r["id"], "casedev_default", poll, deadline) for r in runs]


def dbt_triggers(runs: list[dict], poll: float, deadline: float) -> list[Any]:
    from airflow.providers.dbt.cloud.hooks.dbt import DbtCloudHook
    from airflow.providers.dbt.cloud.triggers import dbt as dbt_triggers_module

    codes = {"completed": 10, "failed": 20, "cancelled": 30}  # dbt: SUCCESS, ERROR, CANCELLED

    class EmulatorDbtCloudHook(DbtCloudHook):
        @staticmethod
        def get_request_url_params(
            tenant: str,
            endpoint: str,
            include_related: list[str] | None = None,
            *,
            api_version: str = "v2",
        ) -> tuple[str, dict[str, Any]]:
            # endpoint is "{account_id}/runs/{run_id}/"; the account id carries the workflow id.
            return f"https://{tenant}/api/v1/workflows/{endpoint}", {}

        async def get_job_status(
            self,
            run_id: int,
            account_id: int | None = None,
            include_related: list[str] | None = None,
        ) -> int:
            answer = await self.get_job_details(run_id, account_id=account_id)
            return codes.get(answer["status"], 3)  # 3 = RUNNING

    dbt_triggers_module.DbtCloudHook = EmulatorDbtCloudHook  # type: ignore[misc]
    return [
        dbt_triggers_module.DbtCloudRunJobTrigger(
            conn_id="dbt_cloud_default",
            run_id=r["id"],
            end_time=deadline,
            poll_interval=poll,
            account_id=r["workflow"],
        )
        for r in runs
    ]


async def run_triggers(
    triggers: list[Any], timeout: float, cpu_samples: list[tuple[float, float]]
) -> tuple[list[Any], list[tuple[float, float]]]:
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    lag_times: list[float] = []
    stop = asyncio.Event()

    async def lag_monitor() -> None:
        # How late a 100 ms sleep wakes up: the event loop's own queueing delay. Also
        # samples (wall time, process CPU) for the steady-state CPU per poll.
        while not stop.is_set():
            start = loop.time()
            cpu_samples.append((time.time(), time.process_time()))
            await asyncio.sleep(0.1)
            lags.append(loop.time() - start - 0.1)
            lag_times.append(time.time())

    async def first_event(trigger: Any) -> tuple[float, Any]:
        events = trigger.run()
        try:
            event = await events.__anext__()
        finally:
            await events.aclose()
        return time.time(), event.payload

    monitor = asyncio.create_task(lag_monitor())
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(first_event(t) for t in triggers), return_exceptions=True), timeout
        )
    finally:
        stop.set()
        await monitor
    return outcomes, list(zip(lag_times, lags, strict=True))


def trace_shared_polls(seen: list[tuple[str, float, float]]) -> None:
    """Record (workflow, start, end) of every shared list poll: its period and duration."""
    from airflow_provider_cased.triggers import _shared_poll

    original = _shared_poll.WorkflowRunsPoll._poll_once

    async def traced(self: Any) -> None:
        start = time.time()
        try:
            await original(self)
        finally:
            seen.append((self.workflow_id, start, time.time()))

    _shared_poll.WorkflowRunsPoll._poll_once = traced  # type: ignore[method-assign]


def shared_poll_figures(seen: list[tuple[str, float, float]]) -> dict[str, float]:
    if not seen:
        return {}
    durations = [end - start for _, start, end in seen]
    starts: dict[str, list[float]] = {}
    for workflow, start, _ in seen:
        starts.setdefault(workflow, []).append(start)
    gaps = [b - a for times in starts.values() for a, b in itertools.pairwise(times)]
    return {
        "shared_polls": len(seen),
        "shared_poll_duration_p50": percentile(durations, 50),
        "shared_poll_duration_p99": percentile(durations, 99),
        "shared_poll_period_p50": percentile(gaps, 50),
        "shared_poll_period_p99": percentile(gaps, 99),
        "shared_poll_period_max": max(gaps) if gaps else math.nan,
    }


def steady_state(records: list[dict], samples: list[tuple[float, float]]) -> dict[str, float]:
    """CPU per answered poll once every trigger is polling: start-up excluded.

    Each trigger builds its hook and reads its connection before its first request,
    so from the moment every polled path has been seen once, the process only polls
    (and ends triggers). Window: that moment to the last request of the phase.
    """
    first: dict[str, float] = {}
    for record in records:
        first.setdefault(record["path"], record["time"])
    if not first or len(samples) < 2:
        return {}
    start = max(first.values())
    end = max(r["time"] for r in records)
    polls = sum(1 for r in records if start <= r["time"] <= end and r["status"] == 200)
    if end - start < 2.0 or not polls:
        return {}

    def cpu_at(when: float) -> float:
        before = [s for s in samples if s[0] <= when] or samples[:1]
        return before[-1][1]

    cpu = cpu_at(end) - cpu_at(start)
    return {
        "steady_from_s": start - samples[0][0],
        "steady_to_s": end - samples[0][0],
        "steady_polls": polls,
        "steady_cpu_s": cpu,
        "steady_cpu_per_poll_ms": 1000.0 * cpu / polls,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("cased", "dbt"), required=True)
    parser.add_argument("--kind", choices=("runs", "executions"), default="runs")
    parser.add_argument("--url", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--workflows", type=int, default=0, help="0: one per run length")
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--min-run", type=float, default=10.0)
    parser.add_argument("--max-run", type=float, default=30.0)
    parser.add_argument("--rate-limit", type=float, default=0.0, help="requests/s; 0: off")
    parser.add_argument("--variant", default="", help="a transport patch (see _variants.py)")
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", help="write a cProfile of the trigger phase here")
    args = parser.parse_args()
    # A triggerer writes INFO lines to per-trigger log files; here they would only cost I/O.
    logging.getLogger().setLevel(logging.WARNING)
    if args.impl == "dbt" and args.kind != "runs":
        parser.error("the dbt baseline only polls runs")

    if args.impl == "dbt":
        make = dbt_triggers
    else:
        make = cased_triggers if args.kind == "runs" else casedev_triggers
    make([], args.poll, 0.0)  # import everything before any run's clock starts
    if args.variant:
        from _variants import apply

        apply(args.variant)

    client = EmulatorClient(args.url, args.cafile)
    setup_start = time.time()
    if args.kind == "runs":
        runs = create_runs(client, args.triggers, args.min_run, args.max_run, args.workflows)
    else:
        runs = create_executions(client, args.triggers, args.min_run, args.max_run)
    if args.rate_limit:
        client.call("POST", "/_emulator/rate-limit", {"requests_per_second": args.rate_limit})
    before = client.call("GET", "/_emulator/stats")
    client.close()
    setup_s = time.time() - setup_start

    deadline = time.time() + args.max_run + 120  # a trigger that never sees the end times out
    triggers = make(runs, args.poll, deadline)
    rss_before = rss_now_mb()
    cpu_start, wall_start = time.process_time(), time.time()
    server_start = server_cpu_seconds(args.server_pid)

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_samples: list[tuple[float, float]] = []
    polls_seen: list[tuple[str, float, float]] = []
    if args.impl == "cased" and args.kind == "runs":
        trace_shared_polls(polls_seen)
    outcomes, timed_lags = asyncio.run(run_triggers(triggers, args.max_run + 180, cpu_samples))
    lags = [lag for _, lag in timed_lags]
    cpu_samples.append((time.time(), time.process_time()))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)

    cpu = time.process_time() - cpu_start
    wall = time.time() - wall_start
    server_cpu = server_cpu_seconds(args.server_pid) - server_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    client = EmulatorClient(args.url, args.cafile)
    after = client.call("GET", "/_emulator/stats")
    if args.rate_limit:
        client.call("DELETE", "/_emulator/rate-limit")
    requests = after["requests"] - before["requests"]
    connections = after["connections_opened"] - before["connections_opened"]
    timeline: list[list[float]] = []
    steady: dict[str, float] = {}
    prefix = "/api/v1/" if args.kind == "runs" else "/actions/v1/"
    # The request log of a long run is tens of MB of JSON: only read it when it is not huge.
    if requests <= 150_000:
        records = [
            r
            for r in client.call("GET", f"/_emulator/requests?method=GET&path={prefix}")
            if r["time"] >= wall_start
        ]
        if connections <= 50:
            # Per connection: when it carried its first and last poll and how many (seconds
            # from the start of the trigger phase); shows when and why connections were opened.
            spans: dict[int, list[float]] = {}
            for record in records:
                at = record["time"] - wall_start
                span = spans.setdefault(record["connection_id"], [at, at, 0])
                span[0], span[1], span[2] = min(span[0], at), max(span[1], at), span[2] + 1
            timeline = [[round(a, 2), round(b, 2), n] for a, b, n in sorted(spans.values())]
        steady = steady_state(records, cpu_samples)
    client.close()

    ok, delays, problems = 0, [], []
    statuses: dict[str, int] = {}
    for run, outcome in zip(runs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"{type(outcome).__name__}: {outcome}")
            statuses["exception"] = statuses.get("exception", 0) + 1
            continue
        seen, payload = outcome
        status = str(payload.get("status"))
        statuses[status] = statuses.get(status, 0) + 1
        if args.impl == "cased":
            right = payload.get("status") == "success" and payload.get("remote_id") == run["id"]
            right = right and (payload.get("answer") or {}).get("id") == run["id"]
        else:
            right = payload.get("status") == "success" and payload.get("run_id") == run["id"]
        if right and seen >= run["end"]:
            ok += 1
            delays.append(seen - run["end"])
        else:
            problems.append(json.dumps(payload)[:300])

    rate_limited = after["rate_limited"] if args.rate_limit else 0
    if "steady_from_s" in steady:
        calm = [lag for t, lag in timed_lags if t - wall_start >= steady["steady_from_s"]]
        steady["loop_lag_p99_after_startup"] = percentile(calm, 99)
        steady["loop_lag_max_after_startup"] = max(calm) if calm else math.nan
    steady.update(shared_poll_figures(polls_seen))
    result = {
        "impl": args.impl,
        "kind": args.kind,
        "variant": args.variant,
        "triggers": args.triggers,
        "workflows": args.workflows,
        "poll": args.poll,
        "rate_limit": args.rate_limit,
        "ok": ok,
        "statuses": statuses,
        "problems": problems[:5],
        "problem_count": len(problems),
        "delay_p50": percentile(delays, 50),
        "delay_p99": percentile(delays, 99),
        "delay_max": max(delays) if delays else math.nan,
        # When the runs end, in seconds from the start of the trigger phase.
        "ends_from": min(r["end"] for r in runs) - wall_start,
        "ends_to": max(r["end"] for r in runs) - wall_start,
        "peak_rss_mb": peak_mb,
        "rss_before_mb": rss_before,
        "cpu_s": cpu,
        "wall_s": wall,
        "server_cpu_s": server_cpu,
        "connections": connections,
        "requests": requests,
        "rate_limited": rate_limited,
        "answered": requests - rate_limited,
        "rate_limited_pct": 100.0 * rate_limited / requests if requests else math.nan,
        "cpu_per_answer_ms": 1000.0 * cpu / (requests - rate_limited)
        if requests > rate_limited
        else math.nan,
        "loop_lag_p99": percentile(lags, 99),
        "loop_lag_max": max(lags) if lags else math.nan,
        "connection_spans": timeline,
        **steady,
        "setup_s": setup_s,
    }
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
