"""The connection form, declared once as data.

Airflow 3.2+ reads ``conn-fields``/``ui-field-behaviour`` from provider info;
2.11-3.1 call the hook's ``get_connection_form_widgets``/``get_ui_field_behaviour``.
Both are generated from the tables here, so the two forms cannot drift apart.
"""

from __future__ import annotations

from typing import Any

CASED_DEFAULT_HOST = "https://app.cased.com"
CASEDEV_DEFAULT_HOST = "https://api.case.dev"
DEFAULT_AGENT_SESSIONS_PATH = "/api/v1/agent/sessions/"
AUTH_SCHEMES = ("Bearer", "Token")
CASED_KEY_HINT = "Cased API key (organization settings)"
CASEDEV_KEY_HINT = "sk_case_…"

DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY = 1.0
# case.dev holds a synchronous execute for up to 5 minutes: read past that.
DEFAULT_EXECUTE_TIMEOUT = 330.0

_COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "request_timeout": {
        "label": "Request timeout (seconds)",
        "description": "How long to wait for each answer before retrying or failing. Default 60.",
        "schema": {
            "type": ["number", "null"],
            "minimum": 1,
            "default": DEFAULT_REQUEST_TIMEOUT,
        },
    },
    "retry_limit": {
        "label": "Retry limit",
        "description": (
            "Retries for rate limits, timeouts and 5xx answers (POSTs are only repeated when "
            "the server certainly did nothing). Default 3; 0 disables retries."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 0, "default": DEFAULT_RETRY_LIMIT},
    },
    "retry_delay": {
        "label": "Retry delay (seconds)",
        "description": (
            "Base of the exponential backoff between retries. A Retry-After header from the "
            "server takes precedence. Default 1."
        ),
        "schema": {"type": ["number", "null"], "minimum": 0, "default": DEFAULT_RETRY_DELAY},
    },
    "allow_plain_http": {
        "label": "Allow plain HTTP",
        "description": (
            "Send the API key over http:// to a host other than this machine, e.g. a trusted "
            "proxy on a private network. Off by default: only https:// or loopback."
        ),
        "schema": {"type": ["boolean", "null"], "default": False},
    },
}

CASED_FIELDS: dict[str, dict[str, Any]] = {
    **_COMMON_FIELDS,
    "agent_sessions_path": {
        "label": "Agent sessions path",
        "description": (
            "API path for starting agent sessions. Default /api/v1/agent/sessions/; "
            "some deployments use /api/v1/agent-sessions/."
        ),
        "schema": {"type": ["string", "null"], "default": DEFAULT_AGENT_SESSIONS_PATH},
    },
    "auth_scheme": {
        "label": "Authorization scheme",
        "description": "Bearer (default, as the API documents) or Token (as Cased's GitHub Action sends).",
        "schema": {"type": ["string", "null"], "enum": [*AUTH_SCHEMES, None], "default": "Bearer"},
    },
}

CASEDEV_FIELDS: dict[str, dict[str, Any]] = {
    **_COMMON_FIELDS,
    "webhook_secret": {
        "label": "Webhook signing secret",
        "description": (
            "The secret case.dev signs its webhooks with (X-CaseMark-Signature). Set it to "
            "receive them at <Airflow URL>/casedev/webhooks/<this connection id>; Airflow 3.1+."
        ),
        # format password: the 3.2+ form masks it; 2.11-3.1 get a password widget below.
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "execute_timeout": {
        "label": "Execute timeout (seconds)",
        "description": (
            "How long a synchronous action execute may hold the request. case.dev allows up to "
            "5 minutes, so the default is 330."
        ),
        "schema": {
            "type": ["number", "null"],
            "minimum": 1,
            "default": DEFAULT_EXECUTE_TIMEOUT,
        },
    },
}


def ui_field_behaviour(default_host: str, key_hint: str) -> dict[str, Any]:
    """The 2.11-3.1 shape (underscored keys), returned by ``get_ui_field_behaviour``."""
    return {
        "hidden_fields": ["schema", "login", "port"],
        "relabeling": {"password": "API key", "host": "Base URL"},
        "placeholders": {"host": default_host, "password": key_hint},
    }


def provider_info_connection_type(
    conn_type: str, hook_class: str, hook_name: str, default_host: str, key_hint: str
) -> dict[str, Any]:
    """One ``connection-types`` entry of provider info, with the 3.2+ form declaration."""
    fields = CASED_FIELDS if conn_type == "cased" else CASEDEV_FIELDS
    behaviour = ui_field_behaviour(default_host, key_hint)
    return {
        "connection-type": conn_type,
        "hook-class-name": hook_class,
        "hook-name": hook_name,
        "ui-field-behaviour": {
            "hidden-fields": behaviour["hidden_fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        },
        "conn-fields": fields,
    }


def form_widgets(fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """wtforms widgets for the 2.11-3.1 connection form, built from the same table."""
    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, FloatField, IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional
    except ImportError:  # no FAB UI here (a worker, or 3.2+): the provider-info fields apply
        return {}
    widgets: dict[str, Any] = {}
    for name, spec in fields.items():
        schema = spec["schema"]
        kinds = schema["type"]
        common = {
            "description": spec["description"],
            "widget": BS3TextFieldWidget(),
            "default": schema.get("default"),
        }
        if schema.get("format") == "password":
            widgets[name] = PasswordField(
                lazy_gettext(spec["label"]),
                description=spec["description"],
                widget=BS3PasswordFieldWidget(),
            )
        elif "boolean" in kinds:
            widgets[name] = BooleanField(
                lazy_gettext(spec["label"]),
                description=spec["description"],
                default=schema.get("default"),
            )
        elif "integer" in kinds:
            widgets[name] = IntegerField(
                lazy_gettext(spec["label"]),
                validators=[Optional(), NumberRange(min=schema.get("minimum", 0))],
                **common,
            )
        elif "number" in kinds:
            widgets[name] = FloatField(
                lazy_gettext(spec["label"]),
                validators=[Optional(), NumberRange(min=schema.get("minimum", 0))],
                **common,
            )
        else:
            widgets[name] = StringField(lazy_gettext(spec["label"]), **common)
    return widgets
