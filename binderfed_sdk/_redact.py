"""Keep tokens out of log lines, including the ones httpx writes about our requests.

httpx logs every request URL at INFO, and BinderHub takes its build token in the query
string, so without this a `logging.basicConfig(level="INFO")` would print the token.
"""

from __future__ import annotations

import logging
import re

MASK = "**********"
_SECRET_IN_URL = re.compile(r"(\b(?:build_)?token=)[^&#\s\"']+")
_LOGGERS = ("httpx", "httpcore", "binderfed")


def redact(text: str) -> str:
    """`text` with the value of every `token=` / `build_token=` query parameter masked."""
    return _SECRET_IN_URL.sub(rf"\g<1>{MASK}", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = redact(message), None
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Add the filter to the loggers that see our requests (once; idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
