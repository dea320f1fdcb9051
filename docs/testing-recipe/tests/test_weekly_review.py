"""Run the DAG end to end against the emulator: no account, no network."""

from dags.weekly_review import dag


def test_weekly_review_runs_the_workflow(cased_emulator):
    dag_run = dag.test()

    assert str(dag_run.state) in ("success", "DagRunState.SUCCESS")
    [run] = cased_emulator.runs.values()
    assert run["workflow"] == "wf_weekly_cost_review"
    assert set(run["context"]["window"]) == {"end"}
    # The shipped test policy shortened the 30 s poll.
    assert dag.get_task("run").poll_interval == 0.5
