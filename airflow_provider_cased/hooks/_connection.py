"""Connection settings: an Airflow connection's extras, base URL and API key, read into a ``ClientConfig``.

Every rule about what a connection may say lives here: numbers and flags in its
extras, the base URL a bare host becomes, and that the API key travels only over
TLS (or to this machine).
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow_provider_cased import __version__
from airflow_provider_cased._connection_form import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
)
from airflow_provider_cased._http import ClientConfig
from airflow_provider_cased.compat import AIRFLOW_VERSION
from airflow_provider_cased.exceptions import CasedInputError

USER_AGENT = f"airflow-provider-cased/{__version__} apache-airflow/{AIRFLOW_VERSION}"


class ServiceRules(Protocol):
    """What differs between the two APIs' connections (the hook classes provide it)."""

    default_conn_name: str
    default_host: str

    def auth_scheme_from(self, extras: dict[str, Any], conn_id: str) -> str: ...

    def long_read_timeout_from(
        self, extras: dict[str, Any], conn_id: str, timeout: float
    ) -> float: ...

    def service_extras(self, extras: dict[str, Any], conn_id: str) -> dict[str, Any]: ...


def extra_number(
    extras: dict[str, Any],
    name: str,
    default: float,
    conn_id: str,
    *,
    integer: bool = False,
    positive: bool = False,
) -> Any:
    value = extras.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        number = -1
    too_small = number <= 0 if positive else number < 0
    if isinstance(value, bool) or too_small or (integer and float(value) != number):
        bound = "> 0" if positive else ">= 0"
        kind = f"a whole number {bound}" if integer else f"a number of seconds {bound}"
        raise CasedInputError(
            f"Extra '{name}' of Airflow connection '{conn_id}' must be {kind}; got {value!r}"
        )
    return number


def extra_flag(extras: dict[str, Any], name: str, conn_id: str) -> bool:
    value = extras.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise CasedInputError(
        f"Extra '{name}' of Airflow connection '{conn_id}' must be true or false; got {value!r}"
    )


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheme(base_url: str, conn_id: str, allow_plain_http: bool) -> None:
    """The API key travels only over TLS, or to this machine, unless the user says otherwise."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme != "http":
        raise CasedInputError(
            f"Base URL (host) of Airflow connection '{conn_id}' must start with https://; "
            f"got {base_url!r}"
        )
    if allow_plain_http or is_loopback(parts.hostname or ""):
        return
    raise CasedInputError(
        f"Base URL (host) of Airflow connection '{conn_id}' is plain http:// to "
        f"{parts.hostname!r}: the API key would travel unencrypted. Use https://, or, for a "
        "trusted plain-HTTP proxy, set the connection extra allow_plain_http to true. "
        "No request was sent"
    )


def base_url_from_connection(conn: Any, default_host: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        return default_host
    if "://" not in host:
        # URI-style connections (cased://:key@app.cased.com) lose the scheme: HTTPS is the safe guess.
        host = f"https://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    return host.rstrip("/")


def config_from_connection(conn: Any, service: ServiceRules) -> ClientConfig:
    """Settings from an Airflow connection; a bad one is an error naming it, before any request.

    :param conn: the Airflow connection.
    :param service: the hook class: default conn id and host, and its own extras.
    """
    conn_id = conn.conn_id or service.default_conn_name
    api_key = conn.password or ""
    if not api_key.strip():
        raise CasedInputError(
            f"Airflow connection '{conn_id}' has no API key: set its password (API key) field"
        )
    extras = conn.extra_dejson or {}
    # Zero fails every request in requests and means no timeout at all in aiohttp.
    timeout = extra_number(
        extras, "request_timeout", DEFAULT_REQUEST_TIMEOUT, conn_id, positive=True
    )
    base_url = base_url_from_connection(conn, service.default_host)
    check_scheme(base_url, conn_id, extra_flag(extras, "allow_plain_http", conn_id))
    return ClientConfig(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key.strip(),
        auth_scheme=service.auth_scheme_from(extras, conn_id),
        connect_timeout=min(10.0, timeout),
        read_timeout=timeout,
        long_read_timeout=service.long_read_timeout_from(extras, conn_id, timeout),
        retry_limit=extra_number(extras, "retry_limit", DEFAULT_RETRY_LIMIT, conn_id, integer=True),
        retry_delay=extra_number(extras, "retry_delay", DEFAULT_RETRY_DELAY, conn_id),
        user_agent=USER_AGENT,
        extras=service.service_extras(extras, conn_id),
    )
