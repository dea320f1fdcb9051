"""`make wheel-check`: build the wheel and sdist, install the wheel into a fresh venv, use it.

Checks what a user who runs `pip install airflow-provider-cased` gets: the
files (py.typed included), `airflow providers list` showing the provider, and
the example DAGs parsing with the installed package (not this source tree).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_VERSION = os.environ.get("AIRFLOW_VERSION", "3.3.2")


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], check=True, text=True, **kwargs)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="cased-wheel-"))
    try:
        dist = work / "dist"
        run(sys.executable, "-m", "build", "--outdir", dist, ROOT, capture_output=True)
        wheel = next(dist.glob("*.whl"))
        sdist = next(dist.glob("*.tar.gz"))
        names = zipfile.ZipFile(wheel).namelist()
        for required in (
            "airflow_provider_cased/py.typed",
            "airflow_provider_cased/testing/emulator.py",
            "airflow_provider_cased/testing/server.py",
            "airflow_provider_cased/testing/cased.py",
            "airflow_provider_cased/testing/casedev.py",
        ):
            assert required in names, f"{required} missing from {wheel.name}"
        assert not any(n.startswith(("tests/", "example_dags/")) for n in names), names
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "apache_airflow_provider" in zipfile.ZipFile(wheel).read(entry_points).decode()
        print(f"built {wheel.name} ({len(names)} files) and {sdist.name}")

        venv = work / "venv"
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        run(uv, "venv", "-q", "--python", sys.executable, venv)
        python = venv / "bin" / "python"
        run(
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            python,
            f"apache-airflow=={AIRFLOW_VERSION}",
            wheel,
        )

        env = {
            **os.environ,
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "PYTHONPATH": "",
        }
        listed = run(
            venv / "bin" / "airflow",
            "providers",
            "list",
            "--output",
            "json",
            capture_output=True,
            env=env,
            cwd=work,
        ).stdout
        providers = json.loads(listed[listed.index("[") :])
        ours = [p for p in providers if p["package_name"] == "airflow-provider-cased"]
        assert ours, f"provider not listed: {[p['package_name'] for p in providers]}"
        print(f"airflow providers list: {ours[0]}")

        parse = (
            "import airflow_provider_cased, sys;"
            f"assert airflow_provider_cased.__file__.startswith({str(venv)!r}), airflow_provider_cased.__file__;"
            "from airflow_provider_cased.compat import dag_bag;"
            f"bag = dag_bag({str(ROOT / 'example_dags')!r});"
            "assert not bag.import_errors, bag.import_errors;"
            "print('example DAGs parsed:', sorted(bag.dag_ids))"
        )
        run(python, "-c", parse, env=env, cwd=work)
        print("wheel check passed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
