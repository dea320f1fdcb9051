"""Remote statuses and what they mean for a wait: terminal or not, success or not.

Standard library only: operators, sensors and triggers all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class WorkflowRunStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ExecutionStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteKind:
    """A kind of remote work: its label and its status sets."""

    label: str
    in_progress: frozenset[str]
    succeeded: frozenset[str]
    failed: frozenset[str]


WORKFLOW_RUN = RemoteKind(
    "workflow run",
    in_progress=frozenset({"pending", "running"}),
    succeeded=frozenset({"completed"}),
    failed=frozenset({"failed", "cancelled"}),
)
ACTION_EXECUTION = RemoteKind(
    "action execution",
    in_progress=frozenset({"pending", "running"}),
    succeeded=frozenset({"completed"}),
    # cancelled is not documented for executions, but it can only mean "did not succeed".
    failed=frozenset({"failed", "cancelled"}),
)
KINDS = {"workflow_run": WORKFLOW_RUN, "action_execution": ACTION_EXECUTION}


@dataclass(frozen=True)
class RemoteState:
    """One observed status of a run or execution (cf. Databricks' ``RunState``).

    An unknown status is neither terminal nor failed: the wait goes on, with a
    warning, until the timeout ends it; it never hangs on "not done" forever.
    """

    kind: RemoteKind
    status: str

    @property
    def is_terminal(self) -> bool:
        return self.status in self.kind.succeeded or self.status in self.kind.failed

    @property
    def is_successful(self) -> bool:
        return self.status in self.kind.succeeded

    @property
    def is_known(self) -> bool:
        return self.is_terminal or self.status in self.kind.in_progress


def run_state(run: dict[str, Any]) -> RemoteState:
    return RemoteState(WORKFLOW_RUN, str(run.get("status") or ""))


def execution_state(execution: dict[str, Any]) -> RemoteState:
    return RemoteState(ACTION_EXECUTION, str(execution.get("status") or ""))


_EXECUTION_KEYS = {
    # execute answer (snake_case) and status answer (camelCase) -> one snake_case shape
    "execution_id": ("execution_id", "id"),
    "action_id": ("action_id", "actionId"),
    "status": ("status",),
    "output": ("output",),
    "step_results": ("step_results", "stepResults"),
    "duration_ms": ("duration_ms", "durationMs"),
    "error": ("error",),
    "current_step": ("currentStep", "current_step"),
    "total_steps": ("totalSteps", "total_steps"),
    "input": ("input",),
    "organization_id": ("organizationId", "organization_id"),
    "created_at": ("createdAt", "created_at"),
    "completed_at": ("completedAt", "completed_at"),
    "webhook_configured": ("webhook_configured", "webhookConfigured"),
    "message": ("message",),
}


def normalize_execution(answer: dict[str, Any], action_id: str | None = None) -> dict[str, Any]:
    """One snake_case shape for both case.dev execution answers; the raw answer is kept as ``raw``."""
    normalized: dict[str, Any] = {}
    for key, sources in _EXECUTION_KEYS.items():
        normalized[key] = next((answer[s] for s in sources if s in answer), None)
    if normalized["action_id"] is None:
        normalized["action_id"] = action_id
    normalized["raw"] = answer
    return normalized
