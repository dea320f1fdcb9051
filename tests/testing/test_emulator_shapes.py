"""Every emulator route answers the keys of the documented example: no more, no fewer.

The examples are read out of the API documents at test time (``docs/api/*.md``), so the
documents stay the one source of the shapes. Where a document shows no example, the
expected keys are written here, each with the reading the emulator follows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_http import call

from airflow_provider_cased.testing import Emulator

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"
# The project's shared copy of the documents, where this machine has it: docs/api is that copy.
SHARED_DOCS = Path(os.environ.get("CASED_API_DOCS", "/work/shared/api"))
CASED_DOC = "cased-public-api.md"
CASEDEV_DOC = "casedev-actions-api.md"


# --------------------------------------------------------------------------- reading the documents

# A JSON string, one of {}[]:, or a bare word ("…", "…run…", "1500", "null").
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)')


def loose_json(text: str) -> Any:
    """A documented example as Python values. The examples are JSON but for shorthand: a
    bare ``…`` stands for a value or for members left out, ``{"a", "b"}`` names keys without
    values (they map to None), and ``{…run…, "x": 1}`` spreads another example's keys (kept
    as the key ``…run…``)."""
    tokens, end = [], 0
    for match in _TOKEN.finditer(text):
        assert match.start() == end, f"unreadable example at {end}: {text}"
        tokens.append(match.group(1))
        end = match.end()
    assert not text[end:].strip(), f"unreadable example at {end}: {text}"
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def value() -> Any:
        token = take()
        if token == "{":
            members: dict[str, Any] = {}
            while tokens[position] != "}":
                key = take()
                if not key.startswith('"'):
                    members[key] = None  # "…" or "…run…": members not spelled out
                elif tokens[position] == ":":
                    take()
                    members[json.loads(key)] = value()
                else:
                    members[json.loads(key)] = None  # a key named without its value
                if tokens[position] == ",":
                    take()
            take()
            return members
        if token == "[":
            items = []
            while tokens[position] != "]":
                items.append(value())
                if tokens[position] == ",":
                    take()
            take()
            return items
        try:
            return json.loads(token)
        except ValueError:
            return token  # "…": a value the document leaves out

    found = value()
    assert position == len(tokens), f"trailing text in example: {text}"
    return found


def section(doc: str, heading: str) -> str:
    """The text of a ``## `` section: the route's (``GET /actions/v1``), or the one whose
    heading starts with ``heading``."""
    text = (DOCS / doc).read_text()
    parts = [part.partition("\n") for part in re.split(r"^## ", text, flags=re.MULTILINE)[1:]]
    for title, _, body in parts:
        if title.split(" — ")[0] == heading:
            return body
    for title, _, body in parts:
        if title.startswith(heading):
            return body
    raise AssertionError(f"{doc} has no section {heading!r}")


def examples(doc: str, heading: str) -> list[dict[str, Any]]:
    """Every JSON object example (an inline code span opening with ``{"``) of a section."""
    return [loose_json(span) for span in re.findall(r'`(\{"[^`]*)`', section(doc, heading))]


def example(doc: str, heading: str, **where: Any) -> dict[str, Any]:
    """The one example of a section whose members have the given values."""
    [found] = [e for e in examples(doc, heading) if all(e.get(k) == v for k, v in where.items())]
    return found


def added_keys(doc: str, heading: str) -> tuple[set[str], list[dict[str, Any]]]:
    """The keys a "Response adds `a`, `b` (e.g. `{…}`)." line names, and its examples."""
    [line] = re.findall(r"^Response adds .*$", section(doc, heading), flags=re.MULTILINE)
    spans = re.findall(r"`([^`]*)`", line)
    return {s for s in spans if s.isidentifier()}, [loose_json(s) for s in spans if s[:1] == "{"]


def keys(answer: dict[str, Any], **spreads: set[str]) -> set[str]:
    """An answer's keys, with each ``…name…`` member replaced by ``spreads[name]``."""
    found = set()
    for key in answer:
        name = key.strip("…")
        found |= spreads[name] if key.startswith("…") and name in spreads else {key}
    return found


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(run_seconds=0.05) as emulator:
        yield emulator


def answer(emu: Emulator, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    resp = call(emu, method, path, body)
    assert resp.status == status, (method, path, resp.status, resp.body[:300])
    return resp.json


def started_run(emu: Emulator) -> dict[str, Any]:
    body = {"triggered_by": "manual", "trigger_name": "shapes", "context": {"pr": 1}}
    return answer(emu, "POST", "/api/v1/workflows/wf_weekly_cost_review/runs/", body, 201)


def run_keys() -> set[str]:
    return set(example(CASED_DOC, "POST /api/v1/workflows/{workflow_id}/runs/"))


def session_keys() -> set[str]:
    return set(example(CASED_DOC, "POST /api/v1/agent/sessions/"))


def test_the_documents_here_are_the_shared_ones() -> None:
    if not SHARED_DOCS.is_dir():
        pytest.skip(f"no shared API documents at {SHARED_DOCS} (CASED_API_DOCS)")
    for doc in (CASED_DOC, CASEDEV_DOC):
        assert (DOCS / doc).read_text() == (SHARED_DOCS / doc).read_text(), doc


def test_the_loose_reader_reads_the_shorthand() -> None:
    assert loose_json('{"a", "b": {…}, "c": [ {…run…, "d": "…"} ], …}') == {
        "a": None,
        "b": {"…": None},
        "c": [{"…run…": None, "d": "…"}],
        "…": None,
    }


# --------------------------------------------------------------------------- Cased


def test_post_deployment(emu: Emulator) -> None:
    body = {
        "deployment_request": "Production deploy v1.2.3",
        "repository_full_name": "my-org/my-repo",
        "status": "success",
        "external_url": "https://ci.example/1",
        "commit_sha": "abc123",
        "commit_message": "Fix",
        "ref": "refs/heads/main",
        "event_metadata": {"build": 7},
    }
    got = answer(emu, "POST", "/api/v1/deployments/", body, 201)
    assert set(got) == set(example(CASED_DOC, "POST /api/v1/deployments/"))


@pytest.mark.parametrize("path", ["/api/v1/agent/sessions/", "/api/v1/agent-sessions/"])
def test_post_agent_session(emu: Emulator, path: str) -> None:
    got = answer(emu, "POST", path, {"prompt": "Why?", "context": {"env": "prod"}}, 201)
    assert set(got) == session_keys()


# Reading: session reads (Cased's CLI uses them) have no documented answer: a read shows
# the documented start answer's keys; a list pages like the other Cased lists.
def test_get_agent_session(emu: Emulator) -> None:
    started = answer(emu, "POST", "/api/v1/agent/sessions/", {"prompt": "Why?"}, 201)
    got = answer(emu, "GET", f"/api/v1/agent/sessions/{started['session_id']}/")
    assert set(got) == session_keys()


def test_list_agent_sessions(emu: Emulator) -> None:
    answer(emu, "POST", "/api/v1/agent/sessions/", {"prompt": "Why?"}, 201)
    got = answer(emu, "GET", "/api/v1/agent/sessions/")
    assert set(got) == {"sessions", "count", "next", "previous"}
    assert got["sessions"] and all(set(s) == session_keys() for s in got["sessions"])


def test_list_workflows(emu: Emulator) -> None:
    documented = example(CASED_DOC, "GET /api/v1/workflows/")
    got = answer(emu, "GET", "/api/v1/workflows/")
    assert set(got) == set(documented)
    [item] = documented["workflows"]
    assert got["workflows"] and all(set(w) == set(item) for w in got["workflows"])


def test_get_workflow(emu: Emulator) -> None:
    [listed] = example(CASED_DOC, "GET /api/v1/workflows/")["workflows"]
    got = answer(emu, "GET", "/api/v1/workflows/wf_deploy_watcher/")
    adds, _ = added_keys(CASED_DOC, "GET /api/v1/workflows/{workflow_id}/")
    assert adds == {"instruction", "created_at", "updated_at"}  # the sentence was read
    assert set(got) == set(listed) | adds


def test_post_workflow_run(emu: Emulator) -> None:
    assert set(started_run(emu)) == run_keys()


def test_list_workflow_runs(emu: Emulator) -> None:
    started_run(emu)
    documented = example(CASED_DOC, "GET /api/v1/workflows/{workflow_id}/runs/")
    got = answer(emu, "GET", "/api/v1/workflows/wf_weekly_cost_review/runs/")
    assert set(got) == set(documented)
    [item] = documented["workflow_runs"]
    listed = keys(item, run=run_keys())
    assert "ended_at" in listed and "id" in listed  # the spread was resolved
    assert got["workflow_runs"] and all(set(r) == listed for r in got["workflow_runs"])


def test_get_workflow_run(emu: Emulator) -> None:
    run = started_run(emu)
    heading = "GET /api/v1/workflows/{workflow_id}/runs/{run_id}/"
    got = answer(emu, "GET", f"/api/v1/workflows/wf_weekly_cost_review/runs/{run['id']}/")
    adds, [artifacts] = added_keys(CASED_DOC, heading)
    assert set(got) == run_keys() | adds
    assert set(got["artifacts"]) == set(artifacts)


def test_cased_error_body(emu: Emulator) -> None:
    [documented] = re.findall(r'`(\{"detail"[^`]*)`', (DOCS / CASED_DOC).read_text())
    got = answer(emu, "GET", "/api/v1/workflows/wf_missing/", status=404)
    assert set(got) == set(loose_json(documented))


# --------------------------------------------------------------------------- case.dev


def test_list_actions(emu: Emulator) -> None:
    documented = example(CASEDEV_DOC, "GET /actions/v1")
    got = answer(emu, "GET", "/actions/v1")
    assert set(got) == set(documented)
    [item] = documented["data"]
    assert got["data"] and all(set(a) == set(item) for a in got["data"])


# Reading: one action definition has no documented example: it has a listed one's keys.
def test_get_action(emu: Emulator) -> None:
    [item] = example(CASEDEV_DOC, "GET /actions/v1")["data"]
    assert set(answer(emu, "GET", "/actions/v1/action_summarize")) == set(item)


def test_execute_action_synchronously(emu: Emulator) -> None:
    heading = "POST /actions/v1/{id}/execute"
    documented = example(CASEDEV_DOC, heading, status="completed")
    got = answer(emu, "POST", "/actions/v1/action_summarize/execute", {"input": {"a": 1}})
    assert set(got) == set(documented)
    [step] = documented["step_results"].values()
    assert got["step_results"] and all(set(s) == set(step) for s in got["step_results"].values())


def test_execute_action_asynchronously(emu: Emulator) -> None:
    documented = example(CASEDEV_DOC, "POST /actions/v1/{id}/execute", status="running")
    got = answer(emu, "POST", "/actions/v1/action_contract_review/execute", {"input": {}})
    assert set(got) == set(documented)
    body = {"input": {}, "webhook_id": "wh_1"}  # a webhook makes any action asynchronous
    assert set(answer(emu, "POST", "/actions/v1/action_summarize/execute", body)) == set(documented)


def test_execute_action_that_fails(emu: Emulator) -> None:
    documented = example(CASEDEV_DOC, "Errors, limits", status="failed")
    got = answer(emu, "POST", "/actions/v1/action_broken_ocr/execute", {"input": {}})
    assert set(got) == set(documented)


def test_get_execution(emu: Emulator) -> None:
    documented = set(example(CASEDEV_DOC, "GET /actions/v1/executions/{execution_id}"))
    done = answer(emu, "POST", "/actions/v1/action_summarize/execute", {"input": {}})
    got = answer(emu, "GET", f"/actions/v1/executions/{done['execution_id']}")
    assert set(got) == documented
    # Reading (the example is a completed execution): before the end there is no output
    # and no completedAt; a failed one carries the failure example's `error` instead of
    # output.
    emu.add_action("Slow", action_id="action_slow", mode="async", run_seconds=60)
    slow = answer(emu, "POST", "/actions/v1/action_slow/execute", {"input": {}})
    got = answer(emu, "GET", f"/actions/v1/executions/{slow['execution_id']}")
    assert set(got) == documented - {"output", "completedAt"}
    failed = answer(emu, "POST", "/actions/v1/action_broken_ocr/execute", {"input": {}})
    got = answer(emu, "GET", f"/actions/v1/executions/{failed['execution_id']}")
    assert set(got) == documented - {"output"} | {"error"}


# Reading: the delete answer's body is not documented ("may be empty"): 204, no body.
def test_delete_action(emu: Emulator) -> None:
    emu.add_action("Temp", action_id="action_temp")
    resp = call(emu, "DELETE", "/actions/v1/action_temp", {})
    assert (resp.status, resp.body) == (204, b"")


def test_casedev_rate_limit_body() -> None:
    [documented] = [
        e for e in examples(CASEDEV_DOC, "Errors, limits") if isinstance(e.get("error"), dict)
    ]
    with Emulator(rate_limit=1) as limited:
        answer(limited, "GET", "/actions/v1")
        got = answer(limited, "GET", "/actions/v1", status=429)
    assert set(got) == set(documented)
    # The example's "…" stands for members the document does not name: none are invented.
    assert set(got["error"]) == set(documented["error"]) - {"…"}
