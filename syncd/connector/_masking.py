"""Masking secret values wherever text could carry them.

A connector registers every secret it sends (settings given as references,
rendered credentials, OAuth tokens it receives).  :meth:`SecretMasker.mask`
replaces each with ``***``; :func:`install_log_filter` applies it to the log
records of the HTTP libraries, which log full URLs (an API key in a query
string) at INFO level.
"""

from __future__ import annotations

import logging
import re
import weakref
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would mask innocent text everywhere


class SecretMasker:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_SECRET_LENGTH or value in self._secrets:
            return  # (known already: a connector of every cycle adds its settings' secrets again)
        # A secret may travel URL-encoded (query strings, form bodies).
        new = {value, quote(value, safe=""), quote_plus(value)} - self._secrets
        if new:
            self._secrets |= new
            self._pattern = re.compile(
                "|".join(re.escape(s) for s in sorted(self._secrets, key=len, reverse=True))
            )

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __contains__(self, value: str) -> bool:
        return value in self._secrets


class _MaskingFilter(logging.Filter):
    """Masks a log record with every masker registered with it."""

    def __init__(self) -> None:
        super().__init__()
        # weak: a connector's own masker goes away with the connector
        self.maskers: weakref.WeakSet[SecretMasker] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        maskers = [m for m in list(self.maskers) if m._pattern is not None]
        if maskers:
            message = record.getMessage()
            masked = message
            for masker in maskers:
                masked = masker.mask(masked)
            if masked != message:
                record.msg, record.args = masked, None
        return True


# The HTTP libraries log through the stdlib `logging` module, which is
# process-wide by nature; one filter serves every connector in the process,
# with the process-wide masker and any masker a connector was given.
PROCESS_MASKER = SecretMasker()
_FILTER = _MaskingFilter()
_installed = False


def install_log_filter(masker: SecretMasker = PROCESS_MASKER) -> None:
    global _installed
    _FILTER.maskers.add(masker)
    if _installed:
        return
    # Filters on a logger do not see records of its children, so each
    # logger the HTTP stack writes to is named.
    for name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11",
                 "httpcore.http2", "httpcore.proxy", "syncd"):
        logging.getLogger(name).addFilter(_FILTER)
    _installed = True
