"""Approval before acting, and review of a case.dev output (Airflow 3.1+ human-in-the-loop).

The DAGs run with ``dag.test()``; a person's answer comes from another thread through
Airflow's own REST API (``PATCH .../hitlDetails``, the call the Required Actions page
makes), served in process by Airflow's FastAPI app. On 3.3 the task waits in
``awaiting_input`` (dag.test() keeps the run alive until the answer flips it back); on
3.1-3.2 it defers to ``HITLTrigger``, which dag.test() runs in process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

import pytest

from airflow_provider_cased.approval import Approval

_AIRFLOW = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
HAS_HITL = _AIRFLOW >= (3, 1)
AWAITING_INPUT_STATE = _AIRFLOW >= (3, 3)

# An answered run ends within seconds; past this, the reviewer records why it did not.
ANSWERED_RUN_ENDS_WITHIN = 60.0

pytestmark = [
    pytest.mark.usefixtures("airflow_db"),
    # dag.test() catches what the default (signal) timeout raises while a task awaits
    # input; the thread method ends a stuck test for sure (its worker, with stacks).
    pytest.mark.timeout(240, method="thread"),
]


def test_require_approval_before_3_1_names_the_version_at_parse_time():
    from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator

    if HAS_HITL:
        op = CasedWorkflowRunOperator(task_id="t", workflow_id="wf", require_approval=True)
        assert op.approval == Approval()
        return
    with pytest.raises(ValueError, match=r"needs Airflow 3\.1\+ \(human-in-the-loop\)"):
        CasedWorkflowRunOperator(task_id="t", workflow_id="wf", require_approval=True)


def test_approval_arguments_are_checked_at_parse_time():
    with pytest.raises(ValueError, match="on_timeout must be one of fail, skip"):
        Approval(on_timeout="ignore")
    with pytest.raises(ValueError, match="timeout must be"):
        Approval(timeout=-1)
    assert Approval(assigned_users="ann").users == ({"id": "ann", "name": "ann"},)
    if not HAS_HITL:
        return
    from airflow_provider_cased.operators.casedev import CaseDevActionOperator

    with pytest.raises(ValueError, match="not both"):
        CaseDevActionOperator(
            task_id="t", action_id="a", input={}, require_approval=True, review_output=True
        )
    with pytest.raises(ValueError, match="review_output needs wait_for_completion"):
        CaseDevActionOperator(
            task_id="t", action_id="a", input={}, review_output=True, wait_for_completion=False
        )


# -- real DAG runs: needs Airflow 3.1+ --------------------------------------------------

needs_hitl = pytest.mark.skipif(not HAS_HITL, reason="human-in-the-loop needs Airflow 3.1+")


@pytest.fixture(scope="module")
def bag(airflow_db):
    from airflow_provider_cased.compat import dag_bag

    return dag_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="module")
def rest_api():
    """Airflow's REST API in process (all users admins, as in a dev deployment)."""
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    from airflow.api_fastapi.app import create_app
    from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
    from fastapi.testclient import TestClient

    class Client(TestClient):
        def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            # The token the UI gets in this mode (3.3 also lets a request in without it; 3.1
            # does not), made per request: dag.test() on 3.1 sets up its own in-process
            # execution API meanwhile, after which an earlier token no longer validates.
            token = SimpleAuthManagerLogin.create_token_all_admins()
            kwargs["headers"] = {
                **(kwargs.get("headers") or {}),
                "Authorization": f"Bearer {token}",
            }
            return super().request(*args, **kwargs)

    with Client(create_app(apps="core")) as client:
        yield client


# 3.1-3.2: answers handed to the in-process HITLTrigger, by task instance id (see below).
TRIGGER_ANSWERS: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def hitl_trigger_answers(monkeypatch):
    """dag.test() on 3.1-3.2 runs HITLTrigger in process, but its in-process supervisor does
    not serve the trigger's ``GetHITLDetailResponse`` ("Unhandled request"; the triggerer's
    does), and the run's open SQLite transaction keeps a REST answer from being committed
    meanwhile. So there the person's answer reaches the trigger through this stand-in for
    the execution API's answer; on 3.3 it goes through the REST API."""
    if not HAS_HITL or AWAITING_INPUT_STATE:
        return
    from airflow.sdk.api.datamodels._generated import HITLDetailResponse

    def get_hitl_detail_content_detail(ti_id):
        answer = TRIGGER_ANSWERS.get(str(ti_id))
        if answer is None:
            return HITLDetailResponse(response_received=False)
        return HITLDetailResponse(response_received=True, **answer)

    monkeypatch.setattr(
        "airflow.providers.standard.triggers.hitl.get_hitl_detail_content_detail",
        get_hitl_detail_content_detail,
    )
    TRIGGER_ANSWERS.clear()


