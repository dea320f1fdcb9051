"""What a case.dev webhook delivery is: its signature, its headers and body, and what it records.

case.dev POSTs to a webhook when an execution ends (docs/api/casedev-actions-api.md):
``X-CaseMark-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, ``X-CaseMark-Event``,
``X-CaseMark-Execution-Id`` and a JSON body. The rules here do no I/O; the receiver
(``plugins/casedev_webhooks``) applies them in this order: size, signature, body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from airflow_provider_cased._asset_uris import ID_PATTERN, action_asset_uri

SIGNATURE_HEADER = "X-CaseMark-Signature"
EVENT_HEADER = "X-CaseMark-Event"
EXECUTION_HEADER = "X-CaseMark-Execution-Id"
SIGNATURE_PREFIX = "sha256="
# The connection extra that holds the signing secret.
SECRET_EXTRA = "webhook_secret"
# case.dev caps an action's input at 10 MB; a delivery carries the output too. Larger
# bodies are refused (413) before they are read whole: the endpoint is public.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Events that become asset events; any other verified event is answered 202 and ignored.
HANDLED_EVENTS = ("action.completed", "action.failed")
# The fields a handled event must carry (the rest may be null).
REQUIRED_FIELDS = ("event_type", "execution_id", "action_id", "status")


class WebhookRejected(Exception):
    """A delivery refused with ``status_code``; ``detail`` is safe to send back (no secret)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def sign(secret: str, body: bytes) -> str:
    """The ``X-CaseMark-Signature`` value case.dev sends for ``body`` (tests, the e2e, users)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """True only for ``sha256=<hex>`` of this body under this secret, compared in constant time.

    Hex digits are read in either case; anything else (no header, another algorithm, a
    digest of another length) is a mismatch.
    """
    if not header or not secret:
        return False
    value = header.strip()
    if value[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    given = value[len(SIGNATURE_PREFIX) :].strip().lower().encode("utf-8", "replace")
    expected = sign(secret, body)[len(SIGNATURE_PREFIX) :].encode()
    return hmac.compare_digest(expected, given)


class Delivery:
    """A verified delivery's meaning: which event, which execution of which action."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.event_type: str = fields["event_type"]
        self.execution_id: str | None = fields.get("execution_id")
        self.action_id: str | None = fields.get("action_id")
        self.action_name: str | None = fields.get("action_name")
        self.status: str | None = fields.get("status")
        self.duration_ms: int | float | None = fields.get("duration_ms")
        self.completed_at: str | None = fields.get("completed_at")

    @property
    def handled(self) -> bool:
        return self.event_type in HANDLED_EVENTS

    @property
    def asset_uri(self) -> str:
        return action_asset_uri(str(self.action_id))

    def extra(self) -> dict[str, Any]:
        """The asset event's ``extra``: ids, status, timing; never the output (it may be
        large and confidential: a DAG reads it with ``CaseDevHook.get_execution``)."""
        return {
            "kind": "action_execution",
            "source": "casedev_webhook",
            "event_type": self.event_type,
            "execution_id": self.execution_id,
            "action_id": self.action_id,
            "action_name": self.action_name,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "completed_at": self.completed_at,
        }

    def is_recorded_in(self, extra: Any) -> bool:
        """Whether an asset event's ``extra`` records this delivery (execution id + event type)."""
        return (
            isinstance(extra, dict)
            and extra.get("source") == "casedev_webhook"
            and extra.get("execution_id") == self.execution_id
            and extra.get("event_type") == self.event_type
        )


def parse_delivery(body: bytes, headers: Any) -> Delivery:
    """Read a verified body: a JSON object whose fields agree with the (unsigned) headers.

    :param headers: a mapping with case-insensitive ``get`` (Starlette's ``Headers``).
    :raises WebhookRejected: 400 naming the field at fault.
    """
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "The body is not JSON") from None
    if not isinstance(fields, dict):
        raise WebhookRejected(400, "The body is not a JSON object")
    event_type = fields.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookRejected(400, "Field 'event_type' is missing or not a string")
    # Headers are not signed: the body decides, and a header that disagrees is refused.
    if headers.get(EVENT_HEADER) not in (None, event_type):
        raise WebhookRejected(400, f"Header {EVENT_HEADER} disagrees with field 'event_type'")
    delivery = Delivery(fields)
    if not delivery.handled:
        return delivery
    missing = [name for name in REQUIRED_FIELDS if fields.get(name) in (None, "")]
    if missing:
        raise WebhookRejected(400, f"Field(s) {', '.join(map(repr, missing))} missing")
    for name in ("execution_id", "action_id"):
        value = fields[name]
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise WebhookRejected(400, f"Field {name!r} is not a case.dev id")
    if headers.get(EXECUTION_HEADER) not in (None, delivery.execution_id):
        raise WebhookRejected(400, f"Header {EXECUTION_HEADER} disagrees with field 'execution_id'")
    checks = {
        "status": (str,),
        "action_name": (str, type(None)),
        "completed_at": (str, type(None)),
        "duration_ms": (int, float, type(None)),
    }
    for name, kinds in checks.items():
        value = fields.get(name)
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise WebhookRejected(400, f"Field {name!r} has the wrong type")
    return delivery
