"""A misspelt argument name gets a suggestion of the one it was meant to be.

Airflow refuses an unknown keyword (``poll_intervall=30``) with "Invalid arguments were
passed", naming only what it refused. The suggestion costs nothing on the happy path:
the names are looked at only once Airflow has refused one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def argument_names(task_class: type) -> set[str]:
    """Every keyword the class's constructors take, its Airflow base classes' included."""
    import inspect  # here: DAG files import this module, and pay only when a name is wrong

    names: set[str] = set()
    for klass in task_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # a constructor written in C
            continue
        names.update(
            p.name
            for p in parameters
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
        )
    return names


def suggestions(task_class: type, given: Mapping[str, Any]) -> list[str]:
    """``"poll_intervall (did you mean poll_interval?)"`` for each unknown, close name."""
    import difflib

    known = argument_names(task_class)
    found = []
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        if close:
            found.append(f"{name} (did you mean {close[0]}?)")
    return found


@contextmanager
def suggesting_names(task_class: type, given: Mapping[str, Any]) -> Iterator[None]:
    """Around ``super().__init__(**kwargs)``: Airflow's refusal, with the likely names added."""
    try:
        yield
    except Exception as error:
        if "Invalid arguments were" not in str(error):
            raise
        hints = suggestions(task_class, given)
        if not hints:
            raise
        # Same type as Airflow's (TypeError on 3.x, AirflowException on 2.11).
        raise type(error)(f"{error}\n{'; '.join(hints)}") from None
