"""The typed, frozen configuration objects.

The loader turns each validated YAML document into these once; nothing
downstream of ``syncd.config`` touches raw dicts of config.  Expressions and
templates are already compiled (see :mod:`syncd.expr`).

A field for a key the schema gives a default takes that default from the
schema (:mod:`syncd.config._defaults`), never a literal of its own; where the
value is parsed from the schema's (an integration's ``schedule`` and
``full_every``) the field has no default and the builder always passes it.
``tests/config/test_defaults.py`` holds both to the schemas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syncd._secret import Secret
from syncd.config._defaults import schema_defaults
from syncd.expr import Expr, Template, ValueTemplate, WritePath

_CONNECTOR = schema_defaults("connector").value
_INTEGRATION = schema_defaults("integration").value
_SYNCD = schema_defaults("syncd").value

# --- connector specs ---------------------------------------------------------

SettingType = Literal["string", "integer", "number", "boolean"]
FieldType = Literal[
    "string", "email", "phone", "number", "integer", "boolean", "datetime", "list", "tags"
]
OperationName = Literal[
    "list", "changes", "get", "find", "create", "update", "create_batch", "update_batch", "delete",
]
OPERATION_NAMES: tuple[OperationName, ...] = (
    "list", "changes", "get", "find", "create", "update", "create_batch", "update_batch", "delete",
)
ActionKind = Literal["add_tag", "remove_tag", "set", "delete"]
ACTION_KINDS: tuple[ActionKind, ...] = ("add_tag", "remove_tag", "set", "delete")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    description: str
    secret: bool = _CONNECTOR("/$defs/setting/properties/secret")
    # without a `default:`; with one, the builder makes it False unless given
    required: bool = _CONNECTOR("/$defs/setting/properties/required")
    default: Any = None
    type: SettingType = _CONNECTOR("/$defs/setting/properties/type")


@dataclass(frozen=True, slots=True)
class NoAuth:
    type: Literal["none"] = "none"


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    location: Literal["header", "query"]
    name: str
    value: Template
    type: Literal["api_key"] = "api_key"


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: Template
    type: Literal["bearer"] = "bearer"


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: Template
    password: Template
    type: Literal["basic"] = "basic"


@dataclass(frozen=True, slots=True)
class OAuth2Auth:
    """Both OAuth 2 grants: ``client_credentials`` and ``refresh_token``."""

    grant: Literal["client_credentials", "refresh_token"]
    token_url: Template
    client_id: Template
    client_secret: Template
    scopes: tuple[str, ...] = ()
    audience: Template | None = None
    refresh_token: Template | None = None
    # the same in both grants' schemas (tests/config/test_defaults.py)
    client_auth: Literal["body", "basic"] = _CONNECTOR("/$defs/authOAuth2ClientCredentials/properties/client_auth")

    @property
    def type(self) -> str:
        return f"oauth2_{self.grant}"


AuthSpec = NoAuth | ApiKeyAuth | BearerAuth | BasicAuth | OAuth2Auth


@dataclass(frozen=True, slots=True)
class SinceRestart:
    """``restart:`` of a capped ``changes`` read: when one query has returned
    ``max_results`` records, a new query starts from the last record's
    ``since_from`` value (records read at that value are not read twice)."""
    since_from: Expr
    # The request uses `since_epoch`: a new query's since is rendered to the
    # second, not the millisecond, so it may re-read that much.
    whole_seconds: bool = False


@dataclass(frozen=True, slots=True)
class SinglePage:
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["single"] = "single"


@dataclass(frozen=True, slots=True)
class CursorPagination:
    cursor: Expr
    param: str | None = None
    body_field: WritePath | None = None
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["cursor"] = "cursor"


@dataclass(frozen=True, slots=True)
class NextUrlPagination:
    next: Expr
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["next_url"] = "next_url"


@dataclass(frozen=True, slots=True)
class LinkHeaderPagination:
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["link_header"] = "link_header"


@dataclass(frozen=True, slots=True)
class OffsetPagination:
    param: str
    limit_param: str
    total: Expr | None = None
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["offset"] = "offset"


@dataclass(frozen=True, slots=True)
class PageNumberPagination:
    param: str
    start: int = _CONNECTOR("/$defs/paginationPageNumber/properties/start")
    total_pages: Expr | None = None
    max_pages: int | None = None
    max_results: int | None = None
    restart: SinceRestart | None = None
    type: Literal["page_number"] = "page_number"


Pagination = (
    SinglePage | CursorPagination | NextUrlPagination | LinkHeaderPagination
    | OffsetPagination | PageNumberPagination
)


@dataclass(frozen=True, slots=True)
class BatchOutcomes:
    """``update_batch.outcomes``: the answer lists one outcome per item, in order."""
    ok: Expr
    error: Expr | None = None


@dataclass(frozen=True, slots=True)
class SyncTokenExpiry:
    """How an API refuses a sync token it no longer honours (``sync_token_expired``):
    an answer with one of these statuses whose JSON body ``when`` matches
    (any answer with the status, without ``when``)."""

    status: tuple[int, ...]
    when: Expr | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    name: OperationName
    method: str
    path: Template
    params: Mapping[str, ValueTemplate] = field(default_factory=dict)
    headers: Mapping[str, Template] = field(default_factory=dict)
    body: ValueTemplate | None = None
    records: Expr | None = None
    record: Expr | None = None
    # create only: where the answer holds the new id, the record then read with `get`
    read_back: Expr | None = None
    pagination: Pagination = SinglePage()
    # list and changes: how many pages are fetched at once (above 1 only
    # for offset and page_number pagination; see _connector_spec)
    concurrency: int = _CONNECTOR("/$defs/pageConcurrency")
    # batch writes (create_batch, update_batch) only
    item: ValueTemplate | None = None  # the part of each item besides the fields (and id)
    id_field: WritePath | None = None  # update_batch: where each item carries its record's id
    max_items: int | None = None  # the API's batch size limit
    outcomes: BatchOutcomes | None = None  # update_batch: per-item outcomes instead of records
    # list and changes: where a page's answer carries the API's sync token
    # (the opaque cursor a later changes read sends back as {{ sync_token }})
    sync_token: Expr | None = None
    # changes only: how the API says the token it was sent is no longer valid
    sync_token_expired: SyncTokenExpiry | None = None
    # changes only: how much further back than the cursor a read starts (an API whose changes
    # show up late), in seconds
    lookback_seconds: float = 0.0
    # the variables the request's templates use (path, params, headers, body)
    uses: frozenset[str] = frozenset()
    # find only: the params of a request sent (answer ignored) before each
    # find, over the find's own: a search cache to bring up to date first
    warm_up: Mapping[str, ValueTemplate] | None = None
    # update only: GET the record first; its raw JSON is `current` in the
    # templates, and write paths through a list start from its current list
    read_first: bool = False


@dataclass(frozen=True, slots=True)
class FieldRequest:
    """A field's ``write_request``: the request that writes it, sent after the
    record's create or update (an API that changes tags, say, only through
    an endpoint of their own)."""

    method: str
    path: Template
    body: ValueTemplate | None = None
    # sent once per item the write adds to the list ("added") or takes out
    # of it ("removed"), as `item`; None: once per write, with the whole value
    for_each: Literal["added", "removed"] | None = None


@dataclass(frozen=True, slots=True)
class FieldLookup:
    """A field the API gives as ids of another object's records: syncd uses
    that object's ``field`` (a name) instead of each id."""

    object: str
    field: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    read: Expr
    write: WritePath | None
    type: FieldType | None = None
    formats: tuple[str, ...] = ()
    description: str = ""
    lookup: FieldLookup | None = None
    requests: tuple[FieldRequest, ...] = ()  # written by requests of its own

    @property
    def writable(self) -> bool:
        """Written in the create/update body (``write``), by its own request, or both."""
        return self.write is not None or bool(self.requests)


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    name: str
    id: Expr
    fields: Mapping[str, FieldSpec]
    operations: Mapping[OperationName, Operation]
    updated_at: Expr | None = None
    deleted: Expr | None = None
    # A child object (notes, tasks of a contact): the object it lives under,
    # read and written per parent record through paths using {{ parent_id }}.
    parent: str | None = None

    def operation(self, name: OperationName) -> Operation | None:
        return self.operations.get(name)


