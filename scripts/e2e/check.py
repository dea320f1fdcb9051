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
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
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
        self.pids = {}
        for spec in specs:
            name, _, pid = spec.partition(":")
            self.pids[name] = int(pid)

    def dead(self) -> list[str]:
        gone = []
        for name, pid in self.pids.items():
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
        return set(EXPECTED_DAGS) <= {d["dag_id"] for d in answer["dags"]}

    try:
        wait_for("the dag-processor to parse example_dags", parsed, 180, services, every=2)
    finally:
        errors = api.ok("GET", "/api/v2/importErrors?limit=100")
    detail = "; ".join(
        f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors["import_errors"]
    )
    checks.expect(errors["total_entries"] == 0, "example DAGs import without errors", detail)
    say(f"all {len(EXPECTED_DAGS)} example DAGs are in the metadata DB")


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
    requests = emulator.ok("GET", "/_emulator/requests")
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
        ("GET", r"/api/v1/workflows/[^/]+/runs/[^/]+/", 3, "workflow run status polls"),
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
        run_matches = (
            isinstance(run, dict) and session and session.get("workflow_run_id") == run.get("id")
        )
        checks.expect(
            status == 200 and bool(run_matches),
            "the link's session exists in the emulator and watches the task's workflow run",
            f"session {status} {session}; task returned {str(run)[:300]}",
        )
    return url


def check_key_not_logged(checks: Checks, api_key: str, logs: Path, airflow_home: Path) -> None:
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
    parser.add_argument("--service", action="append", default=[], help="name:pid")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    checks = Checks()
    services = Services(args.service)
    api = Http(args.api_url)
    emulator = Http(args.emulator_url)
    try:
        emulator.ok("GET", "/_emulator/health")
        login(api, args.username, args.password, services)
        wait_for_dags(api, checks, services)
        run_ids = trigger_all(api)
        followed = follow_runs(api, run_ids, args.timeout, services)
        say("all DAG runs finished")
        check_runs(checks, followed, run_ids)
        check_triggerer(checks, followed, args.logs, args.airflow_home)
        check_emulator(checks, emulator)
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
        check_key_not_logged(checks, args.emulator_api_key, args.logs, args.airflow_home)
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

    print()
    if checks.failures:
        print(f"{len(checks.failures)} check(s) failed ({len(checks.passed)} passed):")
        for failure in checks.failures:
            print(f"  - {failure}")
        return 1
    print(f"All {len(checks.passed)} checks passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
