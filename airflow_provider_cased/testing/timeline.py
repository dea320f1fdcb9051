"""How an emulated run, execution or agent session moves along: its status, read off the clock.

Statuses are computed when they are read (no background threads): ``pending`` for the
first 20% of ``run_seconds``, then ``running``, then the ``outcome``; or a schedule of
(status, seconds after start) pairs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cased.states import ACTION_EXECUTION, WORKFLOW_RUN

# The provider's own reading of the documented statuses: the emulator and the waits agree.
IN_PROGRESS = WORKFLOW_RUN.in_progress | ACTION_EXECUTION.in_progress
Schedule = Sequence[tuple[str, float]]


def progress(
    elapsed: float, run_seconds: float, outcome: str, schedule: Schedule | None
) -> tuple[str, float, bool]:
    """(status, seconds after start when it began, ended) after ``elapsed`` seconds."""
    if schedule:
        status, since = "pending", 0.0
        reached = -1
        for index, (name, at) in enumerate(schedule):
            if elapsed >= at:
                status, since, reached = name, at, index
            else:
                break
        ended = reached == len(schedule) - 1 and status not in IN_PROGRESS
        return status, since, ended
    if elapsed >= run_seconds:
        return outcome, run_seconds, True
    if elapsed >= 0.2 * run_seconds:
        return "running", 0.2 * run_seconds, False
    return "pending", 0.0, False


@dataclass
class Timeline:
    """How a run, an execution or an agent session moves along, read off the clock.

    ``pending`` for the first 20% of ``run_seconds``, then ``running``, then
    ``outcome``; or the ``schedule`` of (status, seconds after start) pairs.
    ``force()`` freezes a status, whatever the clock says.
    """

    run_seconds: float
    outcome: str
    schedule: Schedule | None = None
    start_mono: float = field(default_factory=time.monotonic)
    start_wall: float = field(default_factory=time.time)
    forced: tuple[str, float] | None = None  # (status, wall time it was forced)

    def now(self, mono: float | None = None) -> tuple[str, float, bool]:
        """(status, seconds after start when it began, ended), at monotonic time ``mono``."""
        if self.forced is not None:
            status, changed = self.forced
            return status, max(0.0, changed - self.start_wall), status not in IN_PROGRESS
        elapsed = (time.monotonic() if mono is None else mono) - self.start_mono
        return progress(elapsed, self.run_seconds, self.outcome, self.schedule)

    def force(self, status: str) -> None:
        self.forced = (status, time.time())


def schedule_from(statuses: Iterable[Sequence[Any]] | None) -> list[tuple[str, float]] | None:
    """A checked, sorted schedule of (status, seconds after start) pairs; None for none."""
    if statuses is None:
        return None
    schedule: list[tuple[str, float]] = []
    for entry in statuses:
        if len(entry) != 2:
            raise ValueError("statuses entries must be (status, seconds_after_start) pairs")
        name, at = entry
        if not isinstance(name, str):
            raise ValueError("statuses: status must be a string")
        schedule.append((name, float(at)))
    if not schedule:
        return None
    schedule.sort(key=lambda item: item[1])
    return schedule
