"""The ``casedev://`` asset URI scheme the provider registers with Airflow: ``casedev://actions/<action_id>``.

Airflow imports this module (provider info ``asset-uris``, 2.11: ``dataset-uris``) when a
DAG file builds an asset of a registered scheme, so it imports nothing.
"""

from __future__ import annotations

import re
from typing import Any

CASEDEV_SCHEME = "casedev"
ACTIONS = "actions"
# What case.dev ids look like (``action_abc123``, ``exec_xyz789``), with room to spare; the
# webhook receiver refuses other ids, so every id it handles is safe in a URI and a LIKE.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")


def action_asset_uri(action_id: str) -> str:
    """The asset a finished execution of ``action_id`` updates (webhooks, operator outlets)."""
    return f"{CASEDEV_SCHEME}://{ACTIONS}/{action_id}"


def normalize_casedev_uri(parts: Any) -> Any:
    """Airflow's URI handler for ``casedev``: ``casedev://actions/<action_id>`` must name one
    action (no deeper path, no query). Other ``casedev://`` hosts pass unchanged: they were
    free to use before the scheme was registered, and must not break a DAG file now.

    :param parts: the ``urllib.parse.SplitResult`` Airflow hands every handler.
    """
    if parts.netloc != ACTIONS:
        return parts
    action_id = parts.path.lstrip("/")
    if not ID_PATTERN.fullmatch(action_id) or parts.query:
        raise ValueError(
            f"A case.dev action asset is casedev://actions/<action_id> (an id such as "
            f"action_abc123); got {parts.geturl()!r}"
        )
    return parts
