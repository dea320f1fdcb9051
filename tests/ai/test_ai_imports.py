"""The ``[ai]`` extra costs nothing to whoever does not use it, and says what it needs."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys

import pytest

COMMON_AI = importlib.util.find_spec("airflow.providers.common.ai") is not None

# In one fresh interpreter (Airflow's import is what takes time): the common.ai and
# pydantic-ai modules that DAG-file imports load, then those the managed-agent hooks load.
PROBE = """
import sys, airflow_provider_cased.compat
def new(before):
    return sorted(m for m in set(sys.modules) - before
                  if m.startswith(("pydantic_ai", "airflow.providers.common.ai")))
before = set(sys.modules)
import airflow_provider_cased.operators.cased, airflow_provider_cased.operators.casedev
import airflow_provider_cased.sensors.cased, airflow_provider_cased.sensors.casedev
import airflow_provider_cased.notifications.cased, airflow_provider_cased.hooks.cased
import airflow_provider_cased.hooks.casedev, airflow_provider_cased.ai
print(new(before))
if {common_ai}:
    before = set(sys.modules)
    import airflow_provider_cased.ai.managed_agents
    print(new(before))
"""


def test_only_the_managed_agent_hooks_load_common_ai_and_never_pydantic_ai():
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(common_ai=COMMON_AI)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    printed = [ast.literal_eval(line) for line in out.stdout.splitlines() if line.startswith("[")]
    # Meaningful where common.ai is installed (the 3.3 line): nothing pulls it in by itself.
    assert printed[0] == []
    if COMMON_AI:
        assert "airflow.providers.common.ai.managed_agents.base" in printed[1]
        assert not [name for name in printed[1] if name.startswith("pydantic_ai")]


@pytest.mark.skipif(COMMON_AI, reason="common.ai is installed")
def test_without_the_extra_the_import_error_names_it():
    with pytest.raises(ImportError, match=r"pip install 'airflow-provider-cased\[ai\]'"):
        import airflow_provider_cased.ai.managed_agents  # noqa: F401
