"""Never start remote work twice: every way of finding work already started lives here.

- The answer to a run's POST was lost (5xx, read timeout, dropped connection):
  the run is looked up by its ``trigger_name`` before the POST is sent again
  (``send_run_request``, used by ``CasedHook.trigger_workflow_run``).
- A task is retried: the run, execution or agent session its earlier try started
  is found in Airflow 3.3's task state store, or (runs, any Airflow) by
  ``trigger_name``, and re-attached to unless it failed (``earlier_run``,
  ``earlier_execution``, ``earlier_session``). Sessions and executions carry no
  label to search by, so before Airflow 3.3 a retry starts them afresh.

Airflow 3.3's ``ResumableJobMixin`` does the state-store half for synchronous
operators only, and resubmits on any status it does not call active, so an
undocumented status would start a duplicate: it is not used here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.compat import Context, get_task_state_store
from airflow_provider_cased.exceptions import CasedApiError
from airflow_provider_cased.states import (
    ACTION_EXECUTION,
    AGENT_SESSION,
    WORKFLOW_RUN,
    RemoteSpec,
)

if TYPE_CHECKING:
    from airflow_provider_cased._http import ApiRequest
    from airflow_provider_cased.hooks.cased import CasedHook
    from airflow_provider_cased.hooks.casedev import CaseDevHook

# A run created up to this long before we asked still counts as ours: clocks differ.
CLOCK_SKEW_SECONDS = 60.0

# Keys in Airflow 3.3's task state store: renaming one breaks re-attachment of in-flight retries.
RUN_STATE_KEY = "cased_workflow_run"
EXECUTION_STATE_KEY = "casedev_execution"
SESSION_STATE_KEY = "cased_agent_session"


def try_number(context: Context) -> int:
    return int(getattr(context["ti"], "try_number", 1) or 1)


def name_for_try(base_name: str, number: int) -> str:
    """After a failed earlier run the name gets the try number, so the lost-answer
    check of this try cannot mistake the old run for the new one."""
    return base_name if number <= 1 else f"{base_name} (try {number})"


def send_run_request(
    hook: CasedHook, request: ApiRequest, workflow_id: str, trigger_name: str | None
) -> dict[str, Any]:
    """Send a run's POST; if its answer is lost, look for the run before sending again.

    Without ``trigger_name`` a lost answer is an error: the run may or may not exist.
    """
    policy = hook.config.policy()
    # Only a run created after the POST first left can be its outcome: an older run with
    # the same name (last week's "nightly") is someone else's.
    first_sent = time.time() - CLOCK_SKEW_SECONDS
    for reconciliations in range(policy.retry_limit + 1):
        try:
            answer: dict[str, Any] = hook.send(request)
            return answer
        except CasedApiError as error:
            if not (error.outcome_unknown and trigger_name):
                raise
            hook.log.warning(
                "The answer to %s %s was lost (%s); looking for a run named %r before "
                "deciding whether to send it again",
                request.method,
                request.path,
                error.status_code or "no answer",
                trigger_name,
            )
            # Give a slow server time to finish what it may still be doing before looking.
            time.sleep(policy.backoff(reconciliations))
            existing = hook.find_run_by_trigger_name(
                workflow_id, trigger_name, created_since=first_sent
            )
            if existing is not None:
                hook.log.info("Run %s was created; using it", existing.get("id"))
                return existing
            if reconciliations == policy.retry_limit:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def earlier_run(
    hook: CasedHook, context: Context, workflow_id: str, base_name: str
) -> dict[str, Any] | None:
    """The run an earlier try of this task instance started, unless it failed."""
    stored = _stored(context, RUN_STATE_KEY)
    if isinstance(stored, dict) and stored.get("workflow_id") == workflow_id:
        run: dict[str, Any] | None = hook.get_workflow_run(workflow_id, str(stored.get("run_id")))
    elif try_number(context) > 1:
        retry_prefix = f"{base_name} (try "
        run = hook.newest_run(
            workflow_id,
            lambda name: name == base_name or name.startswith(retry_prefix),
            # An earlier try of this task instance ran after its DAG run started.
            created_since=_dag_run_started(context),
        )
    else:
        return None
    return _reattachable(WORKFLOW_RUN, run, hook.log)


def earlier_execution(hook: CaseDevHook, context: Context) -> dict[str, Any] | None:
    """On Airflow 3.3+: the execution an earlier try started, unless it failed."""
    execution_id = _stored(context, EXECUTION_STATE_KEY)
    if not execution_id:
        return None
    return _reattachable(ACTION_EXECUTION, hook.get_execution(str(execution_id)), hook.log)


def earlier_session(hook: CasedHook, context: Context) -> dict[str, Any] | None:
    """On Airflow 3.3+: the agent session an earlier try started, unless it failed."""
    session_id = _stored(context, SESSION_STATE_KEY)
    if not session_id:
        return None
    return _reattachable(AGENT_SESSION, hook.get_agent_session(str(session_id)), hook.log)


def remember_session(context: Context, session_id: str) -> None:
    _store(context, SESSION_STATE_KEY, session_id)


def remember_run(context: Context, workflow_id: str, run_id: str) -> None:
    _store(context, RUN_STATE_KEY, {"workflow_id": workflow_id, "run_id": run_id})


def remember_execution(context: Context, execution_id: str) -> None:
    _store(context, EXECUTION_STATE_KEY, execution_id)


def _dag_run_started(context: Context) -> float | None:
    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
    timestamp = getattr(started, "timestamp", None)
    return timestamp() - CLOCK_SKEW_SECONDS if callable(timestamp) else None


def _stored(context: Context, key: str) -> Any:
    store = get_task_state_store(context)
    return store.get(key) if store is not None else None


def _store(context: Context, key: str, value: Any) -> None:
    store = get_task_state_store(context)
    if store is not None:
        store.set(key, value)


def _reattachable(spec: RemoteSpec, answer: dict[str, Any] | None, log: Any) -> Any:
    if answer is None:
        return None
    state = spec.state(answer)
    remote_id = answer.get("id") or answer.get("execution_id") or answer.get("session_id")
    if state.is_terminal and not state.is_successful:
        log.warning(
            "The %s %s started by an earlier try ended %r; starting a new one",
            spec.label,
            remote_id,
            state.status,
        )
        return None
    log.info(
        "Re-attaching to %s %s (status %r) started by an earlier try",
        spec.label,
        remote_id,
        state.status,
    )
    return answer
