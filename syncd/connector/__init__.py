"""Connectors: an app's API, as declared in its spec, as operations.

See :class:`Connector` for the operations and ``_errors`` for the exception
tree.
"""

from syncd.connector._connector import Connector, Page, account_key, resolve_settings, since_context
from syncd.connector._errors import (
    ApiError,
    AuthError,
    ConnectorError,
    PaginationError,
    RecordError,
    ResponseError,
    SyncTokenExpired,
    TransportError,
)
from syncd.connector._fields import Record, keeps_text, normaliser_for, parse_stored_datetime
from syncd.connector._masking import PROCESS_MASKER, SecretMasker
from syncd.connector._probe import ProbeResult, probe, probe_write_only
from syncd.connector._quota import QuotaReading, Usage, read_quota, window_of
from syncd.connector._ratelimit import Account, AccountRegistry, tokens_for_state
from syncd.connector._tokens import TokenStore, TokenStoreError
from syncd.connector._webhooks import (
    WebhookEvent,
    WebhookRejected,
    read_events,
    sign_webhook,
    verify_webhook,
    webhook_secret,
)

__all__ = [
    "Account",
    "AccountRegistry",
    "ApiError",
    "AuthError",
    "Connector",
    "ConnectorError",
    "PROCESS_MASKER",
    "Page",
    "QuotaReading",
    "ProbeResult",
    "PaginationError",
    "Record",
    "RecordError",
    "ResponseError",
    "SyncTokenExpired",
    "SecretMasker",
    "TokenStore",
    "TokenStoreError",
    "TransportError",
    "Usage",
    "WebhookEvent",
    "WebhookRejected",
    "account_key",
    "keeps_text",
    "normaliser_for",
    "parse_stored_datetime",
    "probe",
    "probe_write_only",
    "read_events",
    "read_quota",
    "tokens_for_state",
    "resolve_settings",
    "since_context",
    "sign_webhook",
    "verify_webhook",
    "webhook_secret",
    "window_of",
]
