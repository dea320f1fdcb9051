"""Ask a person before sending the request that starts work, and (case.dev) before
downstream tasks use an output.

Composes Airflow's own human-in-the-loop machinery (3.1+): the request is written with
the Task SDK's ``upsert_hitl_detail`` (what the Required Actions page and the HITL REST
API show and answer), then the task waits for the answer the way ``HITLOperator`` does:
on 3.3 by raising ``TaskAwaitingInput`` (the task is parked in ``awaiting_input``: no
worker slot, no trigger; the scheduler applies the timeout), on 3.1-3.2 by deferring to
the standard provider's ``HITLTrigger``. The answer comes back as the resume method's
``event``, in ``HITLOperator.execute_complete``'s shape.

Airflow keeps one such request per task try, so one try asks at most once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_cased._attempts import redact
from airflow_provider_cased.approval import Approval
from airflow_provider_cased.compat import AirflowSkipException, Context, HumanInput, redact_secrets
from airflow_provider_cased.exceptions import CasedApprovalDenied, CasedProviderError

APPROVE = "Approve"
REJECT = "Reject"
USE_EDITED = "Approve edited output"
# What the approval text shows of a JSON value before it is cut (the request stays whole).
SHOWN_JSON_CHARS = 3000
SHOWN_KEYS = 20
REVIEW_XCOM_KEY = "casedev_output_under_review"
# The digest of the request a person was asked about, held over the wait: after Approve
# the request is built again (templates rendered, a task function called) and is sent
# only if it is the same one.
ASKED_REQUEST_XCOM_KEY = "cased_request_under_approval"

if TYPE_CHECKING:
    from datetime import timedelta


@dataclass(frozen=True)
class Outgoing:
    """The request a task is about to send, as the person approving it sees it."""

    title: str
    method: str
    url: str
    conn_id: str
    body: dict[str, Any]
    facts: dict[str, str] = field(default_factory=dict)
    summarise: tuple[str, ...] = ()  # body fields shown as a summary (case.dev input)


def outgoing(
    hook: Any,
    request: Any,
    title: str,
    facts: dict[str, str] | None = None,
    summarise: tuple[str, ...] = (),
) -> Outgoing:
    """An ``Outgoing`` from the request the hook is about to send."""
    return Outgoing(
        title=title,
        method=request.method,
        url=hook.base_url + request.path,
        conn_id=hook.conn_id,
        body=dict(request.json or {}),
        facts=facts or {},
        summarise=summarise,
    )


def fingerprint(outgoing: Outgoing) -> str:
    """A digest of what would leave: method, URL, connection and body."""
    sent = [outgoing.method, outgoing.url, outgoing.conn_id, outgoing.body]
    return hashlib.sha256(json.dumps(sent, sort_keys=True, default=str).encode()).hexdigest()


def remember_asked(context: Context, outgoing: Outgoing) -> None:
    """Keep the asked request's digest for ``confirm_unchanged`` (one XCom of this try)."""
    context["ti"].xcom_push(key=ASKED_REQUEST_XCOM_KEY, value=fingerprint(outgoing))


def confirm_unchanged(context: Context, outgoing: Outgoing) -> None:
    """Refuse to send a request other than the one the person approved.

    :raises CasedApprovalDenied: the request built again differs (a template or a task
        function that gives another value on each call), or the asked one is unknown.
    """
    ti = context["ti"]
    asked = ti.xcom_pull(task_ids=ti.task_id, key=ASKED_REQUEST_XCOM_KEY, map_indexes=ti.map_index)
    if asked != fingerprint(outgoing):
        raise CasedApprovalDenied(
            f"The {outgoing.method} {outgoing.url} built after the approval is not the request "
            "the person approved (a template or task function gives another value on each "
            "call); nothing was sent"
        )


def shown_json(value: Any, limit: int = SHOWN_JSON_CHARS) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    if len(text) > limit:
        text = f"{text[:limit]}\n… (cut: {limit:,} of {len(text):,} characters shown)"
    return text


def summary_of(value: Any) -> str:
    """One line per top-level key of a JSON object: its type and size."""
    if not isinstance(value, dict):
        return f"- {type(value).__name__}, {len(json.dumps(value, default=str)):,} characters"
    lines = []
    for key in list(value)[:SHOWN_KEYS]:
        item = value[key]
        size = len(json.dumps(item, default=str))
        if isinstance(item, str):
            preview = item if len(item) <= 80 else item[:80] + "…"
            lines.append(f"- `{key}`: string, {len(item):,} characters: {preview!r}")
        elif isinstance(item, (dict, list)):
            lines.append(
                f"- `{key}`: {'object' if isinstance(item, dict) else 'array'} of "
                f"{len(item):,} item(s), {size:,} characters of JSON"
            )
        else:
            lines.append(f"- `{key}`: {json.dumps(item, default=str)}")
    if len(value) > SHOWN_KEYS:
        lines.append(f"- … and {len(value) - SHOWN_KEYS:,} more key(s)")
    return "\n".join(lines) or "- (empty object)"