@dataclass(frozen=True, slots=True)
class RetrySpec:
    max_attempts: int = _CONNECTOR("/properties/retry/properties/max_attempts")
    backoff_initial: float = float(_CONNECTOR("/properties/retry/properties/backoff_initial"))
    backoff_max: float = float(_CONNECTOR("/properties/retry/properties/backoff_max"))


QuotaReset = Literal["seconds", "epoch"]


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    """Where the API tells how much of the account's quota is used (``rate_limit.quota``).

    Header names are as the API sends them (compared case-insensitively);
    an absent one is not read. ``window_seconds`` is how long a quota
    window lasts when no reset header says when it ends.
    """

    window_seconds: float = 86400.0  # the builder parses the schema's default ("1 day")
    remaining_header: str | None = None
    limit_header: str | None = None
    used_header: str | None = None
    reset_header: str | None = None
    # one header holding several figures, read by a pattern with named
    # groups `used`, `limit`, `remaining` (the builder checks the names)
    usage_header: str | None = None
    usage_pattern: re.Pattern[str] | None = None
    reset: QuotaReset = _CONNECTOR("/properties/rate_limit/properties/quota/properties/reset")


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    requests_per_second: float | None = None
    max_concurrency: int | None = None
    daily_limit: int | None = None
    quota: QuotaSpec = QuotaSpec()


