"""`make e2e-distributed`: the load DAG (not an example: it exists to be hurt by the chaos).

One DAG run fans out, with dynamic task mapping, into
  - CASED_LOAD_DEFERRED_RUNS deferrable Cased workflow runs (default 200),
  - CASED_LOAD_EXECUTIONS deferrable case.dev async executions (default 100; a webhook
    makes the action answer ``running`` at once),
  - CASED_LOAD_SYNC_RUNS workflow runs waited for in the worker (default 20).
The emulated runs/executions never end by themselves: scripts/e2e_distributed/chaos.py
finishes them once the chaos is over, so every wait spans every fault.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator
from airflow_provider_cased.operators.casedev import CaseDevActionOperator

DEFERRED_RUNS = int(os.environ.get("CASED_LOAD_DEFERRED_RUNS", "200"))
EXECUTIONS = int(os.environ.get("CASED_LOAD_EXECUTIONS", "100"))
SYNC_RUNS = int(os.environ.get("CASED_LOAD_SYNC_RUNS", "20"))
POLL_INTERVAL = float(os.environ.get("CASED_LOAD_POLL_INTERVAL", "5"))
# Far beyond the chaos schedule: a wait that never ends fails the task instead of hanging.
WAIT_TIMEOUT = 30 * 60

with DAG(
    dag_id="cased_load",
    doc_md=__doc__,
    schedule=None,
    # Deferred tasks must never be what holds the fan-out back: the executor slots do that.
    max_active_tasks=1000,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    tags=["cased", "load"],
):
    # The deferrable ones first (they free their slot when they defer); the sync waits,
    # which hold a worker slot for the whole run, last.
    waiting = {"poll_interval": POLL_INTERVAL, "timeout": WAIT_TIMEOUT, "weight_rule": "absolute"}
    CasedWorkflowRunOperator.partial(
        task_id="deferred_runs",
        workflow_id="wf_load_deferred",
        deferrable=True,
        priority_weight=10,
        **waiting,
    ).expand(context=[{"n": n} for n in range(DEFERRED_RUNS)])

    CaseDevActionOperator.partial(
        task_id="async_executions",
        action_id="action_load",
        webhook_id="wh_load",
        deferrable=True,
        priority_weight=10,
        **waiting,
    ).expand(input=[{"n": n} for n in range(EXECUTIONS)])

    CasedWorkflowRunOperator.partial(
        task_id="sync_runs",
        workflow_id="wf_load_sync",
        deferrable=False,
        priority_weight=1,
        **waiting,
    ).expand(context=[{"n": n} for n in range(SYNC_RUNS)])
