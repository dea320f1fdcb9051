"""The case.dev webhook receiver in-process (FastAPI's TestClient) on the real metadata DB:
every answer code, exactly-once recording, a 5xx when the event cannot be committed, and
the plugin mounted by Airflow's own api-server app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cased.compat import airflow_at_least
from airflow_provider_cased.plugins.casedev_webhooks import CaseDevWebhooksPlugin, webhook_apps

SECRET = "whsec_" + uuid.uuid4().hex
CONN_ID = "casedev_hooks"
FOLLOW_UP_DAG = "casedev_contract_review_follow_up"
ACTION = "action_contract_review"  # the example DAG is scheduled on its asset
ASSET_URI = f"casedev://actions/{ACTION}"

needs_receiver = pytest.mark.skipif(
    not airflow_at_least(3, 1), reason="the receiver is mounted on Airflow 3.1+"
)


def test_plugin_mounts_the_receiver_from_airflow_3_1_and_nothing_before():
    apps = CaseDevWebhooksPlugin.fastapi_apps
    if airflow_at_least(3, 1):
        [entry] = apps
        assert entry["url_prefix"] == "/casedev" and entry["name"] == "case.dev webhooks"
        assert CaseDevWebhooksPlugin.fastapi_apps is apps  # built once
    else:
        assert apps == [] and webhook_apps() == []


def test_loading_the_plugin_builds_nothing():
    # Airflow imports the plugin in every process that loads plugins (scheduler, DAG
    # processor, tasks): the receiver and FastAPI come only when fastapi_apps is read.
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_cased.compat;"
        "before=set(sys.modules);"
        "import airflow_provider_cased.plugins.casedev_webhooks;"
        "new=set(sys.modules)-before;"
        "print(sorted(m for m in new if m.split('.')[0] in ('fastapi','starlette')"
        " or m.startswith('airflow_provider_cased.plugins._')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def follow_up_asset(airflow_db) -> int:
    """The example DAG in the metadata DB as the DAG processor writes it, unpaused: its
    asset exists, and an event on it queues a run."""
    import os

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.asset import AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select, update

    from airflow_provider_cased.compat import dag_bag

    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # 3.1
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef]

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "example_casedev_webhook_follow_up.py"
    bag = dag_bag(str(path))
    assert FOLLOW_UP_DAG in bag.dag_ids, bag.import_errors
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == FOLLOW_UP_DAG).values(is_paused=False)
        )
        return int(session.scalar(select(AssetModel.id).where(AssetModel.uri == ASSET_URI)))


@pytest.fixture
def webhook_connection(set_connection) -> str:
    """The casedev connection the deliveries name, with the signing secret."""
    return set_connection(
        CONN_ID,
        "https://api.case.dev",
        password="sk_case_test",
        conn_type="casedev",
        extra={"webhook_secret": SECRET},
    )


@pytest.fixture
def client(follow_up_asset, webhook_connection) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from airflow_provider_cased.plugins._webhook_app import build_app

    with TestClient(build_app()) as test_client:
        yield test_client


def delivery(event_type: str = "action.completed", **changes: Any) -> dict[str, Any]:
    body = {
        "event_type": event_type,
        "execution_id": f"exec_{uuid.uuid4().hex[:12]}",  # the DB outlives a test run
        "action_id": ACTION,
        "action_name": "Contract review",
        "status": "completed" if event_type != "action.failed" else "failed",
        "output": {"summary": "confidential findings"},
        "step_results": {"ask_llm": {"output": {}, "duration_ms": 1500}},
        "duration_ms": 1500,
        "completed_at": "2026-12-06T08:00:00Z",
    }
    body.update(changes)
    return body


def post(
    client: Any,
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    conn_id: str = CONN_ID,
    headers: dict[str, str] | None = None,
    prefix: str = "",
) -> Any:
    from airflow_provider_cased._webhooks import sign

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "X-CaseMark-Signature": sign(secret, raw)}
    if isinstance(body, dict):
        sent["X-CaseMark-Event"] = str(body.get("event_type"))
        sent["X-CaseMark-Execution-Id"] = str(body.get("execution_id"))
    sent.update(headers or {})
    return client.post(f"{prefix}/webhooks/{conn_id}", content=raw, headers=sent)


def events_of(execution_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == ASSET_URI)
        ).all()
    return [
        {"id": event_id, **extra}
        for event_id, extra in rows
        if extra.get("execution_id") == execution_id
    ]


def queued_run(asset_id: int) -> bool:
    """Whether the scheduler has a run of the follow-up DAG to create for the asset."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return bool(
            session.scalar(
                select(AssetDagRunQueue.asset_id).where(
                    AssetDagRunQueue.asset_id == asset_id,
                    AssetDagRunQueue.target_dag_id == FOLLOW_UP_DAG,
                )
            )
        )