# How long after a task parks a person answers at the soonest (see Reviewer._run).
PERSON_ANSWERS_AFTER = 2.0


class Reviewer(threading.Thread):
    """Waits until the task asks, notes what was sent by then, then answers via the REST API."""

    def __init__(
        self,
        rest_api: Any,
        emulator: Any,
        dag_id: str,
        task_id: str,
        answer: list[str] | None,
        params_input: dict[str, Any] | None = None,
        sweep_timeouts: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.api = rest_api
        self.emulator = emulator
        self.dag_id, self.task_id = dag_id, task_id
        self.answer, self.params_input = answer, params_input
        self.sweep_timeouts = sweep_timeouts
        self.asked: dict[str, Any] | None = None
        self.posts_before_answer: int | None = None
        self.error: BaseException | None = None
        self.dag_run_ended = threading.Event()
        self.since = datetime.now(timezone.utc) - timedelta(seconds=5)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self._fail_the_task()

    def _fail_the_task(self) -> None:
        """Unanswered, dag.test() would wait on the question for ever: fail the task."""
        runs = self.api.get(f"/api/v2/dags/{self.dag_id}/dagRuns", params={"state": "running"})
        for run in runs.json().get("dag_runs", []) if runs.status_code == 200 else []:
            self.api.patch(
                f"/api/v2/dags/{self.dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/"
                f"{self.task_id}",
                json={"new_state": "failed"},
            )

    def _pending(self) -> dict[str, Any] | None:
        got = self.api.get(
            f"/api/v2/dags/{self.dag_id}/dagRuns/~/hitlDetails",
            params={"task_id": self.task_id, "response_received": "false"},
        )
        if got.status_code != 200:  # e.g. SQLite busy while the task writes: ask again
            print("hitlDetails:", got.status_code, got.text[:300], file=sys.stderr)
            return None
        details = got.json().get("hitl_details") or []
        # 3.3: awaiting_input. 3.1-3.2: deferred, or still running while dag.test() runs
        # the trigger in process.
        done = ("success", "failed", "skipped", "upstream_failed")

        def asking(state: str) -> bool:
            # On 3.3 the request is written a moment before the task parks in
            # awaiting_input; an answer in between is Airflow's own race (HITLOperator's
            # too), not what a person in the UI meets: answer a parked task.
            return state == "awaiting_input" if AWAITING_INPUT_STATE else state not in done

        waiting = [
            d
            for d in details
            if asking(d["task_instance"]["state"])
            # not a request of an earlier, interrupted test session
            and datetime.fromisoformat(d["created_at"].replace("Z", "+00:00")) >= self.since
        ]
        return waiting[0] if waiting else None

    def _run(self) -> None:
        deadline = time.monotonic() + 90
        while (detail := self._pending()) is None:
            assert not self.dag_run_ended.is_set(), "the DAG run ended without asking anyone"
            assert time.monotonic() < deadline, "the task never asked"
            time.sleep(0.3)
        if AWAITING_INPUT_STATE:
            # A person answers seconds after the request shows up, not within milliseconds:
            # on 3.4.0b2 an answer 0.2 s after the task parked was recorded, yet the task
            # stayed in awaiting_input and never resumed (1 run in 3; likely dag.test()'s
            # in-process runner still finishing the parking). 8 of 8 passed after this.
            time.sleep(PERSON_ANSWERS_AFTER)
            while (detail := self._pending()) is None:
                assert time.monotonic() < deadline, "the task stopped asking"
                time.sleep(0.3)
        self.asked = detail
        self.posts_before_answer = len(self.emulator.requests_to("POST", "/"))
        if self.answer is None:
            if self.sweep_timeouts and AWAITING_INPUT_STATE:
                self._sweep_until_resumed()
            return
        ti = detail["task_instance"]
        if not AWAITING_INPUT_STATE:
            TRIGGER_ANSWERS[str(ti["id"])] = {
                "chosen_options": self.answer,
                "params_input": self.params_input or {},
                "responded_at": datetime.now(timezone.utc),
                "responded_by_user": {"id": "admin", "name": "admin"},
            }
            return
        answered = self.api.patch(
            f"/api/v2/dags/{self.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/"
            f"{self.task_id}/{ti['map_index']}/hitlDetails",
            json={"chosen_options": self.answer, "params_input": self.params_input or {}},
        )
        assert answered.status_code == 200, answered.text
        if not self.dag_run_ended.wait(ANSWERED_RUN_ENDS_WITHIN):
            raise AssertionError(self._why_still_running(ti))

    def _why_still_running(self, ti: dict[str, Any]) -> str:
        """The task's state and every thread's stack, in a file that outlives a killed
        test worker (``.ci/run`` prints the folder when CI fails)."""
        state = self.api.get(
            f"/api/v2/dags/{self.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/{self.task_id}"
        )
        detail = self.api.get(
            f"/api/v2/dags/{self.dag_id}/dagRuns/{ti['dag_run_id']}/taskInstances/"
            f"{self.task_id}/-1/hitlDetails"
        )
        posts = len(self.emulator.requests_to("POST", "/api/v1/workflows/"))
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        stacks = "\n".join(
            f"--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame))
            for ident, frame in sys._current_frames().items()
        )
        report = (
            f"{self.dag_id}.{self.task_id}: the DAG run had not ended "
            f"{ANSWERED_RUN_ENDS_WITHIN:.0f} s after the answer {self.answer}.\n"
            f"task instance: {state.status_code} {state.text[:2000]}\n"
            f"its request: {detail.status_code} {detail.text[:2000]}\n"
            f"workflow-run POSTs the emulator saw: {posts}\n\n{stacks}"
        )
        folder = os.environ.get("CASED_TEST_DIAGNOSTICS") or os.path.join(
            tempfile.gettempdir(), "cased-test-diagnostics"
        )
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"approval-{self.dag_id}-{self.task_id}-{os.getpid()}.txt")
        with open(path, "w", encoding="utf-8") as file:
            file.write(report)
        return f"{report.splitlines()[0]} Task state and stacks: {path}"

    def _sweep_until_resumed(self) -> None:
        # dag.test() has no scheduler: on 3.3 run the scheduler's own awaiting_input timeout
        # sweep (3.1-3.2's HITLTrigger keeps the deadline itself, in process).
        import logging

        from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
        from airflow.utils.session import create_session

        class Runner:
            log = logging.getLogger("sweep")

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._pending() is not None:
            with create_session() as session:
                SchedulerJobRunner.check_awaiting_input_timeouts(Runner(), session=session)  # type: ignore[arg-type]
            time.sleep(0.5)


