"""Per-call overhead: ``CasedHook.get_workflow_run`` versus a bare ``requests.Session``.

Both make the same GET (same URL, same Authorization header, keep-alive) to the
emulator, which runs in its own process over plain HTTP so that the client's
cost is as large a share of each call as it can be. The two sides alternate in
blocks of ``--block`` calls (ABBA order) to cancel drift; each side makes ``-n``
timed calls after a warm-up. The bare side also decodes the JSON and checks the
status, as any real caller would.

    python benchmarks/bench_calls.py [-n 2000] [--block 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from _common import API_KEY, EmulatorClient, EmulatorProcess, airflow_env, write_json

TARGET_RATIO = 1.15
WORKFLOW = "wf_weekly_cost_review"  # seeded by the emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=2000, help="timed calls per side")
    parser.add_argument("--block", type=int, default=20, help="calls per block")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    with EmulatorProcess() as emulator:
        setup = EmulatorClient(emulator.url)
        run = setup.call("POST", f"/api/v1/workflows/{WORKFLOW}/runs/", {}, auth=True)
        setup.close()
        # Airflow reads the connection from the environment; set it before the import.
        env = airflow_env(
            {
                "AIRFLOW_CONN_CASED_DEFAULT": json.dumps(
                    {"conn_type": "cased", "host": emulator.url, "password": API_KEY}
                )
            }
        )
        os.environ.update(env)
        result = measure(emulator.url, run["id"], args.n, args.block)
    write_json(args.json, result)
    return 0


def measure(base_url: str, run_id: str, n: int, block: int) -> dict:
    import requests

    from airflow_provider_cased.hooks.cased import CasedHook

    hook = CasedHook("cased_default")
    url = f"{base_url}/api/v1/workflows/{WORKFLOW}/runs/{run_id}/"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"})

    def via_hook() -> object:
        return hook.get_workflow_run(WORKFLOW, run_id)

    def bare() -> object:
        # Same timeouts and redirect policy as the hook, so only the wrapper differs.
        answer = session.get(url, timeout=(10.0, 60.0), allow_redirects=False)
        answer.raise_for_status()
        return answer.json()

    assert via_hook()["id"] == run_id and bare()["id"] == run_id
    for _ in range(max(50, block)):  # warm-up: connections open, caches filled
        via_hook()
        bare()

    sides = {"hook": via_hook, "bare": bare}
    totals = {"hook": 0.0, "bare": 0.0}
    cpu = {"hook": 0.0, "bare": 0.0}
    ratios: list[float] = []
    blocks = max(1, n // block)
    for index in range(blocks):
        order = ("hook", "bare") if index % 4 in (0, 3) else ("bare", "hook")  # ABBA
        spent = {}
        for name in order:
            call = sides[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(block):
                call()
            spent[name] = time.perf_counter() - start
            totals[name] += spent[name]
            # Client CPU only (the server is another process): the wrapper's own cost.
            cpu[name] += time.process_time() - start_cpu
        ratios.append(spent["hook"] / spent["bare"])
    calls = blocks * block
    hook_ms = totals["hook"] / calls * 1000
    bare_ms = totals["bare"] / calls * 1000
    ratio = totals["hook"] / totals["bare"]
    result = {
        "calls_per_side": calls,
        "block": block,
        "hook_ms": hook_ms,
        "bare_ms": bare_ms,
        "ratio": ratio,
        "block_ratio_median": statistics.median(ratios),
        "overhead_us": (hook_ms - bare_ms) * 1000,
        "hook_cpu_ms": cpu["hook"] / calls * 1000,
        "bare_cpu_ms": cpu["bare"] / calls * 1000,
    }
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(
        f"Per-call overhead, {calls} sequential get_workflow_run calls per side, "
        f"blocks of {block} alternating (emulator in its own process, plain HTTP)"
    )
    print(
        f"  CasedHook           {hook_ms:6.3f} ms/call  (client CPU {result['hook_cpu_ms']:.3f} ms)"
    )
    print(
        f"  bare requests       {bare_ms:6.3f} ms/call  (client CPU {result['bare_cpu_ms']:.3f} ms)"
    )
    print(
        f"  ratio {ratio:.3f} (median of block ratios {result['block_ratio_median']:.3f}); "
        f"wrapper cost {result['overhead_us']:.0f} us/call; "
        f"target <= {TARGET_RATIO}: {verdict}"
    )
    return result


if __name__ == "__main__":
    sys.exit(main())