WebhookAlgorithm = Literal["hmac-sha256", "hmac-sha1"]
WebhookKind = Literal["created", "updated", "deleted"]
_VERIFY = "/properties/webhooks/properties/verify/properties"


@dataclass(frozen=True, slots=True)
class WebhookVerify:
    """``webhooks.verify``: how a webhook call proves it comes from the app."""

    secret: Template
    header: str
    algorithm: WebhookAlgorithm = _CONNECTOR(f"{_VERIFY}/algorithm")
    encoding: Literal["hex", "base64"] = _CONNECTOR(f"{_VERIFY}/encoding")
    prefix: str = ""
    signed: Template | None = None  # None: the raw body is signed
    timestamp_header: str | None = None
    tolerance_seconds: float = float(_CONNECTOR(f"{_VERIFY}/timestamp/properties/tolerance_seconds"))


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """One request of ``webhooks.register`` (create, list or delete)."""

    method: str
    path: Template
    body: ValueTemplate | None = None
    records: Expr | None = None  # list only: where the registrations are


@dataclass(frozen=True, slots=True)
class WebhookRegister:
    """``webhooks.register``: the app's API for webhook subscriptions."""

    create: WebhookCall
    list: WebhookCall
    delete: WebhookCall
    id: Expr
    url: Expr


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """``webhooks:``: how to verify and read the app's webhook calls."""

    object: str
    verify: WebhookVerify
    id: Expr
    events: Expr | None = None  # None: the body is one event
    kind: Expr | None = None  # None: every event is an update
    kinds: Mapping[str, WebhookKind] = field(default_factory=dict)  # the app's kind -> ours
    record: Expr | None = None  # None: the record is read with `get`
    register: WebhookRegister | None = None


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    name: str
    title: str
    base_url: Template
    objects: Mapping[str, ObjectSpec]
    settings: Mapping[str, SettingSpec] = field(default_factory=dict)
    auth: AuthSpec = NoAuth()
    headers: Mapping[str, Template] = field(default_factory=dict)
    timeout: float = float(_CONNECTOR("/properties/timeout"))
    retry: RetrySpec = RetrySpec()
    rate_limit: RateLimitSpec = RateLimitSpec()
    description: str = ""
    docs_url: str = ""
    source: str = ""  # the file it was read from, as shown in messages
    webhooks: WebhookSpec | None = None


