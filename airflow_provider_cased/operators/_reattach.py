"""Re-attach, don't restart: a retried task finds the work its earlier try started.

(A run's POST whose response was lost is the hook's business:
``CasedHook.send_run_request`` looks the run up by its ``trigger_name``.)

- A task is retried: the run, execution or agent session its earlier try started
  is found in Airflow 3.3's task state store, or (runs, any Airflow) by
  ``trigger_name``, and re-attached to unless it failed (``earlier_run``,
  ``earlier_execution_or_session``). Sessions and executions carry no
  label to search by, so before Airflow 3.3 a retry starts them afresh.
- A person cleared the task (whether it had succeeded, failed or was still waiting):
  its next try starts new work, as a clear asks; only retries re-attach
  (``starts_anew``).

Work a person abandoned is never re-attached to (Airflow 3.3): marking a waiting task
failed or successful, or clearing it, leaves the remote work running (neither API can
cancel it), so the stored entry gets the one extra state ``abandoned`` and the next try
starts anew. Who records it: the operator's ``on_kill`` for a wait in a worker; for a
wait in the triggerer (whose triggers cannot write the task state store), the next try,
which finds its entry still marked ``deferred`` (handed to the triggerer and never
resumed: only a person ends a deferred try that way; a triggerer restart does not end
it, and the trigger's own deadline resumes it with a ``timeout`` event).

Airflow 3.3's ``ResumableJobMixin`` does the state-store half for synchronous
operators only, and resubmits on any status it does not call active, so an
undocumented status would start a duplicate: it is not used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_cased.compat import Context
from airflow_provider_cased.states import (
    ACTION_EXECUTION,
    AGENT_SESSION,
    WORKFLOW_RUN,
    RemoteSpec,
)

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.cased import CasedHook

# Keys in Airflow 3.3's task state store: renaming one breaks re-attachment of in-flight retries.
RUN_STATE_KEY = "cased_workflow_run"
EXECUTION_STATE_KEY = "casedev_execution"
SESSION_STATE_KEY = "cased_agent_session"
STATE_KEYS = {
    WORKFLOW_RUN.kind: RUN_STATE_KEY,
    ACTION_EXECUTION.kind: EXECUTION_STATE_KEY,
    AGENT_SESSION.kind: SESSION_STATE_KEY,
}
# The phase of a stored entry (none: started by a try, which may still be waiting on it).
DEFERRED = "deferred"  # its wait was handed to the triggerer
ABANDONED = "abandoned"  # a person ended the task while it waited: never re-attach


def try_number(context: Context) -> int:
    return int(getattr(context["ti"], "try_number", 1) or 1)


def name_for_try(base_name: str, context: Context) -> str:
    """After a failed earlier run the name gets the try number, so the lost-response
    check of this try cannot mistake the old run for the new one."""
    number = try_number(context)
    return base_name if number <= 1 else f"{base_name} (try {number})"


def starts_anew(context: Context) -> bool:
    """This try is the first of the DAG run, or the first since a person cleared the task:
    it starts new work. Only a retry re-attaches. Airflow's own test (a sensor's first
    reschedule date): a clear sets ``max_tries`` to the tries so far plus ``retries``."""
    max_tries = getattr(context["ti"], "max_tries", None)
    retries = getattr(context.get("task"), "retries", None)
    first = 1
    if isinstance(max_tries, int) and isinstance(retries, int):
        first = max(1, max_tries - retries + 1)
    return try_number(context) <= first


def earlier_run(
    hook: CasedHook, context: Context, workflow_id: str, base_name: str
) -> dict[str, Any] | None:
    """The run an earlier try of this task instance started, unless it failed."""
    stored = _stored(context, RUN_STATE_KEY)
    if isinstance(stored, dict) and _abandoned(context, WORKFLOW_RUN, stored, hook.log):
        return None
    if _cleared(context, WORKFLOW_RUN, stored, hook.log):
        return None
    if isinstance(stored, dict) and stored.get("workflow_id") == workflow_id:
        run: dict[str, Any] | None = hook.get_workflow_run(workflow_id, str(stored.get("run_id")))
    else:
        retry_prefix = f"{base_name} (try "
        run = hook.newest_run(
            workflow_id,
            lambda name: name == base_name or name.startswith(retry_prefix),
            # An earlier try of this task instance ran after its DAG run started.
            created_since=_dag_run_started(context),
        )
    return _reattachable(WORKFLOW_RUN, run, hook.log)


def earlier_execution_or_session(
    context: Context, spec: RemoteSpec, read: Callable[[str], dict[str, Any]], log: Any
) -> dict[str, Any] | None:
    """On Airflow 3.3+: the action execution or agent session an earlier try started,
    unless it failed. ``read`` is the hook method that reads one by its id."""
    entry = _entry(context, STATE_KEYS[spec.kind])
    if entry is None or _abandoned(context, spec, entry, log):
        return None
    if _cleared(context, spec, entry, log):
        return None
    return _reattachable(spec, read(str(entry["id"])), log)


def remember(context: Context, spec: RemoteSpec, ids: dict[str, str]) -> None:
    """Store what this try started: a run's ids, or (as before) a bare execution/session id."""
    _store(context, STATE_KEYS[spec.kind], ids if len(ids) > 1 else spec.remote_id(ids))