def run_answered(bag, rest_api, emulator, dag_id, task_id, answer, **kwargs):
    reviewer = Reviewer(rest_api, emulator, dag_id, task_id, answer, **kwargs)
    reviewer.start()
    dag = bag.get_dag(dag_id)
    assert dag is not None, bag.import_errors
    try:
        dag_run = dag.test()
    finally:
        reviewer.dag_run_ended.set()
    reviewer.join(30)
    if reviewer.error is not None:
        raise reviewer.error
    states = {
        ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()
    }
    return str(getattr(dag_run.state, "value", dag_run.state)), states, reviewer


@pytest.fixture(params=[False, True], ids=["sync-wait", "deferrable"])
def deferrable(request, monkeypatch):
    monkeypatch.setenv("CASED_TEST_DEFERRABLE", "1" if request.param else "0")
    return request.param


@needs_hitl
def test_approved_run_is_started_once_after_the_answer(bag, rest_api, emulator, deferrable):
    state, tasks, reviewer = run_answered(
        bag, rest_api, emulator, "t_approve_run", "run", ["Approve"]
    )
    assert (state, tasks) == ("success", {"run": "success"})
    assert reviewer.posts_before_answer == 0
    assert len(emulator.requests_to("POST", "/api/v1/workflows/")) == 1
    [run] = emulator.runs.values()
    assert run["context"] == {"ticket": "OPS-7"}
    # The person saw the workflow and the rendered request, never the API key.
    asked = reviewer.asked
    assert asked is not None
    assert "wf_weekly_cost_review" in asked["subject"]
    assert '"ticket": "OPS-7"' in asked["body"]
    assert run["trigger_name"] in asked["body"]
    assert "/api/v1/workflows/wf_weekly_cost_review/runs/" in asked["body"]
    assert emulator.api_key not in asked["body"]
    assert asked["options"] == ["Approve", "Reject"]
    if AWAITING_INPUT_STATE:
        assert asked["task_instance"]["state"] == "awaiting_input"


@needs_hitl
def test_rejected_run_sends_nothing_and_fails(bag, rest_api, emulator, logs):
    state, tasks, _ = run_answered(bag, rest_api, emulator, "t_approve_run", "run", ["Reject"])
    assert (state, tasks) == ("failed", {"run": "failed"})
    assert emulator.requests_to("POST", "/") == []
    assert "rejected the request; nothing was sent" in logs()


