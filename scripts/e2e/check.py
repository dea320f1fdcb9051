"""The checks of `make e2e`, run by scripts/e2e.sh once every service is started.

Talks to Airflow only as a user would: the REST API (`/api/v2`, JWT from
`/auth/token`) and the UI in headless Chromium (Playwright driving Debian's
`/usr/bin/chromium`, never a downloaded browser). Standard library otherwise.

Exit status 0 when everything held; 1 with a list of what did not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

EXPECTED_DAGS = (
    "cased_agent_session_on_failure",
    "cased_deploy_pipeline",
    "cased_fan_in_sensors",
    "cased_weekly_workflow_run",
    "casedev_action_pipeline",
)
# Task instances that must end in a state other than success (dag_id, task_id) -> state.
EXPECTED_TI_STATES = {("cased_agent_session_on_failure", "check_inventory_feed"): "failed"}
# Tasks that wait in the triggerer: each must be seen in state "deferred".
DEFERRING_TASKS = (
    ("cased_weekly_workflow_run", "weekly_cost_review"),
    ("casedev_action_pipeline", "contract_review"),
    ("cased_fan_in_sensors", "wait_cost"),
    ("cased_fan_in_sensors", "wait_deploys"),
)
TRIGGER_CLASSES = ("CasedWorkflowRunTrigger", "CaseDevActionExecutionTrigger")
# Event-driven scheduling (example_cased_event_driven.py): an asset watched by
# CasedWorkflowRunEventTrigger on runs of a workflow that always fails in the emulator.
EVENT_DAG = "cased_investigate_failed_migration_check"
EVENT_ASSET = "cased_migration_check_failed"
EVENT_WORKFLOW = "wf_flaky_migration_check"
EVENT_EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags/example_cased_event_driven.py"
# Nothing in Airflow waits on its runs (the watcher only sees them end): here they
# take this long rather than the emulator's 25 s.
EVENT_RUN_SECONDS = 8
# Requests of "someone outside Airflow" (the checks themselves) carry this User-Agent,
# so the checks of what Airflow sent leave them out.
OUTSIDE_AGENT = "cased-e2e-outside-airflow"
LINK_DAG, LINK_TASK, LINK_NAME = "cased_weekly_workflow_run", "weekly_cost_review", "Cased session"
TERMINAL_RUN_STATES = {"success", "failed"}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
CONNECTION_FORM_TEXTS = (
    "API key",
    "Base URL",
    "Request timeout (seconds)",
    "Retry limit",
    "Retry delay (seconds)",
    "Agent sessions path",
    "Authorization scheme",
)
HIDDEN_FIELDS = ("Schema", "Login", "Port")
BASE_URL_PLACEHOLDER = "https://app.cased.com"

# Seconds since scripts/e2e.sh started (it passes its start time), so both clocks agree.
STARTED = float(os.environ.get("E2E_STARTED_AT") or time.time())


def say(message: str) -> None:
    print(f"[check {time.time() - STARTED:4.0f}s] {message}", flush=True)


class CheckFailed(Exception):
    pass


class Checks:
    """Collects failed expectations instead of stopping at the first one."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed: list[str] = []

    def expect(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed.append(what)
            say(f"ok    {what}")
        else:
            self.failures.append(f"{what}{': ' + detail if detail else ''}")
            say(f"FAIL  {what}{': ' + detail if detail else ''}")
        return ok


# ---------------------------------------------------------------------- HTTP


class Http:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, answer = self.call(method, path, body, **kwargs)
        if status >= 300:
            raise CheckFailed(f"{method} {path} answered {status}: {str(answer)[:500]}")
        return answer


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# ---------------------------------------------------------------------- services


class Services:
    def __init__(self, specs: list[str]) -> None:
        self.pids: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopped: set[str] = set()  # stopped on purpose, for a restart
        for spec in specs:
            name, _, pid = spec.partition(":")
            self.pids[name] = int(pid)

    def dead(self) -> list[str]:
        gone = []
        with self.lock:
            running = {n: p for n, p in self.pids.items() if n not in self.stopped}
        for name, pid in running.items():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                gone.append(name)
            else:
                # A zombie (exited, not yet reaped by the shell) is dead too.
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    if stat.rsplit(")", 1)[1].split()[0] == "Z":
                        gone.append(name)
                except OSError:
                    pass
        return gone

    def assert_alive(self) -> None:
        gone = self.dead()
        if gone:
            raise CheckFailed(f"service(s) exited early: {', '.join(gone)}")

    def stop(self, name: str, timeout: float = 30) -> float:
        """SIGTERM to the service's recorded pid; wait for its whole session to end.

        The service was started with setsid, so its session id is that pid: what is
        left in the session after ``timeout`` (only processes the script started) gets
        SIGKILL, by pid. Returns the seconds the stop took.
        """
        with self.lock:
            pid = self.pids[name]
            self.stopped.add(name)
        began = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        while session_members(pid) and time.monotonic() - began < timeout:
            time.sleep(0.2)
        left = session_members(pid)
        if left:
            say(
                f"{name}: {len(left)} process(es) still running {timeout:.0f} s after SIGTERM: SIGKILL"
            )
            for member in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
        return time.monotonic() - began

    def start(
        self,
        name: str,
        command: list[str],
        log: Path,
        record: Path,
        env: dict[str, str] | None = None,
    ) -> int:
        """Start ``command`` as ``name`` (again): own session, output appended to ``log``.

        Its pid goes to ``record`` at once, so the shell script's cleanup stops it
        whatever happens.
        """
        with log.open("ab") as out:
            out.write(
                f"\n===== started by the e2e driver at {time.strftime('%H:%M:%S')} =====\n".encode()
            )
            out.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        with record.open("a") as f:
            f.write(f"{name}:{process.pid}\n")
        with self.lock:
            self.pids[name] = process.pid
            self.stopped.discard(name)
        return process.pid


def session_members(sid: int) -> list[int]:
    """The live (not zombie) processes whose session id is ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state, ppid, pgrp, session, ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def wait_for(what: str, probe: Any, timeout: float, services: Services, every: float = 1) -> Any:
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        services.assert_alive()
        try:
            result = probe()
        except (OSError, CheckFailed) as exc:
            result, last_error = None, str(exc)
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what} {last_error}")
        time.sleep(every)


# ---------------------------------------------------------------------- REST part


def login(api: Http, username: str, password: str, services: Services) -> None:
    def health() -> bool:
        status, answer = api.call("GET", "/api/v2/monitor/health", timeout=5)
        return status == 200 and answer["metadatabase"]["status"] == "healthy"

    wait_for("the api-server", health, 180, services)
    answer = api.ok("POST", "/auth/token", {"username": username, "password": password})
    api.token = answer["access_token"]
    say("api-server healthy; got a JWT from POST /auth/token")


def wait_for_dags(api: Http, checks: Checks, services: Services) -> None:
    def parsed() -> bool:
        answer = api.ok("GET", "/api/v2/dags?limit=100")
        return {*EXPECTED_DAGS, EVENT_DAG} <= {d["dag_id"] for d in answer["dags"]}

    try:
        wait_for("the dag-processor to parse example_dags", parsed, 180, services, every=2)
    finally:
        errors = api.ok("GET", "/api/v2/importErrors?limit=100")
    detail = "; ".join(
        f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors["import_errors"]
    )
    checks.expect(errors["total_entries"] == 0, "example DAGs import without errors", detail)
    say(f"all {len(EXPECTED_DAGS) + 1} example DAGs are in the metadata DB")


def trigger_all(api: Http) -> dict[str, str]:
    run_ids = {}
    for dag_id in EXPECTED_DAGS:
        api.ok("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        # No logical date, as Airflow 3 allows for a manual run: the DAGs must not need one.
        run = api.ok(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"logical_date": None, "conf": {}, "note": "make e2e"},
        )
        run_ids[dag_id] = run["dag_run_id"]
        say(f"unpaused and triggered {dag_id}: run {run['dag_run_id']}")
    return run_ids


TiKey = tuple[str, str, str]  # dag_id, run_id, task_id


class Followed:
    """What polling the runs saw: final runs and TIs, state histories, triggers."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.tis: list[dict[str, Any]] = []
        self.states: dict[TiKey, list[str]] = {}
        # (trigger classpath, job type of the triggerer running it, its hostname)
        self.triggers: dict[TiKey, set[tuple[str, str, str]]] = {}


def follow_runs(api: Http, run_ids: dict[str, str], timeout: float, services: Services) -> Followed:
    """Poll every run and task instance of the example DAGs until all runs end.

    Records every state each task instance was seen in (in order), which shows
    the deferrals as they happened, and while a task instance is deferred, its
    trigger's class and the triggerer job that runs it.
    """
    seen = Followed()
    deadline = time.monotonic() + timeout
    while True:
        services.assert_alive()
        runs = [
            r
            for r in api.ok("GET", "/api/v2/dags/~/dagRuns?limit=100")["dag_runs"]
            if r["dag_id"] in EXPECTED_DAGS
        ]
        tis = api.ok("GET", "/api/v2/dags/~/dagRuns/~/taskInstances?limit=500")["task_instances"]
        for ti in tis:
            key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"])
            state = ti["state"] or "none"
            states = seen.states.setdefault(key, [])
            if not states or states[-1] != state:
                states.append(state)
                say(f"  {ti['dag_id']}.{ti['task_id']} [{ti['dag_run_id']}] -> {state}")
            trigger, job = ti.get("trigger"), ti.get("triggerer_job")
            if trigger and job:
                found = (trigger["classpath"], str(job.get("job_type")), str(job.get("hostname")))
                if found not in seen.triggers.setdefault(key, set()):
                    seen.triggers[key].add(found)
                    say(
                        f"  {ti['dag_id']}.{ti['task_id']} runs in {found[1]} job {job['id']}: {found[0]}"
                    )
        triggered_present = {r["dag_id"] for r in runs if r["dag_run_id"] in run_ids.values()}
        if set(run_ids) <= triggered_present and all(
            r["state"] in TERMINAL_RUN_STATES for r in runs
        ):
            seen.runs, seen.tis = runs, tis
            return seen
        if time.monotonic() > deadline:
            pending = [
                f"{r['dag_id']}:{r['state']}" for r in runs if r["state"] not in TERMINAL_RUN_STATES
            ]
            raise CheckFailed(f"DAG runs still unfinished after {timeout:.0f} s: {pending}")
        time.sleep(1)


def check_runs(checks: Checks, followed: Followed, run_ids: dict[str, str]) -> None:
    runs, tis, seen = followed.runs, followed.tis, followed.states
    for dag_id in EXPECTED_DAGS:
        mine = [r for r in runs if r["dag_id"] == dag_id]
        checks.expect(
            any(r["dag_run_id"] == run_ids[dag_id] for r in mine),
            f"{dag_id}: the triggered run exists",
        )
        for run in mine:
            checks.expect(
                run["state"] == "success",
                f"{dag_id} run {run['dag_run_id']} ({run['run_type']}) succeeded",
                f"state {run['state']}",
            )
    for ti in tis:
        if ti["dag_id"] not in EXPECTED_DAGS:
            continue
        wanted = EXPECTED_TI_STATES.get((ti["dag_id"], ti["task_id"]), "success")
        checks.expect(
            ti["state"] == wanted,
            f"task {ti['dag_id']}.{ti['task_id']} [{ti['dag_run_id']}] ended {wanted}",
            f"state {ti['state']}, seen {seen.get((ti['dag_id'], ti['dag_run_id'], ti['task_id']))}",
        )
    for dag_id, task_id in DEFERRING_TASKS:
        histories = {k: v for k, v in seen.items() if k[0] == dag_id and k[2] == task_id}
        checks.expect(
            bool(histories) and all("deferred" in states for states in histories.values()),
            f"{dag_id}.{task_id} was deferred to the triggerer in every run",
            f"states seen: {histories}",
        )


def check_triggerer(checks: Checks, followed: Followed, logs: Path, airflow_home: Path) -> None:
    """Our trigger classes ran in the triggerer process, and it wrote their logs."""
    classes: dict[str, set[str]] = {}
    for found in followed.triggers.values():
        for classpath, job_type, _hostname in found:
            classes.setdefault(classpath.rpartition(".")[2], set()).add(job_type)
    for name in TRIGGER_CLASSES:
        checks.expect(
            classes.get(name) == {"TriggererJob"},
            f"{name} instances ran in the triggerer (TaskInstance.trigger + triggerer_job)",
            f"seen {classes}",
        )
    # The triggerer logs each trigger to a file next to the task's log
    # (attempt=N.log.trigger.ID.log); now and then a line lands in its own log instead.
    service_log = (logs / "triggerer.log").read_text(errors="replace").splitlines()
    for dag_id, task_id in DEFERRING_TASKS:
        keys = [k for k in followed.states if k[0] == dag_id and k[2] == task_id]
        for _, run_id, _ in keys:
            folder = (
                airflow_home
                / "logs"
                / f"dag_id={dag_id}"
                / f"run_id={run_id}"
                / f"task_id={task_id}"
            )
            files = sorted(folder.glob("attempt=*.log.trigger.*.log"))
            lines = [line for f in files for line in f.read_text(errors="replace").splitlines()]
            lines += [line for line in service_log if f"{dag_id}/{run_id}/{task_id}/" in line]
            fired = [
                line
                for line in lines
                if "Trigger fired event" in line and "'status': 'success'" in line
            ]
            checks.expect(
                bool(fired),
                f"triggerer logs: the trigger of {dag_id}.{task_id} [{run_id}] fired success",
                f"trigger log files {[str(f) for f in files]}",
            )
            if fired:
                say(f"    {fired[0][:230]}")


def check_emulator(checks: Checks, emulator: Http) -> list[dict[str, Any]]:
    requests = [
        r
        for r in emulator.ok("GET", "/_emulator/requests")
        if r["headers"].get("user-agent") != OUTSIDE_AGENT
    ]
    cased = [r for r in requests if r["path"].startswith("/api/v1/")]
    casedev = [r for r in requests if r["path"].startswith("/actions/")]
    say(f"emulator recorded {len(cased)} Cased and {len(casedev)} case.dev API calls")

    def scheme(record: dict[str, Any]) -> str:
        return str(record["headers"].get("authorization", "")).partition(" ")[0]

    cased_schemes = sorted({scheme(r) for r in cased})
    casedev_schemes = sorted({scheme(r) for r in casedev})
    checks.expect(
        cased_schemes == ["Token"],
        "Cased calls used cased_default from the metadata DB (auth_scheme Token)",
        f"schemes {cased_schemes}",
    )
    checks.expect(
        casedev_schemes == ["Bearer"],
        "case.dev calls used casedev_default from the environment (Bearer)",
        f"schemes {casedev_schemes}",
    )
    failed = [f"{r['method']} {r['path']} -> {r['status']}" for r in requests if r["status"] >= 400]
    checks.expect(not failed, "no API call was answered with an error", "; ".join(failed[:10]))

    def count(method: str, pattern: str) -> int:
        return sum(
            1 for r in requests if r["method"] == method and re.fullmatch(pattern, r["path"])
        )

    expectations = [
        ("POST", r"/api/v1/workflows/[^/]+/runs/", 3, "workflow runs started (weekly + 2 fan-in)"),
        # A trigger reads its run's status from the list poll it shares with the other
        # waits on the same workflow, a sensor or sync wait with a GET of the run.
        (
            "GET",
            r"/api/v1/workflows/[^/]+/runs/([^/]+/)?",
            3,
            "workflow run status reads (a run's GET or the shared list poll)",
        ),
        ("POST", r"/api/v1/deployments/", 2, "deployment events (start + outcome notifier)"),
        ("POST", r"/api/v1/agent/sessions/", 1, "agent session from the failure callback"),
        ("POST", r"/actions/v1/[^/]+/execute", 1, "case.dev action executions"),
        ("GET", r"/actions/v1/executions/[^/]+", 1, "case.dev execution status polls"),
    ]
    for method, pattern, minimum, what in expectations:
        n = count(method, pattern)
        checks.expect(n >= minimum, f"emulator saw {n} {what} (>= {minimum})")
    return requests


def check_link_rest(
    checks: Checks, api: Http, emulator: Http, emulator_url: str, api_key: str, run_id: str
) -> str:
    base = f"/api/v2/dags/{LINK_DAG}/dagRuns/{quote(run_id)}/taskInstances/{LINK_TASK}"
    links = api.ok("GET", f"{base}/links").get("extra_links") or {}
    url = str(links.get(LINK_NAME) or "")
    say(f"REST {base}/links -> {links}")
    prefix = f"{emulator_url.rstrip('/')}/agents/"
    checks.expect(
        url.startswith(prefix), f'REST: the "{LINK_NAME}" link is {prefix}<session id>', url
    )
    _, xcom = api.call("GET", f"{base}/xcomEntries/return_value?deserialize=true")
    run = xcom.get("value") if isinstance(xcom, dict) else None
    if isinstance(run, str):
        with contextlib.suppress(ValueError):
            run = json.loads(run)
    session_id = url[len(prefix) :] if url.startswith(prefix) else ""
    if session_id:
        status, session = emulator.call(
            "GET",
            f"/api/v1/agent/sessions/{quote(session_id)}/",
            headers={"Authorization": f"Token {api_key}"},
        )
        # Which run a session watches is not in the API's answer: the emulator's own view has it.
        kept = [
            s for s in emulator.ok("GET", "/_emulator/sessions") if s["session_id"] == session_id
        ]
        run_matches = (
            isinstance(run, dict) and kept and kept[0].get("workflow_run_id") == run.get("id")
        )
        checks.expect(
            status == 200 and bool(run_matches),
            "the link's session exists in the emulator and watches the task's workflow run",
            f"session {status} {session}, kept as {kept}; task returned {str(run)[:300]}",
        )
    return url


def check_key_not_logged(checks: Checks, api_key: str, logs: Path, airflow_home: Path) -> None:
    """Neither the API key nor the webhook secret (same check) in any log file."""
    found = []
    roots = [p for p in logs.glob("*.log") if p.name != "emulator.log"]
    roots += [p for p in (airflow_home / "logs").rglob("*") if p.is_file()]
    for path in roots:
        try:
            if api_key in path.read_text(errors="replace"):
                found.append(str(path))
        except OSError:
            pass
    checks.expect(
        not found,
        f"the API key appears in none of {len(roots)} service and task log files",
        ", ".join(found),
    )


# ---------------------------------------------------------------------- event-driven part


def epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def example_poll_interval() -> float:
    """The watcher's poll_interval in the example (else the trigger's default, 60 s)."""
    found = re.search(r"poll_interval=([0-9.]+)", EVENT_EXAMPLE.read_text())
    return float(found.group(1)) if found else 60.0


def metadata_db(query: str, *params: Any) -> tuple[Any, ...] | None:
    """One row from Airflow's metadata DB (for what the REST API does not show)."""
    import psycopg2  # scripts/e2e.sh installs it into the venv

    dsn = re.sub(
        r"^postgresql\+\w+://", "postgresql://", os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    try:
        conn = psycopg2.connect(dsn, connect_timeout=10)
        with contextlib.closing(conn), conn.cursor() as cursor:
            cursor.execute(query, params)
            row = cursor.fetchone()
    except psycopg2.Error as exc:
        raise CheckFailed(f"metadata DB: {exc}") from exc
    return tuple(row) if row else None


def triggerer_job_of(trigger_id: int) -> int | None:
    """The live TriggererJob the trigger is assigned to, if any."""
    row = metadata_db(
        "SELECT j.id FROM trigger t JOIN job j ON j.id = t.triggerer_id"
        " WHERE t.id = %s AND j.job_type = 'TriggererJob' AND j.state = 'running'"
        " AND j.end_date IS NULL",
        trigger_id,
    )
    return int(row[0]) if row else None


def stored_watermark() -> tuple[float, dict[str, Any]] | None:
    """The watcher's watermark in the asset state store: (when written, its value)."""
    row = metadata_db(
        "SELECT s.updated_at, s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id"
        " WHERE a.name = %s AND s.key LIKE 'cased_workflow_run_watermark:%%'",
        EVENT_ASSET,
    )
    if row is None:
        return None
    value = row[1]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return row[0].timestamp(), value if isinstance(value, dict) else {"value": value}


def payload_run_ids(events: list[dict[str, Any]]) -> list[str]:
    return [str(((e.get("extra") or {}).get("payload") or {}).get("run_id")) for e in events]


class EventChecks:
    """Event-driven scheduling on the real scheduler + triggerer (example_cased_event_driven).

    1. a failing run that ended before the DAG was unpaused starts no DAG run;
    2. with the watcher running in the triggerer, a failing and a completed run of the
       same workflow, started outside Airflow, start exactly one asset-triggered DAG run
       within poll_interval + 30 s, whose agent session names the failed run;
    3. a failing run that ends while the triggerer is down starts exactly one more DAG run
       once it is back (the watermark in the asset state store), re-emitting nothing.

    A thread beside the main checks; 3 stops the triggerer, so it waits until the other
    DAG runs (with their deferred tasks) have finished.
    """

    def __init__(
        self, checks: Checks, api: Http, emulator: Http, services: Services, args: Any
    ) -> None:
        self.checks, self.api, self.emulator, self.services = checks, api, emulator, services
        self.api_key: str = args.emulator_api_key
        self.command: list[str] = args.triggerer_command
        self.triggerer_log: Path = args.logs / "triggerer.log"
        self.restarted_record: Path = args.restarted_services
        self.poll = example_poll_interval()
        self.main_done = threading.Event()
        self.thread: threading.Thread | None = None
        self.history_run = ""
        self.trigger_id = 0
        self.unpaused_at = 0.0
        self.delivered: tuple[str, str] | None = None  # check 2: its DAG run, the failed run

    # -- the Cased API (emulator), as someone outside Airflow uses it ----------------

    def start_run(self, what: str) -> str:
        answer = self.emulator.ok(
            "POST",
            f"/api/v1/workflows/{EVENT_WORKFLOW}/runs/",
            {"triggered_by": "manual", "trigger_name": f"make e2e: {what}"},
            headers={"Authorization": f"Bearer {self.api_key}", "User-Agent": OUTSIDE_AGENT},
        )
        run_id = str(answer["id"])
        say(f"events: started run {run_id} of {EVENT_WORKFLOW} outside Airflow ({what})")
        return run_id

    def ended(self, run_id: str) -> tuple[str, float]:
        """Wait for the run to end: (status, ended_at as epoch seconds)."""

        def probe() -> tuple[str, float] | None:
            for run in self.emulator.ok("GET", f"/_emulator/runs?workflow={EVENT_WORKFLOW}"):
                if run["id"] == run_id:
                    end = epoch(run.get("ended_at"))
                    return (str(run["status"]), end) if end is not None else None
            raise CheckFailed(f"run {run_id} is not in the emulator")

        return wait_for(f"run {run_id} to end", probe, 60, self.services, 0.5)

    def polls(self, since: float) -> list[float]:
        """When the watcher listed the workflow's runs (after ``since``)."""
        path = f"/api/v1/workflows/{EVENT_WORKFLOW}/runs/"
        found = self.emulator.ok("GET", f"/_emulator/requests?method=GET&path={quote(path)}")
        return [
            float(r["time"])
            for r in found
            if r["path"] == path
            and r["headers"].get("user-agent") != OUTSIDE_AGENT
            and float(r["time"]) > since
        ]

    def prompts(self) -> list[str]:
        path = quote("/api/v1/agent/sessions/")
        found = self.emulator.ok("GET", f"/_emulator/requests?method=POST&path={path}")
        return [str((r.get("json") or {}).get("prompt", "")) for r in found]

    # -- Airflow (REST API, metadata DB) -------------------------------------------------

    def asset(self) -> dict[str, Any]:
        answer = self.api.ok("GET", f"/api/v2/assets?name_pattern={EVENT_ASSET}&limit=10")
        for asset in answer["assets"]:
            if asset["name"] == EVENT_ASSET:
                return dict(asset)
        raise CheckFailed(f"no asset {EVENT_ASSET}")

    def asset_events(self) -> list[dict[str, Any]]:
        asset_id = self.asset()["id"]
        answer = self.api.ok("GET", f"/api/v2/assets/events?asset_id={asset_id}&limit=100")
        return list(answer["asset_events"])

    def dag_runs(self) -> list[dict[str, Any]]:
        return list(self.api.ok("GET", f"/api/v2/dags/{EVENT_DAG}/dagRuns?limit=100")["dag_runs"])

    def upstream_run_ids(self, dag_run_id: str) -> list[str]:
        path = f"/api/v2/dags/{EVENT_DAG}/dagRuns/{quote(dag_run_id)}/upstreamAssetEvents"
        return payload_run_ids(self.api.ok("GET", path)["asset_events"])

    def finished(self, dag_run_id: str) -> dict[str, str]:
        """Wait for the DAG run to end: its task states."""
        base = f"/api/v2/dags/{EVENT_DAG}/dagRuns/{quote(dag_run_id)}"

        def probe() -> dict[str, str] | None:
            if self.api.ok("GET", base)["state"] not in TERMINAL_RUN_STATES:
                return None
            tis = self.api.ok("GET", f"{base}/taskInstances")["task_instances"]
            return {ti["task_id"]: str(ti["state"]) for ti in tis}

        return wait_for(f"DAG run {dag_run_id} to end", probe, 120, self.services)

    def new_dag_run(self, known: set[str], limit: float) -> dict[str, Any] | None:
        """The first DAG run not in ``known`` within ``limit`` seconds, else None."""

        def probe() -> dict[str, Any] | None:
            new = [r for r in self.dag_runs() if r["dag_run_id"] not in known]
            return min(new, key=lambda r: str(r["queued_at"])) if new else None

        try:
            return wait_for(f"a new DAG run of {EVENT_DAG}", probe, limit, self.services)
        except CheckFailed as exc:
            say(f"events: {exc}")
            return None

    def watching(self, other_than: int | None, since: float) -> tuple[int, float, int]:
        """Wait until the watcher's trigger runs in a live triggerer and has polled.

        Its trigger (REST: the asset's watchers) is assigned to a running TriggererJob
        other than ``other_than`` (metadata DB), and it wrote its watermark to the asset
        state store after ``since``: it runs, has its watermark, has seen the runs.
        Returns (job id, when the watermark was written, how many runs it remembers).
        """

        def assigned() -> int | None:
            watchers = self.asset()["watchers"]
            if not watchers:  # registered at the first parse after the unpause
                return None
            self.trigger_id = int(watchers[0]["trigger_id"])
            job = triggerer_job_of(self.trigger_id)
            return job if job is not None and job != other_than else None

        def stored() -> tuple[float, dict[str, Any]] | None:
            found = stored_watermark()
            return found if found is not None and found[0] > since else None

        job = wait_for("the asset watcher's trigger in a triggerer", assigned, 180, self.services)
        written, watermark = wait_for(
            "the watermark in the asset state store", stored, self.poll + 60, self.services
        )
        return job, written, len(watermark.get("emitted") or {})

    def settle(self, after: float) -> None:
        """Wait for a watcher poll after ``after``; give the scheduler time to act on it."""
        polls = wait_for("a watcher poll", lambda: self.polls(after), self.poll + 30, self.services)
        time.sleep(max(0.0, min(polls) + 8 - time.time()))

    # -- the checks -------------------------------------------------------------------

    def before_unpause(self) -> None:
        """Runs of the workflow take EVENT_RUN_SECONDS; one fails before the unpause."""
        self.emulator.ok(
            "POST",
            "/_emulator/workflows",  # the same workflow again (same id): runs kept
            {
                "name": "Flaky migration check",
                "workflow_id": EVENT_WORKFLOW,
                "description": "Checks database migrations; always fails in the emulator.",
                "outcome": "failed",
                "run_seconds": EVENT_RUN_SECONDS,
            },
        )
        self.history_run = self.start_run("fails before the DAG is unpaused")

    def unpause(self) -> None:
        status, end = self.ended(self.history_run)
        if status != "failed":
            raise CheckFailed(f"run {self.history_run} ended {status}, not failed")
        self.api.ok("PATCH", f"/api/v2/dags/{EVENT_DAG}", {"is_paused": False})
        self.unpaused_at = time.time()
        say(
            f"events: run {self.history_run} failed {self.unpaused_at - end:.0f} s before "
            f"{EVENT_DAG} was unpaused (watcher poll_interval {self.poll:.0f} s)"
        )

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="event-checks", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.main_done.set()
        if self.thread is not None:
            self.thread.join(900)
            if self.thread.is_alive():
                self.checks.failures.append("events: the event checks did not finish in 900 s")
            self.thread = None

    def _run(self) -> None:
        try:
            self.unpause()
            self.delivery()
            self.main_done.wait()
            self.restart()
        except CheckFailed as exc:
            self.checks.failures.append(f"events: {exc}")
            say(f"FAIL  events: {exc}")
        except Exception as exc:  # a crash of the checks themselves is a failure too
            self.checks.failures.append(f"events: {type(exc).__name__}: {exc}")
            say(f"FAIL  events: {type(exc).__name__}: {exc}")
            import traceback

            traceback.print_exc()

    def delivery(self) -> None:
        """Checks 1 and 2 (the investigate task of 2 is looked at while 3 runs)."""
        job, written, remembered = self.watching(None, self.unpaused_at)
        say(
            f"events: the watcher's trigger {self.trigger_id} runs in TriggererJob {job}; "
            f"it stored its watermark ({remembered} runs) {written - self.unpaused_at:.0f} s "
            "after the unpause"
        )
        failing = self.start_run("to fail")
        succeeding = self.start_run("to succeed: its status is forced to completed")
        self.emulator.ok(
            "POST", f"/_emulator/runs/{quote(succeeding)}/status", {"status": "completed"}
        )
        succeeded_as, succeeded_at = self.ended(succeeding)
        failed_as, failed_at = self.ended(failing)
        say(f"events: run {succeeding} ended {succeeded_as}, run {failing} ended {failed_as}")
        limit = self.poll + 30
        run = self.new_dag_run(set(), max(1.0, failed_at + limit - time.time()) + 2)
        if run is None:
            self.checks.expect(
                False, f"event 2: a DAG run of {EVENT_DAG} within {limit:.0f} s of the failure"
            )
            return
        latency = (epoch(run["queued_at"]) or time.time()) - failed_at
        say(f"events: DAG run {run['dag_run_id']} {latency:.1f} s after the failure")
        # A poll that saw both runs ended (normally the one that started the DAG run).
        self.settle(max(failed_at, succeeded_at))
        runs, events = self.dag_runs(), payload_run_ids(self.asset_events())
        self.checks.expect(
            len(runs) == 1 and run["run_type"] == "asset_triggered" and latency <= limit,
            f"event 2: a failing and a completed run started outside Airflow -> exactly one "
            f"asset-triggered DAG run, {latency:.1f} s after the failure ended "
            f"(limit {limit:.0f} s)",
            f"runs {[(r['dag_run_id'], r['run_type']) for r in runs]}",
        )
        self.checks.expect(
            events == [failing] and self.upstream_run_ids(run["dag_run_id"]) == [failing],
            "event 2: one asset event, its payload the failed run; none for the completed one",
            f"asset events for {events}; failed {failing}, completed {succeeding}",
        )
        polls = len(self.polls(self.unpaused_at))
        self.checks.expect(
            self.history_run not in events and len(runs) == 1,
            f"event 1: the run that failed before the unpause started no DAG run "
            f"({polls} watcher polls listed it)",
            f"asset events for {events}",
        )
        self.delivered = (run["dag_run_id"], failing)

    def investigated(self, check: str, dag_run_id: str, run_id: str) -> None:
        states = self.finished(dag_run_id)
        sessions = [p for p in self.prompts() if run_id in p]
        self.checks.expect(
            states.get("investigate") == "success" and len(sessions) == 1,
            f"{check}: investigate succeeded; its agent session's prompt names run {run_id}",
            f"task states {states}; prompts naming it: {sessions}",
        )

    def restart(self) -> None:
        """Check 3 (and, while the triggerer is down, the end of check 2)."""
        if self.delivered is None:
            return  # check 2 did not get as far: nothing to compare with
        known = {r["dag_run_id"] for r in self.dag_runs()}
        old_job = triggerer_job_of(self.trigger_id)
        pid = self.services.pids["triggerer"]
        took = self.services.stop("triggerer")
        down_at = time.time()
        say(f"events: stopped the triggerer (SIGTERM to pid {pid}; session gone in {took:.1f} s)")
        missed = self.start_run("to fail while the triggerer is down")
        self.investigated("event 2", *self.delivered)
        status, _ = self.ended(missed)
        pid = self.services.start(
            "triggerer", self.command, self.triggerer_log, self.restarted_record
        )
        restarted_at = time.time()
        say(
            f"events: run {missed} {status} while the triggerer was down; started it again after "
            f"{restarted_at - down_at:.0f} s (pid {pid}): {' '.join(self.command)}"
        )
        job, written, remembered = self.watching(old_job, restarted_at)
        say(
            f"events: trigger {self.trigger_id} runs in TriggererJob {job} (was {old_job}); it "
            f"stored its watermark ({remembered} runs) {written - restarted_at:.0f} s after the restart"
        )
        run = self.new_dag_run(known, self.poll + 30)
        if run is None:
            self.checks.expect(False, "event 3: one more DAG run after the triggerer restart")
            return
        after_restart = (epoch(run["queued_at"]) or time.time()) - restarted_at
        # The first poll after the restart would re-emit the earlier run, if anything did.
        self.settle(restarted_at)
        runs, events = self.dag_runs(), payload_run_ids(self.asset_events())
        self.checks.expect(
            len(runs) == len(known) + 1
            and run["run_type"] == "asset_triggered"
            and self.upstream_run_ids(run["dag_run_id"]) == [missed],
            f"event 3: the run that ended while the triggerer was down -> exactly one more "
            f"asset-triggered DAG run, {after_restart:.1f} s after the restart "
            f"(down {restarted_at - down_at:.0f} s)",
            f"runs {[(r['dag_run_id'], r['run_type']) for r in runs]}, asset events for {events}",
        )
        self.checks.expect(
            sorted(events) == sorted([self.delivered[1], missed]),
            "event 3: nothing re-emitted after the restart (one asset event per failed run)",
            f"asset events for {events}",
        )
        self.investigated("event 3", run["dag_run_id"], missed)
        log = self.triggerer_log.read_text(errors="replace").rpartition(
            "started by the e2e driver"
        )[2]
        stored = [line for line in log.splitlines() if "from the stored watermark" in line]
        if stored:
            say(f"    {stored[0][:200]}")


# ---------------------------------------------------------------------- a person in the loop

APPROVAL_DAG, APPROVAL_TASK = "cased_e2e_approval", "approved_run"
ABANDON_DAG, ABANDON_TASK = "cased_e2e_abandon", "long_run"


class HumanLoop:
    """Approval answered through the REST API; a deferred task marked failed, then cleared;
    a triggerer restart under a deferred task (scripts/e2e/dags/e2e_human_loop.py)."""

    def __init__(
        self, checks: Checks, api: Http, emulator: Http, services: Services, events: Any, args: Any
    ) -> None:
        self.checks, self.api, self.emulator, self.services = checks, api, emulator, services
        self.events, self.args = events, args

    def trigger(self, dag_id: str) -> str:
        self.api.ok("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api.ok("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        say(f"human loop: triggered {dag_id}: run {run['dag_run_id']}")
        return str(run["dag_run_id"])

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"

    def ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}"

    def ti(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.api.ok("GET", self.ti_path(dag_id, run_id, task_id)))

    def ti_in(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: tuple[str, ...],
        what: str,
        timeout: float = 120,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            ti = self.ti(dag_id, run_id, task_id)
            return ti if ti["state"] in states else None

        return dict(wait_for(what, probe, timeout, self.services))

    def posts(self, trigger_name_prefix: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.emulator.ok("GET", "/_emulator/requests")
            if r["method"] == "POST"
            and re.fullmatch(r"/api/v1/workflows/[^/]+/runs/", r["path"])
            and str((r.get("json") or {}).get("trigger_name", "")).startswith(trigger_name_prefix)
        ]

    def log_folder(self, dag_id: str, run_id: str, task_id: str) -> Path:
        return (
            self.args.airflow_home
            / "logs"
            / f"dag_id={dag_id}"
            / f"run_id={run_id}"
            / f"task_id={task_id}"
        )

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = (
            self.args.airflow_home
            / "logs"
            / f"dag_id={dag_id}"
            / f"run_id={run_id}"
            / f"task_id={task_id}"
        )
        texts = [f.read_text(errors="replace") for f in sorted(folder.glob("attempt=*"))]
        service = (self.args.logs / "triggerer.log").read_text(errors="replace")
        return "\n".join(texts) + "\n" + service

    def approval(self, answer: str) -> None:
        run_id = self.trigger(APPROVAL_DAG)
        name = f"e2e-approval {run_id}"
        self.ti_in(
            APPROVAL_DAG,
            run_id,
            APPROVAL_TASK,
            ("awaiting_input",),
            f"{APPROVAL_DAG} to wait for a person (awaiting_input)",
        )
        hitl_path = self.ti_path(APPROVAL_DAG, run_id, APPROVAL_TASK) + "/-1/hitlDetails"
        detail = self.api.ok("GET", hitl_path)
        body = str(detail.get("body") or "")
        self.checks.expect(
            "wf_weekly_cost_review" in body
            and f'"asked": "{run_id}"' in body
            and self.args.emulator_api_key not in body,
            f"approval ({answer}): the request shows the workflow and the rendered context, "
            "never the API key",
            body[:300],
        )
        time.sleep(3)  # nothing may be sent while it waits
        self.checks.expect(
            not self.posts(name),
            f"approval ({answer}): no POST before the answer",
        )
        self.api.ok("PATCH", hitl_path, {"chosen_options": [answer], "params_input": {}})
        final = self.ti_in(
            APPROVAL_DAG,
            run_id,
            APPROVAL_TASK,
            ("success", "failed", "skipped"),
            f"{APPROVAL_DAG} to end after the answer",
        )
        sent = self.posts(name)
        if answer == "Approve":
            self.checks.expect(
                final["state"] == "success" and len(sent) == 1,
                "approval (Approve): the task succeeded and sent exactly one POST",
                f"state {final['state']}, {len(sent)} POSTs",
            )
        else:
            self.checks.expect(
                final["state"] == "failed" and not sent,
                "approval (Reject): the task failed and sent nothing",
                f"state {final['state']}, {len(sent)} POSTs",
            )

    def restart_under_a_deferred_task(self) -> str:
        run_id = self.trigger(ABANDON_DAG)
        self.ti_in(ABANDON_DAG, run_id, ABANDON_TASK, ("deferred",), f"{ABANDON_DAG} to defer")
        self.services.stop("triggerer")
        pid = self.services.start(
            "triggerer",
            self.events.command,
            self.events.triggerer_log,
            self.events.restarted_record,
        )
        say(f"human loop: restarted the triggerer under a deferred task (pid {pid})")
        final = self.ti_in(
            ABANDON_DAG,
            run_id,
            ABANDON_TASK,
            ("success", "failed"),
            f"{ABANDON_DAG} to finish after the triggerer restart",
            timeout=180,
        )
        logs = self.task_logs(ABANDON_DAG, run_id, ABANDON_TASK)
        self.checks.expect(
            final["state"] == "success"
            and len(self.posts(f"e2e-abandon {run_id}")) == 1
            and "Abandoned workflow run" not in logs,
            "kill: a triggerer restart under a deferred task abandons nothing (same run, "
            "no on_kill)",
            f"state {final['state']}",
        )
        return run_id

    def clear_after_success(self, run_id: str) -> None:
        """A person clears a task that succeeded: it runs the workflow again."""
        name = f"e2e-abandon {run_id}"
        before = self.posts(name)
        tries = int(self.ti(ABANDON_DAG, run_id, ABANDON_TASK)["try_number"])
        self.clear(ABANDON_DAG, run_id, ABANDON_TASK)
        say(f"human loop: cleared {ABANDON_DAG}.{ABANDON_TASK} [{run_id}] after it succeeded")
        final = self.ended_after_clear(ABANDON_DAG, run_id, ABANDON_TASK, tries)
        names = [r["json"]["trigger_name"] for r in self.posts(name)]
        self.checks.expect(
            final["state"] == "success"
            and len(names) == len(before) + 1
            and names[-1] == f"{name} (try {final['try_number']})",
            "clear: a task cleared after it succeeded starts a new run (not the finished one)",
            f"state {final['state']}, trigger names {names}",
        )

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api.ok("GET", self.run_path(dag_id, run_id))["state"])

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        # A person clears a task of a DAG run that has ended, as the UI shows it. Clearing in
        # the moment between the task's end and the scheduler ending its DAG run races
        # Airflow's own bookkeeping, not ours.
        wait_for(
            f"the DAG run {dag_id} [{run_id}] to end before the clear",
            lambda: self.run_state(dag_id, run_id) in TERMINAL_RUN_STATES,
            60,
            self.services,
        )
        self.api.ok(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            {
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "dry_run": False,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def ended_after_clear(
        self, dag_id: str, run_id: str, task_id: str, tries_before: int
    ) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ended() -> dict[str, Any] | None:
            seen.update(self.ti(dag_id, run_id, task_id))
            if seen["state"] in ("success", "failed") and seen["try_number"] > tries_before:
                return dict(seen)
            return None

        try:
            return dict(wait_for(f"{dag_id} to finish after the clear", ended, 180, self.services))
        except CheckFailed as exc:
            # Say where it stood, so a CI log alone tells a stuck scheduler from a stuck task.
            raise CheckFailed(
                f"{exc} (task {seen.get('state')}, try {seen.get('try_number')} after "
                f"{tries_before}; DAG run {self.run_state(dag_id, run_id)})"
            ) from exc

    def mark_failed_then_clear(self) -> None:
        run_id = self.trigger(ABANDON_DAG)
        name = f"e2e-abandon {run_id}"
        self.ti_in(ABANDON_DAG, run_id, ABANDON_TASK, ("deferred",), f"{ABANDON_DAG} to defer")
        [first] = self.posts(name)

        def trigger_polling() -> bool:
            # on_kill needs a running trigger: wait until the triggerer has polled the run
            # (its first poll logs the run's status in the trigger's own log file).
            folder = self.log_folder(ABANDON_DAG, run_id, ABANDON_TASK)
            return any(
                "Workflow run" in f.read_text(errors="replace")
                for f in folder.glob("attempt=*.log.trigger.*.log")
            )

        wait_for("the triggerer to run the trigger", trigger_polling, 60, self.services)
        self.api.ok(
            "PATCH", self.ti_path(ABANDON_DAG, run_id, ABANDON_TASK), {"new_state": "failed"}
        )
        say(f"human loop: marked {ABANDON_DAG}.{ABANDON_TASK} [{run_id}] failed while deferred")

        def abandoned_logged() -> str | None:
            logs = self.task_logs(ABANDON_DAG, run_id, ABANDON_TASK)
            lines = [line for line in logs.splitlines() if "Abandoned workflow run" in line]
            return lines[0] if lines else None

        line = wait_for("the trigger's on_kill log line", abandoned_logged, 60, self.services)
        self.checks.expect(
            "/agents/" in line or "/api/v1/workflows/" in line,
            "kill: marking a deferred task failed logs the abandoned run with its link "
            "(trigger on_kill)",
            line[:300],
        )
        say(f"    {line.strip()[:230]}")
        self.clear(ABANDON_DAG, run_id, ABANDON_TASK)
        say("human loop: cleared it")
        final = self.ended_after_clear(ABANDON_DAG, run_id, ABANDON_TASK, 1)
        sent = self.posts(name)
        self.checks.expect(
            final["state"] == "success"
            and len(sent) == 2
            and sent[1]["json"]["trigger_name"] != first["json"]["trigger_name"],
            "kill: the cleared task started a new run instead of re-attaching to the "
            "abandoned one (task state store)",
            f"state {final['state']}, trigger names {[r['json']['trigger_name'] for r in sent]}",
        )

    def run(self) -> None:
        self.approval("Approve")
        self.approval("Reject")
        self.clear_after_success(self.restart_under_a_deferred_task())
        self.mark_failed_then_clear()


# ---------------------------------------------------------------------- browser part


def check_ui(
    checks: Checks,
    api_url: str,
    username: str,
    password: str,
    chromium: str,
    shots: Path,
    link_run_id: str,
    expected_link: str,
) -> None:
    from playwright.sync_api import sync_playwright
    from ui import UiDriver  # scripts/e2e/ui.py

    user_data = shots.parent / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1400},
        )
        try:
            ui = UiDriver(context, api_url, shots, say)
            ui.login(username, password)
            found = ui.connection_form("cased", "Cased")
            for text in CONNECTION_FORM_TEXTS:
                checks.expect(text in found["labels"], f'UI connection form shows "{text}"')
            for text in HIDDEN_FIELDS:
                checks.expect(text not in found["labels"], f'UI connection form hides "{text}"')
            checks.expect(
                BASE_URL_PLACEHOLDER in found["placeholders"],
                f'UI connection form: Base URL placeholder "{BASE_URL_PLACEHOLDER}"',
                f"placeholders {found['placeholders']}",
            )
            href = ui.extra_link(LINK_DAG, link_run_id, LINK_TASK, LINK_NAME)
            checks.expect(
                href == expected_link,
                f'UI: the "{LINK_NAME}" button of {LINK_DAG}.{LINK_TASK} opens {expected_link}',
                f"href {href!r}",
            )
        except Exception:
            ui_failure = shots / "99-failure.png"
            try:
                for page in context.pages:
                    page.screenshot(path=str(ui_failure), full_page=True)
                say(f"screenshot at the failure: {ui_failure}")
            except Exception:
                pass
            raise
        finally:
            context.close()


def check_webhooks(
    checks: Checks, api: Http, emulator: Http, services: Services, args: Any
) -> None:
    """case.dev webhooks through the api-server (scripts/e2e/webhooks.py)."""
    from types import SimpleNamespace

    from webhooks import WebhookChecks  # scripts/e2e/webhooks.py

    tools = SimpleNamespace(
        say=say,
        CheckFailed=CheckFailed,
        quote=quote,
        OUTSIDE_AGENT=OUTSIDE_AGENT,
        wait_for=lambda what, probe, timeout, every=1: wait_for(
            what, probe, timeout, services, every
        ),
    )
    webhooks = WebhookChecks(checks, api, emulator, args, tools)
    webhooks.run()
    # The scheduler creates the run in its next loop: the goal is a second; the bound
    # leaves room for a loop busy with the other DAGs on 2 cores.
    checks.expect(
        webhooks.latency <= 5.0,
        f"webhooks: the DAG run was created {webhooks.latency:.2f} s after the webhook's 200 "
        "(<= 5 s)",
    )


# ---------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--emulator-url", required=True)
    parser.add_argument("--emulator-api-key", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, required=True)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--airflow-home", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=420)
    parser.add_argument("--summary", type=Path, required=True, help="file for the verdict")
    parser.add_argument("--service", action="append", default=[], help="name:pid")
    parser.add_argument(
        "--triggerer-command", action="append", default=[], help="one word of it per option"
    )
    parser.add_argument(
        "--restarted-services", type=Path, required=True, help='file of "name:pid" it starts'
    )
    parser.add_argument("--webhook-conn-id", required=True, help="casedev conn with the secret")
    parser.add_argument("--webhook-secret", required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    checks = Checks()
    services = Services(args.service)
    api = Http(args.api_url)
    emulator = Http(args.emulator_url)
    events = EventChecks(checks, api, emulator, services, args)
    try:
        emulator.ok("GET", "/_emulator/health")
        events.before_unpause()
        login(api, args.username, args.password, services)
        wait_for_dags(api, checks, services)
        run_ids = trigger_all(api)
        events.start()  # checks 1 and 2 now; 3 once the runs below have finished
        followed = follow_runs(api, run_ids, args.timeout, services)
        say("all DAG runs finished")
        events.main_done.set()
        check_runs(checks, followed, run_ids)
        check_triggerer(checks, followed, args.logs, args.airflow_home)
        check_emulator(checks, emulator)
        check_webhooks(checks, api, emulator, services, args)
        link = check_link_rest(
            checks, api, emulator, args.emulator_url, args.emulator_api_key, run_ids[LINK_DAG]
        )
        check_ui(
            checks,
            args.api_url,
            args.username,
            args.password,
            args.chromium,
            args.screenshots,
            run_ids[LINK_DAG],
            link,
        )
        events.join()
        HumanLoop(checks, api, emulator, services, events, args).run()
        check_key_not_logged(checks, args.emulator_api_key, args.logs, args.airflow_home)
        check_key_not_logged(checks, args.webhook_secret, args.logs, args.airflow_home)
        services.assert_alive()
        checks.expect(True, "every service was still running at the end")
    except CheckFailed as exc:
        checks.failures.append(str(exc))
        say(f"FAIL  {exc}")
    except Exception as exc:  # a crash of the checks themselves is a failure too
        checks.failures.append(f"{type(exc).__name__}: {exc}")
        say(f"FAIL  {type(exc).__name__}: {exc}")
        import traceback

        traceback.print_exc()
    finally:
        events.join()

    if checks.failures:
        summary = [f"{len(checks.failures)} check(s) failed ({len(checks.passed)} passed):"]
        summary += [f"  - {failure}" for failure in checks.failures]
    else:
        summary = [f"All {len(checks.passed)} checks passed."]
    print()
    print("\n".join(summary))
    # e2e.sh prints this again after the service logs, so a log's tail shows the verdict.
    args.summary.write_text("\n".join(summary) + "\n")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
