"""Waiting for remote work, written once for the worker (sync) and the triggerer (async).

A ``Waiter`` looks at each response and says how long to sleep before the next
poll, or None when the work is done; past the deadline it raises. The caller
owns the I/O and the sleeping, so the same rules hold in both worlds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_cased._http import MAX_RETRY_AFTER_SECONDS, iso_timestamp
from airflow_provider_cased.exceptions import CasedApiError, CasedRemoteFailure, CasedTimeoutError
from airflow_provider_cased.states import RemoteSpec, RemoteState

EVENT_STATUSES = ("success", "failed", "timeout", "error")
# An unknown status is logged when first seen and again this often while it lasts.
UNKNOWN_STATUS_WARN_EVERY = 3600.0
# While the API is in trouble, polls back off up to this many poll intervals apart.
TROUBLE_BACKOFF_POLLS = 4


def deadline_from_timeout(timeout: float | None) -> float | None:
    """A timeout in seconds as an absolute wall-clock deadline (it survives deferral)."""
    return None if timeout is None else time.time() + float(timeout)


def trouble_backoff(poll_interval: float, failed_polls: int, error: Exception) -> float:
    """Seconds until the next poll after ``failed_polls`` failed in a row: the interval
    doubling up to a few intervals, with jitter, never sooner than the server asked."""
    ceiling = poll_interval * min(2 ** (failed_polls - 1), TROUBLE_BACKOFF_POLLS)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def progress_of(state: RemoteState, response: dict[str, Any]) -> str:
    """The status, with a running execution's step (``running, step 3/7``)."""
    current = response.get("currentStep", response.get("current_step"))
    total = response.get("totalSteps", response.get("total_steps"))
    if state.is_terminal or not isinstance(current, int) or not isinstance(total, int):
        return state.status
    return f"{state.status}, step {current + 1}/{total}"


