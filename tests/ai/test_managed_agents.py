"""case.dev actions and Cased agent sessions as common.ai managed agents, against the emulator.

A pydantic-ai ``FunctionModel`` plays the calling LLM (no network): it calls the tool
common.ai's own ``ManagedAgentToolset`` builds over ``hook.agent(…)``, then answers
with what the tool returned. Skipped where common.ai is not installed (the Airflow 2.11
line, and any venv without the ``[ai]`` extra).
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("airflow.providers.common.ai.managed_agents.base")
pydantic_ai = pytest.importorskip("pydantic_ai")

from airflow.providers.common.ai.exceptions import (  # noqa: E402
    ManagedAgentInvocationError,
    ManagedAgentRejected,
)
from airflow.providers.common.ai.managed_agents.base import ManagedAgentRequest  # noqa: E402
from airflow.providers.common.ai.toolsets import ManagedAgentToolset  # noqa: E402
from pydantic_ai.messages import (  # noqa: E402
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import FunctionModel  # noqa: E402

from airflow_provider_cased.ai.managed_agents import (  # noqa: E402
    CaseDevManagedAgentHook,
    CasedManagedAgentHook,
)
from airflow_provider_cased.exceptions import CasedApiError, CasedTimeoutError  # noqa: E402
from airflow_provider_cased.testing import Fault  # noqa: E402

pytestmark = pytest.mark.usefixtures("emulator")

TOOL = "ask_specialist"


class ToolCallingModel:
    """The calling LLM: asks the tool ``prompt`` once, then answers with what it saw.

    Records every tool return and retry prompt the model was shown."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.returns: list[str] = []
        self.retries: list[str] = []

    def __call__(self, messages, info):  # type: ignore[no-untyped-def]
        parts = [part for message in messages for part in message.parts]
        # A ModelRetry reaches the model as a retry prompt (a "retried" tool return in
        # recent pydantic-ai, a RetryPromptPart before).
        retried = [
            p
            for p in parts
            if isinstance(p, RetryPromptPart)
            or (isinstance(p, ToolReturnPart) and getattr(p, "outcome", "") == "retried")
        ]
        self.retries = [str(p.content) for p in retried]
        self.returns = [
            str(p.content) for p in parts if isinstance(p, ToolReturnPart) and p not in retried
        ]
        if self.returns or self.retries:
            return ModelResponse(parts=[TextPart(f"The specialist said: {self.returns}")])
        return ModelResponse(parts=[ToolCallPart(TOOL, {"prompt": self.prompt})])


def run_agent(client, prompt: str, **toolset_options):  # type: ignore[no-untyped-def]
    """One run of a pydantic-ai agent whose only tool is common.ai's toolset over ``client``."""
    model = ToolCallingModel(prompt)
    toolset = ManagedAgentToolset(
        client, tool_name=TOOL, description="Consult the specialist.", **toolset_options
    )
    agent = pydantic_ai.Agent(FunctionModel(model), toolsets=[toolset])
    result = agent.run_sync("Please review the contract.")
    return model, result.output


# -- case.dev actions ----------------------------------------------------------------------


def test_a_sync_action_answers_the_calling_model(emulator):
    model, output = run_agent(
        CaseDevManagedAgentHook().agent("action_summarize"),
        "Summarize the MSA",
        vendor_options={"input": {"document_url": "s3://contracts/msa.pdf"}},
    )
    [execution] = emulator.executions.values()
    assert execution["input"] == {
        "document_url": "s3://contracts/msa.pdf",
        "prompt": "Summarize the MSA",
    }
    # The emulator echoes the input: the model read the output's JSON, nothing else.
    assert model.returns == [json.dumps(execution["output"])]
    assert json.loads(model.returns[0])["echo"]["prompt"] == "Summarize the MSA"
    assert "Summarize the MSA" in output
    # Synchronous: one execute, no status poll.
    assert len(emulator.requests_to("POST", "/actions/v1/action_summarize/execute")) == 1
    assert not emulator.requests_to("GET", "/actions/v1/executions/")


