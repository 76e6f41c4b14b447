"""The configuration: YAML files in, frozen typed objects out.

``load_config(DIR)`` reads ``syncd.yaml``, ``connectors.d/*.yaml`` (plus the
specs shipped with syncd) and ``integrations.d/*.yaml``, validates them
against the JSON Schemas, resolves secret references and checks every
integration against the specs it names.  It returns a :class:`Config` or
raises :class:`ConfigError` whose ``problems`` list every error as
``FILE:LINE:COL: error: message (key.path)``.

Exceptions::

    ConfigError      the tree is invalid; .problems holds every Problem
    SpecError        one document's key path + message (from build_connector)
    FileNotFoundError / NotADirectoryError   the config directory is missing

``connector_files(DIR)`` reads each connector spec file on its own (for
``syncd connectors``); ``render_connector_page`` and ``connector_summary``
say what a spec offers (``docs/connectors/``).
"""

from syncd.config._connector_docs import (
    WRITE_ONLY,
    connector_summary,
    header_comment,
    render_connector_index,
    render_connector_page,
)
from syncd.config._connector_spec import build_connector
from syncd.config._errors import ConfigError, Problem, SpecError, format_key_path
from syncd.config._integration import parse_duration, parse_schedule
from syncd.config._load import (
    DEFAULT_CONFIG_DIR,
    ConnectorFile,
    config_directory,
    connector_files,
    is_config_file,
    load_config,
    load_connector_file,
    load_daemon_settings,
)
from syncd.config._model import (
    OPERATION_NAMES,
    Action,
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    Config,
    ConnectorSpec,
    CursorPagination,
    BudgetTiers,
    DaemonSettings,
    ChildSync,
    Deletions,
    Direction,
    FieldMapping,
    FieldLookup,
    FieldRequest,
    FieldSpec,
    FieldType,
    Integration,
    LinkHeaderPagination,
    NextUrlPagination,
    NoAuth,
    OAuth2Auth,
    ObjectSpec,
    OffsetPagination,
    Operation,
    OperationName,
    PageNumberPagination,
    Pagination,
    QuotaSpec,
    RateLimitSpec,
    RecordRetries,
    RetrySpec,
    Rule,
    Schedule,
    SettingSpec,
    SettingType,
    Side,
    SideName,
    SinceRestart,
    SinglePage,
    SyncTokenExpiry,
    WebhookAlgorithm,
    WebhookCall,
    WebhookKind,
    WebhookRegister,
    WebhookSpec,
    WebhookVerify,
)
from syncd.config._secrets import SecretRefError, is_reference, resolve_reference

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "OPERATION_NAMES",
    "WRITE_ONLY",
    "Action",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "Config",
    "ConfigError",
    "ConnectorFile",
    "ConnectorSpec",
    "CursorPagination",
    "BudgetTiers",
    "DaemonSettings",
    "ChildSync",
    "Deletions",
    "Direction",
    "FieldMapping",
    "FieldLookup",
    "FieldRequest",
    "FieldSpec",
    "FieldType",
    "Integration",
    "LinkHeaderPagination",
    "NextUrlPagination",
    "NoAuth",
    "OAuth2Auth",
    "ObjectSpec",
    "OffsetPagination",
    "Operation",
    "OperationName",
    "PageNumberPagination",
    "Pagination",
    "Problem",
    "QuotaSpec",
    "RateLimitSpec",
    "RecordRetries",
    "RetrySpec",
    "Rule",
    "Schedule",
    "SettingSpec",
    "SettingType",
    "Side",
    "SideName",
    "SecretRefError",
    "SinceRestart",
    "SinglePage",
    "SyncTokenExpiry",
    "SpecError",
    "WebhookAlgorithm",
    "WebhookCall",
    "WebhookKind",
    "WebhookRegister",
    "WebhookSpec",
    "WebhookVerify",
    "build_connector",
    "config_directory",
    "connector_files",
    "connector_summary",
    "header_comment",
    "is_config_file",
    "format_key_path",
    "is_reference",
    "load_config",
    "load_connector_file",
    "load_daemon_settings",
    "parse_duration",
    "parse_schedule",
    "render_connector_index",
    "render_connector_page",
    "resolve_reference",
]
