"""The request path's pure decisions: retry policy, wait hints, ids, error mapping."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from airflow_provider_cased._attempts import decode_answer, error_from_answer
from airflow_provider_cased._http import (
    MAX_RETRY_AFTER_SECONDS,
    ApiRequest,
    ClientConfig,
    Endpoint,
    Failure,
    RetryPolicy,
    build_request,
    check_id,
    parse_duration_hint,
    parse_retry_after,
)
from airflow_provider_cased.exceptions import CasedApiError

GET = Endpoint("GET", "/things/{thing_id}/")
DELETE = Endpoint("DELETE", "/things/{thing_id}/")
POST = Endpoint("POST", "/things/")
CONFIG = ClientConfig(conn_id="my_conn", base_url="https://x", api_key="sk_secret_123")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", 0.0), ("2.5", 2.5), ("-4", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_http_date():
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("45s", 45.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("12", 12.0),
        ("2.5s", 2.5),
        ("abc", None),
        ("5x", None),
    ],
)
def test_rate_limit_reset_hint(value, expected):
    assert parse_duration_hint(value) == expected


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_idempotent_calls_retry_transient_statuses(status):
    policy = RetryPolicy(retry_limit=2, retry_delay=1)
    assert policy.next_delay(GET, 0, status=status) is not None
    assert policy.next_delay(DELETE, 0, status=status) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_client_errors_are_final(status):
    assert RetryPolicy().next_delay(GET, 0, status=status) is None


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_post_is_not_repeated_after_the_server_may_have_acted(status):
    assert RetryPolicy().next_delay(POST, 0, status=status) is None
    assert RetryPolicy().next_delay(POST, 0, failure=Failure.NO_ANSWER) is None


def test_post_is_repeated_when_the_server_certainly_did_nothing():
    policy = RetryPolicy()
    assert policy.next_delay(POST, 0, status=429) is not None
    assert policy.next_delay(POST, 0, failure=Failure.NOT_SENT) is not None


def test_retry_limit_bounds_the_attempts():
    policy = RetryPolicy(retry_limit=2)
    assert policy.next_delay(GET, 1, status=503) is not None
    assert policy.next_delay(GET, 2, status=503) is None
    assert RetryPolicy(retry_limit=0).next_delay(GET, 0, status=503) is None


def test_retry_after_is_obeyed_and_capped():
    policy = RetryPolicy(retry_delay=1)
    assert policy.next_delay(GET, 0, status=503, headers={"Retry-After": "7"}) == 7.0
    huge = policy.next_delay(GET, 0, status=429, headers={"Retry-After": "100000"})
    assert huge == MAX_RETRY_AFTER_SECONDS


def test_rate_limit_reset_header_is_the_hint_only_for_429():
    policy = RetryPolicy(retry_delay=1)
    hint = {"x-ratelimit-reset-requests": "4s"}
    assert policy.next_delay(GET, 0, status=429, headers=hint) == 4.0
    assert policy.next_delay(GET, 0, status=503, headers=hint) != 4.0


def test_backoff_is_exponential_with_bounded_jitter():
    policy = RetryPolicy(retry_delay=2)
    for retries_done, ceiling in [(0, 2), (1, 4), (2, 8), (3, 16)]:
        delays = [policy.backoff(retries_done) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, so many workers do not retry in lockstep
    assert policy.backoff(30) <= 60


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", None, 3.5, True, {"a": 1}])
def test_bad_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="thing_id"):
        check_id("thing_id", bad)


def test_ids_are_url_quoted_into_one_segment():
    request = build_request(GET, {"thing_id": "../deployments?x=1#y"})
    assert request.path == "/things/..%2Fdeployments%3Fx%3D1%23y/"


def test_none_params_are_not_sent():
    request = build_request(Endpoint("GET", "/x/"), params={"a": None, "b": "1"})
    assert request.params == {"b": "1"}


def test_error_names_connection_and_hides_key_on_401():
    request = ApiRequest(GET, "/things/1/")
    error = error_from_answer(CONFIG, request, 401, b'{"detail": "Invalid token sk_secret_123"}')
    assert "my_conn" in str(error)
    assert "sk_secret_123" not in str(error)
    assert "sk_secret_123" not in error.body
    assert error.status_code == 401
    assert (error.method, error.path) == ("GET", "/things/1/")


def test_error_reads_nested_casedev_message_and_trims_body():
    request = ApiRequest(GET, "/x")
    body = (
        b'{"error": {"message": "Rate limit exceeded", "type": "rate_limit_error"}, "pad": "'
        + b"z" * 5000
        + b'"}'
    )
    error = error_from_answer(CONFIG, request, 429, body)
    assert "Rate limit exceeded" in str(error)
    assert len(error.body) <= 501


def test_html_and_malformed_json_become_provider_errors():
    request = ApiRequest(GET, "/x")
    with pytest.raises(CasedApiError, match="HTML"):
        decode_answer(CONFIG, request, 200, b"<html>oops</html>", "text/html")
    with pytest.raises(CasedApiError, match="malformed JSON"):
        decode_answer(CONFIG, request, 200, b'{"a": ', "application/json")
    assert decode_answer(CONFIG, request, 204, b"", "") is None


def test_outcome_unknown_marks_only_non_idempotent_5xx():
    assert error_from_answer(CONFIG, ApiRequest(POST, "/things/"), 502, b"").outcome_unknown
    assert not error_from_answer(CONFIG, ApiRequest(POST, "/things/"), 400, b"").outcome_unknown
    assert not error_from_answer(CONFIG, ApiRequest(GET, "/things/1/"), 502, b"").outcome_unknown


def test_api_error_survives_pickling():
    import pickle

    error = error_from_answer(
        CONFIG, ApiRequest(GET, "/things/1/"), 404, b'{"detail": "Not found."}'
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status_code, copy.path, str(copy)) == (404, "/things/1/", str(error))