class Waiter:
    """Reads each observation of one remote run/execution/session for a wait.

    Logs what a person watching wants, and nothing on polls that change nothing:
    every status (or step) change once, with the time since the wait began; an
    outage once when it starts and once when it ends; a warning once the wait runs
    past ``warn_after`` seconds, naming the remote id and its link.
    """

    def __init__(
        self,
        spec: RemoteSpec,
        remote_id: str,
        poll_interval: float,
        end_time: float | None,
        log: Any,
        *,
        warn_after: float | None = None,
        link_of: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self.spec = spec
        self.remote_id = remote_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.log = log
        self.warn_after = warn_after
        self.link_of = link_of
        self.started = time.time()
        self._unknown_warned_at: dict[str, float] = {}
        self._warned_long = False
        self._progress: str | None = None
        self.label = spec.label
        self._trouble_since: float | None = None
        self._failed_polls = 0

    def _warn_unknown(self, status: str) -> None:
        # An undocumented status must not crash or end the wait: keep polling, and say so
        # when it first shows and every hour after, since only a timeout can end it.
        now = time.time()
        if now - self._unknown_warned_at.get(status, float("-inf")) < UNKNOWN_STATUS_WARN_EVERY:
            return
        self._unknown_warned_at[status] = now
        self.log.warning(
            "Cased %s %s reports an unknown status %r; treating it as still in progress "
            "until it ends or the timeout passes%s",
            self.label,
            self.remote_id,
            status,
            "" if self.end_time is not None else " (no timeout is set: set one to bound this)",
        )

    def _watch(self, state: RemoteState, response: dict[str, Any]) -> None:
        elapsed = time.time() - self.started
        progress = progress_of(state, response)
        if progress != self._progress:
            change = progress if self._progress is None else f"{self._progress} → {progress}"
            self.log.info(
                "%s %s: %s (%.0f s)", self.label.capitalize(), self.remote_id, change, elapsed
            )
            self._progress = progress
        if self.warn_after is not None and not self._warned_long and elapsed >= self.warn_after:
            self._warned_long = True
            link = self.link_of(response) if self.link_of is not None else ""
            self.log.warning(
                "%s %s is still %r after %.0f s, past warn_after=%.0f s%s",
                self.label.capitalize(),
                self.remote_id,
                state.status,
                elapsed,
                self.warn_after,
                f": {link}" if link else "",
            )

    def failed(self, error: CasedApiError) -> float:
        """A poll that got no usable response: seconds until the next, or raise.

        A status poll is read-only, so transient trouble (no response, 408/429/5xx)
        never ends the wait before its deadline; only responses that cannot heal do.
        """
        if not error.transient:
            raise error
        now = time.time()
        self._failed_polls += 1
        delay = trouble_backoff(self.poll_interval, self._failed_polls, error)
        if self._trouble_since is None:
            self._trouble_since = now
            self.log.warning(
                "Could not read the status of %s %s (%s); still waiting, polling again with "
                "backoff until the API answers%s",
                self.label,
                self.remote_id,
                error,
                "" if self.end_time is None else " or the timeout passes",
            )
        if self.end_time is not None:
            if now >= self.end_time:
                raise CasedTimeoutError(
                    f"Timed out waiting for {self.label} {self.remote_id}: "
                    f"the API gave no usable answer for the last {now - self._trouble_since:.0f} s "
                    f"({error})"
                )
            delay = min(delay, max(0.0, self.end_time - now))
        return delay

    def _recovered(self) -> None:
        if self._trouble_since is None:
            return
        self.log.warning(
            "The API answers again for %s %s, after %.0f s without a usable answer "
            "(%d failed polls)",
            self.label,
            self.remote_id,
            time.time() - self._trouble_since,
            self._failed_polls,
        )
        self._trouble_since = None
        self._failed_polls = 0

    def check(self, response: Any) -> float | None:
        self._recovered()
        if not isinstance(response, dict):
            raise CasedApiError(
                f"Status of {self.remote_id} came back as {type(response).__name__}, not an object"
            )
        state = self.spec.state(response)
        label = self.label
        self._watch(state, response)
        if state.is_terminal:
            return None
        if not state.is_known:
            self._warn_unknown(state.status)
        now = time.time()
        if self.end_time is not None and now >= self.end_time:
            raise CasedTimeoutError(
                f"Timed out waiting for {label} {self.remote_id}: still {state.status!r} "
                "when the timeout passed"
            )
        delay = self.poll_interval
        if self.end_time is not None:
            delay = min(delay, max(0.0, self.end_time - now))
        return delay


def failure_message(state: RemoteState, remote_id: str, response: dict[str, Any], link: str) -> str:
    detail = response.get("error") or response.get("message")
    text = f"{state.spec.label.capitalize()} {remote_id} ended with status {state.status!r}"
    if detail:
        text += f": {detail}"
    if link:
        text += f" ({link})"
    return text


def raise_if_failed(
    state: RemoteState, remote_id: str, response: dict[str, Any], link: str = ""
) -> None:
    if state.is_terminal and not state.is_successful:
        raise CasedRemoteFailure(
            failure_message(state, remote_id, response, link),
            remote_id=remote_id,
            status=state.status,
            kind=state.spec.kind,
        )


def wait_sync(
    fetch: Callable[[], dict[str, Any]],
    waiter: Waiter,
) -> dict[str, Any]:
    """Poll ``fetch`` until the waiter says done; returns the terminal response."""
    while True:
        try:
            response = fetch()
        except CasedApiError as error:
            delay = waiter.failed(error)
        else:
            next_poll = waiter.check(response)
            if next_poll is None:
                return response
            delay = next_poll
        time.sleep(delay)


def make_event(
    status: str,
    kind: str,
    remote_id: str,
    response: Any = None,
    message: str = "",
    ids: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "kind": kind,
        "remote_id": remote_id,
        "answer": response,
        "message": message,
        # Every id the wait was on: the resumed task may not know them (a workflow by name).
        "ids": ids or {},
    }


def validate_event(event: Any, kind: str) -> dict[str, Any]:
    """A trigger event as the operator expects it, or an error: anything unexpected fails closed."""
    from airflow_provider_cased.exceptions import CasedProviderError

    problem = None
    if not isinstance(event, dict):
        problem = f"expected a dict, got {type(event).__name__}"
    elif event.get("status") not in EVENT_STATUSES:
        problem = f"unknown status {event.get('status')!r}"
    elif event.get("kind") != kind:
        problem = f"event is for {event.get('kind')!r}, not {kind!r}"
    elif not isinstance(event.get("remote_id"), str) or not event["remote_id"]:
        problem = "no remote id"
    elif event["status"] in ("success", "failed") and not isinstance(event.get("answer"), dict):
        problem = "a terminal event without the remote response"
    if problem:
        raise CasedProviderError(f"Unexpected trigger event ({problem}): {event!r}"[:1000])
    return event


def _seconds_between(start: Any, end: Any) -> float | None:
    began, ended = iso_timestamp(start), iso_timestamp(end)
    if began is None or ended is None or ended < began:
        return None
    return ended - began


def summary(
    state: RemoteState, remote_id: str, response: dict[str, Any], link: str, waited: float | None
) -> str:
    """One compact closing line (a step table for executions): status, duration, link."""
    duration_ms = response.get("durationMs", response.get("duration_ms"))
    ran_for = _seconds_between(
        response.get("started_at") or response.get("created_at"),
        response.get("ended_at") or response.get("updated_at"),
    )
    if isinstance(duration_ms, (int, float)):
        took = f" in {duration_ms / 1000:.1f} s"
    elif ran_for is not None:
        took = f" in {ran_for:.0f} s"
    elif waited is not None:
        took = f" after {waited:.0f} s of waiting"
    else:
        took = ""
    text = f"{state.spec.label.capitalize()} {remote_id} {state.status}{took}"
    if link:
        text += f": {link}"
    steps = response.get("stepResults", response.get("step_results"))
    if isinstance(steps, dict) and steps:
        rows = [("step", "status", "duration")]
        for name, result in steps.items():
            result = result if isinstance(result, dict) else {}
            ms = result.get("duration_ms", result.get("durationMs"))
            rows.append(
                (
                    str(name),
                    str(result.get("status") or ("failed" if result.get("error") else "completed")),
                    f"{ms / 1000:.1f} s" if isinstance(ms, (int, float)) else "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        text += "".join(
            "\n  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            for row in rows
        )
    return text