def test_a_string_output_is_the_text_and_the_response_carries_the_execution(emulator):
    emulator.add_action("Clause finder", action_id="action_clauses", output="Clause 7 caps it.")
    client = CaseDevManagedAgentHook().agent("action_clauses")
    model, _ = run_agent(client, "Which clause caps liability?")
    assert model.returns == ["Clause 7 caps it."]

    response = client.invoke(
        ManagedAgentRequest(prompt="Again?", vendor_options={"input_key": "question"})
    )
    execution_id = response.trace_ref
    assert response.text == "Clause 7 caps it."
    assert response.raw["execution_id"] == execution_id and response.raw["status"] == "completed"
    assert emulator.executions[execution_id]["input"] == {"question": "Again?"}
    assert response.usage is None and response.session_id is None
    assert client.ref.platform == "casedev.actions" and client.ref.name == "action_clauses"


def test_an_action_answering_running_is_waited_for(emulator):
    emulator.add_action(
        "Contract review", action_id="action_review", mode="async", run_seconds=0.6, steps=2
    )
    client = CaseDevManagedAgentHook().agent("action_review")
    response = client.invoke(
        ManagedAgentRequest(
            prompt="List risky clauses", timeout=30, vendor_options={"poll_interval": 0.2}
        )
    )
    polls = emulator.requests_to("GET", f"/actions/v1/executions/{response.trace_ref}")
    assert len(polls) >= 2, "polled until the execution ended"
    assert response.raw["status"] == "completed" and response.raw["id"] == response.trace_ref
    assert json.loads(response.text) == response.raw["output"]


def test_a_failed_execution_is_terminal(emulator):
    client = CaseDevManagedAgentHook().agent("action_broken_ocr")
    with pytest.raises(ManagedAgentInvocationError, match="ended with status 'failed'") as caught:
        run_agent(client, "OCR this")
    assert "Action execution exec_" in str(caught.value) and "Broken OCR" in str(caught.value)


@pytest.mark.parametrize(
    ("agent", "connection", "error"),
    [
        ("action_missing", None, "HTTP 404"),
        ("action_summarize", "bad_key", "HTTP 401"),
    ],
)
def test_unhealable_answers_are_terminal(emulator, set_connection, agent, connection, error):
    conn_id = "casedev_default"
    if connection:
        conn_id = set_connection(connection, emulator.url, password="sk_wrong", conn_type="casedev")
    client = CaseDevManagedAgentHook(casedev_conn_id=conn_id).agent(agent)
    with pytest.raises(ManagedAgentInvocationError, match=error) as caught:
        client.invoke(ManagedAgentRequest(prompt="hello"))
    assert isinstance(caught.value.__cause__, CasedApiError)
    assert "sk_wrong" not in str(caught.value)


def test_a_rejected_request_goes_back_to_the_model_to_rephrase(emulator):
    emulator.add_action("Retired", action_id="action_retired", is_active=False)
    model, _ = run_agent(CaseDevManagedAgentHook().agent("action_retired"), "Review it")
    # common.ai turned ManagedAgentRejected into ModelRetry: the model was shown the reason.
    assert len(model.retries) == 1 and "Action is not active" in model.retries[0]
    assert not model.returns
    with pytest.raises(ManagedAgentRejected, match="HTTP 400"):
        CaseDevManagedAgentHook().agent("action_retired").invoke(
            ManagedAgentRequest(prompt="Review it")
        )


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("status", [429, 503])
def test_transient_trouble_propagates_unchanged(emulator, status):
    path = "/actions/v1/action_summarize/execute"
    emulator.inject(Fault(method="POST", path=path, status=status, times=10))
    with pytest.raises(CasedApiError) as caught:
        run_agent(CaseDevManagedAgentHook().agent("action_summarize"), "Summarize")
    assert caught.value.transient and caught.value.status_code == status
    assert not isinstance(caught.value, (ManagedAgentRejected, ManagedAgentInvocationError))


def test_the_timeout_bounds_a_slow_synchronous_execute(emulator):
    path = "/actions/v1/action_summarize/execute"
    emulator.inject(Fault(method="POST", path=path, delay=5))
    client = CaseDevManagedAgentHook().agent("action_summarize")
    started = time.monotonic()
    with pytest.raises(CasedApiError, match="no answer arrived") as caught:
        client.invoke(ManagedAgentRequest(prompt="Summarize", timeout=1))
    assert time.monotonic() - started < 3
    # Sent once: a POST whose answer was lost is never repeated blindly.
    assert caught.value.transient and len(emulator.requests_to("POST", path)) == 1


