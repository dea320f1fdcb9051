"""The chaos driver of `make e2e-distributed`, run by scripts/e2e_distributed.sh.

One run of the load DAG (dags/cased_load.py) waits on remote runs/executions that
the emulator holds open; while they wait, four checks hurt the deployment:

  1. triggerer killed  SIGKILL of the triggerer holding the most triggers
  2. worker killed     SIGKILL of a Celery worker's whole process tree (sync waits on it)
  3. API outage        the emulator answers 503, then drops connections, for 90 s
  4. rate limit        the emulator admits fewer requests per second than the load offers

then the driver finishes every remote run/execution and follows the tasks to the
end. Each check prints one verdict line; a table sums up. Exit 1 when any check fails.

Facts come from the metadata DB (PostgreSQL, read-only queries), the emulator's
control endpoints and request log, and the REST API (only to trigger the run).
Standard library + psycopg2 (installed into the venv by the shell script).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from check import CheckFailed, Http, Services, login, session_members

DAG_ID = "cased_load"
DEFERRED_TASK, EXEC_TASK, SYNC_TASK = "deferred_runs", "async_executions", "sync_runs"
WF_DEFERRED, WF_SYNC, ACTION = "wf_load_deferred", "wf_load_sync", "action_load"
SIZES = {
    DEFERRED_TASK: int(os.environ.get("CASED_LOAD_DEFERRED_RUNS", "200")),
    EXEC_TASK: int(os.environ.get("CASED_LOAD_EXECUTIONS", "100")),
    SYNC_TASK: int(os.environ.get("CASED_LOAD_SYNC_RUNS", "20")),
}
POLL_INTERVAL = float(os.environ.get("CASED_LOAD_POLL_INTERVAL", "5"))
# Checks 1 and 2: how long Airflow may take to hand the work over (the shell script sets
# a 10 s triggerer health threshold and a 30 s task heartbeat timeout).
TRIGGER_HANDOVER_LIMIT = 60.0
WORKER_RETRY_LIMIT = 150.0
MIN_WAITING_AT_TRIGGERER_KILL = min(100, SIZES[DEFERRED_TASK] + SIZES[EXEC_TASK])
OUTAGE_503_SECONDS = 45.0
OUTAGE_DROP_SECONDS = 45.0
# The limit is half the rate the waiting load offers (measured just before), at most 20/s:
# the provider shares one list poll among the waits on one workflow, so the offered
# rate depends on the provider's manners, and the limit must stay below it.
RATE_LIMIT_MAX_RPS = 20.0
RATE_MEASURE_SECONDS = 10.0
RATE_LIMIT_OBSERVE_SECONDS = 40.0
# The waits back off during an outage (up to several poll intervals): time to come back.
RECOVERY_LIMIT = 120.0
# A run/execution that never ends by itself (the driver finishes it).
FOREVER = 24 * 3600.0
TERMINAL_TI_STATES = {"success", "failed", "upstream_failed", "skipped", "removed"}

STARTED = float(os.environ.get("E2E_STARTED_AT") or time.time())


def say(message: str) -> None:
    print(f"[chaos {time.time() - STARTED:4.0f}s] {message}", flush=True)


# ---------------------------------------------------------------------- plumbing


class Db:
    """Read-only queries on the metadata DB, each in its own autocommit transaction."""

    def __init__(self, sqlalchemy_url: str) -> None:
        url = sqlalchemy_url.replace("postgresql+psycopg2://", "postgresql://", 1)
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())


@dataclass
class Ti:
    task_id: str
    map_index: int
    state: str
    try_number: int
    hostname: str
    trigger_id: int | None
    triggerer: str  # hostname of the triggerer job holding its trigger, "" when none

    @property
    def key(self) -> tuple[str, int]:
        return self.task_id, self.map_index


class Deployment:
    """The services the shell script started, and the replacements this driver starts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.services = Services(args.service)
        self.airflow = args.airflow
        self.logs = Path(args.logs)
        self.run_dir = Path(args.run_dir)
        self.extra = Path(args.extra_services)
        self.concurrency = args.concurrency
        self.killed: set[str] = set()

    def session(self, name: str) -> list[int]:
        """Every process in the service's session (setsid: the session id is its pid)."""
        return session_members(self.services.pids[name])

    def kill(self, name: str) -> int:
        """SIGKILL the whole process tree of a service at once, as a machine dying would."""
        pids = self.session(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed.add(name)
        return len(pids)

    def start(self, name: str, argv: list[str]) -> None:
        """A replacement service with its own hostname, stopped by the shell's cleanup."""
        log = self.logs / f"{name}.log"
        env = {**os.environ, "CASED_E2E_HOSTNAME": name}
        pid = self.services.start(name, argv, log, self.extra, env)
        say(f"started replacement {name} (pid {pid}): {log}")

    def start_triggerer(self, name: str) -> None:
        pid_file = str(self.run_dir / f"{name}.pid")
        self.start(name, [self.airflow, "triggerer", "--skip-serve-logs", "--pid", pid_file])

    def start_worker(self, name: str) -> None:
        pid_file = str(self.run_dir / f"{name}.pid")
        argv = [self.airflow, "celery", "worker", "--skip-serve-logs", "--pid", pid_file]
        argv += ["--celery-hostname", f"{name}@%h", "--concurrency", str(self.concurrency)]
        self.start(name, [*argv, "--without-gossip", "--without-mingle"])

    def assert_alive(self) -> None:
        gone = [name for name in self.services.dead() if name not in self.killed]
        if gone:
            raise CheckFailed(f"service(s) exited on their own: {', '.join(gone)}")


@dataclass
class Verdict:
    name: str
    ok: bool
    figures: str
    problems: list[str] = field(default_factory=list)


class Driver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.deployment = Deployment(args)
        self.api = Http(args.api_url)
        self.emulator = Http(args.emulator_url)
        self.api_key = args.emulator_api_key
        self.db = Db(args.db_url)
        self.run_id = ""
        self.deadline = time.monotonic() + args.timeout
        self.verdicts: list[Verdict] = []
        self.windows: dict[str, tuple[float, float]] = {}  # check -> (start, end) wall time
        self.kills: list[str] = []
        self.run_started = 0.0
        self.fanned_out_at = 0.0
        # What the checks saw, judged at the end (when the tasks have ended).
        self.triggerer_victims: set[tuple[str, int]] = set()
        self.triggerer_problems: list[str] = ["did not run"]
        self.triggerer_figures = ""
        self.worker_victims: dict[tuple[str, int], int] = {}  # key -> try number at the kill
        self.worker_problems: list[str] = ["did not run"]
        self.worker_figures = ""
        self.rate_limited = 0
        self.rate_limit = 0.0
        self.rate_before = 0.0
        self.recovered = (0, 0, 0.0)  # waits that read their status after the outage, of all, s
        self.table: dict[str, Any] = {}

    # ------------------------------------------------------------------ observation

    def tis(self) -> list[Ti]:
        rows = self.db.rows(
            """
            SELECT ti.task_id, ti.map_index, coalesce(ti.state, 'none'), ti.try_number,
                   coalesce(ti.hostname, ''), ti.trigger_id, coalesce(j.hostname, '')
            FROM task_instance ti
            LEFT JOIN trigger t ON t.id = ti.trigger_id
            LEFT JOIN job j ON j.id = t.triggerer_id
            WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.map_index >= 0
            """,
            DAG_ID,
            self.run_id,
        )
        return [Ti(*row) for row in rows]

    def failed_tries(self) -> list[tuple[str, int, int, str, float]]:
        """Tries that ended badly: (task, map index, try, state, end time), history included."""
        rows = self.db.rows(
            """
            SELECT task_id, map_index, try_number, state,
                   extract(epoch FROM coalesce(end_date, now()))
            FROM task_instance_history
            WHERE dag_id = %s AND run_id = %s AND state IN ('failed', 'up_for_retry')
            UNION ALL
            SELECT task_id, map_index, try_number, state,
                   extract(epoch FROM coalesce(end_date, now()))
            FROM task_instance
            WHERE dag_id = %s AND run_id = %s
              AND state IN ('failed', 'up_for_retry', 'upstream_failed')
            """,
            DAG_ID,
            self.run_id,
            DAG_ID,
            self.run_id,
        )
        return [(r[0], int(r[1]), int(r[2]), str(r[3]), float(r[4])) for r in rows]

    def failed_in(self, start: float, end: float) -> list[str]:
        return [
            f"{task}[{index}] try {try_} {state}"
            for task, index, try_, state, at in self.failed_tries()
            if start <= at <= end
        ]

    def emu_requests(self, method: str = "*", path: str = "") -> list[dict[str, Any]]:
        query = f"?method={method}&path={path}" if path or method != "*" else ""
        return list(self.emulator.ok("GET", f"/_emulator/requests{query}", timeout=120))

    def progress(self, tis: list[Ti]) -> str:
        by_task: dict[str, Counter[str]] = {}
        for ti in tis:
            by_task.setdefault(ti.task_id, Counter())[ti.state] += 1
        parts = []
        for task in (DEFERRED_TASK, EXEC_TASK, SYNC_TASK):
            states = by_task.get(task, Counter())
            parts.append(f"{task} " + " ".join(f"{s}={n}" for s, n in sorted(states.items())))
        held = Counter(ti.triggerer for ti in tis if ti.state == "deferred")
        parts.append("triggers " + " ".join(f"{h or '?'}={n}" for h, n in sorted(held.items())))
        return "; ".join(parts)

    def wait_until(
        self,
        what: str,
        probe: Callable[[list[Ti]], bool],
        limit: float,
        every: float = 2.0,
    ) -> list[Ti]:
        """Poll the task instances until probe(tis) holds; logs progress now and then."""
        end = min(time.monotonic() + limit, self.deadline)
        last_note = 0.0
        while True:
            self.deployment.assert_alive()
            tis = self.tis()
            if probe(tis):
                return tis
            if time.monotonic() - last_note > 15:
                say(f"  waiting for {what}: {self.progress(tis)}")
                last_note = time.monotonic()
            if time.monotonic() > end:
                raise CheckFailed(f"timed out waiting for {what}: {self.progress(tis)}")
            time.sleep(every)

    # ------------------------------------------------------------------ set-up

    def set_up(self) -> None:
        self.emulator.ok("GET", "/_emulator/health")
        # Runs/executions of the load that only end when finish_everything() says so.
        self.emulator.ok(
            "POST",
            "/_emulator/workflows",
            {"name": "Load: deferred", "workflow_id": WF_DEFERRED, "run_seconds": FOREVER},
        )
        self.emulator.ok(
            "POST",
            "/_emulator/workflows",
            {"name": "Load: sync", "workflow_id": WF_SYNC, "run_seconds": FOREVER},
        )
        self.emulator.ok(
            "POST",
            "/_emulator/actions",
            {"name": "Load: action", "action_id": ACTION, "run_seconds": FOREVER},
        )
        login(self.api, self.args.username, self.args.password, self.deployment.services)

        def parsed() -> bool:
            status, _answer = self.api.call("GET", f"/api/v2/dags/{DAG_ID}")
            return status == 200

        end = time.monotonic() + 180
        while not parsed():
            self.deployment.assert_alive()
            errors = self.api.ok("GET", "/api/v2/importErrors")
            if errors["total_entries"]:
                raise CheckFailed(f"the load DAG does not import: {errors['import_errors']}")
            if time.monotonic() > end:
                raise CheckFailed("the dag-processor did not parse the load DAG in 180 s")
            time.sleep(2)
        self.api.ok("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        run = self.api.ok(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            {"logical_date": None, "conf": {}, "note": "make e2e-distributed"},
        )
        self.run_id = run["dag_run_id"]
        self.run_started = time.time()
        say(f"triggered {DAG_ID}: run {self.run_id} ({sum(SIZES.values())} mapped tasks)")

    # ------------------------------------------------------------------ 1. triggerer killed

    def triggerer_killed(self) -> None:
        name = "1. triggerer killed"
        tis = self.wait_until(
            f">= {MIN_WAITING_AT_TRIGGERER_KILL} triggers held by the triggerers",
            lambda tis: (
                sum(1 for t in tis if t.state == "deferred" and t.triggerer)
                >= MIN_WAITING_AT_TRIGGERER_KILL
            ),
            limit=420,
        )
        held = Counter(t.triggerer for t in tis if t.state == "deferred" and t.triggerer)
        victim, count = held.most_common(1)[0]
        victims = {t.key for t in tis if t.triggerer == victim and t.state == "deferred"}
        waiting = sum(held.values())
        start = time.time()
        pids = self.deployment.kill(victim)
        self.kills.append(f"{victim} ({pids} processes)")
        say(
            f"SIGKILL {victim}: {pids} processes; it held {count} of {waiting} triggers {dict(held)}"
        )

        def handed_over(tis: list[Ti]) -> bool:
            mine = [t for t in tis if t.key in victims and t.state == "deferred"]
            return all(t.triggerer not in ("", victim) for t in mine)

        problems = []
        try:
            self.wait_until(f"the other triggerer to take {victim}'s triggers", handed_over, 120, 1)
        except CheckFailed as exc:
            problems.append(str(exc))
        handover = time.time() - start
        say(f"  {victim}'s triggers were handed over in {handover:.0f} s")
        # A replacement machine comes up: two triggerers again for the next checks.
        self.deployment.start_triggerer("triggerer-3")
        self.windows[name] = (start, time.time())
        self.triggerer_victims = victims
        self.triggerer_figures = (
            f"killed {victim} holding {count}/{waiting} waiting triggers; "
            f"handed over in {handover:.0f} s (limit {TRIGGER_HANDOVER_LIMIT:.0f} s)"
        )
        if handover > TRIGGER_HANDOVER_LIMIT and not problems:
            problems.append(f"hand-over took {handover:.0f} s")
        self.triggerer_problems = problems

    # ------------------------------------------------------------------ 2. worker killed

    def worker_killed(self) -> None:
        name = "2. worker killed"

        def fanned_out(tis: list[Ti]) -> bool:
            count = Counter((t.task_id, t.state) for t in tis)
            return (
                count[(DEFERRED_TASK, "deferred")] == SIZES[DEFERRED_TASK]
                and count[(EXEC_TASK, "deferred")] == SIZES[EXEC_TASK]
                and count[(SYNC_TASK, "running")] == SIZES[SYNC_TASK]
            )

        self.wait_until(
            "every task to wait (deferrable: deferred; sync: running in a worker)",
            fanned_out,
            limit=600,
        )
        self.fanned_out_at = time.time()
        say(f"fan-out complete {self.fanned_out_at - self.run_started:.0f} s after the trigger")
        # Let every sync wait poll at least once before its worker dies.
        time.sleep(POLL_INTERVAL + 1)
        tis = self.tis()
        running = Counter(
            t.hostname for t in tis if t.task_id == SYNC_TASK and t.state == "running"
        )
        victim, count = running.most_common(1)[0]
        victims = {
            t.key: t.try_number for t in tis if t.hostname == victim and t.state == "running"
        }
        start = time.time()
        pids = self.deployment.kill(victim)
        self.kills.append(f"{victim} ({pids} processes)")
        say(
            f"SIGKILL {victim}: {pids} processes; it ran {count} sync waits "
            f"({len(victims)} task instances) {dict(running)}"
        )
        self.deployment.start_worker("worker-3")

        def retried(tis: list[Ti]) -> bool:
            now = {t.key: t for t in tis}
            return all(
                now[key].try_number > try_ and now[key].state in ("running", "success")
                for key, try_ in victims.items()
            )

        problems = []
        try:
            self.wait_until(
                f"the {len(victims)} task instances of {victim} to run again",
                retried,
                WORKER_RETRY_LIMIT,
            )
        except CheckFailed as exc:
            problems.append(str(exc))
        back = time.time() - start
        say(f"  {victim}'s task instances run again (next try) {back:.0f} s after the kill")
        # Let the retried tries re-attach and poll once before the outage starts.
        time.sleep(POLL_INTERVAL + 1)
        self.windows[name] = (start, time.time())
        self.worker_victims = victims
        self.worker_figures = f"killed {victim} running {len(victims)} sync waits; next try running after {back:.0f} s"
        self.worker_problems = problems

    # ------------------------------------------------------------------ 3. API outage

    def api_outage(self) -> None:
        name = "3. API outage"
        start = time.time()
        self.emulator.ok("POST", "/_emulator/faults", {"status": 503, "times": 0})
        say(f"API outage: every API request answered 503 for {OUTAGE_503_SECONDS:.0f} s")
        self.sleep_watching(OUTAGE_503_SECONDS)
        self.emulator.ok("DELETE", "/_emulator/faults")
        self.emulator.ok("POST", "/_emulator/faults", {"drop": True, "times": 0})
        say(f"API outage: every connection dropped for {OUTAGE_DROP_SECONDS:.0f} s")
        self.sleep_watching(OUTAGE_DROP_SECONDS)
        self.emulator.ok("DELETE", "/_emulator/faults")
        end = time.time()
        say(f"API outage over after {end - start:.0f} s")
        self.windows[name] = (start, end)
        self.wait_for_recovery(end)

    def wait_for_recovery(self, since: float) -> None:
        """Until every wait has read its run/execution again (the waits back off in trouble)."""
        waiting = {
            f"/api/v1/workflows/{r['workflow']}/runs/{r['id']}/"
            for r in self.emulator.ok("GET", "/_emulator/runs")
            if r["workflow"] in (WF_DEFERRED, WF_SYNC)
        }
        waiting |= {
            f"/actions/v1/executions/{e['id']}"
            for e in self.emulator.ok("GET", f"/_emulator/executions?action={ACTION}")
        }
        polled: set[str] = set()
        # Triggers waiting on runs of one workflow share one list poll (newest first): a
        # list page answered 200 counts for the runs it holds, as the trigger reads them.
        lists = {
            f"/api/v1/workflows/{wf}/runs/": [
                f"/api/v1/workflows/{wf}/runs/{r['id']}/"
                for r in self.emulator.ok("GET", f"/_emulator/runs?workflow={wf}")[::-1]
            ]
            for wf in (WF_DEFERRED, WF_SYNC)
        }
        cursor = since
        end = time.monotonic() + RECOVERY_LIMIT
        while time.monotonic() < end:
            self.deployment.assert_alive()
            fresh = self.emulator.ok("GET", f"/_emulator/requests?method=GET&since={cursor}")
            for r in fresh:
                if r["status"] != 200:
                    continue
                polled.add(r["path"])
                if r["path"] in lists:
                    size = int((r["query"].get("page_size") or ["20"])[0])
                    page = int((r["query"].get("page") or ["1"])[0])
                    polled.update(lists[r["path"]][(page - 1) * size : page * size])
            cursor = max([cursor, *(r["time"] for r in fresh)])
            if waiting <= polled:
                break
            time.sleep(3)
        self.recovered = len(waiting & polled), len(waiting), time.time() - since
        say(
            f"  {self.recovered[0]}/{self.recovered[1]} waits read their status again "
            f"within {self.recovered[2]:.0f} s after the outage"
        )

    def sleep_watching(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.deployment.assert_alive()
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
        say(f"  {self.progress(self.tis())}")

    # ------------------------------------------------------------------ 4. rate limit

    def rate_limit_and_finish(self) -> None:
        name = "4. rate limit"
        before = time.time()
        time.sleep(RATE_MEASURE_SECONDS)
        seen = self.emulator.ok("GET", f"/_emulator/requests?since={before}")
        self.rate_before = len(seen) / (time.time() - before)
        self.rate_limit = max(1.0, min(RATE_LIMIT_MAX_RPS, float(int(self.rate_before / 2))))
        start = time.time()
        self.emulator.ok("POST", "/_emulator/rate-limit", {"requests_per_second": self.rate_limit})
        say(
            f"rate limit: {self.rate_limit:.0f} API requests/s; "
            f"the waiting load offered {self.rate_before:.1f}/s"
        )
        self.sleep_watching(RATE_LIMIT_OBSERVE_SECONDS)
        self.finish_everything()
        # Still limited while everything ends: the last polls and the sync waits' answers.
        self.wait_until(
            "every task instance to end",
            lambda tis: (
                len(tis) == sum(SIZES.values()) and all(t.state in TERMINAL_TI_STATES for t in tis)
            ),
            limit=600,
        )
        self.emulator.ok("DELETE", "/_emulator/rate-limit")
        end = time.time()
        self.windows[name] = (start, end)
        during = self.emulator.ok("GET", f"/_emulator/requests?since={start}")
        self.rate_limited = sum(1 for r in during if r["status"] == 429 and r["time"] <= end)
        say(f"rate limit off after {end - start:.0f} s; {self.rate_limited} requests answered 429")

    def finish_everything(self) -> None:
        runs = self.emulator.ok("GET", "/_emulator/runs")
        executions = self.emulator.ok("GET", f"/_emulator/executions?action={ACTION}")
        for run in runs:
            if run["workflow"] in (WF_DEFERRED, WF_SYNC) and run["status"] in (
                "pending",
                "running",
            ):
                self.emulator.ok(
                    "POST", f"/_emulator/runs/{run['id']}/status", {"status": "completed"}
                )
        for execution in executions:
            if execution["status"] in ("pending", "running"):
                self.emulator.ok(
                    "POST",
                    f"/_emulator/executions/{execution['id']}/status",
                    {"status": "completed"},
                )
        say(f"finished {len(runs)} workflow runs and {len(executions)} executions in the emulator")

    # ------------------------------------------------------------------ verdicts

    def judge(self, total_wall: float) -> None:
        tis = self.tis()
        final = Counter(t.state for t in tis)
        posts = self.emu_requests("POST", "/api/v1/workflows/")
        executes = self.emu_requests("POST", f"/actions/v1/{ACTION}/execute")
        runs = [
            r
            for r in self.emulator.ok("GET", "/_emulator/runs")
            if r["workflow"] in (WF_DEFERRED, WF_SYNC)
        ]
        executions = self.emulator.ok("GET", f"/_emulator/executions?action={ACTION}")

        # Which task instance sent each accepted create: the run's trigger_name names it
        # (a retry after a failed run adds " (try N)"), an execution's input its map index.
        created: Counter[tuple[str, int]] = Counter()
        prefix = f"airflow:{DAG_ID}."

        def owner(label: str) -> tuple[str, int] | None:
            if not label.startswith(prefix):
                return None
            task, _, rest = label[len(prefix) :].partition("[")
            return task, int(rest.partition("]")[0])

        for run in runs:
            key = owner(str(run.get("trigger_name") or ""))
            if key is not None:
                created[key] += 1
        for execution in executions:
            created[(EXEC_TASK, int(execution["input"]["n"]))] += 1
        # And every POST the emulator's request log holds, whatever it was answered.
        posted: Counter[tuple[str, int]] = Counter()
        for post in posts:
            key = owner(str((post.get("json") or {}).get("trigger_name") or ""))
            if key is not None:
                posted[key] += 1
        for post in executes:
            posted[
                (EXEC_TASK, int(((post.get("json") or {}).get("input") or {}).get("n", -1)))
            ] += 1
        accepted_posts = sum(1 for p in posts if 200 <= p["status"] < 300)
        accepted_executes = sum(1 for p in executes if 200 <= p["status"] < 300)
        refused = sum(1 for p in posts + executes if not 200 <= p["status"] < 300)
        expected = {(task, n) for task, size in SIZES.items() for n in range(size)}
        duplicates = sum(n - 1 for n in created.values() if n > 1)
        missing = sorted(expected - set(created))
        strays = sorted(set(created) - expected)
        failed_tis = [f"{t.task_id}[{t.map_index}] {t.state}" for t in tis if t.state != "success"]
        retried = sorted(t.key for t in tis if t.try_number > 1)

        def one_post(keys: set[tuple[str, int]] | Any) -> list[str]:
            """Task instances with other than one POST in the log / one remote run created."""
            return [
                f"{k[0]}[{k[1]}] {posted[k]} POSTs, {created[k]} created"
                for k in sorted(keys)
                if posted[k] != 1 or created[k] != 1
            ]

        # Checks 1 and 2 own the failures from their kill until the next chaos starts;
        # a task that a later check made fail is that check's failure, not theirs.
        tries = self.failed_tries()
        kill1 = self.windows.get("1. triggerer killed", (0.0, 0.0))[0]
        kill2 = self.windows.get("2. worker killed", (0.0, 0.0))[0]
        later = self.windows.get("3. API outage", (time.time(), 0.0))[0]
        failed_later = {(task, index) for task, index, _, _, at in tries if at >= later}

        # 1. triggerer killed
        victims = self.triggerer_victims
        problems = list(self.triggerer_problems)
        problems += [
            f"{task}[{index}] try {try_} {state}"
            for task, index, try_, state, at in tries
            if kill1 <= at < (kill2 or later)
        ]
        problems += [
            f"{t.task_id}[{t.map_index}] ended {t.state}"
            for t in tis
            if t.key in victims and t.state != "success" and t.key not in failed_later
        ]
        problems += [f"creates: {p}" for p in one_post(victims)]
        self.verdicts.append(
            Verdict(
                "1. triggerer killed",
                not problems and bool(victims),
                f"{self.triggerer_figures}; its {len(victims)} tasks: "
                f"{sum(1 for t in tis if t.key in victims and t.state == 'success')} succeeded, "
                f"{len(one_post(victims))} with other than one POST",
                problems,
            )
        )
        # 2. worker killed: the killed tries are expected to fail (heartbeat timeout), once.
        victims2 = self.worker_victims
        problems = list(self.worker_problems)
        problems += [
            f"{task}[{index}] try {try_} {state}"
            for task, index, try_, state, at in tries
            if kill2 <= at < later and victims2.get((task, index)) != try_
        ]
        problems += [
            f"{t.task_id}[{t.map_index}] ended {t.state}"
            for t in tis
            if t.key in victims2 and t.state != "success" and t.key not in failed_later
        ]
        problems += [f"creates: {p}" for p in one_post(set(victims2))]
        reattached = sum(1 for t in tis if t.key in victims2 and t.try_number > victims2[t.key])
        # A retry finds its run in the task state store; the fallback lists the workflow's runs.
        list_path = f"/api/v1/workflows/{WF_SYNC}/runs/"
        lookups = sum(1 for r in self.emu_requests("GET", list_path) if r["path"] == list_path)
        self.verdicts.append(
            Verdict(
                "2. worker killed",
                not problems and bool(victims2),
                f"{self.worker_figures}; {reattached}/{len(victims2)} retried and re-attached "
                f"({lookups} trigger_name look-ups: the rest via the task state store), "
                f"{len(one_post(set(victims2)))} with other than one POST",
                problems,
            )
        )
        # 3. API outage
        start, end = self.windows.get("3. API outage", (0.0, 0.0))
        during = [r for r in self.emu_requests() if start <= r["time"] <= end]
        answered_503 = sum(1 for r in during if r["status"] == 503)
        dropped = sum(1 for r in during if r["status"] == 0)
        problems = [] if end else ["did not run"]
        # A failure a little after the outage still counts: a trigger's error event
        # fails the task on a worker some seconds later.
        problems += self.failed_in(start, end + 30) if end else []
        if self.recovered[0] < self.recovered[1] or not self.recovered[1]:
            problems.append(f"only {self.recovered[0]}/{self.recovered[1]} waits polled again")
        self.verdicts.append(
            Verdict(
                "3. API outage",
                not problems and answered_503 > 0 and dropped > 0,
                f"{end - start:.0f} s: {answered_503} answers 503, {dropped} connections dropped; "
                f"{len(problems)} task failures; {self.recovered[0]}/{self.recovered[1]} waits "
                f"read their status again within {self.recovered[2]:.0f} s",
                problems,
            )
        )
        # 4. rate limit
        start, end = self.windows.get("4. rate limit", (0.0, 0.0))
        limited = self.rate_limited
        # The offered rate while every task waits (before the driver finishes the runs).
        calm_end = start + RATE_LIMIT_OBSERVE_SECONDS
        calm = [r for r in self.emu_requests() if start <= r["time"] <= calm_end]
        offered = len(calm) / RATE_LIMIT_OBSERVE_SECONDS
        admitted = sum(1 for r in calm if r["status"] != 429) / RATE_LIMIT_OBSERVE_SECONDS
        problems = [] if end else ["did not run"]
        failures = self.failed_in(start, end + 30) if end else []
        problems += failures
        # The limit bit when the load offered more than it allows; it held when clients got
        # 429s or paced themselves to it from the x-ratelimit headers (or both).
        if self.rate_before <= self.rate_limit:
            problems.append(
                f"the load offered only {self.rate_before:.1f} req/s: the limit did not bite"
            )
        if not limited and offered > self.rate_limit * 1.1:
            problems.append(f"{offered:.1f} req/s sent, above the limit, yet no 429 answered")
        self.verdicts.append(
            Verdict(
                "4. rate limit",
                not problems,
                f"{self.rate_limit:.0f} req/s allowed, {self.rate_before:.1f}/s offered before; "
                f"limited: {offered:.1f} req/s sent, {admitted:.1f} admitted; {limited} answered 429 in "
                f"{end - start:.0f} s (incl. every task ending); {len(failures)} task failures",
                problems,
            )
        )
        # The whole run.
        problems = [f"not success: {', '.join(failed_tis[:10])}"] if failed_tis else []
        if duplicates:
            problems.append(f"duplicates: {one_post(expected)[:10]}")
        if missing:
            problems.append(f"no remote run for {missing[:10]}")
        if strays:
            problems.append(f"remote runs of unknown task instances {strays[:10]}")
        unexpected_retries = [k for k in retried if k not in victims2]
        if unexpected_retries:
            problems.append(f"retried without a kill: {unexpected_retries[:10]}")
        self.verdicts.append(
            Verdict(
                "5. every task, once",
                not problems,
                f"{len(tis)} task instances: {dict(final)}; {len(runs)} runs + "
                f"{len(executions)} executions created for {len(expected)} tasks",
                problems,
            )
        )
        self.table = {
            "tasks": len(tis),
            "kills": f"{len(self.kills)}: {', '.join(self.kills)}",
            "remote runs created": f"{len(runs) + len(executions)} ({len(runs)} workflow runs, "
            f"{len(executions)} executions; accepted POSTs {accepted_posts + accepted_executes}, "
            f"refused {refused})",
            "duplicates": duplicates,
            "task instances with != 1 POST": len(one_post(expected)),
            "failed tasks": len(failed_tis),
            "retried tasks": f"{len(retried)} (all on the killed worker: {not unexpected_retries})",
            "wall time": f"{total_wall:.0f} s ({total_wall / 60:.1f} min, whole script)",
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--summary", type=Path, required=True, help="file for the verdicts")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--emulator-url", required=True)
    parser.add_argument("--emulator-api-key", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--airflow", required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--extra-services", required=True)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--service", action="append", default=[], help="name:pid")
    args = parser.parse_args()

    driver = Driver(args)
    error = ""
    try:
        driver.set_up()
        driver.triggerer_killed()
        driver.worker_killed()
        driver.api_outage()
        driver.rate_limit_and_finish()
    except CheckFailed as exc:
        error = str(exc)
    except Exception as exc:  # a crash of the driver itself is a failure too
        import traceback

        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
    if error:
        say(f"FAIL  {error}")
    if driver.run_id:
        try:
            driver.judge(time.time() - STARTED)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            error = error or f"judging failed: {type(exc).__name__}: {exc}"

    summary = []
    for verdict in driver.verdicts:
        summary.append(f"{'PASS' if verdict.ok else 'FAIL'}  {verdict.name}: {verdict.figures}")
        summary += [f"        - {problem}" for problem in verdict.problems[:10]]
    if error:
        summary.append(f"FAIL  the chaos run did not complete: {error}")
    print()
    print("\n".join(summary))
    # e2e_distributed.sh prints this again after the service logs, so a log's tail shows it.
    args.summary.write_text("\n".join(summary) + "\n")
    table = driver.table
    if table:
        print()
        width = max(len(k) for k in table)
        print(f"| {'measure'.ljust(width)} | value")
        print(f"|{'-' * (width + 2)}|------")
        for key, value in table.items():
            print(f"| {key.ljust(width)} | {value}")
    ok = not error and driver.verdicts and all(v.ok for v in driver.verdicts)
    print()
    print("All chaos checks passed." if ok else "Some chaos checks FAILED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