# --- integrations ------------------------------------------------------------

Direction = Literal["both", "left_to_right", "right_to_left"]
SideName = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class Side:
    connector: str
    object: str
    settings: Mapping[str, Any]  # plain values and syncd._secret.Secret


@dataclass(frozen=True, slots=True)
class FieldMapping:
    left: tuple[str, ...]
    right: tuple[str, ...]
    direction: Direction = _INTEGRATION("/$defs/fieldMapping/properties/direction")
    transform: str | None = None
    format: str | None = None
    values: Mapping[Any, Any] | None = None
    default: Any = None
    prefer: str | None = None
    clear: bool = _INTEGRATION("/$defs/fieldMapping/properties/clear")


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    value: Any = None


@dataclass(frozen=True, slots=True)
class Rule:
    condition: Expr
    then: tuple[Action, ...] | Literal["skip"]
    side: SideName | None = None  # from:


_MAX_DELETE_PERCENT = float(_INTEGRATION("/$defs/deletions/properties/max_delete_percent"))


@dataclass(frozen=True, slots=True)
class Deletions:
    side: Literal["left", "right", "both"]
    then: tuple[Action, ...]
    max_delete_percent: float = _MAX_DELETE_PERCENT


_RETRIES = "/$defs/recordRetries/properties"


@dataclass(frozen=True, slots=True)
class RecordRetries:
    """``record_retries:``: how cycles retry a record that could not be
    written (waits in seconds; the schema's defaults are whole seconds)."""

    attempts: int = _INTEGRATION(f"{_RETRIES}/attempts")
    backoff_initial_seconds: float = _INTEGRATION(f"{_RETRIES}/backoff_initial")
    backoff_factor: float = _INTEGRATION(f"{_RETRIES}/backoff_factor")
    backoff_max_seconds: float = _INTEGRATION(f"{_RETRIES}/backoff_max")


Create = Literal["both", "left_to_right", "right_to_left", "none"]


@dataclass(frozen=True, slots=True)
class ChildSync:
    """One entry of ``children:``: a child object of each side's object
    (notes of a contact), synced under the linked parents."""

    left: str  # the child object of the left connector
    right: str
    fields: tuple[FieldMapping, ...]
    create: Create = _INTEGRATION("/$defs/child/properties/create")


@dataclass(frozen=True, slots=True)
class Schedule:
    """``every N unit`` (interval_seconds) or a cron expression (cron)."""

    source: str
    interval_seconds: float | None = None
    cron: str | None = None


@dataclass(frozen=True, slots=True)
class Integration:
    name: str
    left: Side
    right: Side
    match_left: str
    match_right: str
    fields: tuple[FieldMapping, ...]
    enabled: bool = _INTEGRATION("/properties/enabled")
    description: str = ""
    # No default: the builder parses the schema's (`every 5 minutes`, `1 day`).
    schedule: Schedule = field(kw_only=True)
    delay_seconds: float = 0.0  # the schema has no default: no `delay:` means none
    catch_up: Literal["sync", "skip"] = _INTEGRATION("/properties/catch_up")
    full_every_seconds: float = field(kw_only=True)
    create: Create = _INTEGRATION("/properties/create")
    conflict: Literal["newest_wins", "left_wins", "right_wins"] = _INTEGRATION("/properties/conflict")
    rules: tuple[Rule, ...] = ()
    deletions: Deletions | None = None
    record_retries: RecordRetries = RecordRetries()
    children: tuple[ChildSync, ...] = ()
    source: str = ""

    @property
    def max_delete_percent(self) -> float:
        """The most of a side's records, in percent, that may vanish between two
        full reads before the deletion guard holds them back (not taken as
        deleted; the rest of the cycle goes on).

        ``deletions.max_delete_percent``; without ``deletions:`` (nothing is
        carried over, but vanished records are still marked deleted) the
        schema's default for it.
        """
        return self.deletions.max_delete_percent if self.deletions is not None else _MAX_DELETE_PERCENT


