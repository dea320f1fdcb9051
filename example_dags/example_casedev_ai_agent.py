"""A common.ai agent that consults a case.dev action as a tool before it answers.

Needs ``pip install 'airflow-provider-cased[ai]'`` (common.ai, Airflow 3, Python 3.11+):
without it this file defines no DAG, so it parses cleanly everywhere. The agent's model
comes from the ``pydanticai_default`` connection: in production e.g. ``openai:gpt-5``;
the demo and the tests give it pydantic-ai's offline ``test`` model, which calls every
tool once and answers with what they returned.
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

    from airflow_provider_cased.ai.managed_agents import CaseDevManagedAgentHook
except ImportError:  # no [ai] extra: nothing to show, and no import error either
    AgentOperator = None  # type: ignore[assignment,misc]

if AgentOperator is not None:
    with DAG(
        dag_id="casedev_ai_agent",
        doc_md=__doc__,
        schedule=None,
        params={"contract_url": "s3://contracts/2024/acme-msa.pdf"},
        tags=["casedev", "ai", "example"],
    ):
        # [START casedev_managed_agent_tool]
        # The case.dev action "Summarize document", as a tool the agent may call: each
        # call runs the action with the model's question as input.prompt, waits for the
        # execution to end (2 minutes at most) and hands the output back to the model.
        summarizer = ManagedAgentToolset(
            CaseDevManagedAgentHook(casedev_conn_id="casedev_default").agent("action_summarize"),
            tool_name="summarize_contract",
            description="Summarizes the contract under review; ask it a precise question.",
            timeout=120,
            vendor_options={"input": {"document_url": "s3://contracts/2024/acme-msa.pdf"}},
        )

        triage = AgentOperator(
            task_id="contract_triage",
            llm_conn_id="pydanticai_default",
            system_prompt="You triage contracts. Consult summarize_contract before answering.",
            prompt="Is the ACME MSA in {{ params.contract_url }} safe to sign as it is?",
            toolsets=[summarizer],
        )
        # [END casedev_managed_agent_tool]

        @task
        def file_verdict(verdict: str) -> int:
            print(f"The agent's verdict: {verdict}")
            return len(verdict)

        file_verdict(triage.output)
