"""Fan-out under a rate limit (issue 10 §3-§4): many triggers of one event loop against
an API that answers 429 beyond its budget, and the per-poll CPU cost at 5,000 triggers.

Every measurement is a fresh HTTPS emulator process and a fresh worker process
(``_trigger_worker.py``, see ``_common.run_trigger_worker``). Rate-limited
scenarios switch the emulator's rate-limit mode on after set-up (token bucket
of one second's worth; 429 + ``Retry-After`` + ``x-ratelimit-*-requests``
beyond it; the same headers on every admitted answer).

    S1  1,000 CasedWorkflowRunTrigger over 10 workflows, 50 req/s, poll 2 s, ends over 10 s
    S2  1,000 CaseDevActionExecutionTrigger, 50 req/s, poll 30 s, ends over 60 s
    S3  10,000 CasedWorkflowRunTrigger over 100 workflows, no limit, poll 2 s
    S4  5,000 CaseDevActionExecutionTrigger, no limit, poll 2 s: CPU per answered poll
    S5  dbt Cloud's DbtCloudRunJobTrigger in the S1 and S2 shapes (one GET per run per poll)

Baselines in the same run: dbt Cloud (S1, S2 shapes) from the anchor venv, and
for S4 the same 5,000 triggers with the transport patched to a proposed change
(``_variants.py``), so the CPU figures are ratios taken minutes apart on the
same (shared, noisy) machine.

    python benchmarks/bench_fanout.py [--only S1 S4 ...] [--no-baseline] [--variants V ...]
                                      [--profile-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import anchor_python, run_trigger_worker, write_json


@dataclass
class Scenario:
    key: str
    title: str
    worker_args: list[str]
    targets: list[tuple[str, str, Any]]  # (label, result key, check(value, result) -> bool)
    dbt: bool = False  # also run dbt Cloud's trigger in this shape (S5)
    variants: list[str] = field(default_factory=list)  # proposed transport changes (baselines)
    # False: the server sends no x-ratelimit-* budget (see EmulatorProcess); "no limit".
    budget_headers: bool = True


def _le(limit: float) -> Any:
    return lambda value, result: value <= limit


def _all_ok(value: Any, result: dict) -> bool:
    return bool(value == result["triggers"])


SCENARIOS = [
    Scenario(
        "S1",
        "1,000 workflow-run triggers over 10 workflows, limit 50 req/s, poll 2 s, ends over 10 s",
        [
            "--impl=cased",
            "--kind=runs",
            "--triggers=1000",
            "--workflows=10",
            "--rate-limit=50",
            "--poll=2",
            "--min-run=10",
            "--max-run=20",
        ],
        [
            ("success events = 1,000", "ok", _all_ok),
            ("429 answers <= 1 % of requests", "rate_limited_pct", _le(1.0)),
            ("p99 detection <= 3 s", "delay_p99", _le(3.0)),
        ],
        dbt=True,
    ),
    Scenario(
        "S2",
        "1,000 case.dev execution triggers, limit 50 req/s, poll 30 s, ends over 60 s",
        [
            "--impl=cased",
            "--kind=executions",
            "--triggers=1000",
            "--rate-limit=50",
            "--poll=30",
            "--min-run=5",
            "--max-run=65",
        ],
        [
            ("success events = 1,000", "ok", _all_ok),
            ("429 answers <= 1 % of requests", "rate_limited_pct", _le(1.0)),
        ],
        dbt=True,
    ),
    Scenario(
        "S3",
        "10,000 workflow-run triggers over 100 workflows, no limit, poll 2 s, ends over 10 s",
        [
            "--impl=cased",
            "--kind=runs",
            "--triggers=10000",
            "--workflows=100",
            "--poll=2",
            # Start-up (10,000 connection look-ups) takes several seconds: runs end after it.
            "--min-run=15",
            "--max-run=25",
        ],
        [
            ("success events = 10,000", "ok", _all_ok),
            ("p99 detection <= 3 s", "delay_p99", _le(3.0)),
            ("peak RSS <= 300 MB", "peak_rss_mb", _le(300.0)),
            ("<= 10 connections", "connections", _le(10)),
        ],
        variants=["changes"],
        budget_headers=False,
    ),
    Scenario(
        "S4",
        "5,000 case.dev execution triggers, no limit, poll 2 s, ends over 20 s",
        [
            "--impl=cased",
            "--kind=executions",
            "--triggers=5000",
            "--poll=2",
            "--min-run=10",
            "--max-run=30",
        ],
        [
            ("success events = 5,000", "ok", _all_ok),
            ("CPU per answered poll <= 0.4 ms", "cpu_per_answer_ms", _le(0.4)),
            ("p99 detection <= 3 s", "delay_p99", _le(3.0)),
        ],
        variants=["sharedconfig"],
        budget_headers=False,
    ),
]

FIGURES = [
    # (label, key, format)
    ("success events", "ok", "{:d}"),
    ("events by status", "statuses", "{}"),
    ("detection p50 / p99 / max (s)", ("delay_p50", "delay_p99", "delay_max"), "{:.2f}"),
    ("runs end (s after start)", ("ends_from", "ends_to"), "{:.1f}"),
    ("API requests / 429 answers", ("requests", "rate_limited"), "{:d}"),
    ("429 share (%)", "rate_limited_pct", "{:.2f}"),
    ("requests/s over the phase", "req_per_s", "{:.1f}"),
    ("client CPU (s) / wall (s)", ("cpu_s", "wall_s"), "{:.1f}"),
    ("CPU per answered poll (ms)", "cpu_per_answer_ms", "{:.3f}"),
    ("  same, after start-up (ms)", "steady_cpu_per_poll_ms", "{:.3f}"),
    ("  start-up ends / phase ends (s)", ("steady_from_s", "steady_to_s"), "{:.1f}"),
    ("peak RSS / before triggers (MB)", ("peak_rss_mb", "rss_before_mb"), "{:.0f}"),
    ("TLS connections", "connections", "{:d}"),
    ("server CPU (s)", "server_cpu_s", "{:.1f}"),
    ("event-loop lag p99 / max (s)", ("loop_lag_p99", "loop_lag_max"), "{:.2f}"),
    (
        "  same, after start-up (s)",
        ("loop_lag_p99_after_startup", "loop_lag_max_after_startup"),
        "{:.2f}",
    ),
    ("shared list polls", "shared_polls", "{:d}"),
    (
        "  duration p50 / p99 (s)",
        ("shared_poll_duration_p50", "shared_poll_duration_p99"),
        "{:.2f}",
    ),
    (
        "  period p50 / p99 / max (s)",
        ("shared_poll_period_p50", "shared_poll_period_p99", "shared_poll_period_max"),
        "{:.2f}",
    ),
]


def figure(result: dict, key: Any, fmt: str) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in keys:
        value = result.get(k)
        if value is None:
            parts.append("-")
        elif isinstance(value, float) and math.isnan(value):
            parts.append("n/a")
        elif isinstance(value, dict):
            parts.append(", ".join(f"{s} {n}" for s, n in sorted(value.items())))
        else:
            parts.append(fmt.format(value))
    return " / ".join(parts)


def enrich(result: dict) -> dict:
    result["req_per_s"] = result["requests"] / result["wall_s"] if result["wall_s"] else math.nan
    return result


def label(result: dict) -> str:
    if result["impl"] == "dbt":
        return "dbt Cloud"
    return f"ours+{result['variant']}" if result.get("variant") else "ours"


def print_table(scenario: Scenario, results: list[dict]) -> list[dict]:
    """The scenario's figures side by side, then one row per target: PASS/MISS."""
    print(f"\n{scenario.key}: {scenario.title}")
    names = [label(r) for r in results]
    width = max(34, *(len(n) for n in names))
    colw = max(24, *(len(n) + 2 for n in names))
    print("  " + "measure".ljust(width) + "".join(n.rjust(colw) for n in names))
    for title, key, fmt in FIGURES:
        cells = [figure(r, key, fmt) for r in results]
        print("  " + title.ljust(width) + "".join(c.rjust(colw) for c in cells))
    ours = results[0]
    verdicts = []
    print("  " + "target".ljust(width) + "measured".rjust(colw) + "verdict".rjust(colw))
    for text, key, check in scenario.targets:
        value = ours.get(key)
        good = value is not None and not (isinstance(value, float) and math.isnan(value))
        good = good and bool(check(value, ours))
        shown = figure(ours, key, "{:.3f}" if isinstance(value, float) else "{}")
        extra = ""
        for other in results[1:]:
            extra += f"  [{label(other)}: {figure(other, key, '{:.3f}' if isinstance(other.get(key), float) else '{}')}]"
        verdict = "PASS" if good else "MISS"
        print("  " + text.ljust(width) + shown.rjust(colw) + verdict.rjust(colw) + extra)
        verdicts.append({"target": text, "measured": value, "verdict": verdict})
    for r in results:
        for problem in r.get("problems", [])[:2]:
            print(f"    {label(r)} problem: {problem}")
    return verdicts


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", nargs="+", help="scenario keys to run (default: all)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip dbt Cloud and the S4 variants"
    )
    parser.add_argument(
        "--variants",
        nargs="*",
        help="replace the chosen scenarios' proposed-change variants (e.g. sharedconfig)",
    )
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--profile-dir", help="also write a cProfile of our trigger phases here")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.only or s.key in args.only]
    if args.variants is not None:
        for scenario in chosen:
            scenario.variants = list(args.variants)
    if args.only and len(chosen) != len(args.only):
        parser.error(f"scenarios are {', '.join(s.key for s in SCENARIOS)}")
    wants_anchor = not args.no_baseline and any(s.dbt for s in chosen)
    anchor = anchor_python() if wants_anchor else None
    ours_python = Path(sys.executable)

    started = time.time()
    out: dict[str, Any] = {"load_average": [load()], "scenarios": {}}
    print(f"Fan-out benchmarks over HTTPS; load average {out['load_average'][0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cased-bench-fanout-") as tmp:
        tls = Path(tmp)
        # Warm-up: compiles and caches the bytecode of what the first polls import lazily.
        run_trigger_worker(
            ours_python,
            tls,
            "warm",
            ["--impl=cased", "--triggers=20", "--min-run=0.5", "--max-run=1"],
        )
        run_trigger_worker(
            ours_python,
            tls,
            "warm-x",
            ["--impl=cased", "--kind=executions", "--triggers=20", "--min-run=0.5", "--max-run=1"],
        )
        for scenario in chosen:
            worker_args = list(scenario.worker_args)
            if args.profile_dir:
                prof = Path(args.profile_dir).resolve() / f"{scenario.key}.prof"
                worker_args.append(f"--profile={prof}")
            t0 = time.time()
            headers = scenario.budget_headers
            results = [
                enrich(
                    run_trigger_worker(
                        ours_python, tls, scenario.key, worker_args, budget_headers=headers
                    )
                )
            ]
            if not args.no_baseline:
                for variant in scenario.variants:
                    results.append(
                        enrich(
                            run_trigger_worker(
                                ours_python,
                                tls,
                                f"{scenario.key}-{variant}",
                                [*scenario.worker_args, f"--variant={variant}"],
                                budget_headers=headers,
                            )
                        )
                    )
                if scenario.dbt and anchor is None:
                    print("  anchor venv unavailable: the dbt Cloud baseline skipped")
                elif scenario.dbt:
                    dbt_args = [
                        "--impl=dbt" if a == "--impl=cased" else a
                        for a in scenario.worker_args
                        if not a.startswith("--kind")
                    ]
                    if "--workflows" not in " ".join(dbt_args):
                        dbt_args.append("--workflows=10")
                    results.append(
                        enrich(
                            run_trigger_worker(
                                anchor, tls, f"{scenario.key}-dbt", dbt_args, budget_headers=headers
                            )
                        )
                    )
            verdicts = print_table(scenario, results)
            out["load_average"].append(load())
            print(
                f"  ({time.time() - t0:.0f} s; load average {out['load_average'][-1]})",
                flush=True,
            )
            out["scenarios"][scenario.key] = {
                "title": scenario.title,
                "results": results,
                "verdicts": verdicts,
            }
    print(f"\nTotal {time.time() - started:.0f} s")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
