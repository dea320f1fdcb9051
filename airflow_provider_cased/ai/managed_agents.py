"""case.dev actions and Cased agent sessions as common.ai managed agents (``BaseManagedAgentHook``).

``ManagedAgentToolset(CaseDevManagedAgentHook().agent("action_…"))`` makes an action a
tool of a common.ai agent; ``CasedManagedAgentHook().agent("cased")`` does the same with
a Cased agent session. Each tool call runs to its end, within the request's ``timeout``.
Needs ``pip install 'airflow-provider-cased[ai]'``; only a DAG that imports this module
pays for common.ai, and pydantic-ai is not imported here at all.

Failures are sorted as common.ai's contract asks: a request the remote side refused in a
way a rephrased prompt may fix (HTTP 400, 413, 422) is ``ManagedAgentRejected``; one that
cannot heal (401, 403, 404 and other 4xx, a failed execution or session, a bad
``vendor_options``) is ``ManagedAgentInvocationError``; transient trouble (no answer, 408,
429, 5xx, the time limit) propagates unchanged, for the task's retries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any, ClassVar

from airflow_provider_cased._waiting import (
    Waiter,
    deadline_from_timeout,
    raise_if_failed,
    wait_sync,
)
from airflow_provider_cased.exceptions import (
    CasedApiError,
    CasedInputError,
    CasedRemoteFailure,
)
from airflow_provider_cased.hooks.cased import CasedHook
from airflow_provider_cased.hooks.casedev import CaseDevHook
from airflow_provider_cased.states import (
    ACTION_EXECUTION,
    AGENT_SESSION,
    RemoteSpec,
    normalize_execution,
)

try:
    from airflow.providers.common.ai.exceptions import (
        ManagedAgentInvocationError,
        ManagedAgentRejected,
    )
    from airflow.providers.common.ai.managed_agents.base import (
        BaseManagedAgentHook,
        ManagedAgentCapabilities,
        ManagedAgentRef,
        ManagedAgentRequest,
        ManagedAgentResponse,
    )
except ImportError as error:  # pragma: no cover - the [ai] extra is missing
    raise ImportError(
        "airflow_provider_cased.ai needs apache-airflow-providers-common-ai: "
        "pip install 'airflow-provider-cased[ai]'"
    ) from error

__all__ = ["CaseDevManagedAgentHook", "CasedManagedAgentHook"]

# What a rephrased prompt may fix: a malformed request (400), one too large (413), input
# the remote side would not process (422). Every other non-transient answer is terminal.
REPHRASABLE_STATUSES = frozenset({400, 413, 422})
# A tool call is someone waiting: polled more often than the operators' 30 s default.
DEFAULT_POLL_INTERVAL = 5.0
# The key of the action's input the prompt goes under: ``{{input.prompt}}`` in its steps.
DEFAULT_INPUT_KEY = "prompt"
# Neither API reports token usage, and neither continues a conversation.
CAPABILITIES = ManagedAgentCapabilities(
    sessions=False, structured_output=False, usage=False, trace=True
)


def _prompt(agent: str, request: ManagedAgentRequest) -> str:
    """The request's prompt; both APIs take one text, not a message list."""
    if request.session_id is not None:
        raise ValueError(
            f"{agent} does not keep conversation state, so session_id cannot be honored"
        )
    if request.messages is not None:
        raise ManagedAgentInvocationError(
            f"{agent} takes a prompt, not a message list: send ManagedAgentRequest(prompt=…)"
        )
    prompt = request.prompt or ""
    if not prompt.strip():
        raise ManagedAgentRejected(f"{agent} needs a non-empty prompt; nothing was sent")
    return prompt


