"""Both hooks against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from email.utils import formatdate

import pytest

from airflow_provider_cased._request_bodies import DeploymentBody, ExecuteBody, RunBody, SessionBody
from airflow_provider_cased.exceptions import CasedApiError, CasedInputError, CasedTimeoutError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import ENDPOINTS, CaseDevHook
from airflow_provider_cased.states import normalize_execution
from airflow_provider_cased.testing import Fault

pytestmark = pytest.mark.usefixtures("emulator")


def only_request(emulator, method, prefix):
    matching = emulator.requests_to(method, prefix)
    assert len(matching) == 1, [(r.method, r.path) for r in emulator.requests]
    return matching[0]


# -- every endpoint: method, path, body, headers -----------------------------------------


def test_notify_deployment_sends_documented_fields(emulator):
    answer = CasedHook().notify_deployment(
        "Production deploy v1.2.3",
        repository_full_name="my-org/my-repo",
        status="success",
        commit_sha="abc123",
        ref="refs/heads/main",
        event_metadata={"build": 7},
    )
    assert answer["id"]
    sent = only_request(emulator, "POST", "/api/v1/deployments/")
    assert sent.json == {
        "deployment_request": "Production deploy v1.2.3",
        "repository_full_name": "my-org/my-repo",
        "status": "success",
        "commit_sha": "abc123",
        "ref": "refs/heads/main",
        "event_metadata": {"build": 7},
    }
    assert sent.headers["authorization"] == f"Bearer {emulator.api_key}"
    assert sent.headers["user-agent"].startswith("airflow-provider-cased/")
    assert "apache-airflow/" in sent.headers["user-agent"]
    assert sent.headers["content-type"] == "application/json"


def test_agent_session_default_and_overridden_path(emulator, set_connection):
    answer = CasedHook().create_agent_session("Why is checkout slow?", {"service": "checkout"})
    assert answer["session_id"] and answer["url"].startswith("/agents/")
    sent = only_request(emulator, "POST", "/api/v1/agent/sessions/")
    assert sent.json == {"prompt": "Why is checkout slow?", "context": {"service": "checkout"}}

    set_connection(
        "cased_alt",
        emulator.url,
        password=emulator.api_key,
        extra={"agent_sessions_path": "/api/v1/agent-sessions/"},
    )
    CasedHook("cased_alt").create_agent_session("again")
    only_request(emulator, "POST", "/api/v1/agent-sessions/")


def test_token_auth_scheme(emulator, set_connection):
    set_connection(
        "cased_token", emulator.url, password=emulator.api_key, extra={"auth_scheme": "token"}
    )
    CasedHook("cased_token").get_workflow("wf_weekly_cost_review")
    assert emulator.requests[-1].headers["authorization"] == f"Token {emulator.api_key}"


def test_workflows_runs_and_pagination(emulator):
    for n in range(230):
        emulator.add_workflow(f"Bulk workflow {n:03d}")
    hook = CasedHook()
    bulk = list(hook.list_workflows(name="bulk"))
    assert len(bulk) == 230
    pages = emulator.requests_to("GET", "/api/v1/workflows/")
    assert [r.query.get("page") for r in pages] == [["1"], ["2"], ["3"]]
    assert all(r.query["page_size"] == ["100"] and r.query["name"] == ["bulk"] for r in pages)

    workflow = hook.get_workflow("wf_weekly_cost_review")
    assert workflow["name"] == "Weekly cost review" and "instruction" in workflow

    run = hook.trigger_workflow_run(
        "wf_weekly_cost_review",
        triggered_by="schedule",
        trigger_name="weekly",
        context={"week": 47},
    )
    sent = only_request(emulator, "POST", "/api/v1/workflows/wf_weekly_cost_review/runs/")
    assert sent.json == {
        "triggered_by": "schedule",
        "trigger_name": "weekly",
        "context": {"week": 47},
    }
    assert run["status"] == "pending" and run["session_id"]

    fetched = hook.get_workflow_run("wf_weekly_cost_review", run["id"])
    assert fetched["id"] == run["id"]
    runs = list(hook.list_workflow_runs("wf_weekly_cost_review", triggered_by="schedule"))
    assert [r["id"] for r in runs] == [run["id"]]
    assert hook.find_run_by_trigger_name("wf_weekly_cost_review", "weekly")["id"] == run["id"]
    assert hook.find_run_by_trigger_name("wf_weekly_cost_review", "other") is None


def test_find_workflow_by_name_exact_none_several(emulator):
    hook = CasedHook()
    assert hook.find_workflow_by_name("Weekly cost review")["id"] == "wf_weekly_cost_review"
    with pytest.raises(CasedInputError, match="matches no workflow exactly"):
        hook.find_workflow_by_name("Weekly cost")
    emulator.add_workflow("Twin")
    emulator.add_workflow("Twin")
    with pytest.raises(CasedInputError, match="matches 2 workflows"):
        hook.find_workflow_by_name("Twin")


def test_casedev_endpoints_and_normalised_shape(emulator):
    hook = CaseDevHook()
    names = {a["name"] for a in hook.list_actions()}
    assert {"Summarize document", "Contract review"} <= names
    assert hook.get_action("action_summarize")["id"] == "action_summarize"

    sync = hook.execute_action("action_summarize", {"document_url": "s3://docs/a.pdf"})
    assert sync["status"] == "completed" and "step_results" in sync
    sent = only_request(emulator, "POST", "/actions/v1/action_summarize/execute")
    assert sent.json == {"input": {"document_url": "s3://docs/a.pdf"}}

    started = hook.execute_action("action_contract_review", {"doc": "x"}, webhook_id="wh_1")
    assert started["status"] == "running"
    status = hook.get_execution(started["execution_id"])
    assert "actionId" in status  # camelCase, as the API sends it
    a, b = normalize_execution(sync), normalize_execution(status)
    assert set(a) == set(b)
    assert (
        b["execution_id"] == started["execution_id"] and b["action_id"] == "action_contract_review"
    )
    assert a["step_results"] and a["duration_ms"] is not None

    assert hook.delete_action("action_summarize") == {}
    deleted = only_request(emulator, "DELETE", "/actions/v1/action_summarize")
    assert deleted.status == 204


def test_ids_cannot_escape_their_path_segment(emulator):
    with pytest.raises(CasedApiError) as error:
        CasedHook().get_workflow("../deployments")
    assert error.value.status_code == 404
    assert emulator.requests[-1].path == "/api/v1/workflows/..%2Fdeployments/"


def test_unknown_deployment_field_is_refused_before_sending(emulator):
    with pytest.raises(TypeError, match="statuss"):
        CasedHook().notify_deployment("x", statuss="success")  # type: ignore[call-arg]
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("build", "send", "method", "path", "body"),
    [
        (
            lambda h: h.trigger_workflow_run_request(
                "wf_weekly_cost_review", RunBody(trigger_name="n")
            ),
            lambda h, r: h.send_run_request("wf_weekly_cost_review", r),
            "POST",
            "/api/v1/workflows/wf_weekly_cost_review/runs/",
            {"triggered_by": "manual", "trigger_name": "n"},
        ),
        (
            lambda h: h.create_agent_session_request(SessionBody("why?")),
            lambda h, r: h.send(r),
            "POST",
            "/api/v1/agent/sessions/",
            {"prompt": "why?"},
        ),
        (
            lambda h: h.notify_deployment_request(DeploymentBody("Deploy v1")),
            lambda h, r: h.send_deployment(r),
            "POST",
            "/api/v1/deployments/",
            {"deployment_request": "Deploy v1"},
        ),
    ],
    ids=["run", "session", "deployment"],
)
def test_requests_that_start_work_are_built_without_sending(
    emulator, build, send, method, path, body
):
    # What an approving operator shows: the POST exactly as it would leave, built and
    # checked before anything leaves; only sending it sends it, once.
    hook = CasedHook()
    request = build(hook)
    assert (request.method, request.path, request.json) == (method, path, body)
    assert emulator.requests == []
    send(hook, request)
    assert [(r.method, r.path, r.json) for r in emulator.requests] == [(method, path, body)]


def test_execute_request_is_built_without_sending(emulator):
    hook = CaseDevHook()
    request = hook.execute_action_request("action_summarize", ExecuteBody({"a": 1}))
    path = "/actions/v1/action_summarize/execute"
    assert (request.method, request.path, request.json) == ("POST", path, {"input": {"a": 1}})
    assert emulator.requests == []
    hook.send(request)
    assert [(r.method, r.path) for r in emulator.requests] == [("POST", path)]


# -- bad input: clear error naming the field and the connection, no request ----------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.notify_deployment(""), "deployment_request"),
        (lambda h: h.notify_deployment("x", status="done"), "status"),
        (lambda h: h.notify_deployment("x", event_metadata=["a"]), "event_metadata"),
        (lambda h: h.notify_deployment("x", event_metadata={"t": object()}), "event_metadata"),
        (lambda h: h.create_agent_session("  "), "prompt"),
        (lambda h: h.create_agent_session("p", context="text"), "context"),
        (lambda h: h.trigger_workflow_run("wf", triggered_by="cron"), "triggered_by"),
        (lambda h: h.trigger_workflow_run("wf", context={1: "a"}), "context"),
        (lambda h: h.trigger_workflow_run(""), "workflow_id"),
        (lambda h: h.get_workflow_run("wf", ".."), "run_id"),
        (lambda h: list(h.list_workflow_runs("wf", status="done")), "status"),
        (lambda h: h.list_workflow_runs(""), "workflow_id"),
    ],
)
def test_cased_bad_inputs_send_nothing(emulator, call, field):
    with pytest.raises(CasedInputError, match=field) as error:
        call(CasedHook())
    assert "cased_default" in str(error.value)
    assert isinstance(error.value, ValueError)
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: h.execute_action("action_summarize", None), "input"),
        (lambda h: h.execute_action("action_summarize", "text"), "input"),
        (lambda h: h.execute_action("action_summarize", {"n": float("nan")}), "input"),
        (lambda h: h.execute_action("", {}), "action_id"),
        (lambda h: h.execute_action("a", {}, webhook_id=5), "webhook_id"),
        (lambda h: h.get_execution("."), "execution_id"),
        (lambda h: h.delete_action(" "), "action_id"),
    ],
)
def test_casedev_bad_inputs_send_nothing(emulator, call, field):
    with pytest.raises(CasedInputError, match=field) as error:
        call(CaseDevHook())
    assert "casedev_default" in str(error.value)
    assert emulator.requests == []


def test_execute_action_refuses_an_input_over_10_mb_before_sending(emulator):
    limit = 10 * 1024 * 1024  # case.dev's documented "10 MB", in bytes of the JSON input
    overhead = len(json.dumps({"blob": ""}))
    with pytest.raises(CasedInputError) as error:
        CaseDevHook().execute_action("action_summarize", {"blob": "x" * (limit - overhead + 1)})
    message = str(error.value)
    assert "input is 10,485,761 bytes as JSON" in message
    assert "limit of 10,485,760 bytes (10 MB)" in message
    assert "connection 'casedev_default'; no request was sent" in message
    assert emulator.requests == []
    # Exactly at the limit, the hook sends it and the emulator (as case.dev) takes it.
    answer = CaseDevHook().execute_action("action_summarize", {"blob": "x" * (limit - overhead)})
    assert answer["status"] == "completed"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"retry_limit": "many"}, "retry_limit"),
        ({"retry_limit": 1.5}, "retry_limit"),
        ({"request_timeout": -1}, "request_timeout"),
        ({"retry_delay": "soon"}, "retry_delay"),
        ({"auth_scheme": "Basic"}, "auth_scheme"),
        ({"agent_sessions_path": "api/sessions"}, "agent_sessions_path"),
    ],
)
def test_bad_connection_extras_are_named(emulator, extra, field, set_connection):
    set_connection("cased_bad", emulator.url, password="k", extra=extra)
    with pytest.raises(CasedInputError, match=field) as error:
        CasedHook("cased_bad").get_workflow("wf_weekly_cost_review")
    assert "cased_bad" in str(error.value)
    assert emulator.requests == []


def test_missing_api_key_names_the_connection(emulator, set_connection):
    set_connection("cased_nokey", emulator.url, password=None)
    with pytest.raises(CasedInputError, match="'cased_nokey' has no API key"):
        CasedHook("cased_nokey").get_workflow("wf_weekly_cost_review")
    assert emulator.requests == []


def test_wrong_key_401_names_connection_without_the_key(emulator, logs, set_connection):
    secret = "sk_case_super_secret_value"
    set_connection("casedev_wrong", emulator.url, password=secret, conn_type="casedev")
    hook = CaseDevHook("casedev_wrong")
    with pytest.raises(CasedApiError) as error:
        hook.get_action("action_summarize")
    assert error.value.status_code == 401
    assert "casedev_wrong" in str(error.value) and secret not in str(error.value)
    ok, message = hook.test_connection()
    assert not ok and "casedev_wrong" in message and secret not in message
    assert secret not in logs()
    assert len(emulator.requests) == 2  # a 401 is not retried


def test_test_connection_ok(emulator):
    assert CasedHook().test_connection()[0] is True
    assert CaseDevHook().test_connection()[0] is True


def test_host_defaults_and_scheme_less_hosts(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CASED_EMPTY", json.dumps({"conn_type": "cased", "password": "k"})
    )
    assert CasedHook("cased_empty").base_url == "https://app.cased.com"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CASEDEV_EMPTY", json.dumps({"conn_type": "casedev", "password": "k"})
    )
    hook = CaseDevHook("casedev_empty")
    assert hook.base_url == "https://api.case.dev"
    assert hook.config.long_read_timeout >= 300  # a sync execute may take 5 minutes
    monkeypatch.setenv("AIRFLOW_CONN_CASED_URI", "cased://:k@cased.internal.example:8443")
    assert CasedHook("cased_uri").base_url == "https://cased.internal.example:8443"


@pytest.mark.parametrize(
    "host", ["http://cased.internal.example", "http://10.0.0.5:8080", "HTTP://app.cased.com"]
)
def test_plain_http_to_another_host_is_refused_before_sending(host, set_connection):
    set_connection("cased_plain", host, password="sk_secret_123")
    with pytest.raises(CasedInputError) as error:
        CasedHook("cased_plain").get_workflow("wf_1")
    message = str(error.value)
    assert "cased_plain" in message and "allow_plain_http" in message and "https://" in message
    assert "sk_secret_123" not in message


def test_plain_http_allowed_to_loopback_or_by_the_extra(monkeypatch, set_connection):
    for host in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:8080"):
        monkeypatch.setenv(
            "AIRFLOW_CONN_CASED_LOCAL",
            json.dumps({"conn_type": "cased", "host": host, "password": "k"}),
        )
        assert CasedHook("cased_local").base_url == host
    set_connection(
        "casedev_proxy",
        "http://proxy.internal:3128",
        password="k",
        conn_type="casedev",
        extra={"allow_plain_http": "true"},
    )
    assert CaseDevHook("casedev_proxy").base_url == "http://proxy.internal:3128"


def test_other_schemes_and_bad_flag_values_are_named(set_connection):
    set_connection("cased_ftp", "ftp://files.example", password="k")
    with pytest.raises(CasedInputError, match=r"cased_ftp.*https://"):
        CasedHook("cased_ftp").get_workflow("wf_1")
    set_connection("cased_flag", "https://x", password="k", extra={"allow_plain_http": "maybe"})
    with pytest.raises(CasedInputError, match=r"allow_plain_http.*cased_flag"):
        CasedHook("cased_flag").get_workflow("wf_1")


# -- retries: which, how often, how long ------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_get_retries_transient_statuses_then_succeeds(emulator):
    emulator.inject(Fault(method="GET", path="/api/v1/workflows/", status=503, times=2))
    assert CasedHook().get_workflow("wf_weekly_cost_review")["id"] == "wf_weekly_cost_review"
    assert [r.status for r in emulator.requests] == [503, 503, 200]


@pytest.mark.usefixtures("fast_retries")
def test_get_gives_up_after_retry_limit(emulator):
    emulator.inject(
        Fault(
            method="GET",
            status=502,
            times=0,
            body="<html>Bad gateway</html>",
            content_type="text/html",
        )
    )
    with pytest.raises(CasedApiError, match="HTTP 502") as error:
        CasedHook().get_workflow("wf_weekly_cost_review")
    assert error.value.status_code == 502 and "Bad gateway" in error.value.body
    assert len(emulator.requests) == 4  # 1 + retry_limit 3


@pytest.mark.usefixtures("fast_retries")
def test_not_found_is_not_retried(emulator):
    with pytest.raises(CasedApiError, match="HTTP 404"):
        CasedHook().get_workflow("wf_missing")
    assert len(emulator.requests) == 1


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=503),
        Fault(status=500),
        Fault(lost_answer=True, status=502),
        Fault(lost_answer=True, drop=True),
    ],
)
def test_post_never_repeated_when_the_server_may_have_acted(emulator, fault):
    fault.method, fault.path = "POST", "/api/v1/deployments/"
    emulator.inject(fault)
    with pytest.raises(CasedApiError):
        CasedHook().notify_deployment("deploy")
    assert len(emulator.requests_to("POST", "/api/v1/deployments/")) == 1


@pytest.mark.usefixtures("fast_retries")
def test_post_repeated_after_429(emulator):
    emulator.inject(
        Fault(
            method="POST",
            path="/actions/v1/",
            status=429,
            headers={"x-ratelimit-reset-requests": "0.2s"},
        )
    )
    started = time.monotonic()
    assert CaseDevHook().execute_action("action_summarize", {"a": 1})["status"] == "completed"
    assert time.monotonic() - started >= 0.2  # waited the hint, not the 0.01 s backoff
    assert [r.status for r in emulator.requests] == [429, 200]


@pytest.mark.usefixtures("fast_retries")
def test_retry_after_seconds_and_http_date_are_obeyed(emulator):
    emulator.inject(Fault(method="GET", status=503, headers={"Retry-After": "1"}))
    started = time.monotonic()
    CasedHook().get_workflow("wf_weekly_cost_review")
    assert time.monotonic() - started >= 0.95

    emulator.inject(
        Fault(
            method="GET",
            status=429,
            headers={"Retry-After": formatdate(time.time() + 2, usegmt=True)},
        )
    )
    started = time.monotonic()
    CasedHook().get_workflow("wf_weekly_cost_review")
    assert time.monotonic() - started >= 0.9  # HTTP dates have 1 s resolution


@pytest.mark.usefixtures("fast_retries")
def test_dropped_connection_and_read_timeout_are_retried_for_gets(emulator):
    emulator.inject(Fault(method="GET", drop=True))
    emulator.inject(Fault(method="GET", delay=2.5))  # request_timeout is 2 s
    assert CasedHook().get_workflow("wf_weekly_cost_review")["id"]
    assert len(emulator.requests) == 3


@pytest.mark.parametrize("client", ["requests", "aiohttp"])
def test_connection_refused_is_retried_then_reported(logs, set_connection, client):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_connection(
        "cased_down",
        f"http://127.0.0.1:{port}",
        password="sk_hidden",
        extra={"retry_delay": 0.01, "retry_limit": 2},
    )
    # A POST: nothing was sent, so it is retried (over the sync and the async client).
    with pytest.raises(CasedApiError, match="could not reach") as error:
        if client == "requests":
            CasedHook("cased_down").notify_deployment("deploy")
        else:
            asyncio.run(CasedHook("cased_down").a_notify_deployment("deploy"))
    assert error.value.status_code is None and "cased_down" in str(error.value)
    assert logs.count("could not connect") == 2 and "sk_hidden" not in logs()


@pytest.mark.usefixtures("fast_retries")
def test_malformed_json_answer_is_a_provider_error(emulator):
    emulator.inject(Fault(method="GET", status=200, body='{"id": '))
    with pytest.raises(CasedApiError, match="malformed JSON"):
        CasedHook().get_workflow("wf_weekly_cost_review")


# -- lost answers to a workflow-run POST are reconciled, never repeated blindly -------------


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize(
    "fault",
    [
        Fault(lost_answer=True, status=502),
        Fault(lost_answer=True, drop=True),
        Fault(lost_answer=True, delay=2.5),
    ],
)
def test_lost_run_answer_is_reconciled_by_trigger_name(emulator, fault):
    fault.method, fault.path = "POST", "/api/v1/workflows/"
    emulator.inject(fault)
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review", trigger_name="nightly-42")
    assert len(emulator.runs) == 1
    assert run["id"] in emulator.runs and run["trigger_name"] == "nightly-42"
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 1


@pytest.mark.usefixtures("fast_retries")
def test_lost_run_answer_resent_only_when_no_run_exists(emulator):
    # A 502 from a proxy that never reached the API: no run exists, so one more POST is safe.
    emulator.inject(Fault(method="POST", path="/api/v1/workflows/", status=502))
    run = CasedHook().trigger_workflow_run("wf_weekly_cost_review", trigger_name="nightly-43")
    assert list(emulator.runs) == [run["id"]]
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 2


@pytest.mark.usefixtures("fast_retries")
def test_lost_run_answer_without_trigger_name_is_an_error(emulator):
    emulator.inject(Fault(method="POST", path="/api/v1/workflows/", lost_answer=True, status=502))
    with pytest.raises(CasedApiError) as error:
        CasedHook().trigger_workflow_run("wf_weekly_cost_review")
    assert error.value.outcome_unknown
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 1


# -- one session, few connections -----------------------------------------------------------


def test_session_reuses_connections(emulator):
    hook = CasedHook()
    for _ in range(60):
        hook.get_workflow("wf_weekly_cost_review")
    assert len(emulator.requests) == 60
    assert emulator.connections_opened <= 2


def test_redirect_is_an_error_naming_the_base_url(emulator):
    emulator.inject(
        Fault(method="GET", status=301, headers={"Location": "https://elsewhere.example/"})
    )
    with pytest.raises(CasedApiError, match=r"redirected .*elsewhere\.example.*cased_default"):
        CasedHook().get_workflow("wf_weekly_cost_review")
    assert len(emulator.requests) == 1


def test_find_action_by_name_exact_none_several(emulator):
    hook = CaseDevHook()
    assert hook.find_action_by_name("Contract review")["id"] == "action_contract_review"
    with pytest.raises(CasedInputError, match=r"matches no action.*Summarize document"):
        hook.find_action_by_name("Contract")
    emulator.add_action("Twin")
    emulator.add_action("Twin")
    with pytest.raises(CasedInputError, match="matches 2 actions"):
        hook.find_action_by_name("Twin")


def test_workflow_filters_are_sent(emulator):
    list(CasedHook().list_workflows(agent_name="ops-agent", repository="acme/web"))
    sent = emulator.requests[-1]
    assert sent.query["agent_name"] == ["ops-agent"] and sent.query["repository"] == ["acme/web"]
    assert "name" not in sent.query  # None is not sent


# -- agent sessions ---------------------------------------------------------------------


def test_agent_sessions_read_back_with_time_driven_statuses(emulator):
    emulator.run_seconds = 1.0
    hook = CasedHook()
    started = hook.create_agent_session("Why?")
    first = hook.get_agent_session(started["session_id"])
    assert first["session_id"] == started["session_id"] and first["status"] == "created"
    time.sleep(1.1)
    assert hook.get_agent_session(started["session_id"])["status"] == "completed"
    failing = hook.create_agent_session("[fail] on purpose")
    time.sleep(1.1)
    assert hook.get_agent_session(failing["session_id"])["status"] == "failed"
    listed = [s["session_id"] for s in hook.list_agent_sessions()]
    assert listed == [failing["session_id"], started["session_id"]]


@pytest.mark.parametrize(
    "body",
    [
        '{"results": [{"session_id": "s1"}, {"session_id": "s2"}], "count": 2, "next": null}',
        '[{"session_id": "s1"}, {"session_id": "s2"}]',
    ],
    ids=["results-key", "plain-list"],
)
def test_session_list_accepts_the_shapes_cased_tools_read(emulator, body):
    emulator.inject(Fault(method="GET", path="/api/v1/agent/sessions/", status=200, body=body))
    assert [s["session_id"] for s in CasedHook().list_agent_sessions()] == ["s1", "s2"]


def test_session_list_without_items_is_a_clear_error(emulator):
    emulator.inject(
        Fault(method="GET", path="/api/v1/agent/sessions/", status=200, body='{"count": 0}')
    )
    with pytest.raises(CasedApiError, match="without a 'sessions' list"):
        list(CasedHook().list_agent_sessions())


def test_session_reads_follow_the_connection_path(emulator, set_connection):
    set_connection(
        "cased_alt",
        emulator.url,
        password=emulator.api_key,
        extra={"agent_sessions_path": "/api/v1/agent-sessions/"},
    )
    hook = CasedHook("cased_alt")
    session = hook.create_agent_session("p")
    assert hook.get_agent_session(session["session_id"])["session_id"] == session["session_id"]
    assert emulator.requests_to("GET", "/api/v1/agent-sessions/")


# -- one call under a time limit (the managed-agent hooks' calls) -----------------------


def test_a_copy_for_one_call_shares_the_connection_and_bounds_every_request(emulator):
    hook = CaseDevHook()
    call = hook.for_one_call(1)
    assert call.config is hook.config and call.transport is not hook.transport
    emulator.inject(Fault(method="GET", path="/actions/v1", delay=5, times=10))
    started = time.monotonic()
    with pytest.raises(CasedTimeoutError, match="time limit passed"):
        call.request(ENDPOINTS["list_actions"])
    # The read timeout was cut to the time left, and no retry went past it.
    assert time.monotonic() - started < 2.5
    # The hook itself keeps the connection's timeouts.
    assert hook.transport.deadline is None and hook.for_one_call(None).transport.deadline is None


def test_nothing_is_sent_once_the_time_limit_passed(emulator):
    call = CaseDevHook().for_one_call(0.01)
    time.sleep(0.05)
    with pytest.raises(CasedTimeoutError, match=r"GET /actions/v1 was not sent"):
        call.list_actions()
    assert not emulator.requests
