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
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would mask innocent text everywhere


class SecretMasker:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
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
    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if self.masker._pattern is not None:
            message = record.getMessage()
            masked = self.masker.mask(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


# The HTTP libraries log through the stdlib `logging` module, which is
# process-wide by nature; one masker serves every connector in the process.
PROCESS_MASKER = SecretMasker()
_installed = False


def install_log_filter(masker: SecretMasker = PROCESS_MASKER) -> None:
    global _installed
    if _installed:
        return
    # Filters on a logger do not see records of its children, so each
    # logger the HTTP stack writes to is named.
    for name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11",
                 "httpcore.http2", "httpcore.proxy", "syncd"):
        logging.getLogger(name).addFilter(_MaskingFilter(masker))
    _installed = True
