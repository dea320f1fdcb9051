"""Sensor arguments checked at DAG-parse time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_cased.sensors.cased import CasedAgentSessionSensor, CasedWorkflowRunSensor
from airflow_provider_cased.sensors.casedev import CaseDevActionExecutionSensor


def test_sensor_templates_and_defaults():
    sensor = CasedWorkflowRunSensor(
        task_id="s", workflow_id="wf", run_id="{{ x }}", deferrable=True
    )
    assert set(sensor.template_fields) == {"workflow_id", "run_id"}
    assert sensor.deferrable is True


SENSORS = [
    lambda **kw: CasedWorkflowRunSensor(task_id="s", workflow_id="wf", run_id="r", **kw),
    lambda **kw: CasedAgentSessionSensor(task_id="s", session_id="x", **kw),
    lambda **kw: CaseDevActionExecutionSensor(task_id="s", execution_id="e", **kw),
]


@pytest.mark.parametrize("make_sensor", SENSORS)
@pytest.mark.parametrize("interval", [0, 0.0, timedelta(0)])
def test_sensors_refuse_a_poke_interval_of_zero_at_parse_time(make_sensor, interval):
    # Deferred, an interval of 0 polled the API without pause (issue 21).
    with pytest.raises(ValueError, match="Task 's': poke_interval must be a positive number"):
        make_sensor(poke_interval=interval, deferrable=True)


@pytest.mark.parametrize("make_sensor", SENSORS)
def test_sensors_take_timedelta_intervals(make_sensor):
    sensor = make_sensor(poke_interval=timedelta(seconds=5), warn_after=timedelta(minutes=2))
    assert (sensor.poke_interval, sensor.warn_after) == (5.0, 120.0)
