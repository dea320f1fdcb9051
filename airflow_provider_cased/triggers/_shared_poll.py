"""Coalesced polling: one list call per interval for every trigger of an event loop
waiting on runs of the same Cased workflow.

A trigger registers the run it awaits and reads the run's newest observation;
the shared loop lists the workflow's runs (newest first, 100 a page, only as many
pages as reach every awaited run) and publishes each awaited run to its watchers.
A run the list does not show (too old, or the list lacks a field the event must
carry) is fetched singly. The loop stops when its last watcher leaves, so a
cancelled or redistributed trigger never leaves a poll behind.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._waiting import trouble_backoff
from airflow_provider_cased.exceptions import CasedApiError

if TYPE_CHECKING:
    from airflow_provider_cased.hooks.cased import CasedHook

# A run deeper than this many pages of its workflow's list is fetched singly instead.
MAX_PAGES = 5
# What a trigger's event carries of a run; a list item without it is fetched singly.
EVENT_FIELDS = ("id", "status")


class RunSubscriber:
    """One trigger's view of the shared poll: the newest observation of its run."""

    def __init__(self, run_id: str, poll_interval: float) -> None:
        self.run_id = run_id
        self.poll_interval = poll_interval
        self.latest: Any = None  # the run, or the CasedApiError of the last poll
        self._fresh = asyncio.Event()

    def publish(self, observation: Any) -> None:
        self.latest = observation
        self._fresh.set()

    async def next(self, timeout: float | None) -> Any:
        """The next observation; None when ``timeout`` passes first."""
        try:
            await asyncio.wait_for(self._fresh.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        self._fresh.clear()
        return self.latest


class WorkflowRunsPoll:
    """The shared poll of one workflow's runs, on one connection, in one event loop."""

    def __init__(self, hook: CasedHook, workflow_id: str) -> None:
        self.hook = hook
        self.workflow_id = workflow_id
        self.watches: set[RunSubscriber] = set()
        self.task: asyncio.Task[None] | None = None

    def join(self, watch: RunSubscriber) -> None:
        self.watches.add(watch)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._loop())

    def leave(self, watch: RunSubscriber) -> None:
        self.watches.discard(watch)
        if not self.watches and self.task is not None:
            self.task.cancel()

    async def _loop(self) -> None:
        failed_polls = 0
        # Polls of many workflows started together would come in one burst every interval.
        await asyncio.sleep(random.uniform(0, min(w.poll_interval for w in self.watches)))
        while self.watches:
            interval = min(w.poll_interval for w in self.watches)
            began = time.monotonic()
            try:
                await self._poll_once()
            except Exception as error:  # each watcher decides: wait on, or end with it
                for watch in list(self.watches):
                    watch.publish(error)
                failed_polls += 1
                transient = isinstance(error, CasedApiError) and error.transient
                delay = trouble_backoff(interval, failed_polls, error) if transient else interval
            else:
                failed_polls = 0
                # One poll per interval, however long the poll itself took.
                delay = max(0.0, interval - (time.monotonic() - began))
            await asyncio.sleep(delay)

    async def _poll_once(self) -> None:
        awaited = {w.run_id for w in self.watches}
        found: dict[str, dict[str, Any]] = {}
        seen = 0
        async for run in self.hook.a_list_workflow_runs(self.workflow_id, retry=False):
            seen += 1
            run_id = str(run.get("id"))
            if run_id in awaited and all(run.get(f) for f in EVENT_FIELDS):
                found[run_id] = run
            if len(found) == len(awaited) or seen >= MAX_PAGES * 100:
                break
        missing = sorted({w.run_id for w in self.watches} - set(found))
        if missing:
            singles = await asyncio.gather(
                *(self._single(run_id) for run_id in missing), return_exceptions=True
            )
            found.update(zip(missing, singles, strict=True))  # type: ignore[arg-type]
        for watch in list(self.watches):
            if watch.run_id in found:
                watch.publish(found[watch.run_id])

    async def _single(self, run_id: str) -> Any:
        return await self.hook.a_get_workflow_run(self.workflow_id, run_id, retry=False)


# Per event loop: (connection id, workflow id) -> its shared poll.
_polls: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], WorkflowRunsPoll]
] = weakref.WeakKeyDictionary()


def shared_poll(hook: CasedHook, workflow_id: str) -> WorkflowRunsPoll:
    polls = _polls.setdefault(asyncio.get_running_loop(), {})
    key = (hook.conn_id, workflow_id)
    poll = polls.get(key)
    if poll is None or not poll.watches:
        poll = polls[key] = WorkflowRunsPoll(hook, workflow_id)
    return poll
