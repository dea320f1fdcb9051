"""The README's first DAG (Airflow 3): tests/test_docs.py imports this file and checks that
the README shows exactly the lines between the markers."""

# [START first_dag]
from airflow.sdk import DAG

from airflow_provider_cased.operators.cased import CasedWorkflowRunOperator

with DAG(dag_id="weekly_cost_review", schedule="@weekly") as dag:
    CasedWorkflowRunOperator(
        task_id="run_review",
        workflow_name="Weekly cost review",  # or workflow_id="wf_..."
        context={"week_of": "{{ ds }}"},
        deferrable=True,  # wait in the triggerer, not in a worker slot
        timeout=2 * 60 * 60,
    )
# [END first_dag]