@needs_hitl
def test_reject_can_skip_instead(bag, rest_api, emulator):
    _, tasks, _ = run_answered(bag, rest_api, emulator, "t_approve_run_skip", "run", ["Reject"])
    assert tasks == {"run": "skipped"}
    assert emulator.requests_to("POST", "/") == []


@needs_hitl
def test_unanswered_approval_times_out_and_skips(bag, rest_api, emulator, logs):
    _, tasks, _ = run_answered(
        bag, rest_api, emulator, "t_approve_run_skip", "run", None, sweep_timeouts=True
    )
    assert tasks == {"run": "skipped"}
    assert emulator.requests_to("POST", "/") == []
    assert "Nobody answered the request approval" in logs()


@needs_hitl
@pytest.mark.parametrize(
    ("dag_id", "task_id", "path"),
    [
        ("t_approve_session", "session", "/api/v1/agent/sessions/"),
        ("t_approve_deploy", "deploy", "/api/v1/deployments/"),
        ("t_approve_action", "act", "/actions/v1/action_summarize/execute"),
    ],
)
def test_every_operator_asks_before_its_post(bag, rest_api, emulator, dag_id, task_id, path):
    state, tasks, reviewer = run_answered(bag, rest_api, emulator, dag_id, task_id, ["Approve"])
    assert state == "success", tasks
    assert reviewer.posts_before_answer == 0
    assert len(emulator.requests_to("POST", path)) == 1
    body = (reviewer.asked or {})["body"]
    assert path in body
    assert emulator.api_key not in body
    if dag_id == "t_approve_session":
        assert "Why did t_approve_session fail?" in body  # rendered
    if dag_id == "t_approve_deploy":
        assert body.startswith("Ship it?")
        assert reviewer.asked["assigned_users"] == [{"id": "admin", "name": "admin"}]
    if dag_id == "t_approve_action":
        # The 10,000-character input is summarised and cut, not pasted whole.
        assert "`doc`: string, 10,000 characters" in body
        assert "characters shown)" in body
        assert len(body) < 6000


@needs_hitl
def test_a_decorated_task_asks_and_sends_the_approved_request(bag, rest_api, emulator):
    state, tasks, reviewer = run_answered(
        bag, rest_api, emulator, "t_approve_decorated", "act", ["Approve"]
    )
    assert (state, tasks) == ("success", {"act": "success"})
    assert reviewer.posts_before_answer == 0
    [sent] = emulator.requests_to("POST", "/actions/v1/action_summarize/execute")
    assert sent.json["input"] == {"doc": "contract"}
    assert "contract" in (reviewer.asked or {})["body"]


@needs_hitl
def test_a_request_that_changed_after_approve_is_not_sent(bag, rest_api, emulator, logs):
    state, tasks, _ = run_answered(
        bag, rest_api, emulator, "t_approve_changed_request", "act", ["Approve"]
    )
    assert (state, tasks) == ("failed", {"act": "failed"})
    assert emulator.requests_to("POST", "/") == []
    assert "is not the request the person approved" in logs()


@needs_hitl
@pytest.mark.parametrize(
    ("answer", "params_input", "expected"),
    [
        (["Approve"], None, "original"),
        (["Approve edited output"], {"output": {"summary": "edited by a person"}}, "edited"),
        (["Reject"], None, "rejected"),
    ],
)
def test_review_of_a_casedev_output(bag, rest_api, emulator, answer, params_input, expected):
    state, tasks, reviewer = run_answered(
        bag, rest_api, emulator, "t_review_output", "act", answer, params_input=params_input
    )
    # The output was reviewed after the execution: one POST before the answer, none after.
    assert reviewer.posts_before_answer == 1
    assert len(emulator.requests_to("POST", "/actions/v1/")) == 1
    assert reviewer.asked is not None and "Approve edited output" in reviewer.asked["options"]
    from airflow.sdk.execution_time.xcom import XCom  # noqa: F401  (Airflow 3.1+)

    if expected == "rejected":
        assert tasks["act"] == "failed"
        assert tasks["downstream"] == "upstream_failed"
        return
    assert state == "success", tasks
    [execution] = emulator.executions.values()
    dag_run_output = _downstream_value(bag, "t_review_output")
    if expected == "edited":
        assert dag_run_output["output"] == {"summary": "edited by a person"}
    else:
        assert dag_run_output["output"] == execution["output"]


def _downstream_value(bag, dag_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel)
            .where(XComModel.dag_id == dag_id, XComModel.task_id == "downstream")
            .order_by(XComModel.timestamp.desc())
        ).first()
        assert row is not None
        import json

        value = row.value
        return json.loads(value) if isinstance(value, str) else value
