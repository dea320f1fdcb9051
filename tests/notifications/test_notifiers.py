"""Notifiers called the way Airflow calls callbacks: defaults from the context; never raise."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_cased.notifications.cased import (
    CasedAgentSessionNotifier,
    CasedDeploymentNotifier,
)
from airflow_provider_cased.testing import Fault

pytestmark = pytest.mark.usefixtures("emulator")


def callback_context(state: str, exception: Exception | None = None) -> dict:
    ti = SimpleNamespace(
        dag_id="deploys",
        task_id="rollout",
        run_id="manual__1",
        try_number=2,
        state=state,
        log_url="http://airflow.local/log?x=1",
    )
    dag_run = SimpleNamespace(dag_id="deploys", run_id="manual__1", state="running")
    return {"ti": ti, "dag_run": dag_run, "exception": exception}


@pytest.mark.parametrize(("state", "status"), [("success", "success"), ("failed", "failure")])
def test_deployment_notifier_defaults_from_the_callback(emulator, state, status):
    notifier = CasedDeploymentNotifier(deployment_request="Deploy checkout")
    notifier.notify(callback_context(state))
    [event] = emulator.deployments.values()
    assert event["deployment_status"] == status
    assert event["external_url"] == "http://airflow.local/log?x=1"
    assert event["event_metadata"] == {
        "dag_id": "deploys",
        "run_id": "manual__1",
        "task_id": "rollout",
        "try_number": 2,
        "state": state,
    }


def test_explicit_fields_win_over_defaults(emulator):
    CasedDeploymentNotifier(
        deployment_request="d",
        status="cancelled",
        external_url="https://ci/1",
        event_metadata={"k": 1},
    ).notify(callback_context("failed"))
    [event] = emulator.deployments.values()
    assert (event["deployment_status"], event["external_url"], event["event_metadata"]) == (
        "cancelled",
        "https://ci/1",
        {"k": 1},
    )


def test_unknown_deployment_fields_are_refused_by_name(emulator):
    # The fields arrive as **fields (one declaration): a misspelt one must still fail.
    with pytest.raises(TypeError, match="statuss"):
        CasedDeploymentNotifier(deployment_request="d", statuss="success")  # type: ignore[call-arg]
    assert emulator.requests == []


def test_agent_session_notifier_sends_the_error(emulator):
    CasedAgentSessionNotifier(prompt="Why did it fail?").notify(
        callback_context("failed", RuntimeError("disk full"))
    )
    [session] = emulator.agent_sessions.values()
    assert session["context"]["error"] == "disk full"
    assert session["context"]["task_id"] == "rollout"


@pytest.mark.usefixtures("fast_retries")
def test_a_failing_notifier_logs_and_never_raises(emulator, logs):
    emulator.inject(Fault(method="POST", status=500, times=0))
    CasedDeploymentNotifier(deployment_request="d").notify(callback_context("success"))
    CasedAgentSessionNotifier(prompt="p").notify(callback_context("failed"))
    text = logs()
    assert "Could not send the Cased deployment notification" in text
    assert "Could not start the Cased agent session" in text


def test_notifiers_can_be_awaited_as_deadline_alert_callbacks(emulator):
    """Airflow 3.1+ Deadline Alerts run callbacks in the triggerer: ``await Notifier(...)``."""
    import asyncio
    from types import SimpleNamespace

    from airflow_provider_cased.compat import AIRFLOW_VERSION
    from airflow_provider_cased.notifications.cased import (
        CasedAgentSessionNotifier,
        CasedDeploymentNotifier,
    )

    # Deadline alerts (and an awaitable BaseNotifier) arrived in 3.1; 3.0's is not awaitable.
    has_deadline_alerts = tuple(int(p) for p in AIRFLOW_VERSION.split(".")[:2]) >= (3, 1)

    context = {"dag_run": SimpleNamespace(dag_id="d", run_id="r", state="running")}

    async def both():
        deploy = CasedDeploymentNotifier(deployment_request="Deadline missed", context=context)
        session = CasedAgentSessionNotifier(prompt="Why is d late?", context=context)
        if has_deadline_alerts:  # what the triggerer's callback runner does
            await deploy
            await session
        else:  # 2.11 and 3.0 have no deadline alerts; the coroutine still works
            await deploy.async_notify(context)
            await session.async_notify(context)

    asyncio.run(both())
    [deployment] = emulator.deployments.values()
    assert deployment["deployment_request"] == "Deadline missed"
    assert deployment["deployment_status"] == "running"
    [session] = emulator.agent_sessions.values()
    assert session["prompt"] == "Why is d late?" and session["context"]["dag_id"] == "d"
