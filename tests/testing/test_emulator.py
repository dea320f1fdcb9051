"""The API emulator, exercised over real HTTP with the standard library only."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from emulator_http import KEY, Client, call

from airflow_provider_cased.testing import Emulator, Fault, RecordedRequest, connection_env
from airflow_provider_cased.testing.cased import RUN_KEYS

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(run_seconds=0.3) as emulator:
        yield emulator


# --------------------------------------------------------------------------- basics


def test_lifecycle_url_and_connection_env() -> None:
    emulator = Emulator()
    with pytest.raises(RuntimeError):
        _ = emulator.url
    with emulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
        assert emulator.start() is emulator  # idempotent
        env = connection_env(emulator)
        assert set(env) == {"AIRFLOW_CONN_CASED_DEFAULT", "AIRFLOW_CONN_CASEDEV_DEFAULT"}
        assert json.loads(env["AIRFLOW_CONN_CASED_DEFAULT"]) == {
            "conn_type": "cased",
            "host": emulator.url,
            "password": KEY,
        }
        assert json.loads(env["AIRFLOW_CONN_CASEDEV_DEFAULT"])["conn_type"] == "casedev"
    emulator.stop()  # twice is fine
    assert not emulator.running


def test_stop_closes_idle_and_slow_connections() -> None:
    emulator = Emulator().start()
    idle = Client(emulator)
    assert idle.call("GET", "/actions/v1").status == 200  # kept alive, then idle
    emulator.inject(Fault(delay=30))
    slow = Client(emulator)
    slow.conn.request("GET", "/actions/v1", headers={"Authorization": f"Bearer {KEY}"})
    wait_for(lambda: len(emulator.requests) == 2)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        slow.conn.getresponse()
    idle.close()
    slow.close()


def test_import_is_light() -> None:
    code = (
        "import sys, airflow_provider_cased.testing, airflow_provider_cased.testing.pytest_plugin;"
        "bad = [m for m in ('airflow', 'requests', 'httpx', 'aiohttp') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_seeds_and_reset(emu: Emulator) -> None:
    assert {"wf_weekly_cost_review", "wf_deploy_watcher", "wf_flaky_migration_check"} <= set(
        emu.workflows
    )
    assert emu.workflows["wf_flaky_migration_check"]["outcome"] == "failed"
    assert emu.actions["action_contract_review"]["mode"] == "async"
    assert emu.actions["action_broken_ocr"]["outcome"] == "failed"
    emu.add_workflow("Extra")
    call(emu, "POST", "/api/v1/workflows/wf_deploy_watcher/runs/", {})
    call(emu, "DELETE", "/actions/v1/action_summarize")
    emu.inject(Fault(status=500, times=0))
    emu.reset()
    assert len(emu.workflows) == 3 and len(emu.actions) == 3
    assert emu.runs == {} and emu.agent_sessions == {} and emu.requests == []
    assert emu.connections_opened == 0
    assert call(emu, "GET", "/actions/v1/action_summarize").status == 200


# --------------------------------------------------------------------------- auth, routing


def test_auth_rejections_never_echo_key(emu: Emulator) -> None:
    r = call(emu, "GET", "/api/v1/workflows/", auth=None)
    assert r.status == 401 and r.json == {"detail": "Invalid token."}
    r = call(emu, "GET", "/api/v1/workflows/", auth="Bearer wrong-key")
    assert r.status == 401 and b"wrong-key" not in r.body
    assert call(emu, "GET", "/api/v1/workflows/", auth=f"Token {KEY}").status == 200
    r = call(emu, "GET", "/actions/v1", auth="Bearer nope")
    assert r.status == 401
    assert r.json == {"error": {"message": "Invalid API key", "type": "authentication_error"}}
    assert call(emu, "GET", "/actions/v1", auth=f"Token {KEY}").status == 401
    assert KEY.encode() not in call(emu, "GET", "/actions/v1").body


def test_routing_errors(emu: Emulator) -> None:
    r = call(emu, "GET", "/api/v1/workflows")  # no trailing slash
    assert r.status == 404 and r.json == {"detail": "Not found."}
    assert call(emu, "GET", "/nowhere").json == {"detail": "Not found."}
    r = call(emu, "GET", "/actions/v1/")  # case.dev has no trailing slash
    assert r.status == 404 and r.json["error"]["type"] == "not_found"
    r = call(emu, "DELETE", "/api/v1/workflows/")
    assert r.status == 405 and "GET" in r.headers["Allow"]
    r = call(emu, "POST", "/api/v1/deployments/", raw=b"{not json")
    assert r.status == 400 and "detail" in r.json
    r = call(emu, "POST", "/actions/v1/action_summarize/execute", raw=b"[1,")
    assert r.status == 400 and r.json["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- Cased


def test_deployments(emu: Emulator) -> None:
    body = {
        "deployment_request": "Production deploy v1.2.3",
        "repository_full_name": "acme/web",
        "status": "failure",
        "event_metadata": {"build": 7},
    }
    r = call(emu, "POST", "/api/v1/deployments/", body)
    assert r.status == 201
    data = r.json
    assert data["status"] == "running" and data["id"] and data["created_at"].endswith("Z")
    # What was sent is kept beside the answer (which shows only the documented keys).
    sent = emu.deployments[data["id"]]
    assert sent["deployment_request"] == "Production deploy v1.2.3"
    assert sent["deployment_status"] == "failure" and sent["event_metadata"] == {"build": 7}
    assert sent["repository_full_name"] == "acme/web"
    defaulted = call(emu, "POST", "/api/v1/deployments/", {"deployment_request": "x"}).json
    assert emu.deployments[defaulted["id"]]["deployment_status"] == "success"

    for bad, field in [
        ({}, "deployment_request"),
        ({"deployment_request": ""}, "deployment_request"),
        ({"deployment_request": "x", "status": "exploded"}, "status"),
        ({"deployment_request": "x", "event_metadata": [1]}, "event_metadata"),
        ({"deployment_request": "x", "commit_sha": 5}, "commit_sha"),
    ]:
        r = call(emu, "POST", "/api/v1/deployments/", bad)
        assert r.status == 400 and field in r.json["detail"], bad
    assert len(emu.deployments) == 2


@pytest.mark.parametrize("path", ["/api/v1/agent/sessions/", "/api/v1/agent-sessions/"])
def test_agent_sessions(emu: Emulator, path: str) -> None:
    r = call(emu, "POST", path, {"prompt": "Why is checkout slow?", "context": {"env": "prod"}})
    assert r.status == 201
    session = r.json
    assert session["status"] == "active"
    assert session["url"] == f"/agents/{session['session_id']}"
    assert call(emu, "POST", path, {"context": {}}).status == 400
    assert call(emu, "POST", path, {"prompt": "x", "context": "no"}).status == 400
    listing = call(emu, "GET", "/api/v1/agent/sessions/").json
    assert listing["count"] == 1 and listing["sessions"][0]["session_id"] == session["session_id"]
    one = call(emu, "GET", f"/api/v1/agent/sessions/{session['session_id']}/")
    assert one.status == 200 and one.json["session_id"] == session["session_id"]
    kept = emu.agent_sessions[session["session_id"]]
    assert (kept["prompt"], kept["context"]) == ("Why is checkout slow?", {"env": "prod"})
    assert call(emu, "GET", "/api/v1/agent/sessions/nope/").status == 404


def test_workflow_list_detail_and_filters(emu: Emulator) -> None:
    data = call(emu, "GET", "/api/v1/workflows/").json
    assert data["count"] == 3 and data["next"] is None and data["previous"] is None
    assert set(data["workflows"][0]) == {"id", "name", "agent_name", "description", "status"}

    def names(query: str) -> list[str]:
        return [
            w["name"] for w in call(emu, "GET", f"/api/v1/workflows/?{query}").json["workflows"]
        ]

    assert names("name=COST") == ["Weekly cost review"]
    emu.add_workflow("Cost of goods", agent_name="finance-agent", repository="acme/erp")
    assert names("agent_name=finance-agent") == ["Cost of goods"]
    assert names("repository=acme/web") == ["Deploy watcher"]
    assert names("name=cost&agent_name=ops-agent") == ["Weekly cost review"]

    detail = call(emu, "GET", "/api/v1/workflows/wf_weekly_cost_review/").json
    assert {"instruction", "created_at", "updated_at"} <= set(detail)
    r = call(emu, "GET", "/api/v1/workflows/wf_missing/")
    assert r.status == 404 and r.json == {"detail": "Not found."}


def test_pagination(emu: Emulator) -> None:
    for i in range(45):
        emu.add_workflow(f"Bulk {i:02d}", agent_name="bulk")
    first = call(emu, "GET", "/api/v1/workflows/?agent_name=bulk", headers={"Host": "ex.test:9"})
    page = first.json
    assert page["count"] == 45 and len(page["workflows"]) == 20 and page["previous"] is None
    nxt = urlsplit(page["next"])
    assert (nxt.scheme, nxt.netloc, nxt.path) == ("http", "ex.test:9", "/api/v1/workflows/")
    assert parse_qs(nxt.query) == {"agent_name": ["bulk"], "page": ["2"]}

    third = call(emu, "GET", "/api/v1/workflows/?agent_name=bulk&page=3").json
    assert len(third["workflows"]) == 5 and third["next"] is None
    assert parse_qs(urlsplit(third["previous"]).query) == {"agent_name": ["bulk"], "page": ["2"]}
    second = call(emu, "GET", "/api/v1/workflows/?agent_name=bulk&page=2").json
    assert parse_qs(urlsplit(second["previous"]).query) == {"agent_name": ["bulk"]}

    big = call(emu, "GET", "/api/v1/workflows/?page_size=1000").json
    assert len(big["workflows"]) == 48 and big["next"] is None
    small = call(emu, "GET", "/api/v1/workflows/?page_size=10&page=5").json
    assert len(small["workflows"]) == 8
    for bad in ("page=6&page_size=10", "page=0", "page=abc"):
        r = call(emu, "GET", f"/api/v1/workflows/?{bad}")
        assert r.status == 404 and r.json == {"detail": "Invalid page."}, bad
    empty = call(emu, "GET", "/api/v1/workflows/?name=zzz").json
    assert empty == {"workflows": [], "count": 0, "next": None, "previous": None}


def test_workflow_run_progression(emu: Emulator) -> None:
    wf = emu.add_workflow("Quick", run_seconds=0.25)
    body = {"triggered_by": "schedule", "trigger_name": "nightly-1", "context": {"pr": 7}}
    r = call(emu, "POST", f"/api/v1/workflows/{wf['id']}/runs/", body)
    assert r.status == 201
    run = r.json
    # The documented keys (test_emulator_shapes checks RUN_KEYS against the API docs).
    assert set(RUN_KEYS) <= set(run)
    assert run["status"] == "pending" and run["workflow"] == wf["id"]
    assert (run["workflow_name"], run["trigger_name"]) == ("Quick", "nightly-1")
    assert emu.runs[run["id"]]["context"] == {"pr": 7}  # kept, though never answered
    assert run["session_id"] in emu.agent_sessions

    path = f"/api/v1/workflows/{wf['id']}/runs/{run['id']}/"
    seen: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        status = call(emu, "GET", path).json["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "completed":
            break
        time.sleep(0.02)
    assert seen == ["pending", "running", "completed"]
    done = call(emu, "GET", path).json
    assert done["ended_at"] and done["artifacts"] == {"session_id": run["session_id"]}
    assert done["updated_at"]
    assert call(emu, "GET", f"/api/v1/workflows/wf_deploy_watcher/runs/{run['id']}/").status == 404
    assert call(emu, "GET", f"/api/v1/workflows/{wf['id']}/runs/nope/").status == 404


def test_run_failed_schedule_and_forced_status(emu: Emulator) -> None:
    emu.run_seconds = 0.05
    r = call(emu, "POST", "/api/v1/workflows/wf_flaky_migration_check/runs/", {})
    run_id = r.json["id"]
    wait_for(lambda: (emu.get_run(run_id) or {}).get("status") == "failed")
    assert emu.get_run(run_id)["ended_at"]  # type: ignore[index]

    wf = emu.add_workflow("Odd", statuses=[("queued", 0), ("paused", 0.05), ("completed", 5)])
    run_id = call(emu, "POST", f"/api/v1/workflows/{wf['id']}/runs/", {}).json["id"]
    assert emu.get_run(run_id)["status"] == "queued"  # type: ignore[index]
    wait_for(lambda: emu.get_run(run_id)["status"] == "paused")  # type: ignore[index]
    assert emu.get_run(run_id)["ended_at"] is None  # type: ignore[index]

    emu.set_run_status(run_id, "cancelled")
    time.sleep(0.02)
    frozen = call(emu, "GET", f"/api/v1/workflows/{wf['id']}/runs/{run_id}/").json
    assert frozen["status"] == "cancelled" and frozen["ended_at"]
    assert emu.runs[run_id]["status"] == "cancelled"
    assert emu.get_run("nope") is None
    with pytest.raises(KeyError):
        emu.set_run_status("nope", "running")


def test_run_validation(emu: Emulator) -> None:
    path = "/api/v1/workflows/wf_weekly_cost_review/runs/"
    for bad, field in [
        ({"triggered_by": "cron"}, "triggered_by"),
        ({"context": [1, 2]}, "context"),
        ({"trigger_name": 3}, "trigger_name"),
    ]:
        r = call(emu, "POST", path, bad)
        assert r.status == 400 and field in r.json["detail"]
    assert call(emu, "POST", "/api/v1/workflows/wf_missing/runs/", {}).status == 404
    assert call(emu, "GET", "/api/v1/workflows/wf_missing/runs/").status == 404
    run = call(emu, "POST", path).json  # no body at all: defaults
    assert run["triggered_by"] == "manual" and run["trigger_name"] is None
    assert emu.runs == {run["id"]: emu.get_run(run["id"])}


def test_run_listing(emu: Emulator) -> None:
    emu.run_seconds = 60
    path = "/api/v1/workflows/wf_weekly_cost_review/runs/"
    ids = [
        call(emu, "POST", path, {"triggered_by": tb, "trigger_name": f"t{i}"}).json["id"]
        for i, tb in enumerate(["manual", "event", "manual", "schedule"])
    ]
    listing = call(emu, "GET", f"{path}?unknown=1").json
    assert listing["count"] == 4
    assert [r["id"] for r in listing["workflow_runs"]] == ids[::-1]  # newest first
    assert "ended_at" in listing["workflow_runs"][0]
    manual = call(emu, "GET", f"{path}?triggered_by=manual").json["workflow_runs"]
    assert [r["id"] for r in manual] == [ids[2], ids[0]]
    emu.set_run_status(ids[1], "completed")
    done = call(emu, "GET", f"{path}?status=completed").json
    assert [r["id"] for r in done["workflow_runs"]] == [ids[1]]
    paged = call(emu, "GET", f"{path}?page_size=3&status=pending").json
    assert paged["count"] == 3 and paged["next"] is None
    paged = call(emu, "GET", f"{path}?page_size=2").json
    assert paged["count"] == 4 and "page=2" in paged["next"]


# --------------------------------------------------------------------------- case.dev


def test_actions_list_get_delete(emu: Emulator) -> None:
    r = call(emu, "GET", "/actions/v1")
    assert r.status == 200
    assert r.headers["x-ratelimit-limit-requests"] == "10000"
    assert int(r.headers["x-ratelimit-remaining-requests"]) < 10_000
    assert re.fullmatch(r"([1-9]|[1-5]\d|60)s", r.headers["x-ratelimit-reset-requests"])
    assert r.json["total"] == 3
    assert set(r.json["data"][0]) == {
        "id",
        "name",
        "description",
        "isActive",
        "version",
        "createdAt",
    }
    one = call(emu, "GET", "/actions/v1/action_summarize").json
    assert one["name"] == "Summarize document" and one["isActive"] is True
    missing = call(emu, "GET", "/actions/v1/action_nope")
    assert missing.status == 404
    assert missing.json == {"error": {"message": "Action not found", "type": "not_found"}}
    assert "x-ratelimit-remaining-requests" in missing.headers

    client = Client(emu)
    deleted = client.call("DELETE", "/actions/v1/action_summarize", {})
    assert deleted.status == 204 and deleted.body == b""
    assert "Content-Length" not in deleted.headers
    assert client.call("DELETE", "/actions/v1/action_summarize").status == 404
    assert client.call("GET", "/actions/v1").json["total"] == 2  # connection still usable
    client.close()
    emu.add_action("Temp", action_id="action_temp")
    assert call(emu, "DELETE", "/actions/v1/action_temp").status == 204  # no body at all


def test_execute_sync(emu: Emulator) -> None:
    r = call(emu, "POST", "/actions/v1/action_summarize/execute", {"input": {"doc": "s3://a"}})
    assert r.status == 200
    data = r.json
    assert data["execution_id"].startswith("exec_") and data["status"] == "completed"
    assert data["output"] == {"echo": {"doc": "s3://a"}, "result": "ok"}
    assert data["step_results"]["step_1"]["output"] == data["output"]
    assert isinstance(data["duration_ms"], int)
    execution = call(emu, "GET", f"/actions/v1/executions/{data['execution_id']}").json
    assert execution["status"] == "completed" and execution["actionId"] == "action_summarize"
    assert execution["organizationId"] == "org_emulator" and execution["output"] == data["output"]
    assert {"stepResults", "durationMs", "createdAt", "completedAt", "input"} <= set(execution)

    emu.add_action("Fixed", action_id="action_fixed", output={"answer": 42})
    fixed = call(emu, "POST", "/actions/v1/action_fixed/execute", {"input": {}}).json
    assert fixed["output"] == {"answer": 42}

    failed = call(emu, "POST", "/actions/v1/action_broken_ocr/execute", {"input": {"x": 1}})
    assert failed.status == 200
    assert set(failed.json) == {"execution_id", "status", "error", "currentStep", "totalSteps"}
    assert failed.json["status"] == "failed" and failed.json["error"].startswith("Step 'step_1'")
    got = emu.get_execution(failed.json["execution_id"])
    assert got is not None and got["status"] == "failed" and "error" in got
    assert "output" not in got


def test_execute_async_and_validation(emu: Emulator) -> None:
    emu.add_action("Slow", action_id="action_slow", mode="async", run_seconds=1.5)
    r = call(emu, "POST", "/actions/v1/action_slow/execute", {"input": {"a": 1}})
    data = r.json
    assert r.status == 200 and data["status"] == "running"
    assert data["webhook_configured"] is True and data["message"]
    path = f"/actions/v1/executions/{data['execution_id']}"
    first = call(emu, "GET", path).json
    assert first["status"] == "pending" and "output" not in first and "completedAt" not in first
    seen = {first["status"]}

    def poll() -> bool:
        seen.add(call(emu, "GET", path).json["status"])
        return "completed" in seen

    wait_for(poll)
    assert seen == {"pending", "running", "completed"}
    done = call(emu, "GET", path).json
    assert done["output"] == {"echo": {"a": 1}, "result": "ok"} and done["completedAt"]

    # a webhook_id makes even a sync action asynchronous
    hooked = call(
        emu, "POST", "/actions/v1/action_summarize/execute", {"input": {}, "webhook_id": "wh_1"}
    ).json
    assert hooked["status"] == "running"
    emu.set_execution_status(hooked["execution_id"], "failed")
    assert emu.executions[hooked["execution_id"]]["error"]

    for bad in [{}, {"input": "text"}, {"input": [1]}, None]:
        r = call(emu, "POST", "/actions/v1/action_summarize/execute", bad)
        assert r.status == 400
        assert r.json["error"] == {
            "message": "input is required and must be an object",
            "type": "invalid_request_error",
        }
    emu.add_action("Off", action_id="action_off", is_active=False)
    assert call(emu, "POST", "/actions/v1/action_off/execute", {"input": {}}).status == 400
    assert call(emu, "POST", "/actions/v1/action_nope/execute", {"input": {}}).status == 404
    r = call(emu, "GET", "/actions/v1/executions/exec_nope")
    assert r.status == 404 and r.json["error"]["type"] == "not_found"


def test_execute_refuses_an_input_over_10_mb_with_413(emu: Emulator) -> None:
    limit = 10 * 1024 * 1024  # written out: the documented "10 MB", in bytes of the JSON input
    path = "/actions/v1/action_summarize/execute"
    overhead = len(json.dumps({"blob": ""}))
    exactly = json.dumps({"input": {"blob": "x" * (limit - overhead)}}).encode()
    assert call(emu, "POST", path, raw=exactly).status == 200
    over = json.dumps({"input": {"blob": "x" * (limit - overhead + 1)}}).encode()
    r = call(emu, "POST", path, raw=over)
    assert r.status == 413 and r.json["error"]["type"] == "invalid_request_error"
    assert str(limit) in r.json["error"]["message"]
    assert len(emu.executions) == 1  # the refused input started nothing
    assert "x-ratelimit-remaining-requests" in r.headers


def test_bodies_the_services_refuse_unread(emu: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(
            b"POST /actions/v1/action_summarize/execute HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {KEY}\r\nContent-Length: {65 * 1024 * 1024}\r\n\r\n".encode()
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in head
    assert b'"type": "invalid_request_error"' in head
    # NaN is not JSON: the services' parsers refuse it, so the emulator does.
    r = call(emu, "POST", "/actions/v1/action_summarize/execute", raw=b'{"input": {"n": NaN}}')
    assert r.status == 400 and r.json["error"]["message"] == "Invalid JSON body"
    assert emu.executions == {}


# --------------------------------------------------------------------------- faults


def test_fault_status_headers_and_spending(emu: Emulator) -> None:
    fault = emu.inject(
        Fault(method="GET", path="/api/v1/workflows/", status=503, headers={"Retry-After": "1"})
    )
    r = call(emu, "GET", "/api/v1/workflows/", auth=None)  # faults come before auth
    assert r.status == 503 and r.headers["Retry-After"] == "1" and "detail" in r.json
    assert fault.hits == 1
    assert call(emu, "GET", "/api/v1/workflows/").status == 200  # spent after times=1
    assert fault.hits == 1
    assert [r.status for r in emu.requests] == [503, 200]

    emu.inject(Fault(method="POST", status=500, times=2))
    assert call(emu, "GET", "/api/v1/workflows/").status == 200  # method does not match
    statuses = [call(emu, "POST", "/api/v1/agent/sessions/", {"prompt": "p"}).status for _ in "abc"]
    assert statuses == [500, 500, 201]
    assert len(emu.agent_sessions) == 1  # faulted requests were not processed

    forever = emu.inject(Fault(path="/actions/", status=429, times=0))
    assert [call(emu, "GET", "/actions/v1").status for _ in range(3)] == [429] * 3
    assert forever.hits == 3
    emu.clear_faults()
    assert call(emu, "GET", "/actions/v1").status == 200


def test_fault_order_and_raw_bodies(emu: Emulator) -> None:
    emu.inject(
        Fault(
            path="/api/", status=502, body="<html>502 Bad Gateway</html>", content_type="text/html"
        )
    )
    emu.inject(Fault(path="/api/", status=500))
    r = call(emu, "GET", "/api/v1/workflows/")
    assert r.status == 502 and r.headers["Content-Type"] == "text/html"
    assert r.body == b"<html>502 Bad Gateway</html>"
    assert call(emu, "GET", "/api/v1/workflows/").status == 500
    emu.inject(Fault(status=200, body=b'{"workflows": [', times=1))
    r = call(emu, "GET", "/api/v1/workflows/")
    assert r.status == 200 and r.body == b'{"workflows": ['
    emu.inject(
        Fault(
            status=429,
            body=json.dumps({"error": {"type": "rate_limit_error"}}),
            headers={"x-ratelimit-reset-requests": "2s"},
        )
    )
    r = call(emu, "GET", "/actions/v1")
    assert r.status == 429 and r.headers["x-ratelimit-reset-requests"] == "2s"


def test_fault_delay_causes_read_timeout(emu: Emulator) -> None:
    emu.inject(Fault(path="/actions/v1", delay=0.6))
    client = Client(emu)
    client.conn.timeout = 0.15
    with pytest.raises(TimeoutError):
        client.call("GET", "/actions/v1")
    client.close()
    emu.inject(Fault(path="/actions/v1", delay=0.1))
    started = time.monotonic()
    assert call(emu, "GET", "/actions/v1").status == 200  # a slow but real answer
    assert time.monotonic() - started >= 0.1


def test_fault_drop(emu: Emulator) -> None:
    fault = emu.inject(Fault(method="POST", path="/api/v1/workflows/", drop=True))
    client = Client(emu)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.call("POST", "/api/v1/workflows/wf_deploy_watcher/runs/", {})
    client.close()
    assert fault.hits == 1 and emu.runs == {}
    assert emu.requests[0].status == 0
    r = call(emu, "POST", "/api/v1/workflows/wf_deploy_watcher/runs/", {})
    assert r.status == 201
    emu.inject(Fault(drop=True, delay=0.1))  # a slow hang-up
    started = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(emu, "GET", "/actions/v1")
    assert time.monotonic() - started >= 0.1


def test_fault_lost_answer(emu: Emulator) -> None:
    emu.inject(Fault(method="POST", path="/api/v1/workflows/", lost_answer=True))
    body = {"trigger_name": "airflow-try-1"}
    r = call(emu, "POST", "/api/v1/workflows/wf_deploy_watcher/runs/", body)
    assert r.status == 502
    runs = list(emu.runs.values())
    assert len(runs) == 1 and runs[0]["trigger_name"] == "airflow-try-1"  # the work was done

    emu.inject(Fault(method="POST", path="/api/v1/workflows/", lost_answer=True, drop=True))
    client = Client(emu)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.call("POST", "/api/v1/workflows/wf_deploy_watcher/runs/", body)
    client.close()
    assert len(emu.runs) == 2

    emu.inject(Fault(path="/actions/", lost_answer=True, status=504, times=1))
    r = call(emu, "POST", "/actions/v1/action_summarize/execute", {"input": {}})
    assert r.status == 504 and len(emu.executions) == 1


# --------------------------------------------------------------------------- observation


def test_request_log(emu: Emulator) -> None:
    client = Client(emu)
    client.call("GET", "/api/v1/workflows/?name=cost&name=x&page_size=5", auth=f"Token {KEY}")
    client.call(
        "POST", "/api/v1/deployments/", {"deployment_request": "d"}, headers={"X-Custom": "yes"}
    )
    client.close()
    call(emu, "GET", "/_emulator/health")  # control requests are not recorded
    log = emu.requests
    assert len(log) == 2 and all(isinstance(r, RecordedRequest) for r in log)
    get, post = log
    assert (get.method, get.path) == ("GET", "/api/v1/workflows/")
    assert get.query == {"name": ["cost", "x"], "page_size": ["5"]}
    assert get.headers["authorization"] == f"Token {KEY}" and get.json is None
    assert post.headers["x-custom"] == "yes" and post.json == {"deployment_request": "d"}
    assert post.body == b'{"deployment_request": "d"}' and post.status == 201
    assert get.connection_id == post.connection_id and get.time <= post.time
    assert emu.requests_to("POST", "/api/v1/deploy") == [post]
    assert emu.requests_to("*", "/api/") == [get, post]
    assert emu.requests_to("get", "/actions") == []


def test_connection_counting(emu: Emulator) -> None:
    client = Client(emu)
    for _ in range(30):
        assert client.call("GET", "/api/v1/workflows/").status == 200
        assert client.call("POST", "/actions/v1/action_summarize/execute", {"input": {}}).status
    assert emu.connections_opened == 1
    assert len({r.connection_id for r in emu.requests}) == 1
    other = Client(emu)
    other.call("GET", "/actions/v1")
    assert emu.connections_opened == 2
    ids = [r.connection_id for r in emu.requests]
    assert ids[-1] != ids[0]
    client.call("GET", "/actions/v1", headers={"Connection": "close"})
    client.call("GET", "/actions/v1")  # http.client reconnects transparently
    assert emu.connections_opened == 3
    client.close()
    other.close()
    emu.reset()
    assert emu.connections_opened == 0


def test_concurrent_clients(emu: Emulator) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        client = Client(emu)
        try:
            for _ in range(25):
                assert client.call("GET", "/actions/v1").status == 200
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(emu.requests) == 400 and emu.connections_opened == 16


def test_sequential_requests_are_fast(emu: Emulator) -> None:
    client = Client(emu)
    started = time.monotonic()
    for _ in range(300):
        client.call("GET", "/api/v1/workflows/wf_weekly_cost_review/")
    elapsed = time.monotonic() - started
    client.close()
    assert elapsed < 3.0, elapsed  # no Nagle/delayed-ACK stalls (those cost 40 ms each)


def test_chunked_and_http10(emu: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        body = b'{"prompt": "chunked"}'
        sock.sendall(
            b"POST /api/v1/agent/sessions/ HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + f"{len(body):x}\r\n".encode()
            + body
            + b"\r\n0\r\n\r\n"
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 201 ")
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(f"GET /actions/v1 HTTP/1.0\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in data


# --------------------------------------------------------------------------- control endpoints


def test_control_endpoints(emu: Emulator) -> None:
    health = call(emu, "GET", "/_emulator/health", auth=None)
    assert health.status == 200 and health.json == {"status": "ok", "url": emu.url}

    fault = call(emu, "POST", "/_emulator/faults", {"path": "/actions/", "status": 503}, auth=None)
    assert fault.status == 201 and fault.json["status"] == 503
    assert call(emu, "GET", "/actions/v1").status == 503
    assert call(emu, "GET", "/_emulator/faults").json[0]["hits"] == 1
    assert call(emu, "POST", "/_emulator/faults", {"bogus": 1}).status == 400

    wf = call(emu, "POST", "/_emulator/workflows", {"name": "Remote", "run_seconds": 60}).json
    assert wf["id"].startswith("wf_") and wf["id"] in emu.workflows
    act = call(emu, "POST", "/_emulator/actions", {"name": "Remote", "mode": "async"}).json
    assert act["id"].startswith("action_") and act["id"] in emu.actions
    assert call(emu, "POST", "/_emulator/actions", {"name": "x", "mode": "batch"}).status == 400

    run = call(emu, "POST", f"/api/v1/workflows/{wf['id']}/runs/", {}).json
    forced = call(emu, "POST", f"/_emulator/runs/{run['id']}/status", {"status": "paused"})
    assert forced.status == 200 and forced.json["status"] == "paused"
    assert emu.get_run(run["id"])["status"] == "paused"  # type: ignore[index]
    assert call(emu, "POST", "/_emulator/runs/nope/status", {"status": "x"}).status == 404
    assert call(emu, "POST", f"/_emulator/runs/{run['id']}/status", {}).status == 400

    log = call(emu, "GET", "/_emulator/requests").json
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/actions/v1", 503),
        ("POST", f"/api/v1/workflows/{wf['id']}/runs/", 201),
    ]
    assert log[1]["json"] == {} and log[1]["headers"]["authorization"] == "Bearer ***"
    only_posts = call(emu, "GET", "/_emulator/requests?method=POST").json
    assert len(only_posts) == 1
    stats = call(emu, "GET", "/_emulator/stats").json
    assert stats["requests"] == 2 and stats["connections_opened"] == 2

    assert call(emu, "DELETE", "/_emulator/faults").status == 200
    assert call(emu, "GET", "/actions/v1").status == 200
    assert call(emu, "POST", "/_emulator/reset").json == {"status": "reset"}
    assert emu.requests == [] and wf["id"] not in emu.workflows
    assert call(emu, "GET", "/_emulator/nothing").status == 404


# --------------------------------------------------------------------------- TLS, CLI, plugin


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_tls(tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)
    with Emulator(ssl_context=server_ctx) as emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        client = Client(emulator, context=client_ctx)
        for _ in range(5):
            r = client.call("GET", "/api/v1/workflows/?page_size=1")
            assert r.status == 200
        assert r.json["next"].startswith("https://")
        assert emulator.connections_opened == 1
        client.close()
        with pytest.raises(ssl.SSLError):  # an untrusting client fails the handshake
            Client(emulator, context=ssl.create_default_context()).call("GET", "/actions/v1")
        assert call_tls_ok(emulator, client_ctx)  # the server survived the failed handshake


def call_tls_ok(emulator: Emulator, ctx: ssl.SSLContext) -> bool:
    client = Client(emulator, context=ctx)
    try:
        return client.call("GET", "/actions/v1").status == 200
    finally:
        client.close()


@contextmanager
def emulator_cli(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m airflow_provider_cased.testing`` with ``args``; yields it and its first line.
    The caller ends it with SIGTERM and checks the exit code; a failed test kills it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_cased.testing", "--port=0", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stops_cleanly(proc: subprocess.Popen[str]) -> bool:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=5) == 0


def test_cli(tmp_path: Path) -> None:
    with emulator_cli(tmp_path, "--api-key", "cli-key", "--run-seconds", "0.1") as (proc, first):
        assert proc.stdout is not None
        lines = [first, proc.stdout.readline(), proc.stdout.readline()]
        match = re.search(r"(http://127\.0\.0\.1:(\d+))", lines[0])
        assert match, lines
        url, port = match.group(1), int(match.group(2))
        assert port > 0
        assert lines[1].startswith("export AIRFLOW_CONN_CASED_DEFAULT=")
        assert lines[2].startswith("export AIRFLOW_CONN_CASEDEV_DEFAULT=")
        assert url in lines[1] and "cli-key" in lines[2]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/actions/v1", headers={"Authorization": "Bearer cli-key"})
        assert conn.getresponse().status == 200
        conn.close()
        assert stops_cleanly(proc)


# --------------------------------------------------------------------------- rate-limit mode


def test_rate_limit_mode_answers_429_beyond_the_rate() -> None:
    with Emulator(rate_limit=5) as emu:
        client = Client(emu)
        try:
            answers = [client.call("GET", "/api/v1/workflows/") for _ in range(8)]
            statuses = [r.status for r in answers]
            # A full bucket admits one second's worth (5); the rest of the burst is refused.
            assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
            ok, limited = answers[0], answers[statuses.index(429)]
            assert ok.headers["x-ratelimit-limit-requests"] == "5"
            assert ok.headers["x-ratelimit-remaining-requests"] == "4"
            assert ok.headers["x-ratelimit-reset-requests"].endswith("s")
            assert "Retry-After" not in ok.headers
            assert limited.headers["Retry-After"] == "1"
            assert limited.headers["x-ratelimit-remaining-requests"] == "0"
            assert float(limited.headers["x-ratelimit-reset-requests"][:-1]) > 0
            assert limited.json == {"detail": "Request was throttled (rate limit)."}
            # case.dev answers in its own error shape, and its per-minute headers give way.
            casedev = client.call("GET", "/actions/v1")
            assert casedev.status == 429
            assert casedev.json["error"]["type"] == "rate_limit_error"
            assert casedev.headers.get_all("x-ratelimit-limit-requests") == ["5"]
            time.sleep(0.5)  # refills at 5/s: two requests' worth
            assert client.call("GET", "/api/v1/workflows/").status == 200
        finally:
            client.close()
        refused = [r for r in emu.requests if r.status == 429]
        assert len(refused) == emu.rate_limited == statuses.count(429) + 1
        # Refused requests did nothing: a POST beyond the rate starts no run.
        emu.set_rate_limit(1)
        path = "/api/v1/workflows/wf_weekly_cost_review/runs/"
        posts = [call(emu, "POST", path, {"trigger_name": f"t{i}"}).status for i in range(3)]
        assert posts == [201, 429, 429]
        assert len(emu.runs) == 1
        assert emu.rate_limited == len(refused) + 2  # counted since start, across switches


def test_rate_limit_mode_switched_at_runtime_over_http(emu: Emulator) -> None:
    assert emu.rate_limit is None
    assert call(emu, "GET", "/_emulator/rate-limit").json == {
        "requests_per_second": None,
        "rejected": 0,
    }
    assert all(call(emu, "GET", "/actions/v1").status == 200 for _ in range(5))
    on = call(emu, "POST", "/_emulator/rate-limit", {"requests_per_second": 2}, auth=None)
    assert on.status == 200 and on.json == {"requests_per_second": 2.0, "rejected": 0}
    assert [call(emu, "GET", "/api/v1/workflows/").status for _ in range(3)] == [200, 200, 429]
    # Control requests are never limited (nor recorded).
    assert call(emu, "GET", "/_emulator/health").status == 200
    assert call(emu, "GET", "/_emulator/stats").json["rate_limited"] == 1
    assert call(emu, "GET", "/_emulator/rate-limit").json["rejected"] == 1
    # reset() keeps the mode (configuration), refills the bucket and zeroes the count.
    assert call(emu, "POST", "/_emulator/reset").status == 200
    assert emu.rate_limit == 2.0 and emu.rate_limited == 0
    assert [call(emu, "GET", "/api/v1/workflows/").status for _ in range(3)] == [200, 200, 429]
    for bad in ({"requests_per_second": 0}, {"requests_per_second": "x"}, {"rps": 3}):
        assert call(emu, "POST", "/_emulator/rate-limit", bad).status == 400
    assert emu.rate_limit == 2.0
    off = call(emu, "DELETE", "/_emulator/rate-limit")
    # The count outlives the switch: the caller reads what the mode did.
    assert off.json == {"requests_per_second": None, "rejected": 1}
    answers = [call(emu, "GET", "/api/v1/workflows/") for _ in range(5)]
    assert all(r.status == 200 and "x-ratelimit-limit-requests" not in r.headers for r in answers)
    # Back to the default per-minute headers on case.dev.
    assert call(emu, "GET", "/actions/v1").headers["x-ratelimit-limit-requests"] == "10000"
    assert call(emu, "POST", "/_emulator/rate-limit", {"requests_per_second": None}).status == 200
    with pytest.raises(ValueError):
        emu.set_rate_limit(-1)


def test_rate_limit_mode_stands_behind_faults(emu: Emulator) -> None:
    emu.set_rate_limit(1)
    emu.inject(Fault(path="/api/v1/", status=503, times=2))
    statuses = [call(emu, "GET", "/api/v1/workflows/").status for _ in range(4)]
    # Faulted requests never reach the limiter, so they spend none of its budget.
    assert statuses == [503, 503, 200, 429]


def test_control_lists_every_run_and_execution(emu: Emulator) -> None:
    emu.run_seconds = 60
    runs = "/api/v1/workflows/{}/runs/"
    first = call(emu, "POST", runs.format("wf_weekly_cost_review"), {"trigger_name": "a"}).json
    second = call(emu, "POST", runs.format("wf_deploy_watcher"), {"trigger_name": "b"}).json
    listed = call(emu, "GET", "/_emulator/runs").json
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    assert listed[0]["trigger_name"] == "a" and listed[0]["status"] == "pending"
    only = call(emu, "GET", "/_emulator/runs?workflow=wf_deploy_watcher").json
    assert [r["id"] for r in only] == [second["id"]]
    execute = "/actions/v1/{}/execute"
    body = {"input": {"n": 1}, "webhook_id": "wh"}
    started = call(emu, "POST", execute.format("action_summarize"), body).json
    call(emu, "POST", execute.format("action_contract_review"), {"input": {"n": 2}})
    found = call(emu, "GET", "/_emulator/executions?action=action_summarize").json
    assert [(e["id"], e["input"], e["status"]) for e in found] == [
        (started["execution_id"], {"n": 1}, "pending")
    ]
    assert len(call(emu, "GET", "/_emulator/executions").json) == 2
    assert call(emu, "GET", "/_emulator/runs?workflow=nope").json == []
    # The request log from a point in time on.
    log = call(emu, "GET", "/_emulator/requests").json
    since = log[2]["time"]
    later = call(emu, "GET", f"/_emulator/requests?method=POST&since={since}").json
    assert [r["time"] for r in later] == [r["time"] for r in log[2:]]
    assert call(emu, "GET", f"/_emulator/requests?since={time.time() + 60}").json == []


def test_control_shows_what_the_answers_leave_out(emu: Emulator) -> None:
    run = call(emu, "POST", "/api/v1/workflows/wf_deploy_watcher/runs/", {}).json
    body = {"prompt": "Why?", "context": {"env": "prod"}}
    started = call(emu, "POST", "/api/v1/agent/sessions/", body).json
    sessions = call(emu, "GET", "/_emulator/sessions").json
    assert [
        (s["session_id"], s["prompt"], s["context"], s["workflow_run_id"]) for s in sessions
    ] == [
        (run["session_id"], "Workflow run: Deploy watcher", {}, run["id"]),
        (started["session_id"], "Why?", {"env": "prod"}, None),
    ]
    forced = call(
        emu, "POST", f"/_emulator/sessions/{started['session_id']}/status", {"status": "x"}
    )
    assert forced.json["status"] == "x" and forced.json["prompt"] == "Why?"
    sent = {"deployment_request": "Deploy v2", "status": "failure", "ref": "refs/heads/main"}
    deployment = call(emu, "POST", "/api/v1/deployments/", sent).json
    [kept] = call(emu, "GET", "/_emulator/deployments").json
    assert kept == {
        **deployment,
        "deployment_request": "Deploy v2",
        "deployment_status": "failure",
        "ref": "refs/heads/main",
    }


def test_cli_rate_limit_flag(tmp_path: Path) -> None:
    with emulator_cli(tmp_path, "--rate-limit=1") as (proc, first):
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=5)
        statuses = []
        for _ in range(2):
            conn.request("GET", "/actions/v1", headers={"Authorization": f"Bearer {KEY}"})
            answer = conn.getresponse()
            answer.read()
            statuses.append(answer.status)
        conn.close()
        assert statuses == [200, 429]
        assert stops_cleanly(proc)


def test_pytest_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import json, os, urllib.request

            def test_function(cased_emulator):
                conn = json.loads(os.environ["AIRFLOW_CONN_CASED_DEFAULT"])
                assert conn["host"] == cased_emulator.url
                req = urllib.request.Request(
                    conn["host"] + "/api/v1/workflows/",
                    headers={"Authorization": "Bearer " + conn["password"]},
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert json.load(resp)["count"] == 3

            def test_env_restored():
                assert "AIRFLOW_CONN_CASED_DEFAULT" not in os.environ

            def test_session(cased_emulator_session):
                conn = json.loads(os.environ["AIRFLOW_CONN_CASEDEV_DEFAULT"])
                assert conn == {"conn_type": "casedev", "host": cased_emulator_session.url,
                                "password": "emulator-key"}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("AIRFLOW_CONN_CASED_DEFAULT", None)
    env.pop("AIRFLOW_CONN_CASEDEV_DEFAULT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "airflow_provider_cased.testing.pytest_plugin",
            "test_inner.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
