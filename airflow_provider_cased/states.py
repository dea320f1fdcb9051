"""What a task can wait on: one spec per kind of remote work, with its statuses.

Operators, sensors and triggers read the spec (never their own status lists),
and so do the run-list filter and the emulator. Status knowledge only: how to read
one, and which trigger waits on one, each waiting class says with real calls.
Standard library only: operators import it while DAG files are parsed.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class WorkflowRunStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # Not documented for runs; if it ever comes it is terminal and not a success.
    CANCELLED = "cancelled"


class ExecutionStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # Not documented for executions, but it can only mean "did not succeed".
    CANCELLED = "cancelled"


class AgentSessionStatus(str, Enum):
    # "active" is what the documented start response shows; the others are what
    # Cased's own CLI sees when it reads a session.
    CREATED = "created"
    ACTIVE = "active"
    AGENT_RUNNING = "agent_running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Common spellings a service may one day send for an end it does not document: an
# undocumented status would otherwise keep a wait without a timeout going forever.
SUCCESS_SPELLINGS = frozenset({"succeeded", "success"})
FAILURE_SPELLINGS = frozenset({"canceled", "cancelled", "error", "errored"})

# The run statuses the API documents for its list filter.
RUN_STATUS_FILTERS = tuple(
    s.value for s in WorkflowRunStatus if s is not WorkflowRunStatus.CANCELLED
)


class RemoteSpec:
    """One kind of remote work to wait on (a workflow run, an action execution).

    :param kind: the name trigger events carry (``workflow_run``).
    :param label: how logs and errors name it (``workflow run``).
    :param statuses: every status the API documents; anything else is unknown.
    :param in_progress: statuses that keep a wait going.
    :param succeeded: terminal statuses that are a success; the other known ones fail.
        Beyond the documented statuses, the common spellings of an end (``success``,
        ``succeeded``; ``canceled``, ``error``, ``errored``) end a wait too.
    :param id_fields: the ids that locate one, the remote id last; also the names of
        the hook method's and the trigger's arguments.
    :param session_link: its response names a Cased agent session, the page to link to.
    :param api_path: where the API shows one (its ids filled in), the link of last resort.
    """

    # A plain class, not a dataclass: operators import this module while DAG files are
    # parsed, and building a dataclass costs more than the rest of the module.
    def __init__(
        self,
        *,
        kind: str,
        label: str,
        statuses: type[Enum],
        in_progress: frozenset[str],
        succeeded: frozenset[str],
        id_fields: tuple[str, ...],
        session_link: bool = False,
        api_path: str = "",
    ) -> None:
        self.kind = kind
        self.label = label
        self.statuses = statuses
        self.in_progress = in_progress
        self.succeeded = succeeded
        self.id_fields = id_fields
        self.session_link = session_link
        self.api_path = api_path
        # Computed once: every poll of every wait reads them.
        self.ended_well = succeeded | SUCCESS_SPELLINGS
        known = {str(s.value) for s in statuses} | FAILURE_SPELLINGS
        self.failed = frozenset(known - in_progress - succeeded)

    def __repr__(self) -> str:
        return f"RemoteSpec({self.kind!r})"

    def state(self, response: dict[str, Any]) -> RemoteState:
        return RemoteState(self, str(response.get("status") or ""))

    def remote_id(self, ids: dict[str, str]) -> str:
        return ids[self.id_fields[-1]]


WORKFLOW_RUN = RemoteSpec(
    kind="workflow_run",
    label="workflow run",
    statuses=WorkflowRunStatus,
    in_progress=frozenset({"pending", "running"}),
    succeeded=frozenset({"completed"}),
    id_fields=("workflow_id", "run_id"),
    session_link=True,
    api_path="/api/v1/workflows/{workflow_id}/runs/{run_id}/",
)
ACTION_EXECUTION = RemoteSpec(
    kind="action_execution",
    label="action execution",
    statuses=ExecutionStatus,
    in_progress=frozenset({"pending", "running"}),
    succeeded=frozenset({"completed"}),
    id_fields=("execution_id",),
    api_path="/actions/v1/executions/{execution_id}",
)

AGENT_SESSION = RemoteSpec(
    kind="agent_session",
    label="agent session",
    statuses=AgentSessionStatus,
    in_progress=frozenset({"created", "active", "agent_running"}),
    succeeded=frozenset({"completed"}),
    id_fields=("session_id",),
    session_link=True,
)


class RemoteState:
    """One observed status of a run or execution (cf. Databricks' ``RunState``).

    An unknown status is neither terminal nor failed: the wait goes on, with a
    warning, until the timeout ends it; it never hangs on "not done" forever.
    """

    __slots__ = ("spec", "status")

    def __init__(self, spec: RemoteSpec, status: str) -> None:
        self.spec = spec
        self.status = status

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteState) and (other.spec, other.status) == (
            self.spec,
            self.status,
        )

    def __hash__(self) -> int:
        return hash((self.spec.kind, self.status))

    def __repr__(self) -> str:
        return f"RemoteState({self.spec.kind!r}, {self.status!r})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.spec.ended_well or self.status in self.spec.failed

    @property
    def is_successful(self) -> bool:
        return self.status in self.spec.ended_well

    @property
    def is_known(self) -> bool:
        return self.is_terminal or self.status in self.spec.in_progress


_EXECUTION_KEYS = {
    # execute response (snake_case) and status response (camelCase) -> one snake_case shape
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


def normalize_execution(response: dict[str, Any], action_id: str | None = None) -> dict[str, Any]:
    """One snake_case shape for both case.dev execution responses; the raw response is kept as ``raw``."""
    normalized: dict[str, Any] = {}
    for key, sources in _EXECUTION_KEYS.items():
        normalized[key] = next((response[s] for s in sources if s in response), None)
    if normalized["action_id"] is None:
        normalized["action_id"] = action_id
    normalized["raw"] = response
    return normalized
