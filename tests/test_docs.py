"""The docs: no Python typed into a page, every snippet runs, every README link resolves.

Pages (README.md, docs/**/*.md) show code only by including it (``literalinclude``)
from files that run: example_dags/ (``make demo``, tests/test_dags.py),
docs/testing-recipe/ (tests/testing/test_recipe.py) and docs/snippets/ (this module).
GitHub cannot include files, so the README's one DAG is a copy: it must equal a marked
region of a snippet. The Sphinx build itself is CI's ``make docs``, not a test here.
"""

from __future__ import annotations

import re
import runpy
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"
AIRFLOW = tuple(int(part) for part in re.findall(r"\d+", version("apache-airflow"))[:2])

# Folders under docs/ that are not pages of ours.
NOT_PAGES = {
    DOCS / "_build",  # the built site
    DOCS / "api",  # copies of the vendors' API documents, compared with ../shared/api
    DOCS / "testing-recipe",  # a project of its own, run from an empty folder
}
# Pages allowed a typed Python block, each with its reason. Keep it empty if you can.
EXEMPT: dict[str, str] = {}

# Where a README block may be copied from: the files CI runs.
RUN_SOURCES = [SNIPPETS, ROOT / "example_dags", DOCS / "testing-recipe"]

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
PYTHON_INFO = re.compile(
    r"^\s*(\{(code-block|code|sourcecode)\}\s*)?(python3?|py|pycon|ipython)\b", re.IGNORECASE
)
RST_PYTHON = re.compile(r"^\s*\.\.\s+(code-block|code|sourcecode)::\s*(python3?|py|pycon)\b", re.M)
INCLUDE = re.compile(r"^(`{3,})\{literalinclude\}\s+(?P<path>\S+)\n(?P<options>(?::.*\n)*)", re.M)
MARKER = re.compile(
    r"^\s*# \[START (?P<name>[\w-]+)\]\n(?P<body>.*?)^\s*# \[END (?P=name)\]", re.M | re.S
)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def pages() -> list[Path]:
    found = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*")):
        if path.suffix in (".md", ".rst") and not any(p in path.parents for p in NOT_PAGES):
            found.append(path)
    return found


def fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number, info string, body) of every fenced block (``` or ~~~)."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening:
            fence, info, start = opening["fence"], opening["info"], i
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith(fence):
                body.append(lines[i])
                i += 1
            blocks.append((start + 1, info.strip(), "\n".join(body)))
        i += 1
    return blocks


def marked_regions() -> list[str]:
    """Every ``# [START x]``/``# [END x]`` region of the files CI runs, dedented."""
    regions = []
    for folder in RUN_SOURCES:
        for path in folder.rglob("*.py"):
            for found in MARKER.finditer(path.read_text()):
                regions.append(textwrap.dedent(found["body"]).strip())
    return regions


def test_there_are_pages():
    names = {path.name for path in pages()}
    assert {"README.md", "index.md", "operators.md", "troubleshooting.md"} <= names


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_python_typed_into_a_page(page):
    """Python on a page comes from a file that runs: ``literalinclude``, not a code block.

    The README (GitHub cannot include) may hold copies of marked snippet regions."""
    relative = str(page.relative_to(ROOT))
    if relative in EXEMPT:
        pytest.skip(EXEMPT[relative])
    text = page.read_text()
    typed = [(line, body) for line, info, body in fenced_blocks(text) if PYTHON_INFO.match(info)]
    typed += [(text[: m.start()].count("\n") + 1, "") for m in RST_PYTHON.finditer(text)]
    if page.name == "README.md" and page.parent == ROOT:
        regions = marked_regions()
        stray = [line for line, body in typed if textwrap.dedent(body).strip() not in regions]
        assert not stray, (
            f"README.md: the Python block(s) at line(s) {stray} are not a copy of a "
            "# [START x] / # [END x] region of docs/snippets/, example_dags/ or "
            "docs/testing-recipe/: put the code in a snippet a test runs and copy it"
        )
    else:
        assert not typed, (
            f"{relative}: Python block(s) typed in at line(s) {[line for line, _ in typed]}: "
            "include them from a file that runs (```{literalinclude} with :start-after: / "
            ":end-before: markers) instead"
        )


def includes() -> list[tuple[Path, str, dict[str, str]]]:
    found = []
    for page in pages():
        for match in INCLUDE.finditer(page.read_text()):
            options = dict(
                re.match(r":([\w-]+):\s*(.*)", line).groups()  # type: ignore[union-attr]
                for line in match["options"].splitlines()
            )
            found.append((page, match["path"], options))
    return found


def test_every_include_finds_its_file_and_markers():
    problems = []
    for page, target, options in includes():
        path = (page.parent / target).resolve()
        if not path.is_file():
            problems.append(f"{page.name}: {target} does not exist")
            continue
        text = path.read_text()
        for option in ("start-after", "end-before"):
            marker = options.get(option, "").strip().strip('"')
            if marker and text.count(marker) != 1:
                problems.append(
                    f"{page.name}: {option} {marker!r} is in {target} {text.count(marker)} times"
                )
        if path.suffix == ".py":
            ok = any(folder in path.parents for folder in RUN_SOURCES)
            if not ok:
                problems.append(f"{page.name}: {target} is not under a folder CI runs")
    assert not problems, "\n".join(problems)
    assert len(includes()) >= 15


def relative_links(page: Path) -> list[str]:
    text = page.read_text()
    # Links inside code blocks are code, not links.
    for _, _, body in fenced_blocks(text):
        text = text.replace(body, "")
    return [
        target
        for target in (m["target"] for m in LINK.finditer(text))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(page):
    missing = [
        target
        for target in relative_links(page)
        if not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)}: links to missing files: {missing}"