# --- daemon settings and the whole tree --------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetTiers:
    """``budgets:``: below which share of an account's API budget (percent
    used) each kind of work may run; an operator's retry runs regardless."""

    bulk_below_percent: float = _SYNCD("/properties/budgets/properties/bulk_below_percent")
    scheduled_below_percent: float = _SYNCD("/properties/budgets/properties/scheduled_below_percent")


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    # The SQLite file; with state_url set, only where the files that go
    # beside the state live (the rotated refresh tokens, see TokenStore).
    state_path: Path
    control_socket: Path | None = None
    # FILE:LINE:COL of control.socket, for the message when the socket is
    # taken; where a setting is written is not a setting (not compared).
    control_socket_at: str = field(default="", compare=False)
    metrics_listen: str = _SYNCD("/properties/metrics/properties/listen")
    # FILE:LINE:COL of metrics.listen (or of metrics.enabled when the
    # address is the default), for the message when the port is taken.
    metrics_listen_at: str = field(default="", compare=False)
    metrics_enabled: bool = _SYNCD("/properties/metrics/properties/enabled")
    webhooks_listen: str = _SYNCD("/properties/webhooks/properties/listen")
    webhooks_enabled: bool = _SYNCD("/properties/webhooks/properties/enabled")
    # FILE:LINE:COL of webhooks.listen (or webhooks.enabled), as metrics_listen_at
    webhooks_listen_at: str = field(default="", compare=False)
    webhooks_max_body_bytes: int = _SYNCD("/properties/webhooks/properties/max_body_bytes")
    log_level: str = _SYNCD("/properties/log/properties/level")
    log_format: Literal["auto", "json", "console"] = _SYNCD("/properties/log/properties/format")
    budgets: BudgetTiers = field(default_factory=lambda: BudgetTiers())
    # reload: how saves are grouped into one reload (the watcher's quiet time, and its longest wait)
    reload_quiet_seconds: float = _SYNCD("/properties/reload/properties/quiet_seconds")
    reload_max_seconds: float = _SYNCD("/properties/reload/properties/max_seconds")
    # state.url, with state.password put in: the PostgreSQL store; None: SQLite at state_path.
    state_url: Secret | None = None
    # state.token_key: encrypts the rotated refresh tokens kept in PostgreSQL; None: not given.
    token_key: Secret | None = None
    # state.timeout (PostgreSQL): the daemon's seconds to connect, and to each call's answer
    state_timeout: float = _SYNCD("/properties/state/properties/timeout")
    # cluster: (PostgreSQL only): how long a lease lasts, and how this daemon is shown (None: the host name)
    cluster_lease_seconds: float = _SYNCD("/properties/cluster/properties/lease_seconds")
    cluster_name: str | None = None

    def state_target(self) -> Path | str:
        """What :func:`syncd.state.open_state` opens: the PostgreSQL URL, else the SQLite path."""
        return self.state_url.reveal() if self.state_url is not None else self.state_path


@dataclass(frozen=True, slots=True)
class Config:
    directory: Path  # absolute
    daemon: DaemonSettings
    connectors: Mapping[str, ConnectorSpec]
    integrations: Mapping[str, Integration]
    # The directory as the user spelled it (`-c config`), which every file
    # name in messages and every `source` starts with. A reload reads the
    # tree under this same name: under another, every `source` would
    # differ, and every integration would look changed.
    shown_directory: str = ""
