"""Triggerer scale: N concurrent ``CasedWorkflowRunTrigger``s in one event loop, over HTTPS.

For each measurement: a throwaway CA and server certificate are made, the
emulator starts in its own process serving HTTPS with them, and a fresh worker
process (``_trigger_worker.py``) trusts the CA through ``SSL_CERT_FILE``, creates
N runs ending uniformly 10-30 s later and runs every trigger to its first event
(poll interval 2 s). Reported: correct success events, detection delay (event
time minus the run's end) p50/p99, the worker's peak RSS and CPU seconds, the
TLS connections the emulator saw, and the event loop's lag.

Baseline in the same run: the dbt Cloud provider's real trigger (a new aiohttp
session, so a new TLS connection, per poll), adapted to the emulator's paths
(see ``_trigger_worker.py``), from the anchor venv.

    python benchmarks/bench_triggers.py [--triggers 1000 5000] [--baseline 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import anchor_python, run_trigger_worker, write_json

POLL = 2.0
TARGET_TRIGGERS = 1000  # the targets hold up to this many; above, growth is reported
TARGET_P99_SLACK = 1.0  # p99 delay <= poll interval + 1 s
TARGET_RSS_MB = 250.0
TARGET_CONNECTIONS = 10


def measure(
    impl: str,
    python: Path,
    n: int,
    tls_dir: Path,
    args: argparse.Namespace,
    *,
    runs: tuple[float, float] | None = None,
) -> dict:
    min_run, max_run = runs or (args.min_run, args.max_run)
    worker_args = [
        f"--impl={impl}",
        f"--triggers={n}",
        f"--poll={args.poll}",
        f"--min-run={min_run}",
        f"--max-run={max_run}",
    ]
    if args.profile_dir and runs is None:
        worker_args.append(f"--profile={Path(args.profile_dir).resolve() / f'{impl}-{n}.prof'}")
    return run_trigger_worker(python, tls_dir, f"{impl}-{n}", worker_args)


def show(r: dict, poll: float) -> None:
    print(
        f"  {r['impl']:5} {r['triggers']:5} triggers: ok {r['ok']}/{r['triggers']}; "
        f"delay p50 {r['delay_p50']:.2f} s, p99 {r['delay_p99']:.2f} s, max {r['delay_max']:.2f} s; "
        f"peak RSS {r['peak_rss_mb']:.0f} MB (before triggers {r['rss_before_mb']:.0f}); "
        f"CPU {r['cpu_s']:.1f} s over {r['wall_s']:.0f} s; connections {r['connections']}; "
        f"requests {r['requests']}; server CPU {r['server_cpu_s']:.1f} s; "
        f"loop lag p99 {r['loop_lag_p99'] * 1000:.0f} ms"
    )
    spans = r.get("connection_spans") or []
    if spans and len(spans) <= 20:
        # When each connection first/last carried a poll, and how many: shows churn.
        shown = ", ".join(f"{a:g}-{b:g} s x{n}" for a, b, n in spans)
        print(f"        connections (first-last poll, polls): {shown}")
    for problem in r["problems"]:
        print(f"        problem: {problem}")


def verdict(r: dict, poll: float) -> str:
    checks = [
        ("all ok", r["ok"] == r["triggers"]),
        (f"p99 <= {poll + TARGET_P99_SLACK:.0f} s", r["delay_p99"] <= poll + TARGET_P99_SLACK),
        (f"RSS <= {TARGET_RSS_MB:.0f} MB", r["peak_rss_mb"] <= TARGET_RSS_MB),
        (f"<= {TARGET_CONNECTIONS} connections", r["connections"] <= TARGET_CONNECTIONS),
    ]
    return "; ".join(f"{name}: {'PASS' if good else 'FAIL'}" for name, good in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--triggers", type=int, nargs="+", default=[1000], help="N to measure")
    parser.add_argument(
        "--baseline",
        type=int,
        nargs="*",
        default=None,
        help="N for the dbt Cloud baseline (default: the smallest --triggers; none to skip)",
    )
    parser.add_argument("--poll", type=float, default=POLL)
    parser.add_argument("--min-run", type=float, default=10.0)
    parser.add_argument("--max-run", type=float, default=30.0)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--profile-dir", help="also write a cProfile of each trigger phase here")
    args = parser.parse_args(argv)
    baseline = [min(args.triggers)] if args.baseline is None else args.baseline
    anchor = anchor_python() if baseline else None

    print(
        f"Triggerer scale over HTTPS, poll {args.poll:g} s, runs end "
        f"{args.min_run:g}-{args.max_run:g} s after creation"
    )
    results: dict = {"poll": args.poll, "cased": {}, "dbt": {}}
    with tempfile.TemporaryDirectory(prefix="cased-bench-tls-") as tmp:
        # Warm-up: compiles and caches the bytecode of everything imported lazily on the
        # first poll, so the first measurement does not pay for the compiler.
        measure("cased", Path(sys.executable), 20, Path(tmp), args, runs=(0.5, 1.0))
        if anchor is not None:
            measure("dbt", anchor, 20, Path(tmp), args, runs=(0.5, 1.0))
        for n in args.triggers:
            r = measure("cased", Path(sys.executable), n, Path(tmp), args)
            results["cased"][str(n)] = r
            show(r, args.poll)
            if n <= TARGET_TRIGGERS:
                print(f"        targets: {verdict(r, args.poll)}")
            else:
                # The targets are set for 1,000 (Airflow's default triggerer capacity).
                print(f"        no target above {TARGET_TRIGGERS} triggers: growth is reported")
        for n in baseline:
            if anchor is None:
                print("  anchor venv unavailable: dbt Cloud baseline skipped")
                break
            r = measure("dbt", anchor, n, Path(tmp), args)
            results["dbt"][str(n)] = r
            show(r, args.poll)
    ns = sorted(results["cased"], key=int)
    if len(ns) > 1:
        lo, hi = results["cased"][ns[0]], results["cased"][ns[-1]]
        scale = int(ns[-1]) / int(ns[0])
        lo_mem = lo["peak_rss_mb"] - lo["rss_before_mb"]
        hi_mem = hi["peak_rss_mb"] - hi["rss_before_mb"]
        print(
            f"  growth {ns[0]} -> {ns[-1]} triggers (x{scale:g}): "
            f"delay p99 {lo['delay_p99']:.2f} -> {hi['delay_p99']:.2f} s, "
            f"CPU {lo['cpu_s']:.1f} -> {hi['cpu_s']:.1f} s (x{hi['cpu_s'] / lo['cpu_s']:.2f}), "
            f"RSS above start-up {lo_mem:.0f} -> {hi_mem:.0f} MB"
        )
    for n, base in results["dbt"].items():
        ours = results["cased"].get(n)
        if ours:
            print(
                f"  vs dbt Cloud at {n}: CPU x{ours['cpu_s'] / base['cpu_s']:.2f}, "
                f"server CPU x{ours['server_cpu_s'] / base['server_cpu_s']:.2f}, "
                f"peak RSS x{ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}, "
                f"connections {ours['connections']} vs {base['connections']}, "
                f"delay p99 {ours['delay_p99']:.2f} vs {base['delay_p99']:.2f} s"
            )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
