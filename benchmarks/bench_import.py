"""DAG-parse cost: extra import time of our public modules after Airflow's base classes.

Each sample is a fresh interpreter that first imports what every DAG file pays
anyway (``airflow.sdk`` BaseOperator, BaseSensorOperator, BaseNotifier,
BaseOperatorLink and ``airflow.triggers.base``), then times importing the
provider's modules. The dbt Cloud provider's operator and sensor modules are
the anchor, measured the same way in the same venv (same Airflow), alternating
with ours so drift hits both. Median of ``--runs`` samples.

Bytecode: the DAG processor runs with compiled ``.pyc`` files, so by default the
children get a scratch ``PYTHONPYCACHEPREFIX`` (warmed by one discarded run each)
even when the shell sets ``PYTHONDONTWRITEBYTECODE``; ``--cold`` measures
without any bytecode cache instead.

    python benchmarks/bench_import.py [--runs 7] [--cold] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from _common import BENCH_DIR, airflow_env, anchor_python, write_json

OURS = [
    "airflow_provider_cased.operators.cased",
    "airflow_provider_cased.operators.casedev",
    "airflow_provider_cased.sensors.cased",
    "airflow_provider_cased.sensors.casedev",
    "airflow_provider_cased.notifications.cased",
]
ANCHOR = [
    "airflow.providers.dbt.cloud.operators.dbt",
    "airflow.providers.dbt.cloud.sensors.dbt",
]
MUST_NOT_LOAD = ("requests", "httpx", "aiohttp", "pendulum", "urllib3")
TARGET_MS = 5.0
TARGET_FRACTION = 0.05


def sample(python: Path, modules: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(
        [str(python), str(BENCH_DIR / "_import_probe.py"), *modules],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import probe failed:\n{done.stderr[-2000:]}")
    # Airflow may log to stdout: the probe's answer is the last line.
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per side")
    parser.add_argument("--cold", action="store_true", help="no bytecode cache at all")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    anchor = anchor_python()
    # Both sides in the anchor venv when it exists: same interpreter, same Airflow.
    python = anchor or Path(sys.executable)
    env = airflow_env(bytecode=not args.cold)

    sides = {"cased": OURS}
    if anchor is not None:
        sides["dbt"] = ANCHOR
    if not args.cold:
        for modules in sides.values():
            sample(python, modules, env)  # warm-up: writes the .pyc files, fills the page cache

    samples: dict[str, list[dict]] = {name: [] for name in sides}
    names = list(sides)
    for index in range(args.runs):
        # Alternate which side goes first, so slow drift affects both alike.
        for name in names if index % 2 == 0 else reversed(names):
            samples[name].append(sample(python, sides[name], env))

    result: dict = {"runs": args.runs, "bytecode": "none" if args.cold else "cached"}
    print(
        f"DAG-parse cost ({'no bytecode cache' if args.cold else 'bytecode cached'}), "
        f"median of {args.runs} fresh processes, interpreter {python}"
    )
    for name, rows in samples.items():
        times = [r["import_s"] * 1000 for r in rows]
        base = statistics.median(r["base_s"] for r in rows)
        last = rows[-1]
        result[name] = {
            "median_ms": statistics.median(times),
            "min_ms": min(times),
            "max_ms": max(times),
            "base_median_s": base,
            "new_modules": last["new_modules"],
            "heavy_new": sorted({m for r in rows for m in r["heavy_new"]}),
            "heavy_preloaded": last["heavy_preloaded"],
            "new_roots": last["new_roots"],
        }
        r = result[name]
        print(
            f"  {name:6} extra import {r['median_ms']:7.1f} ms (min {r['min_ms']:.1f}, "
            f"max {r['max_ms']:.1f}); {r['new_modules']} new modules; "
            f"heavy modules newly imported: {', '.join(r['heavy_new']) or 'none'}"
        )
    cased = result["cased"]
    print(
        f"  (Airflow base classes themselves: {cased['base_median_s']:.2f} s median; "
        f"already loaded by them: {', '.join(cased['heavy_preloaded']) or 'none'})"
    )
    forbidden = [m for m in cased["heavy_new"] if m in MUST_NOT_LOAD]
    ok_abs = cased["median_ms"] <= TARGET_MS
    checks = [f"<= {TARGET_MS:.0f} ms: {'PASS' if ok_abs else 'FAIL'}"]
    if "dbt" in result:
        ratio = cased["median_ms"] / result["dbt"]["median_ms"]
        result["ratio_to_dbt"] = ratio
        ok_ratio = ratio <= TARGET_FRACTION
        checks.append(
            f"ratio to dbt Cloud {ratio:.3f} (<= {TARGET_FRACTION}): "
            f"{'PASS' if ok_ratio else 'FAIL'}"
        )
    else:
        print("  anchor venv unavailable: dbt Cloud side skipped")
    checks.append(
        f"no {'/'.join(MUST_NOT_LOAD)} at parse time: "
        f"{'PASS' if not forbidden else 'FAIL ' + ', '.join(forbidden)}"
    )
    print("  targets: " + "; ".join(checks))
    result["forbidden_loaded"] = forbidden
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