def approval_text(outgoing: Outgoing, approval: Approval, context: Context, api_key: str) -> str:
    """The Markdown the Required Actions page shows: what will be sent, where, for which task.

    Never the API key: the request carries it in a header, which is not shown, and any
    copy of it (or of a secret Airflow masks) in the shown values is replaced by ``***``.
    """
    ti = context["ti"]
    parts = []
    if approval.message:
        parts.append(approval.message.strip())
    parts.append(f"**{outgoing.title}**")
    parts.append(f"`{outgoing.method} {outgoing.url}` (connection `{outgoing.conn_id}`)")
    facts = {
        **outgoing.facts,
        "Task": f"{ti.dag_id}.{ti.task_id}"
        + (f"[{ti.map_index}]" if getattr(ti, "map_index", -1) not in (-1, None) else ""),
        "DAG run": str(ti.run_id),
        "Try": str(getattr(ti, "try_number", 1)),
    }
    parts.append("\n".join(f"- {name}: {value}" for name, value in facts.items()))
    body = redact_secrets(dict(outgoing.body))
    for name in outgoing.summarise:
        if name in body:
            parts.append(f"`{name}` (summary):\n{summary_of(body[name])}")
    parts.append(f"Request body:\n```json\n{shown_json(body)}\n```")
    return redact("\n\n".join(parts), api_key)


def ask(
    operator: Any,
    context: Context,
    approval: Approval,
    *,
    subject: str,
    body: str,
    options: list[str],
    method_name: str,
    params: dict[str, Any] | None = None,
) -> None:
    """Write the request and wait for the answer, as ``HITLOperator.execute`` does."""
    tools = HumanInput()
    ti_id = context["task_instance"].id
    tools.upsert_detail(
        ti_id=ti_id,
        options=options,
        subject=subject,
        body=body,
        defaults=None,  # no answer is assumed: a timeout is a timeout (fail or skip)
        multiple=False,
        params=params or {},
        assigned_users=list(approval.users) or None,
    )
    timeout: timedelta | None = approval.timeout_delta
    if tools.awaiting_input is not None:  # 3.3+: no worker slot, no triggerer
        raise tools.awaiting_input(method_name=method_name, timeout=timeout)
    from airflow.sdk.timezone import utcnow

    operator.defer(
        trigger=tools.trigger(
            ti_id=ti_id,
            options=options,
            defaults=None,
            params=params or {},
            multiple=False,
            timeout_datetime=utcnow() + timeout if timeout else None,
        ),
        method_name=method_name,
    )


def decide(
    operator: Any, approval: Approval, event: Any, what: str, *, allowed: tuple[str, ...]
) -> dict[str, Any]:
    """The answer: returned when it is one of ``allowed``; a rejection or timeout fails
    (``CasedApprovalDenied``, no retry) or skips the task, as the approval says."""
    if not isinstance(event, dict):
        raise CasedProviderError(f"Unexpected answer to the {what} approval: {event!r}"[:500])
    if "error" in event:
        if event.get("error_type") == "timeout":
            message = (
                f"Nobody answered the {what} approval within {approval.timeout_delta}; "
                "nothing was sent"
                if what == "request"
                else f"Nobody reviewed the output within {approval.timeout_delta}"
            )
            _end(operator, approval.on_timeout, message)
        raise CasedApprovalDenied(f"The {what} approval failed: {event.get('error')}")
    chosen = list(event.get("chosen_options") or [])
    user = event.get("responded_by_user") or {}
    who = (user.get("name") or user.get("id")) if isinstance(user, dict) else None
    who = who or "someone"
    if chosen == [REJECT]:
        message = (
            f"{who} rejected the request; nothing was sent"
            if what == "request"
            else f"{who} rejected the output"
        )
        _end(operator, approval.on_reject, message)
    if len(chosen) != 1 or chosen[0] not in allowed:
        raise CasedApprovalDenied(f"Unexpected answer to the {what} approval: {chosen!r}")
    operator.log.info("%s: %s by %s", what.capitalize(), chosen[0], who)
    return event


def _end(operator: Any, outcome: str, message: str) -> None:
    operator.log.warning("%s", message)
    if outcome == "skip":
        raise AirflowSkipException(message)
    raise CasedApprovalDenied(message)
