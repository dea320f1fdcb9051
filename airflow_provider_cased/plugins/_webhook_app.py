"""The FastAPI app that receives case.dev webhooks: ``POST /webhooks/{conn_id}``.

It is mounted outside Airflow's login, so these rules are its whole security, in order:
a body over ``MAX_BODY_BYTES`` → 413 before it is read whole; a connection that is not a
``casedev`` one with a ``webhook_secret`` → 404; a missing or wrong signature → 401 (the
same body as the 404); then a body that is not the document's JSON → 400; an event it does
not handle → 202, ignored; otherwise the asset event is committed, then 200. A failure to
record is a 5xx, so case.dev sends the delivery again. The secret is never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_cased._webhooks import (
    MAX_BODY_BYTES,
    SECRET_EXTRA,
    SIGNATURE_HEADER,
    WebhookRejected,
    parse_delivery,
    signature_matches,
)
from airflow_provider_cased.plugins import _asset_events

log = logging.getLogger(__name__)

# The 401 and the 404 say the same: which of the two it was is for the server log.
REFUSED = "Signature missing or invalid, or no such case.dev connection"


def webhook_secret(conn_id: str) -> str | None:
    """The signing secret of a ``casedev`` connection; None when there is none to use."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    if conn.conn_type != "casedev":
        log.warning("case.dev webhook for connection %r refused: its type is not casedev", conn_id)
        return None
    secret = (conn.extra_dejson or {}).get(SECRET_EXTRA)
    if not isinstance(secret, str) or not secret.strip():
        log.warning(
            "case.dev webhook for connection %r refused: it has no %r extra", conn_id, SECRET_EXTRA
        )
        return None
    return secret.strip()


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 once it is over the limit, announced or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise WebhookRejected(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise WebhookRejected(413, f"The body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise WebhookRejected(413, f"The body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def answer(status_code: int, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status_code)


def build_app() -> FastAPI:
    """The receiver; raises at once (api-server start-up) if this Airflow lacks what it pins."""
    register = _asset_events.registrar()
    app = FastAPI(
        title="case.dev webhooks (airflow-provider-cased)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.post("/webhooks/{conn_id}")
    async def receive(conn_id: str, request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
            try:
                secret = await run_in_threadpool(webhook_secret, conn_id)
            except Exception:
                log.exception("case.dev webhook: could not read connection %r", conn_id)
                return answer(503, detail="The connection could not be read; retry later")
            if secret is None:
                return answer(404, detail=REFUSED)
            if not signature_matches(secret, body, request.headers.get(SIGNATURE_HEADER)):
                log.warning("case.dev webhook for %r refused: bad or missing signature", conn_id)
                return answer(401, detail=REFUSED)
            delivery = parse_delivery(body, request.headers)
        except WebhookRejected as refused:
            log.warning(
                "case.dev webhook for %r refused (%s): %s", conn_id, refused.status_code, refused
            )
            return answer(refused.status_code, detail=refused.detail)
        if not delivery.handled:
            log.info(
                "case.dev webhook for %r: ignored event %r (execution %s)",
                conn_id,
                delivery.event_type,
                delivery.execution_id,
            )
            return answer(202, status="ignored", event_type=delivery.event_type)
        try:
            recorded = await run_in_threadpool(_asset_events.record, delivery, register)
        except Exception:
            log.exception(
                "case.dev webhook for %r: could not record %s of execution %s; answered 500 so "
                "case.dev retries",
                conn_id,
                delivery.event_type,
                delivery.execution_id,
            )
            return answer(500, detail="The event could not be recorded; retry")
        log.info(
            "case.dev webhook for %r: %s of execution %s on %s: %s %s",
            conn_id,
            delivery.event_type,
            delivery.execution_id,
            delivery.asset_uri,
            recorded.outcome,
            recorded.event_ids,
        )
        if recorded.outcome == "no_asset":
            # Nothing is scheduled on it, so nothing can be lost: no retry wanted.
            return answer(
                202,
                status="ignored",
                reason=f"No asset {delivery.asset_uri}: no DAG is scheduled on it",
            )
        return answer(
            200,
            status=recorded.outcome,
            asset_uri=delivery.asset_uri,
            asset_event_ids=recorded.event_ids,
        )

    return app
