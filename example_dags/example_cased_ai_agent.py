"""A common.ai agent that hands an investigation to Cased's agent as a tool.

Needs ``pip install 'airflow-provider-cased[ai]'`` (common.ai, Python 3.11+): without it
this file defines no DAG, so it parses cleanly everywhere. The agent's model comes from
the ``pydanticai_default`` connection (the demo and the tests: pydantic-ai's offline
``test`` model, which calls every tool once and answers with what they returned).
"""

from __future__ import annotations

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]

try:
    from airflow.providers.common.ai.operators.agent import AgentOperator
    from airflow.providers.common.ai.toolsets import ManagedAgentToolset

    from airflow_provider_cased.ai.managed_agents import CasedManagedAgentHook
except ImportError:  # no [ai] extra: nothing to show, and no import error either
    AgentOperator = None  # type: ignore[assignment,misc]

if AgentOperator is not None:
    with DAG(
        dag_id="cased_ai_agent",
        doc_md=__doc__,
        schedule=None,
        tags=["cased", "ai", "example"],
    ):
        # [START cased_managed_agent_tool]
        # Cased's agent as a tool: each call starts an agent session with the model's
        # request and waits for it to end (30 minutes at most). Cased returns no answer
        # text: the model reads the session's status and link.
        investigator = ManagedAgentToolset(
            CasedManagedAgentHook(cased_conn_id="cased_default").agent("cased"),
            tool_name="ask_cased",
            description="Investigates an incident in our infrastructure; give it the symptom.",
            timeout=30 * 60,
            vendor_options={"context": {"service": "checkout", "environment": "production"}},
        )

        on_call_note = AgentOperator(
            task_id="on_call_note",
            llm_conn_id="pydanticai_default",
            system_prompt="You write notes for the on-call engineer. Cite the links you got.",
            prompt="Checkout errors rose after today's deploy: have it investigated.",
            toolsets=[investigator],
        )
        # [END cased_managed_agent_tool]

        @task
        def post_note(note: str) -> int:
            print(f"For the on-call engineer: {note}")
            return len(note)

        post_note(on_call_note.output)
