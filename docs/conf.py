"""Sphinx configuration of the docs site (``make docs``): MyST Markdown pages, furo, autodoc.

Offline by design: no intersphinx, no remote images, nothing fetched at build time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the provider, which imports Airflow: give it a throwaway home (Airflow
# writes its config there on first import) instead of ~/airflow, with examples off.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cased-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_cased import __version__  # noqa: E402

project = "airflow-provider-cased"
author = "airflow-provider-cased contributors"
copyright = "the airflow-provider-cased contributors"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
# docs/api/ holds copies of the API documents (a test compares them), docs/testing-recipe/
# is a project a test runs from an empty folder, docs/snippets/ holds code the pages include.
exclude_patterns = ["_build", "api", "testing-recipe", "snippets", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The [ai] extra's common.ai lives in its own venv (`make test-ai`), not the one the docs
# build in: its classes are stand-ins here, enough to document our hooks on top of them.
# Only when it is absent: stood in for an installed common.ai, Airflow's own provider
# discovery reads the stand-in and fails.
if importlib.util.find_spec("airflow.providers.common.ai") is None:
    autodoc_mock_imports = ["airflow.providers.common.ai"]

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"airflow-provider-cased {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