def clear_queue(asset_id: int) -> None:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.asset_id == asset_id))


@needs_receiver
def test_a_signed_completion_is_one_asset_event_and_queues_the_dag_once(client, follow_up_asset):
    clear_queue(follow_up_asset)
    body = delivery()
    first = post(client, body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "recorded" and first.json()["asset_uri"] == ASSET_URI
    [event] = events_of(body["execution_id"])
    assert event == {
        "id": first.json()["asset_event_ids"][0],
        "kind": "action_execution",
        "source": "casedev_webhook",
        "event_type": "action.completed",
        "execution_id": body["execution_id"],
        "action_id": ACTION,
        "action_name": "Contract review",
        "status": "completed",
        "duration_ms": 1500,
        "completed_at": "2026-12-06T08:00:00Z",
    }
    assert queued_run(follow_up_asset)

    # case.dev retries, a proxy replays: answered 200, nothing recorded or queued again.
    clear_queue(follow_up_asset)
    again = post(client, body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["asset_event_ids"] == first.json()["asset_event_ids"]
    assert len(events_of(body["execution_id"])) == 1
    assert not queued_run(follow_up_asset)


@needs_receiver
def test_the_key_is_execution_id_and_event_type(client):
    completed = delivery()
    failed = delivery("action.failed", execution_id=completed["execution_id"])
    assert post(client, completed).json()["status"] == "recorded"
    assert post(client, failed).json()["status"] == "recorded"
    assert post(client, failed).json()["status"] == "duplicate"
    types = sorted(e["event_type"] for e in events_of(completed["execution_id"]))
    assert types == ["action.completed", "action.failed"]


@needs_receiver
def test_no_signature_or_a_wrong_one_is_401_and_records_nothing(client):
    body = delivery()
    missing = post(client, body, headers={"X-CaseMark-Signature": ""})
    wrong = post(client, body, secret="not the secret")
    tampered = post(
        client, json.dumps(body).encode(), headers={"X-CaseMark-Signature": "sha256=" + "0" * 64}
    )
    assert [r.status_code for r in (missing, wrong, tampered)] == [401, 401, 401]
    assert events_of(body["execution_id"]) == []


@needs_receiver
def test_an_unknown_connection_is_404_with_the_401_body(client, set_connection):
    body = delivery()
    unauthorized = post(client, body, secret="wrong")
    set_connection("casedev_no_secret", "https://api.case.dev", password="k", conn_type="casedev")
    set_connection(
        "cased_other", "https://app.cased.com", password="k", extra={"webhook_secret": SECRET}
    )
    for conn_id in ("no_such_connection", "casedev_no_secret", "cased_other"):
        refused = post(client, body, conn_id=conn_id)
        assert refused.status_code == 404, conn_id
        assert refused.content == unauthorized.content
    assert events_of(body["execution_id"]) == []


@needs_receiver
def test_a_body_over_the_limit_is_413_before_it_is_read_whole(client, monkeypatch):
    from airflow_provider_cased.plugins import _webhook_app

    monkeypatch.setattr(_webhook_app, "MAX_BODY_BYTES", 1000)
    body = delivery(output={"text": "x" * 2000})
    declared = post(client, body)  # Content-Length over the limit: refused unread
    assert declared.status_code == 413, declared.text

    sent = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the running size is over
        raw = json.dumps(body).encode()
        for start in range(0, len(raw), 300):
            sent.append(start)
            yield raw[start : start + 300]

    streamed = client.post(
        f"/webhooks/{CONN_ID}",
        content=chunks(),
        headers={"X-CaseMark-Signature": "sha256=" + "0" * 64},
    )
    assert streamed.status_code == 413
    assert events_of(body["execution_id"]) == []
    assert post(client, delivery()).status_code == 200  # under the limit: fine


@needs_receiver
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "not JSON"),
        (
            json.dumps({k: v for k, v in delivery().items() if k != "action_id"}).encode(),
            "action_id",
        ),
        (json.dumps(delivery(execution_id="exec 1; drop")).encode(), "execution_id"),
    ],
    ids=["not-json", "missing-field", "bad-id"],
)
def test_a_signed_body_that_is_not_the_document_is_400(client, raw, field):
    refused = post(client, raw)
    assert refused.status_code == 400 and field in refused.json()["detail"]


