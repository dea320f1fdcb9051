"""Event-driven scheduling on Cased workflow runs (Airflow 3 ``AssetWatcher``).

``CasedWorkflowRunEventTrigger`` (exported by ``triggers.cased``) watches one workflow's
runs and yields one ``TriggerEvent`` per run that reaches one of the watched statuses:

- history is never replayed: runs that ended before the watcher first started are
  no events (the watermark starts at that moment);
- on Airflow 3.3 the watermark lives in the watched asset's state store, so a
  restarted triggerer neither re-emits nor misses runs that ended while it was down;
  before 3.3 it lives in memory and starts afresh with the triggerer;
- siblings watching the same workflow on one connection (same poll interval) share one
  poll through 3.3's shared streams; before 3.3 each polls on its own;
- it runs for months: transient API trouble is waited out with backoff (logged once
  per outage), a response that cannot heal (401/403/404) is logged as an error every
  few minutes, and neither ends the watcher.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_cased._http import iso_timestamp
from airflow_provider_cased._request_bodies import positive_number, required_str
from airflow_provider_cased._waiting import trouble_backoff
from airflow_provider_cased.compat import BaseEventTrigger, TriggerEvent
from airflow_provider_cased.exceptions import CasedApiError
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.states import FAILURE_SPELLINGS, WorkflowRunStatus

log = logging.getLogger(__name__)

CLASSPATH = "airflow_provider_cased.triggers.cased.CasedWorkflowRunEventTrigger"
DEFAULT_STATUSES = ("completed", "failed", "cancelled")
# A run that takes longer than this from creation to its end is not looked for: the
# list is read (newest first) only back to runs created this long before the watermark.
LOOKBACK_SECONDS = 24 * 3600.0
# Runs whose end is at most this far behind the newest end seen stay remembered, so one
# that lands in the list late (a slow write) is still emitted, and only once.
OVERLAP_SECONDS = 600.0
# How often a response that cannot heal (401/403/404) is logged while it lasts.
ERROR_LOG_EVERY_SECONDS = 300.0
MAX_PAGES = 20
WATERMARK_KEY = "cased_workflow_run_watermark"


def _ended_at(run: dict[str, Any]) -> float | None:
    return iso_timestamp(run.get("ended_at")) or iso_timestamp(run.get("updated_at"))


async def poll_runs(
    conn_id: str, workflow_id: str, poll_interval: float
) -> AsyncIterator[list[Any]]:
    """Every ``poll_interval``: the runs of a workflow created within the look-back, forever."""
    hook = CasedHook(conn_id)
    failed_polls = 0
    trouble_since: float | None = None
    last_error_log = float("-inf")
    await asyncio.sleep(random.uniform(0, poll_interval))  # siblings do not poll in lockstep
    while True:
        try:
            snapshot = await _snapshot(hook, workflow_id)
        except Exception as error:  # never ends the watcher: it must run for months
            failed_polls += 1
            transient = isinstance(error, CasedApiError) and error.transient
            now = time.time()
            if transient:
                if trouble_since is None:
                    trouble_since = now
                    log.warning(
                        "Watching workflow %s: the API gives no usable answer (%s); still "
                        "watching, polling again with backoff",
                        workflow_id,
                        error,
                    )
                await asyncio.sleep(trouble_backoff(poll_interval, failed_polls, error))
            else:
                if now - last_error_log >= ERROR_LOG_EVERY_SECONDS:
                    last_error_log = now
                    log.error(
                        "Watching workflow %s failed and will be retried every %.0f s: %s",
                        workflow_id,
                        poll_interval,
                        error,
                    )
                await asyncio.sleep(poll_interval)
            continue
        if trouble_since is not None:
            log.warning(
                "Watching workflow %s: the API answers again after %.0f s",
                workflow_id,
                time.time() - trouble_since,
            )
            trouble_since = None
        failed_polls = 0
        yield snapshot
        await asyncio.sleep(poll_interval)


async def _snapshot(hook: CasedHook, workflow_id: str) -> list[dict[str, Any]]:
    oldest_wanted = time.time() - LOOKBACK_SECONDS
    runs: list[dict[str, Any]] = []
    async for run in hook.a_list_workflow_runs(workflow_id, retry=False):
        created = iso_timestamp(run.get("created_at"))
        # Newest first in practice: past the look-back nothing further can have just ended.
        if created is not None and created < oldest_wanted and runs:
            break
        link = hook.session_url(str(run["session_id"])) if run.get("session_id") else ""
        runs.append({**run, "link": link})
        if len(runs) >= MAX_PAGES * 100:
            break
    return runs


def make_event_trigger_class() -> type:
    """Build the class on Airflow 3 (its base class does not exist on 2.11)."""

    class CasedWorkflowRunEventTrigger(BaseEventTrigger):  # type: ignore[misc,valid-type]
        """Fires when a run of a Cased workflow reaches one of ``statuses``.

        Use it in an ``AssetWatcher`` to schedule a DAG on Cased work that Airflow did
        not start (Airflow 3 only)::

            Asset("cased_review_failed", watchers=[AssetWatcher(
                name="review_failed",
                trigger=CasedWorkflowRunEventTrigger(workflow_id="wf_…", statuses=["failed"]),
            )])

        :param workflow_id: the workflow whose runs to watch.
        :param statuses: the statuses that make an event (default: any end).
        :param conn_id: the ``cased`` connection.
        :param cased_conn_id: the same, under the name the operators use.
        :param poll_interval: seconds between polls (default 60).

        Each event's payload is the run: ``workflow_id``, ``run_id``, ``status``,
        ``trigger_name``, ``session_id``, ``link``, ``created_at``, ``ended_at``. A DAG
        reads it from ``triggering_asset_events[asset][i].extra["payload"]``.
        """

        def __init__(
            self,
            workflow_id: str,
            statuses: list[str] | tuple[str, ...] | None = None,
            conn_id: str = "cased_default",
            poll_interval: float = 60.0,
            cased_conn_id: str | None = None,
        ) -> None:
            super().__init__()
            known = {s.value for s in WorkflowRunStatus} | FAILURE_SPELLINGS
            wanted = list(DEFAULT_STATUSES if statuses is None else statuses)
            unknown = [s for s in wanted if s not in known]
            if not wanted or unknown:
                raise ValueError(
                    f"statuses must be a non-empty list of {', '.join(sorted(known))}; "
                    f"got {statuses!r}"
                )
            self.workflow_id = required_str("workflow_id", workflow_id)
            self.statuses = wanted
            self.conn_id = cased_conn_id or conn_id
            interval = positive_number("poll_interval", poll_interval)
            assert interval is not None
            self.poll_interval = interval
            self._memory: dict[str, Any] | None = None

        def serialize(self) -> tuple[str, dict[str, Any]]:
            return (
                CLASSPATH,
                {
                    "workflow_id": self.workflow_id,
                    "statuses": self.statuses,
                    "conn_id": self.conn_id,
                    "poll_interval": self.poll_interval,
                },
            )

        # -- one poll shared by siblings (Airflow 3.3); run() polls alone before it ----

        def shared_stream_key(self) -> tuple[str, ...]:
            return (CLASSPATH, self.conn_id, self.workflow_id, str(self.poll_interval))

        @classmethod
        async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
            async for snapshot in poll_runs(
                kwargs.get("cased_conn_id") or kwargs.get("conn_id", "cased_default"),
                kwargs["workflow_id"],
                float(kwargs.get("poll_interval", 60.0)),
            ):
                yield snapshot

        async def run(self) -> AsyncIterator[TriggerEvent]:
            snapshots = poll_runs(self.conn_id, self.workflow_id, self.poll_interval)
            async for event in self.filter_shared_stream(snapshots):
                yield event

        async def filter_shared_stream(
            self, shared_stream: AsyncIterator[Any]
        ) -> AsyncIterator[TriggerEvent]:
            watermark = await self._load_watermark()
            async for snapshot in shared_stream:
                events, watermark = self._new_ends(snapshot, watermark)
                for payload in events:
                    self.log.info(
                        "Workflow %s run %s reached %r: an event for the DAGs scheduled on it",
                        self.workflow_id,
                        payload["run_id"],
                        payload["status"],
                    )
                    yield TriggerEvent(payload)
                await self._save_watermark(watermark)

        # -- the watermark: when this watcher began, and what it already emitted -------

        def _new_ends(
            self, runs: list[dict[str, Any]], watermark: dict[str, Any]
        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            since = float(watermark["since"])
            emitted = dict(watermark["emitted"])  # run id -> its end (epoch seconds)
            events = []
            for run in runs:
                ended = _ended_at(run)
                run_id = str(run.get("id"))
                if ended is None or ended < since or run_id in emitted:
                    continue
                if run.get("status") not in self.statuses:
                    continue
                emitted[run_id] = ended
                events.append(self._payload(run))
            newest = max(emitted.values(), default=since)
            floor = max(since, newest - OVERLAP_SECONDS)
            kept = {run_id: end for run_id, end in emitted.items() if end >= floor}
            return events, {"since": floor, "emitted": kept}

        def _payload(self, run: dict[str, Any]) -> dict[str, Any]:
            return {
                "workflow_id": self.workflow_id,
                "run_id": run.get("id"),
                "status": run.get("status"),
                "trigger_name": run.get("trigger_name"),
                "session_id": run.get("session_id"),
                "link": run.get("link") or "",
                "created_at": run.get("created_at"),
                "ended_at": run.get("ended_at") or run.get("updated_at"),
            }

        def _state_key(self) -> str:
            return f"{WATERMARK_KEY}:{self.conn_id}:{self.workflow_id}:{','.join(self.statuses)}"

        async def _load_watermark(self) -> dict[str, Any]:
            stored = None
            store = getattr(self, "asset_state_store", None)
            if store is not None:
                try:
                    stored = await store.aget(self._state_key(), default=None)
                except Exception as error:  # several assets, or the store is unreachable
                    self.log.warning("No stored watermark read (%s): starting from now", error)
            if isinstance(stored, dict) and "since" in stored and "emitted" in stored:
                self.log.info(
                    "Watching workflow %s from the stored watermark (%d runs remembered)",
                    self.workflow_id,
                    len(stored["emitted"]),
                )
                return stored
            if self._memory is not None:
                return self._memory
            # First start: runs that ended before now are history, not events.
            return {"since": time.time(), "emitted": {}}

        async def _save_watermark(self, watermark: dict[str, Any]) -> None:
            self._memory = watermark
            store = getattr(self, "asset_state_store", None)
            if store is None:
                return
            try:
                await store.aset(self._state_key(), watermark)
            except Exception as error:
                self.log.warning("Could not store the watermark (%s); kept in memory", error)

    # Its public home (and the class path stored with asset watchers).
    CasedWorkflowRunEventTrigger.__module__ = "airflow_provider_cased.triggers.cased"
    CasedWorkflowRunEventTrigger.__qualname__ = "CasedWorkflowRunEventTrigger"
    return CasedWorkflowRunEventTrigger
