"""How many of our modules one operator call walks through, operator to wire (issue 15).

    .venv/bin/python benchmarks/module_walk.py

Runs ``CasedWorkflowRunOperator(workflow_id=...)`` and ``CaseDevActionOperator`` once
each against the local emulator, with a profiler that records every call into a module
of ``airflow_provider_cased``. It prints, up to the first byte on the socket (the
request that starts the work) and for the whole ``execute``: the distinct modules
entered and the crossings (a call from one of our modules into another). Airflow's and
the HTTP client's own frames are not counted. Not a timing: figures are counts.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent / "airflow_provider_cased")
EMULATOR_DIR = os.path.join(PACKAGE_DIR, "testing")
SOCKET_SENDS = {"sendall", "send", "write"}


def module_of(frame: FrameType) -> str | None:
    filename = frame.f_code.co_filename
    # The emulator answers from its own threads.
    if not filename.startswith(PACKAGE_DIR) or filename.startswith(EMULATOR_DIR):
        return None
    relative = filename[len(PACKAGE_DIR) + 1 :].removesuffix(".py").replace(os.sep, ".")
    return "airflow_provider_cased." + relative.removesuffix(".__init__")


def carries(value: Any, remote_id: str) -> bool:
    """The id itself, or a container, request or object holding it one level down."""
    if isinstance(value, str):
        return value == remote_id or f"/{remote_id}/" in value
    if isinstance(value, dict):
        return any(carries(item, remote_id) for item in value.values() if isinstance(item, str))
    if isinstance(value, (list, tuple)):
        return any(carries(item, remote_id) for item in value if isinstance(item, str))
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return any(
            carries(item, remote_id) for item in attributes.values() if isinstance(item, str)
        )
    return False


class Walk:
    """Modules entered and crossings, split at the first send on a socket; and the modules
    whose functions were handed the remote id (an argument, or an attribute of one)."""

    def __init__(self, remote_id: str) -> None:
        self.remote_id = remote_id
        self.to_wire: tuple[list[str], int] | None = None
        self.modules: list[str] = []
        self.id_modules: list[str] = []
        self.crossings = 0

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and self.to_wire is None:
            owner = getattr(arg, "__self__", None)
            if arg.__name__ in SOCKET_SENDS and type(owner).__name__ in ("socket", "SSLSocket"):
                self.to_wire = (list(self.modules), self.crossings)
            return
        if event != "call":
            return
        callee = module_of(frame)
        if callee is None:
            return
        if callee not in self.modules:
            self.modules.append(callee)
        if (
            self.to_wire is None
            and callee not in self.id_modules
            and any(carries(value, self.remote_id) for value in frame.f_locals.values())
        ):
            self.id_modules.append(callee)
        caller = frame.f_back
        # The nearest caller frame of ours: a call through Airflow or a library in between
        # still crosses from that module to this one.
        while caller is not None and module_of(caller) is None:
            caller = caller.f_back
        if caller is not None and module_of(caller) != callee:
            self.crossings += 1
            if os.environ.get("WALK_DEBUG") and self.to_wire is None:
                print(
                    "   ",
                    module_of(caller),
                    caller.f_code.co_name,
                    "->",
                    callee,
                    frame.f_code.co_name,
                )

    def run(self, call: Callable[[], Any]) -> None:
        sys.setprofile(self.profile)
        threading.setprofile(self.profile)
        try:
            call()
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]

    def report(self, title: str) -> dict[str, Any]:
        wire_modules, wire_crossings = self.to_wire or ([], 0)
        print(f"\n{title}")
        print(f"  the id's way: {len(self.id_modules):2d} modules ({', '.join(self.id_modules)})")
        print(f"  to the wire : {len(wire_modules):2d} modules, {wire_crossings:3d} crossings")
        print(f"  whole call  : {len(self.modules):2d} modules, {self.crossings:3d} crossings")
        for name in self.modules:
            print(f"    {'*' if name in wire_modules else ' '} {name}")
        return {
            "id_modules": len(self.id_modules),
            "wire_modules": len(wire_modules),
            "wire_crossings": wire_crossings,
            "modules": len(self.modules),
            "crossings": self.crossings,
        }


def task_context(task_id: str) -> dict[str, Any]:
    """What ``execute`` reads of its context; a first try, no task state store."""
    ti = SimpleNamespace(
        dag_id="walk",
        task_id=task_id,
        run_id="manual__walk",
        map_index=-1,
        try_number=1,
        log_url="",
        xcom_push=lambda key, value: None,
    )
    dag_run = SimpleNamespace(run_type="manual", start_date=None, queued_at=None)
    return {"ti": ti, "task_instance": ti, "dag_run": dag_run}


def main() -> int:
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow_provider_cased.testing import Emulator, connection_env

    with Emulator(run_seconds=0.05) as emulator:
        os.environ.update(connection_env(emulator))
        # Imported up front: a module's first import is not part of any call's walk.
        import airflow_provider_cased.hooks.cased  # noqa: F401
        import airflow_provider_cased.hooks.casedev  # noqa: F401
        from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator
        from airflow_provider_cased.operators.casedev import CaseDevActionOperator

        runs = CasedWorkflowRunOperator(
            task_id="run",
            workflow_id="wf_weekly_cost_review",
            poll_interval=0.05,
            deferrable=False,
        )
        execute = CaseDevActionOperator(
            task_id="execute",
            action_id="action_contract_review",
            input={"customer": "walk"},
            poll_interval=0.05,
            deferrable=False,
        )
        figures = {}
        for title, operator, remote_id in (
            ("CasedWorkflowRunOperator(workflow_id=...)", runs, runs.workflow_id),
            ("CaseDevActionOperator(action_id=...)", execute, execute.action_id),
        ):
            walk = Walk(remote_id)
            walk.run(lambda op=operator: op.execute(task_context(op.task_id)))
            figures[operator.task_id] = walk.report(title)
    if "--json" in sys.argv:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
