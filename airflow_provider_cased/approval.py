"""How a person approves a task's request before it is sent (Airflow 3.1+ human-in-the-loop).

``Approval`` is what ``approval=`` (and ``review_output=`` on ``CaseDevActionOperator``)
take; ``require_approval=True`` means ``Approval()``. Standard library only: DAG files
import it while they are parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# Before these, Airflow has no human-in-the-loop (HITLOperator, the Required Actions page).
APPROVAL_MIN_AIRFLOW = (3, 1)
OUTCOMES = ("fail", "skip")


def _user(value: Any) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {"id": value, "name": value}
    if isinstance(value, Mapping) and isinstance(value.get("id"), str) and value["id"].strip():
        return {"id": value["id"], "name": str(value.get("name") or value["id"])}
    raise ValueError(
        "approval assigned_users must be user ids (strings) or {'id': ..., 'name': ...} dicts; "
        f"got {value!r}"
    )


@dataclass(frozen=True)
class Approval:
    """Ask a person in the Airflow UI before the task sends its request.

    :param assigned_users: who may answer (user ids, or ``{"id", "name"}`` dicts as
        Airflow's auth manager knows them); empty: anyone allowed to edit the DAG.
    :param message: text shown above the request (Markdown), e.g. why it needs a look.
    :param timeout: how long to wait for an answer (``timedelta`` or seconds); None: no limit.
    :param on_timeout: ``"fail"`` (default) or ``"skip"`` the task when nobody answered in time.
    :param on_reject: ``"fail"`` (default) or ``"skip"`` the task when the answer is Reject.
    :param subject: the headline in the Required Actions list (default: names the request).
    """

    assigned_users: Sequence[Any] = ()
    message: str | None = None
    timeout: timedelta | float | None = None
    on_timeout: str = "fail"
    on_reject: str = "fail"
    subject: str | None = None
    users: tuple[dict[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("on_timeout", "on_reject"):
            if getattr(self, name) not in OUTCOMES:
                raise ValueError(
                    f"approval {name} must be one of {', '.join(OUTCOMES)}; "
                    f"got {getattr(self, name)!r}"
                )
        raw = self.assigned_users
        if isinstance(raw, (str, Mapping)):
            raw = [raw]
        object.__setattr__(self, "users", tuple(_user(user) for user in raw))
        timeout = self.timeout
        if timeout is not None and not isinstance(timeout, timedelta):
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                raise ValueError(
                    f"approval timeout must be a timedelta or positive seconds, got {timeout!r}"
                )
            object.__setattr__(self, "timeout", timedelta(seconds=float(timeout)))
        elif isinstance(timeout, timedelta) and timeout.total_seconds() <= 0:
            raise ValueError(f"approval timeout must be positive, got {timeout!r}")
        if self.message is not None and not isinstance(self.message, str):
            raise ValueError(
                f"approval message must be a string, got {type(self.message).__name__}"
            )

    @property
    def timeout_delta(self) -> timedelta | None:
        return self.timeout if isinstance(self.timeout, timedelta) else None


def approval_from(
    owner: str, argument: str, flag: bool, approval: Approval | bool | None
) -> Approval | None:
    """``require_approval=True`` / ``approval=Approval(...)`` to one ``Approval`` or None,
    refusing (at parse time) an Airflow without human-in-the-loop."""
    if approval is True:
        approval = Approval()
    elif approval is False:
        approval = None
    if approval is not None and not isinstance(approval, Approval):
        raise ValueError(
            f"{owner}: {argument} must be an Approval (airflow_provider_cased.approval), "
            f"got {type(approval).__name__}"
        )
    if flag and approval is None:
        approval = Approval()
    if approval is not None:
        from airflow_provider_cased.compat import AIRFLOW_VERSION, airflow_at_least

        if not airflow_at_least(*APPROVAL_MIN_AIRFLOW):
            needed = ".".join(map(str, APPROVAL_MIN_AIRFLOW))
            raise ValueError(
                f"{owner}: {argument} needs Airflow {needed}+ (human-in-the-loop); "
                f"this is Airflow {AIRFLOW_VERSION}"
            )
    return approval
