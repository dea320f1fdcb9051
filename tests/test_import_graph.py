"""The package's import graph keeps its layers: no cycles, nothing imports upward, no
code reached through names as strings (ARCHITECTURE.md has the map).

Every import counts: module level, inside functions, and under ``TYPE_CHECKING``
(a type-only arrow upward is still a lower layer knowing a higher one).
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_cased"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

# Lowest first; a module may import its own layer and those before it. Patterns match
# dotted module names; the first layer with a matching pattern is the module's.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "ground: version, Airflow compat, exceptions, the connection form, argument names, asset URIs",
        (
            PACKAGE,
            f"{PACKAGE}.compat",
            f"{PACKAGE}.exceptions",
            f"{PACKAGE}._connection_form",
            f"{PACKAGE}._arguments",
            f"{PACKAGE}._asset_uris",
        ),
    ),
    (
        "the API description: endpoints, request bodies and their checks, retry policy, statuses, webhook deliveries",
        (
            f"{PACKAGE}._http",
            f"{PACKAGE}._attempts",
            f"{PACKAGE}._request_bodies",
            f"{PACKAGE}.states",
            f"{PACKAGE}._webhooks",
        ),
    ),
    ("the HTTP client", (f"{PACKAGE}.hooks._connection", f"{PACKAGE}.hooks._transport")),
    ("hooks", (f"{PACKAGE}.hooks", f"{PACKAGE}.hooks.*")),
    ("waiting", (f"{PACKAGE}._waiting",)),
    (
        "agents for common.ai: hooks that run one call to its end",
        (f"{PACKAGE}.ai", f"{PACKAGE}.ai.*"),
    ),
    (
        "tasks: operators, sensors, triggers, notifiers, links, approval, re-attaching",
        (
            f"{PACKAGE}.operators",
            f"{PACKAGE}.operators.*",
            f"{PACKAGE}.sensors",
            f"{PACKAGE}.sensors.*",
            f"{PACKAGE}.triggers",
            f"{PACKAGE}.triggers.*",
            f"{PACKAGE}.notifications",
            f"{PACKAGE}.notifications.*",
            f"{PACKAGE}.decorators",
            f"{PACKAGE}.decorators.*",
            f"{PACKAGE}.links",
            f"{PACKAGE}.approval",
            f"{PACKAGE}.retry_policy",
        ),
    ),
    (
        "plugins: the case.dev webhook receiver on the api-server",
        (f"{PACKAGE}.plugins", f"{PACKAGE}.plugins.*"),
    ),
    ("testing tools: the emulator, its CLI and pytest plugin", (f"{PACKAGE}.testing.*",)),
    ("testing tools' front door", (f"{PACKAGE}.testing",)),
    (
        "testing tools that use the front door: the CLI and the pytest plugin",
        (f"{PACKAGE}.testing.__main__", f"{PACKAGE}.testing.pytest_plugin"),
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int:
    # A module named exactly wins over a wildcard (``testing.pytest_plugin`` over ``testing.*``).
    for exact in (True, False):
        for index, (_, patterns) in enumerate(LAYERS):
            if any(
                (pattern == module) if exact else fnmatchcase(module, pattern)
                for pattern in patterns
            ):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def imports_of(module: str) -> set[str]:
    """The package's own modules that ``module`` imports, wherever the import stands."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            # ``import a.b.c`` runs a, a.b and a.b.c: the deepest one of ours is the arrow.
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE) and name != module:
                found.add(name)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_nothing_imports_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0].split(':')[0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0].split(':')[0]})"
        for module, targets in GRAPH.items()
        for target in sorted(targets)
        # The package's ``__init__`` is imported by every submodule first; what it
        # imports inside get_provider_info is read by Airflow only.
        if module != PACKAGE and layer_of(target) > layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target == PACKAGE:
                continue  # every module's parent package: see above
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_graph_is_read_as_it_is():
    # The checks above are only as good as the graph: known arrows must be in it.
    assert f"{PACKAGE}.compat" in GRAPH[f"{PACKAGE}.links"]
    assert any(t.startswith(f"{PACKAGE}.hooks") for t in GRAPH[f"{PACKAGE}.operators.cased"])


def calls_by_name(path: Path) -> list[str]:
    """``import_module(...)``/``__import__(...)`` of our own code, and calls of something
    looked up by a computed name (``getattr(hook, name)(...)``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = getattr(func, "id", None) or getattr(func, "attr", None)
        if name in ("import_module", "__import__"):
            target = node.args[0] if node.args else None
            if not (isinstance(target, ast.Constant) and not str(target.value).startswith(PACKAGE)):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if (
            isinstance(func, ast.Call)
            and getattr(func.func, "id", None) == "getattr"
            and len(func.args) >= 2
            and not isinstance(func.args[1], ast.Constant)
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_code_is_reached_through_a_name_as_a_string(module):
    assert not calls_by_name(MODULES[module])