@needs_receiver
def test_a_header_that_disagrees_with_the_signed_body_is_400(client):
    body = delivery()
    refused = post(client, body, headers={"X-CaseMark-Event": "action.failed"})
    assert refused.status_code == 400
    assert events_of(body["execution_id"]) == []


@needs_receiver
def test_an_event_it_does_not_handle_is_202_and_ignored(client, logs):
    body = delivery("action.started", status="running")
    answer = post(client, body)
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert events_of(body["execution_id"]) == []
    assert "ignored event 'action.started'" in logs()


@needs_receiver
def test_an_action_no_dag_is_scheduled_on_is_202(client):
    answer = post(client, delivery(action_id="action_nobody_listens"))
    assert answer.status_code == 202 and "no DAG is scheduled" in answer.json()["reason"]


@needs_receiver
def test_an_event_that_cannot_be_committed_is_500_and_the_retry_records_it_once(client, logs):
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    def fail(session: Any) -> None:  # the fault: the DB refuses the commit
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    body = delivery()
    event.listen(Session, "before_commit", fail)
    try:
        failed = post(client, body)
    finally:
        event.remove(Session, "before_commit", fail)
    assert failed.status_code == 500 and "retry" in failed.json()["detail"]
    assert events_of(body["execution_id"]) == []  # rolled back: nothing half-recorded
    retried = post(client, body)
    assert retried.status_code == 200 and retried.json()["status"] == "recorded"
    assert len(events_of(body["execution_id"])) == 1
    assert SECRET not in logs()


@needs_receiver
def test_the_api_server_refuses_to_start_where_the_pinned_function_is_missing(monkeypatch):
    from airflow.assets import manager

    from airflow_provider_cased.plugins._webhook_app import build_app

    # The fault no installed Airflow makes: an AssetManager without register_asset_change.
    monkeypatch.setattr(manager, "asset_manager", object())
    with pytest.raises(RuntimeError, match=r"register_asset_change.*3\.1-3\.4"):
        build_app()


@needs_receiver
def test_airflow_mounts_it_outside_its_login(follow_up_asset, webhook_connection, monkeypatch):
    """Airflow's own api-server app, from provider info → plugins manager → mount."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", uuid.uuid4().hex)
    body = delivery()
    with TestClient(create_app()) as api:
        unauthorized = api.get("/api/v2/dags")
        answer = post(api, body, prefix="/casedev")
    assert unauthorized.status_code == 401  # the rest of the api-server wants a login
    assert answer.status_code == 200, answer.text
    assert len(events_of(body["execution_id"])) == 1
