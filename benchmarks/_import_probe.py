"""Child of bench_import.py: time importing the given modules after Airflow's base classes.

Runs in a fresh interpreter (argv: module names). Prints one JSON line.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

# Heavy client libraries that must not be loaded at DAG-parse time.
HEAVY = ("requests", "httpx", "pendulum", "urllib3", "aiohttp")


def roots(names: set[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in names}


start = time.perf_counter()
# What every DAG file pays anyway: the Task SDK base classes and the trigger base.
from airflow.sdk import BaseNotifier, BaseOperator, BaseOperatorLink, BaseSensorOperator  # noqa: E402, F401, I001
import airflow.triggers.base  # noqa: E402, F401

base_done = time.perf_counter()
cpu_start = time.process_time()
before = set(sys.modules)
for module in sys.argv[1:]:
    importlib.import_module(module)
done = time.perf_counter()
cpu_done = time.process_time()
new = set(sys.modules) - before

print(
    json.dumps(
        {
            "base_s": base_done - start,
            "import_s": done - base_done,
            # CPU time too: on a busy machine it is steadier than wall time.
            "import_cpu_s": cpu_done - cpu_start,
            "new_modules": len(new),
            "heavy_new": sorted(roots(new) & set(HEAVY)),
            "heavy_preloaded": sorted(roots(before) & set(HEAVY)),
            "new_roots": sorted(roots(new)),
        }
    )
)
