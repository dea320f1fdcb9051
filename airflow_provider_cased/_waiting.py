"""Waiting for remote work, written once for the worker (sync) and the triggerer (async).

A ``Waiter`` looks at each answer and says how long to sleep before the next
poll, or None when the work is done; past the deadline it raises. The caller
owns the I/O and the sleeping, so the same rules hold in both worlds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow_provider_cased.exceptions import CasedApiError, CasedRemoteFailure, CasedTimeoutError
from airflow_provider_cased.states import RemoteState

EVENT_STATUSES = ("success", "failed", "timeout", "error")


def deadline_from_timeout(timeout: float | None) -> float | None:
    """A timeout in seconds as an absolute wall-clock deadline (it survives deferral)."""
    return None if timeout is None else time.time() + float(timeout)


class Waiter:
    def __init__(
        self,
        state_of: Callable[[dict[str, Any]], RemoteState],
        remote_id: str,
        poll_interval: float,
        end_time: float | None,
        log: Any,
    ) -> None:
        self.state_of = state_of
        self.remote_id = remote_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self.log = log
        self._warned_statuses: set[str] = set()

    def check(self, answer: Any) -> float | None:
        if not isinstance(answer, dict):
            raise CasedApiError(
                f"Status of {self.remote_id} came back as {type(answer).__name__}, not an object"
            )
        state = self.state_of(answer)
        label = state.kind.label
        if state.is_terminal:
            return None
        if not state.is_known and state.status not in self._warned_statuses:
            # An undocumented status must not crash or end the wait: keep polling, say so once.
            self._warned_statuses.add(state.status)
            self.log.warning(
                "Cased %s %s reports an unknown status %r; treating it as still in progress "
                "until it ends or the timeout passes",
                label,
                self.remote_id,
                state.status,
            )
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


def failure_message(state: RemoteState, remote_id: str, answer: dict[str, Any], link: str) -> str:
    detail = answer.get("error") or answer.get("message")
    text = f"{state.kind.label.capitalize()} {remote_id} ended with status {state.status!r}"
    if detail:
        text += f": {detail}"
    if link:
        text += f" ({link})"
    return text


def raise_if_failed(
    state: RemoteState, remote_id: str, answer: dict[str, Any], link: str = ""
) -> None:
    if state.is_terminal and not state.is_successful:
        raise CasedRemoteFailure(
            failure_message(state, remote_id, answer, link),
            remote_id=remote_id,
            status=state.status,
        )


def wait_sync(
    fetch: Callable[[], dict[str, Any]],
    waiter: Waiter,
) -> dict[str, Any]:
    """Poll ``fetch`` until the waiter says done; returns the terminal answer."""
    while True:
        answer = fetch()
        delay = waiter.check(answer)
        if delay is None:
            return answer
        time.sleep(delay)


def make_event(
    status: str, kind: str, remote_id: str, answer: Any = None, message: str = ""
) -> dict[str, Any]:
    return {
        "status": status,
        "kind": kind,
        "remote_id": remote_id,
        "answer": answer,
        "message": message,
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
        problem = "a terminal event without the remote answer"
    if problem:
        raise CasedProviderError(f"Unexpected trigger event ({problem}): {event!r}"[:1000])
    return event
