"""Recording a verified delivery as one asset event, exactly once, in one DB transaction.

Airflow's supported way to add an asset event from outside a task is its REST API
(``POST /api/v2/assets/events``), which calls ``AssetManager.register_asset_change`` in
the api-server. The receiver calls that same function in-process instead, because only
then does the duplicate check share the event's transaction: the asset's rows are locked
(``SELECT … FOR UPDATE``; SQLite takes one writer at a time), the asset's events are
searched for this delivery's key (execution id + event type, kept in the event's
``extra``), and the event is added and committed, or nothing is. It also needs no Airflow
credentials in the plugin. ``register_asset_change`` is internal: ``registrar()`` pins the
parameters used, the tests run it on every supported 3.x line, and the api-server refuses
to start on a line where it is missing.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from airflow_provider_cased import compat
from airflow_provider_cased._webhooks import Delivery

# The parameters of AssetManager.register_asset_change this module passes (3.1-3.4).
PINNED_PARAMETERS = ("asset", "extra", "session")
# One recording at a time per process: the row lock covers other processes on
# PostgreSQL/MySQL; this keeps two threads of one api-server from racing on SQLite.
_RECORDING = threading.Lock()


class Recorded:
    """What happened to a delivery: ``recorded``, ``duplicate`` or ``no_asset``."""

    def __init__(self, outcome: str, event_ids: list[int]) -> None:
        self.outcome = outcome
        self.event_ids = event_ids


def registrar() -> Callable[..., Any]:
    """``asset_manager.register_asset_change``, checked to take the pinned parameters.

    :raises RuntimeError: on an Airflow where it is missing or changed (at start-up).
    """
    problem = ""
    try:
        from airflow.assets.manager import asset_manager

        register = asset_manager.register_asset_change
        parameters = inspect.signature(register).parameters
        missing = [name for name in PINNED_PARAMETERS if name not in parameters]
        if missing:
            problem = f"it takes no {', '.join(missing)}"
    except (ImportError, AttributeError) as exc:
        problem = str(exc)
    if problem:
        raise RuntimeError(
            "case.dev webhooks record asset events with Airflow's internal "
            f"AssetManager.register_asset_change, pinned for Airflow 3.1-3.4; on Airflow "
            f"{compat.AIRFLOW_VERSION} {problem}. Remove the provider's webhook plugin "
            "or upgrade airflow-provider-cased."
        )
    return register  # type: ignore[no-any-return]


def record(delivery: Delivery, register: Callable[..., Any]) -> Recorded:
    """Add the delivery's asset event on every asset whose URI is its action's, committed
    before this returns; a delivery already recorded adds nothing. Any failure raises,
    with the transaction rolled back."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import Text, cast, select

    with _RECORDING, create_session() as session:
        assets = list(
            session.scalars(
                select(AssetModel)
                .where(AssetModel.uri == delivery.asset_uri)
                .order_by(AssetModel.id)
                .with_for_update()
            )
        )
        if not assets:
            return Recorded("no_asset", [])
        # The execution id is a plain id (checked), so it appears verbatim in the stored JSON:
        # a text match narrows the search to its events, the dict comparison decides.
        candidates = session.execute(
            select(AssetEvent.id, AssetEvent.extra).where(
                AssetEvent.asset_id.in_([asset.id for asset in assets]),
                cast(AssetEvent.extra, Text).contains(str(delivery.execution_id), autoescape=True),
            )
        ).all()
        earlier = [event_id for event_id, extra in candidates if delivery.is_recorded_in(extra)]
        if earlier:
            return Recorded("duplicate", sorted(earlier))
        events = []
        for asset in assets:
            event = register(asset=asset, extra=delivery.extra(), session=session)
            if event is None:
                raise RuntimeError(f"Airflow recorded no asset event for {delivery.asset_uri}")
            events.append(event)
        session.flush()
        recorded = Recorded("recorded", [event.id for event in events])
    return recorded