def _options(
    agent: str, conn_id: str, given: dict[str, Any], known: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """``vendor_options`` checked: only known keys, of their types (none re-targets the call)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ManagedAgentInvocationError(
            f"vendor_options of {agent} on connection '{conn_id}' has unknown keys "
            f"{', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    for key, value in given.items():
        kind = known[key]
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ManagedAgentInvocationError(
                f"vendor_options[{key!r}] of {agent} on connection '{conn_id}' must be "
                f"{names}, got {type(value).__name__}"
            )
    poll = given.get("poll_interval")
    if poll is not None and poll <= 0:
        raise ManagedAgentInvocationError(
            f"vendor_options['poll_interval'] of {agent} on connection '{conn_id}' must be "
            f"positive, got {poll}"
        )
    return given


@contextmanager
def _sorted_errors() -> Iterator[None]:
    """The provider's errors as the contract sorts them (see the module docstring)."""
    try:
        yield
    except CasedApiError as error:
        if error.transient:
            raise
        if error.status_code in REPHRASABLE_STATUSES:
            raise ManagedAgentRejected(str(error)) from error
        raise ManagedAgentInvocationError(str(error)) from error
    except (CasedRemoteFailure, CasedInputError) as error:
        raise ManagedAgentInvocationError(str(error)) from error


def _run_to_end(
    hook: Any,
    spec: RemoteSpec,
    remote_id: str,
    started: dict[str, Any],
    fetch: Callable[[], dict[str, Any]],
    poll_interval: float,
    timeout: float | None,
    link: str = "",
) -> dict[str, Any]:
    """The terminal answer: ``started`` if it already is, else polled with the one wait loop."""
    answer = started
    if not spec.state(started).is_terminal:
        waiter = Waiter(
            spec,
            remote_id,
            poll_interval,
            deadline_from_timeout(timeout),
            hook.log,
            link_of=lambda _seen: link,
        )
        answer = wait_sync(fetch, waiter)
    raise_if_failed(spec.state(answer), remote_id, answer, link)
    return answer


def _remote_id(value: Any, what: str, conn_id: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value):
        raise ManagedAgentInvocationError(
            f"{what} answered without an id [connection '{conn_id}']: got {value!r}"
        )
    return str(value)


def output_text(output: Any) -> str:
    """What the calling model reads of an execution's output: a string as it is, else its JSON."""
    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, default=str)


class CaseDevManagedAgentHook(CaseDevHook, BaseManagedAgentHook):
    """case.dev actions as managed agents: the agent is an action id.

    ``invoke_agent`` runs the action with the prompt in its input and waits for it to
    end (a synchronous execute answers at once; one answering ``running`` is polled).
    The answer's ``text`` is the output (a string as it is, anything else as JSON), ``raw``
    the execution as the API last answered it, ``trace_ref`` the execution id.

    ``vendor_options`` (e.g. ``ManagedAgentToolset(…, vendor_options={…})``):

    - ``input_key``: the input key the prompt goes under (default ``"prompt"``: the
      action's steps read ``{{input.prompt}}``);
    - ``input``: more input keys sent with every call (the prompt's key wins);
    - ``webhook_id``: the action's webhook for this run (makes it asynchronous);
    - ``poll_interval``: seconds between status checks of an asynchronous run (default 5).

    :param casedev_conn_id: the ``casedev`` connection.
    """

    agent_platform: ClassVar[str] = "casedev.actions"
    vendor_option_types: ClassVar[dict[str, type | tuple[type, ...]]] = {
        "input_key": str,
        "input": dict,
        "webhook_id": str,
        "poll_interval": (int, float),
    }

    def resolve_agent(self, agent: str) -> ManagedAgentRef:
        """The action as a ``ManagedAgentRef``; no request is made.

        :param agent: the action id.
        """
        if not isinstance(agent, str) or not agent.strip():
            raise ManagedAgentInvocationError(
                f"A case.dev agent is an action id (a non-empty string), got {agent!r}"
            )
        return ManagedAgentRef(platform=self.agent_platform, name=agent.strip())

    def get_agent_capabilities(self, agent: str) -> ManagedAgentCapabilities:
        """No conversation state, no usage report; the execution id as trace.

        :param agent: the action id.
        """
        return CAPABILITIES

    def invoke_agent(self, agent: str, request: ManagedAgentRequest) -> ManagedAgentResponse:
        """Run the action on the prompt and return its output; blocks until it ends.

        :param agent: the action id.
        :param request: the prompt, the time limit, ``vendor_options``.
        """
        action_id = self.resolve_agent(agent).name
        prompt = _prompt(f"case.dev action {action_id}", request)
        options = _options(
            f"case.dev action {action_id}",
            self.conn_id,
            dict(request.vendor_options),
            self.vendor_option_types,
        )
        payload = {
            **(options.get("input") or {}),
            options.get("input_key") or DEFAULT_INPUT_KEY: prompt,
        }
        with _sorted_errors(), closing(self.for_one_call(request.timeout)) as hook:
            started = hook.execute_action(action_id, payload, webhook_id=options.get("webhook_id"))
            execution_id = _remote_id(
                normalize_execution(started)["execution_id"],
                f"case.dev action {action_id}",
                self.conn_id,
            )
            hook.log.info(
                "case.dev execution %s of action %s is %s",
                execution_id,
                action_id,
                started.get("status"),
            )
            execution = _run_to_end(
                hook,
                ACTION_EXECUTION,
                execution_id,
                started,
                lambda: hook.get_execution(execution_id, retry=False),
                options.get("poll_interval") or DEFAULT_POLL_INTERVAL,
                request.timeout,
            )
        return ManagedAgentResponse(
            text=output_text(execution.get("output")), raw=execution, trace_ref=execution_id
        )