def _entry(context: Context, key: str) -> dict[str, Any] | None:
    """The stored entry as a dict (executions and sessions were stored as a bare id)."""
    return _as_entry(_stored(context, key))


def _as_entry(stored: Any) -> dict[str, Any] | None:
    if isinstance(stored, str) and stored:
        return {"id": stored}
    if isinstance(stored, dict) and (stored.get("id") or stored.get("run_id")):
        entry = dict(stored)
        entry.setdefault("id", entry.get("run_id"))
        return entry
    return None


def _set_phase(context: Context, spec: RemoteSpec, phase: str | None) -> dict[str, Any] | None:
    key = STATE_KEYS[spec.kind]
    entry = _entry(context, key)
    if entry is None:
        return None
    if phase is None:
        entry.pop("phase", None)
    else:
        entry["phase"] = phase
    _store(context, key, entry)
    return entry


def waiting_in_triggerer(context: Context, spec: RemoteSpec, link: str) -> None:
    """Before deferring: if this try never resumes, a person ended it (see module doc)."""
    entry = _set_phase(context, spec, DEFERRED)
    if entry is not None and link:
        entry["link"] = link
        _store(context, STATE_KEYS[spec.kind], entry)


def resumed(context: Context, spec: RemoteSpec) -> None:
    """The trigger's event reached the task: the try ended the wait on its own."""
    _set_phase(context, spec, None)


def abandon(
    context: Context, spec: RemoteSpec, remote_id: str, link: str, log: Any, why: str
) -> None:
    """Say which remote work is left running, and (3.3) never re-attach to it."""
    log.warning(
        "Abandoned %s %s: %s (%s). It keeps running: neither API can cancel it. A cleared "
        "or retried task starts a new one.",
        spec.label,
        remote_id,
        link or "no web page",
        why,
    )
    key = STATE_KEYS[spec.kind]
    entry = _entry(context, key)
    if entry is not None and str(entry.get("id")) == str(remote_id):
        entry["phase"] = ABANDONED
        entry["abandoned_link"] = link
        _store(context, key, entry)


def _abandoned(context: Context, spec: RemoteSpec, stored: dict[str, Any], log: Any) -> bool:
    """True when an earlier try's work was abandoned by a person (recorded now if the
    earlier try was still marked as waiting in the triggerer)."""
    entry = dict(stored)
    remote_id = entry.get("id") or entry.get("run_id")
    if entry.get("phase") == DEFERRED:
        abandon(
            context,
            spec,
            str(remote_id),
            str(entry.get("link") or ""),
            log,
            "an earlier try was ended by a person (marked failed/success or cleared) "
            "while the triggerer waited on it",
        )
        return True
    if entry.get("phase") == ABANDONED:
        log.warning(
            "Not re-attaching to %s %s: a person abandoned it in an earlier try (%s); "
            "starting a new one",
            spec.label,
            remote_id,
            entry.get("abandoned_link") or "no web page",
        )
        return True
    return False


def _cleared(context: Context, spec: RemoteSpec, stored: Any, log: Any) -> bool:
    """True when this try starts anew; says so when an earlier try's work is on record."""
    if not starts_anew(context):
        return False
    entry = _as_entry(stored)
    if entry is not None:
        log.info(
            "Not re-attaching to %s %s of an earlier try: the task was cleared, so it "
            "starts a new one",
            spec.label,
            entry["id"],
        )
    return True


def _dag_run_started(context: Context) -> float | None:
    from airflow_provider_cased.hooks.cased import CLOCK_SKEW_SECONDS

    dag_run = context.get("dag_run")
    started = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
    timestamp = getattr(started, "timestamp", None)
    return timestamp() - CLOCK_SKEW_SECONDS if callable(timestamp) else None


def _task_state_store(context: Context) -> Any | None:
    """The per-task-instance key/value store that survives retries (Airflow 3.3+), else None."""
    try:
        return context.get("task_state_store")
    except AttributeError:
        return None


def _stored(context: Context, key: str) -> Any:
    store = _task_state_store(context)
    return store.get(key) if store is not None else None


def _store(context: Context, key: str, value: Any) -> None:
    store = _task_state_store(context)
    if store is not None:
        store.set(key, value)


def _reattachable(spec: RemoteSpec, response: dict[str, Any] | None, log: Any) -> Any:
    if response is None:
        return None
    state = spec.state(response)
    remote_id = response.get("id") or response.get("execution_id") or response.get("session_id")
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
    return response