def test_the_timeout_bounds_the_wait_for_a_running_execution(emulator):
    emulator.add_action("Slow review", action_id="action_slow", mode="async", run_seconds=60)
    client = CaseDevManagedAgentHook().agent("action_slow")
    started = time.monotonic()
    # The wait's deadline, or the next poll's (the call's time limit): whichever comes first.
    with pytest.raises(CasedTimeoutError, match=r"Timed out waiting|time limit passed"):
        client.invoke(
            ManagedAgentRequest(prompt="Review", timeout=1, vendor_options={"poll_interval": 0.2})
        )
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"action_id": "action_other"}, "unknown keys action_id"),
        ({"input": ["not", "an", "object"]}, r"vendor_options\['input'\] .* must be dict"),
        ({"poll_interval": 0}, "must be positive"),
    ],
)
def test_bad_vendor_options_fail_before_any_request(emulator, options, error):
    client = CaseDevManagedAgentHook().agent("action_summarize")
    with pytest.raises(ManagedAgentInvocationError, match=error) as caught:
        client.invoke(ManagedAgentRequest(prompt="hello", vendor_options=options))
    assert "connection 'casedev_default'" in str(caught.value)
    assert not emulator.requests


def test_an_empty_prompt_or_a_session_is_refused_before_any_request(emulator):
    client = CaseDevManagedAgentHook().agent("action_summarize")
    with pytest.raises(ManagedAgentRejected, match="non-empty prompt"):
        client.invoke(ManagedAgentRequest(prompt="  "))
    with pytest.raises(ValueError, match="session_id cannot be honored"):
        client.invoke(ManagedAgentRequest(prompt="hi", session_id="s1"))
    with pytest.raises(ManagedAgentInvocationError, match="not a message list"):
        client.invoke(ManagedAgentRequest(messages=[{"role": "user", "content": "hi"}]))
    assert not emulator.requests


def test_capabilities_are_what_the_apis_offer():
    for client in (CaseDevManagedAgentHook().agent("a1"), CasedManagedAgentHook().agent("cased")):
        caps = client.capabilities
        assert (caps.sessions, caps.usage, caps.structured_output, caps.trace) == (
            False,
            False,
            False,
            True,
        )


# -- Cased agent sessions ------------------------------------------------------------------


def test_a_cased_session_is_started_waited_for_and_reported_honestly(emulator):
    client = CasedManagedAgentHook().agent("cased")
    model, _ = run_agent(
        client,
        "Why did the nightly load fail?",
        vendor_options={"context": {"dag_id": "nightly_load"}, "poll_interval": 0.1},
    )
    [session] = emulator.agent_sessions.values()
    assert session["prompt"] == "Why did the nightly load fail?"
    assert session["context"] == {"dag_id": "nightly_load"}
    link = f"{emulator.url}/agents/{session['session_id']}"
    # Cased returns no answer text: the model is told so, with the link, and nothing more.
    assert model.returns == [
        f"Cased agent session {session['session_id']} ended 'completed'; Cased's API returns "
        f"no answer text: its findings are on the session's page, {link}"
    ]
    polls = emulator.requests_to("GET", f"/api/v1/agent/sessions/{session['session_id']}/")
    assert polls, "waited for the session to end"
    assert client.ref.platform == "cased.agent_sessions" and client.ref.name == "cased"


def test_a_cased_response_carries_the_session(emulator):
    response = (
        CasedManagedAgentHook()
        .agent("cased")
        .invoke(
            ManagedAgentRequest(prompt="Check the deploy", vendor_options={"poll_interval": 0.1})
        )
    )
    assert response.raw["session_id"] == response.trace_ref
    assert response.raw["status"] == "completed"


def test_a_failed_cased_session_is_terminal(emulator):
    client = CasedManagedAgentHook().agent("cased")
    with pytest.raises(ManagedAgentInvocationError, match="ended with status 'failed'") as caught:
        client.invoke(
            ManagedAgentRequest(prompt="[fail] look", vendor_options={"poll_interval": 0.1})
        )
    assert f"{emulator.url}/agents/" in str(caught.value)


def test_a_cased_connection_has_one_agent(emulator):
    with pytest.raises(ManagedAgentInvocationError, match="one agent, 'cased'"):
        CasedManagedAgentHook().agent("other").invoke(ManagedAgentRequest(prompt="hi"))
    assert not emulator.requests
