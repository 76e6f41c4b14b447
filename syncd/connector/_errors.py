"""Errors raised by a connector.

    ConnectorError              base; ``operation`` names what was being done
    ├── ApiError                the API answered with an error status
    │   ├── AuthError           401/403 (after one token refresh), or the
    │   │                       token endpoint refused the credentials
    │   └── SyncTokenExpired    a changes read's sync token refused as the
    │                           spec's ``sync_token_expired`` says: the
    │                           caller reads everything instead
    ├── TransportError          no answer after the last retry (timeouts,
    │                           refused or dropped connections), or a create
    │                           that timed out and is not resent
    │                           (``outcome_unknown``)
    ├── ResponseError           an answer syncd cannot use: not JSON, no
    │                           records where the spec says they are
    ├── PaginationError         a cursor, URL or page that does not advance,
    │                           or more pages than ``max_pages``
    └── RecordError             one record's field cannot be read as its type

Every message is safe to show and log: secrets are masked before the
exception is built.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    def __init__(self, message: str, *, operation: str = "") -> None:
        self.operation = operation
        self.message = message
        super().__init__(f"{operation}: {message}" if operation else message)

    def add_context(self, where: str) -> None:
        """Say where in a larger task this happened (``page 3 of the read``),
        before the message: the caller knows it, the raiser did not."""
        self.message = f"{where}: {self.message}"
        self.args = (f"{self.operation}: {self.message}" if self.operation else self.message,)


class ApiError(ConnectorError):
    def __init__(
        self, message: str, *, operation: str = "", status: int = 0, excerpt: str = "",
        retryable: bool = False, body: Any = None,
    ) -> None:
        self.status = status
        self.excerpt = excerpt
        self.retryable = retryable
        # The answer's JSON, for a spec's expressions over error answers
        # (``sync_token_expired.when``); never shown: the excerpt is masked, this is not.
        self.body = body
        super().__init__(message, operation=operation)


class AuthError(ApiError):
    pass


class SyncTokenExpired(ApiError):
    pass


class TransportError(ConnectorError):
    def __init__(self, message: str, *, operation: str = "", outcome_unknown: bool = False) -> None:
        # True: a write that may have reached the app was not retried (a
        # create must not be sent twice); the app itself may be fine.
        # False: the app could not be reached after every retry.
        self.outcome_unknown = outcome_unknown
        super().__init__(message, operation=operation)


class ResponseError(ConnectorError):
    pass


class PaginationError(ConnectorError):
    pass


class RecordError(ConnectorError):
    def __init__(self, message: str, *, operation: str = "", record_id: str = "", field: str = "") -> None:
        self.record_id = record_id
        self.field = field
        super().__init__(message, operation=operation)