class CasedManagedAgentHook(CasedHook, BaseManagedAgentHook):
    """Cased's agent as a managed agent: the agent is ``"cased"``.

    ``invoke_agent`` starts an agent session with the prompt and waits for it to end.
    Cased's API answers a session with its status and link but no answer text, so the
    ``text`` says that, in one line with the link, and never an answer of its own;
    ``raw`` is the session as last read, ``trace_ref`` the session id.

    ``vendor_options``: ``context`` (a JSON object sent as the session's context: logs,
    errors, environment) and ``poll_interval`` (seconds between status checks, default 5).

    :param cased_conn_id: the ``cased`` connection.
    """

    agent_platform: ClassVar[str] = "cased.agent_sessions"
    AGENT = "cased"
    vendor_option_types: ClassVar[dict[str, type | tuple[type, ...]]] = {
        "context": dict,
        "poll_interval": (int, float),
    }

    def resolve_agent(self, agent: str) -> ManagedAgentRef:
        """``"cased"`` as a ``ManagedAgentRef``; no request is made.

        :param agent: ``"cased"``, the one agent a Cased connection reaches.
        """
        if agent != self.AGENT:
            raise ManagedAgentInvocationError(
                f"A Cased connection has one agent, {self.AGENT!r}; got {agent!r} "
                f"[connection '{self.conn_id}']"
            )
        return ManagedAgentRef(platform=self.agent_platform, name=self.AGENT)

    def get_agent_capabilities(self, agent: str) -> ManagedAgentCapabilities:
        """No conversation state, no usage report; the session id as trace.

        :param agent: ``"cased"``.
        """
        return CAPABILITIES

    def invoke_agent(self, agent: str, request: ManagedAgentRequest) -> ManagedAgentResponse:
        """Start an agent session on the prompt and wait for it to end.

        :param agent: ``"cased"``.
        :param request: the prompt, the time limit, ``vendor_options``.
        """
        self.resolve_agent(agent)
        prompt = _prompt("the Cased agent", request)
        options = _options(
            "the Cased agent", self.conn_id, dict(request.vendor_options), self.vendor_option_types
        )
        with _sorted_errors(), closing(self.for_one_call(request.timeout)) as hook:
            started = hook.create_agent_session(prompt, options.get("context"))
            session_id = _remote_id(started.get("session_id"), "Cased agent session", self.conn_id)
            link = hook.session_url(session_id)
            hook.log.info(
                "Cased agent session %s is %s: %s", session_id, started.get("status"), link
            )
            session = _run_to_end(
                hook,
                AGENT_SESSION,
                session_id,
                started,
                lambda: hook.get_agent_session(session_id, retry=False),
                options.get("poll_interval") or DEFAULT_POLL_INTERVAL,
                request.timeout,
                link,
            )
        status = AGENT_SESSION.state(session).status
        text = (
            f"Cased agent session {session_id} ended {status!r}; Cased's API returns no "
            f"answer text: its findings are on the session's page, {link}"
        )
        return ManagedAgentResponse(text=text, raw=session, trace_ref=session_id)
