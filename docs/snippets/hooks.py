"""The hooks, called directly; tests/test_docs.py runs ``hooks_tour()`` against the emulator."""

from __future__ import annotations

from typing import Any


def hooks_tour() -> dict[str, Any]:
    # [START hooks]
    from airflow_provider_cased.hooks.cased import CasedHook
    from airflow_provider_cased.hooks.casedev import CaseDevHook
    from airflow_provider_cased.states import normalize_execution

    cased = CasedHook()  # cased_conn_id="cased_default"
    run = cased.trigger_workflow_run(
        "wf_weekly_cost_review",
        triggered_by="manual",
        trigger_name="nightly",
        context={"pr_number": 42},
    )
    run = cased.get_workflow_run("wf_weekly_cost_review", run["id"])
    for workflow in cased.list_workflows(name="cost"):  # every page, 100 per page
        print(workflow["id"], workflow["name"])

    casedev = CaseDevHook()  # casedev_conn_id="casedev_default"
    answer = casedev.execute_action("action_summarize", {"document_url": "s3://docs/a.pdf"})
    print(normalize_execution(answer)["output"])
    # [END hooks]
    return {"run": run, "execution": normalize_execution(answer)}