def test_readme_links_every_docs_page():
    """The README's table links each page, or the file a page only includes (CHANGELOG.md)."""
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in relative_links(ROOT / "README.md")}
    unlinked = []
    for page in pages():
        if page.parent != DOCS or page.name == "index.md":
            continue
        wrapped = re.search(r"\{include\}\s+(\S+)", page.read_text())
        shown = (page.parent / wrapped[1]).resolve() if wrapped else page.resolve()
        if shown not in linked:
            unlinked.append(page.name)
    assert not unlinked, f"README.md's docs table lacks {unlinked}"


# -- the API reference covers the public names ---------------------------------------------

# The public names of DESIGN.md's table (../shared/DESIGN.md is not in the repository, so
# the table is mirrored here): each has an entry in docs/api.md, with every parameter.
PUBLIC_NAMES = {
    "airflow_provider_cased": ["get_provider_info"],
    "airflow_provider_cased.hooks.cased": ["CasedHook"],
    "airflow_provider_cased.hooks.casedev": ["CaseDevHook"],
    "airflow_provider_cased.operators.cased": [
        "CasedDeploymentOperator",
        "CasedAgentSessionOperator",
        "CasedWorkflowRunOperator",
    ],
    "airflow_provider_cased.operators.casedev": ["CaseDevActionOperator"],
    "airflow_provider_cased.sensors.cased": ["CasedWorkflowRunSensor", "CasedAgentSessionSensor"],
    "airflow_provider_cased.sensors.casedev": ["CaseDevActionExecutionSensor"],
    "airflow_provider_cased.triggers.cased": [
        "CasedWorkflowRunTrigger",
        "CasedAgentSessionTrigger",
        "CasedWorkflowRunEventTrigger",
    ],
    "airflow_provider_cased.triggers.casedev": ["CaseDevActionExecutionTrigger"],
    "airflow_provider_cased.notifications.cased": [
        "CasedDeploymentNotifier",
        "CasedAgentSessionNotifier",
    ],
    "airflow_provider_cased.decorators.cased": [
        "cased_workflow_run_task",
        "cased_agent_session_task",
    ],
    "airflow_provider_cased.decorators.casedev": ["casedev_action_task"],
    "airflow_provider_cased.approval": ["Approval"],
    "airflow_provider_cased.retry_policy": ["CasedRetryPolicy"],
}
AUTOMODULE = re.compile(r"^\.\. automodule:: (?P<module>\S+)\n(?P<options>(?:[ \t]+:.*\n?)*)", re.M)


def documented_members() -> dict[str, set[str] | None]:
    """Module -> the names its automodule lists (None: ``:members:`` with no list, all)."""
    found: dict[str, set[str] | None] = {}
    for entry in AUTOMODULE.finditer((DOCS / "api.md").read_text()):
        members = re.search(r":members:(.*)", entry["options"])
        if members:
            listed = {name.strip() for name in members[1].split(",") if name.strip()}
            found[entry["module"]] = listed or None
    return found


def test_every_public_name_has_a_reference_entry():
    members = documented_members()
    missing = [
        f"{module}.{name}"
        for module, names in PUBLIC_NAMES.items()
        for name in names
        if module not in members or (members[module] is not None and name not in members[module])
    ]
    assert not missing, f"docs/api.md has no entry for {missing}"


@pytest.mark.parametrize(
    "module, name",
    [(module, name) for module, names in PUBLIC_NAMES.items() for name in names],
    ids=lambda value: value.rsplit(".", 1)[-1],
)
def test_reference_entries_document_every_parameter(module, name):
    import importlib
    import inspect

    try:
        public = getattr(importlib.import_module(module), name)
    except ImportError as needs_newer:  # the event trigger and the retry policy need Airflow 3
        pytest.skip(str(needs_newer))
    function = public.__init__ if inspect.isclass(public) else public
    documented = (public.__doc__ or "") + (function.__doc__ or "")
    undocumented = [
        parameter.name
        for parameter in inspect.signature(function).parameters.values()
        if parameter.name != "self"
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and not re.search(rf":param (\S+ )?{parameter.name}:", documented)
    ]
    assert not undocumented, f"{module}.{name}: no :param: for {undocumented}"


# -- the snippets the pages include run ---------------------------------------------------


def build(name: str) -> object:
    return runpy.run_path(str(SNIPPETS / f"{name}.py"), run_name=f"docs_snippet_{name}")["dag"]


@pytest.mark.skipif(AIRFLOW < (3, 0), reason="the README's DAG imports airflow.sdk (Airflow 3)")
def test_first_dag_builds():
    dag = build("first_dag")
    [task] = dag.tasks
    assert task.workflow_name == "Weekly cost review"


def test_operator_snippets_build():
    dag = build("operators")
    assert {task.task_id for task in dag.tasks} == {"investigate", "review"}
    assert dag.get_task("review").pool == "cased_api"


@pytest.mark.skipif(AIRFLOW < (3, 1), reason="approval needs Airflow 3.1 (human-in-the-loop)")
def test_approval_snippet_builds():
    dag = build("approval")
    assert {task.task_id for task in dag.tasks} == {"fix_prod", "notify", "contract_review"}


@pytest.mark.skipif(AIRFLOW < (3, 1), reason="Deadline Alerts need Airflow 3.1")
def test_deadline_alert_snippet_builds():
    dag = build("deadline_alerts")
    assert dag.deadline


def test_hooks_snippet_runs_against_the_emulator(emulator):
    result = runpy.run_path(str(SNIPPETS / "hooks.py"))["hooks_tour"]()
    assert result["run"]["workflow"] == "wf_weekly_cost_review"
    assert result["execution"]["status"] == "completed"
    [run] = emulator.runs.values()
    assert run["context"] == {"pr_number": 42}
