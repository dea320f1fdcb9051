"""Child of bench_triggers.py: N triggers in one asyncio event loop, like one triggerer.

``--impl cased`` runs ``CasedWorkflowRunTrigger``; ``--impl dbt`` runs the dbt Cloud
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
"""

from __future__ import annotations

import argparse
import asyncio
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


def create_runs(client: EmulatorClient, n: int, min_run: float, max_run: float) -> list[dict]:
    """N runs ending uniformly between ``min_run`` and ``max_run`` seconds from now."""
    buckets = min(n, WORKFLOW_BUCKETS)
    workflows = []
    for k in range(buckets):
        seconds = min_run + (max_run - min_run) * (k / max(1, buckets - 1))
        wf = client.call(
            "POST", "/_emulator/workflows", {"name": f"bench {k}", "run_seconds": seconds}
        )
        workflows.append((wf["id"], seconds))
    runs = []
    for i in range(n):
        # Longest runs first: a run created late in set-up is a short one, so every run
        # still ends >= min_run after the triggers start, however long set-up took.
        wf_id, seconds = workflows[buckets - 1 - i * buckets // n]
        run = client.call("POST", f"/api/v1/workflows/{wf_id}/runs/", {}, auth=True)
        # The emulator stamps created_at when it starts the run's clock.
        runs.append(
            {"workflow": wf_id, "id": run["id"], "end": iso_to_epoch(run["created_at"]) + seconds}
        )
    return runs


def cased_triggers(runs: list[dict], poll: float, deadline: float) -> list[Any]:
    from airflow_provider_cased.triggers.cased import CasedWorkflowRunTrigger

    return [
        CasedWorkflowRunTrigger(r["workflow"], r["id"], "cased_default", poll, deadline)
        for r in runs
    ]


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


async def run_triggers(triggers: list[Any], timeout: float) -> tuple[list[Any], list[float]]:
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag_monitor() -> None:
        # How late a 100 ms sleep wakes up: the event loop's own queueing delay.
        while not stop.is_set():
            start = loop.time()
            await asyncio.sleep(0.1)
            lags.append(loop.time() - start - 0.1)

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
    return outcomes, lags


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=("cased", "dbt"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--cafile", required=True)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--min-run", type=float, default=10.0)
    parser.add_argument("--max-run", type=float, default=30.0)
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--profile", help="write a cProfile of the trigger phase here")
    args = parser.parse_args()
    # A triggerer writes INFO lines to per-trigger log files; here they would only cost I/O.
    logging.getLogger().setLevel(logging.WARNING)

    make = cased_triggers if args.impl == "cased" else dbt_triggers
    make([], args.poll, 0.0)  # import everything before any run's clock starts

    client = EmulatorClient(args.url, args.cafile)
    setup_start = time.time()
    runs = create_runs(client, args.triggers, args.min_run, args.max_run)
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
    outcomes, lags = asyncio.run(run_triggers(triggers, args.max_run + 180))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)

    cpu = time.process_time() - cpu_start
    wall = time.time() - wall_start
    server_cpu = server_cpu_seconds(args.server_pid) - server_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    client = EmulatorClient(args.url, args.cafile)
    after = client.call("GET", "/_emulator/stats")
    timeline = []
    if after["connections_opened"] - before["connections_opened"] <= 50:
        # Per connection: when it carried its first and last poll and how many (seconds
        # from the start of the trigger phase); shows when and why connections were opened.
        spans: dict[int, list[float]] = {}
        for record in client.call("GET", "/_emulator/requests?method=GET&path=/api/v1/"):
            at = record["time"] - wall_start
            span = spans.setdefault(record["connection_id"], [at, at, 0])
            span[0], span[1], span[2] = min(span[0], at), max(span[1], at), span[2] + 1
        timeline = [[round(a, 2), round(b, 2), n] for a, b, n in sorted(spans.values())]
    client.close()

    ok, delays, problems = 0, [], []
    for run, outcome in zip(runs, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            problems.append(f"{type(outcome).__name__}: {outcome}")
            continue
        seen, payload = outcome
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

    result = {
        "impl": args.impl,
        "triggers": args.triggers,
        "poll": args.poll,
        "ok": ok,
        "problems": problems[:5],
        "problem_count": len(problems),
        "delay_p50": percentile(delays, 50),
        "delay_p99": percentile(delays, 99),
        "delay_max": max(delays) if delays else math.nan,
        "peak_rss_mb": peak_mb,
        "rss_before_mb": rss_before,
        "cpu_s": cpu,
        "wall_s": wall,
        "server_cpu_s": server_cpu,
        "connections": after["connections_opened"] - before["connections_opened"],
        "requests": after["requests"] - before["requests"],
        "loop_lag_p99": percentile(lags, 99),
        "loop_lag_max": max(lags) if lags else math.nan,
        "connection_spans": timeline,
        "setup_s": setup_s,
    }
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
