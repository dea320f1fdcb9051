"""Run every benchmark and print one summary table (``make bench``).

Each script runs in its own process (so one's imports never speed up another's),
writes its figures as JSON, and prints its own detail. Then the summary: the
figures, the ratios to their baselines, the targets, the machine and the load
average (the figures are only as quiet as the machine was).

    python benchmarks/run_all.py [--quick] [--fanout] [--json results.json]

``--quick``: fewer import samples, 500 instead of 1,000/5,000 triggers, and
shorter runs; for checking the scripts, not for the README.

``--fanout``: also run ``bench_fanout.py`` (rate-limited fan-out, 10,000 and
5,000 triggers, with the dbt Cloud and proposed-change baselines). It takes
8-11 more minutes, so it is not part of a plain ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCH_DIR, machine_info, write_json


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def run(script: str, args: list[str], out: Path) -> dict:
    start = time.time()
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), *args, f"--json={out}"], check=False
    )
    if done.returncode != 0 or not out.exists():
        print(f"!! {script} failed (exit {done.returncode})")
        return {}
    data = json.loads(out.read_text())
    data["elapsed_s"] = time.time() - start
    print(f"   ({script}: {data['elapsed_s']:.0f} s)\n", flush=True)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings, for a smoke run")
    parser.add_argument(
        "--fanout", action="store_true", help="also run bench_fanout.py (8-11 minutes)"
    )
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)

    machine = machine_info()
    started = time.time()
    loads = [load()]
    print(
        f"Machine: {machine['nproc']} CPUs, {machine['cpu']}, {machine['memory']}; "
        f"Python {machine['python']}; Airflow {machine['airflow']}; load average {loads[0]}\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="cased-bench-") as tmp:
        out = Path(tmp)
        imports = run("bench_import.py", ["--runs=3" if args.quick else "--runs=7"], out / "i.json")
        loads.append(load())
        calls = run("bench_calls.py", ["-n=400" if args.quick else "-n=2000"], out / "c.json")
        loads.append(load())
        trigger_args = (
            ["--triggers", "500", "--min-run=5", "--max-run=10"]
            if args.quick
            else ["--triggers", "1000", "5000", "--baseline", "1000"]
        )
        triggers = run("bench_triggers.py", trigger_args, out / "t.json")
        loads.append(load())
        fanout: dict = {}
        if args.fanout:
            fanout = run("bench_fanout.py", [], out / "f.json")
            loads.append(load())

    rows: list[tuple[str, str, str, str]] = []  # measure, figure, baseline / ratio, target
    if imports:
        c = imports["cased"]
        d = imports.get("dbt")
        rows.append(
            (
                "DAG-parse: extra import of our 5 modules (median)",
                f"{c['median_ms']:.1f} ms",
                f"dbt Cloud {d['median_ms']:.1f} ms; ratio {imports['ratio_to_dbt']:.3f}"
                if d
                else "dbt Cloud: n/a",
                "<= 10 ms and <= 0.10",
            )
        )
        rows.append(
            (
                "DAG-parse: requests/httpx/aiohttp/pendulum/urllib3 newly imported",
                ", ".join(c["heavy_new"]) or "none",
                f"(already loaded by Airflow: {', '.join(c['heavy_preloaded']) or 'none'})",
                "none",
            )
        )
    if calls:
        rows.append(
            (
                f"Per call: {calls['calls_per_side']} x get_workflow_run",
                f"{calls['hook_ms']:.3f} ms/call",
                f"bare requests {calls['bare_ms']:.3f} ms; ratio {calls['ratio']:.3f} "
                f"(block median {calls['block_ratio_median']:.3f})",
                "<= 1.15",
            )
        )
    for n, r in (triggers.get("cased") or {}).items():
        base = (triggers.get("dbt") or {}).get(n)
        vs = ""
        if base:
            vs = (
                f"dbt Cloud: ok {base['ok']}, p99 {base['delay_p99']:.2f} s, "
                f"RSS {base['peak_rss_mb']:.0f} MB, CPU {base['cpu_s']:.1f} s, "
                f"{base['connections']} conns"
            )
        rows.append(
            (
                f"Triggers x{n} (HTTPS, poll {triggers['poll']:g} s)",
                f"ok {r['ok']}/{r['triggers']}; delay p50 {r['delay_p50']:.2f} s, "
                f"p99 {r['delay_p99']:.2f} s; RSS {r['peak_rss_mb']:.0f} MB; "
                f"CPU {r['cpu_s']:.1f} s; {r['connections']} conns",
                vs,
                "all ok; p99 <= 3 s; RSS <= 250 MB; <= 10 conns" if n == "1000" else "(scaling)",
            )
        )

    for key, scenario in (fanout.get("scenarios") or {}).items():
        ours = scenario["results"][0]
        others = "; ".join(
            f"{r['impl'] if r['impl'] == 'dbt' else 'ours+' + r['variant']}: ok {r['ok']}, "
            f"429 {r['rate_limited_pct']:.1f} %, p99 {r['delay_p99']:.2f} s, "
            f"CPU/poll {r['cpu_per_answer_ms']:.2f} ms"
            for r in scenario["results"][1:]
        )
        rows.append(
            (
                f"{key}: {scenario['title']}",
                ", ".join(
                    f"{v['target']}: {v['measured']:.4g} {v['verdict']}"
                    if isinstance(v["measured"], float)
                    else f"{v['target']}: {v['measured']} {v['verdict']}"
                    for v in scenario["verdicts"]
                ),
                others or f"ours: CPU/poll {ours['cpu_per_answer_ms']:.2f} ms",
                "see benchmarks/README.md (fan-out targets)",
            )
        )

    print("Summary")
    for measure, figure, baseline, target in rows:
        print(f"- {measure}\n    {figure}\n    {baseline}\n    target: {target}")
    print(f"\nLoad average at start and after each script: {' | '.join(loads)}")
    print(f"Total {time.time() - started:.0f} s")
    write_json(
        args.json,
        {
            "machine": machine,
            "load_average": loads,
            "import": imports,
            "calls": calls,
            "triggers": triggers,
            "fanout": fanout,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
