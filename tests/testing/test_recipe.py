"""The documented recipe for testing your own DAGs works from an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "testing-recipe"


def test_the_testing_recipe_passes_in_a_fresh_project(tmp_path):
    # Exactly the documented files, in a folder of their own, with none of this suite's
    # Airflow settings: the shipped plugin must make the home, migrate it and poll fast.
    project = tmp_path / "project"
    shutil.copytree(RECIPE, project)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "CASED_", "PYTEST_"))
    }
    # A temporary folder of its own: another pytest on the machine may be making homes.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    # The throwaway home is removed at the end of the session.
    assert not list(scratch.glob("cased-airflow-home-*"))
