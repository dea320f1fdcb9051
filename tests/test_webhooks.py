"""A case.dev webhook delivery: the signature header of the document, the body's fields."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from airflow_provider_cased._asset_uris import action_asset_uri, normalize_casedev_uri
from airflow_provider_cased._webhooks import (
    WebhookRejected,
    parse_delivery,
    sign,
    signature_matches,
)

SECRET = "whsec_test_0123456789"
# The document's example delivery (docs/api/casedev-actions-api.md), output and all.
BODY = json.dumps(
    {
        "event_type": "action.completed",
        "execution_id": "exec_xyz789",
        "action_id": "action_abc123",
        "action_name": "Contract review",
        "status": "completed",
        "output": {"summary": "confidential"},
        "step_results": {"ask_llm": {"output": {}, "duration_ms": 1500}},
        "duration_ms": 45000,
        "completed_at": "2026-12-06T08:00:00Z",
    }
).encode()


def test_sign_is_the_documented_header_value():
    # X-CaseMark-Signature: sha256=<HMAC-SHA256 of the body>, in hex.
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == f"sha256={digest}"


def test_the_right_signature_matches_in_either_hex_case_and_with_spaces():
    value = sign(SECRET, BODY)
    assert signature_matches(SECRET, BODY, value)
    assert signature_matches(SECRET, BODY, "SHA256=" + value[7:].upper())
    assert signature_matches(SECRET, BODY, f"  {value} ")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest(),
        # the bare digest, without the algorithm
        hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),
        # another secret, another body, a cut digest, non-ASCII
        sign("another secret", BODY),
        sign(SECRET, BODY + b" "),
        sign(SECRET, BODY)[:-2],
        sign(SECRET, BODY)[:-1] + "é",
    ],
    ids=["none", "empty", "no-digest", "sha1", "no-prefix", "secret", "body", "short", "non-ascii"],
)
def test_anything_else_does_not_match(header):
    assert not signature_matches(SECRET, BODY, header)


def test_an_empty_secret_matches_nothing():
    assert not signature_matches("", BODY, sign("", BODY))


def test_compare_is_constant_time(monkeypatch):
    import airflow_provider_cased._webhooks as webhooks

    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(
        webhooks.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b)
    )
    assert signature_matches(SECRET, BODY, sign(SECRET, BODY))
    assert compared and all(isinstance(side, bytes) for pair in compared for side in pair)


def headers(**extra: str) -> dict[str, str]:
    # Starlette's headers are case-insensitive; the parser only reads these two names.
    return {
        "X-CaseMark-Event": "action.completed",
        "X-CaseMark-Execution-Id": "exec_xyz789",
        **extra,
    }


def test_a_delivery_becomes_an_extra_without_the_output():
    delivery = parse_delivery(BODY, headers())
    assert delivery.handled and delivery.asset_uri == "casedev://actions/action_abc123"
    assert delivery.extra() == {
        "kind": "action_execution",
        "source": "casedev_webhook",
        "event_type": "action.completed",
        "execution_id": "exec_xyz789",
        "action_id": "action_abc123",
        "action_name": "Contract review",
        "status": "completed",
        "duration_ms": 45000,
        "completed_at": "2026-12-06T08:00:00Z",
    }
    assert delivery.is_recorded_in(delivery.extra())
    other = parse_delivery(
        BODY.replace(b"action.completed", b"action.failed"),
        headers(**{"X-CaseMark-Event": "action.failed"}),
    )
    assert not other.is_recorded_in(delivery.extra())  # the key is execution id + event type


def test_headers_may_be_absent_but_never_disagree():
    assert parse_delivery(BODY, {}).execution_id == "exec_xyz789"
    for name, value in (("X-CaseMark-Event", "action.failed"), ("X-CaseMark-Execution-Id", "x")):
        with pytest.raises(WebhookRejected, match=name) as refused:
            parse_delivery(BODY, headers(**{name: value}))
        assert refused.value.status_code == 400


def test_an_event_it_does_not_handle_needs_no_other_field():
    delivery = parse_delivery(b'{"event_type": "action.started"}', {})
    assert not delivery.handled


def mutated(**changes: object) -> bytes:
    fields = json.loads(BODY)
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v != "DROP"}).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (mutated(event_type="DROP"), "event_type"),
        (mutated(event_type=3), "event_type"),
        (mutated(execution_id="DROP"), "execution_id"),
        (mutated(action_id=""), "action_id"),
        (mutated(status=None), "status"),
        (mutated(action_id="a/../b"), "action_id"),
        (mutated(execution_id="exec 1"), "execution_id"),
        (mutated(duration_ms="45000"), "duration_ms"),
        (mutated(duration_ms=True), "duration_ms"),
        (mutated(action_name=7), "action_name"),
        (mutated(completed_at=1), "completed_at"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(body, field):
    with pytest.raises(WebhookRejected, match=field) as refused:
        parse_delivery(body, {})
    assert refused.value.status_code == 400


def test_the_asset_uri_scheme():
    from urllib.parse import urlsplit

    assert action_asset_uri("action_abc123") == "casedev://actions/action_abc123"
    good = urlsplit("casedev://actions/action_abc123")
    assert normalize_casedev_uri(good) == good
    # Other casedev:// URIs were allowed before the scheme was registered: left alone.
    other = urlsplit("casedev://executions/whatever/else")
    assert normalize_casedev_uri(other) == other
    for bad in ("casedev://actions/", "casedev://actions/a/b", "casedev://actions/a?x=1"):
        with pytest.raises(ValueError, match="casedev://actions/<action_id>"):
            normalize_casedev_uri(urlsplit(bad))
