"""Keep credentials out of log lines, including the ones httpx and httpcore write about ours.

What grants access, and where it shows:
* query parameters: BinderHub takes its build token in the query, a Jupyter server its
  `token`, others `access_token`, `_xsrf`, ... (httpx logs every request URL at INFO);
* headers: `Authorization`, `Cookie`, and the Jupyter server's `Set-Cookie` login cookie,
  which alone lets anyone read and write the session's files (httpcore logs every response's
  headers at DEBUG, as `[(b'Set-Cookie', b'...')]`);
* the userinfo of a URL (`https://user:password@host/`).

Where the filter goes: a filter on a logger is consulted only for records created on that
very logger, not for those its children propagate to it, and httpx and httpcore log on
children (`httpcore.http11`, `httpcore.connection`, ...). A filter on the application's
handlers is the application's to add, and a log-record factory would see every library's
records; so the filter goes on each logger that emits our requests' records: the known names
(created here if their module is not imported yet: httpcore imports http2 and its proxies
lazily, and then gets the same logger object), and any other child that exists by then.
"""

from __future__ import annotations

import logging
import re
import traceback

MASK = "**********"

#: a query parameter (or `key=value` anywhere) whose name says it is a secret: ends in
#: token, secret, password, key, ..., or is one of the known ones (OAuth's `code`, `_xsrf`)
_CREDENTIAL_NAME = (
    r"[\w.\-]*(?:token|secret|passw(?:or)?d|pwd|key|signature|credentials?|auth|xsrf|sig)"
    r"|code|session(?:_?id)?"
)
_SECRET_PARAM = re.compile(
    rf"(?<![\w.\-%])((?:{_CREDENTIAL_NAME})=)[^&#;\s\"'<>\\,)\]]+", re.IGNORECASE
)
#: a header that carries a credential
_CREDENTIAL_HEADER = (
    r"(?:proxy-)?authorization|(?:set-)?cookie2?|x-[\w\-]*(?:token|secret|key|password|auth)"
)
#: `(b'Set-Cookie', b'...')`, `'cookie': '...'`: the value of a quoted header pair (reprs)
_QUOTED_HEADER = re.compile(
    rf"""(?P<q>['"])(?:{_CREDENTIAL_HEADER})(?P=q)(?P<sep>\s*[:,]\s*)b?(?P<v>['"])"""
    rf"""(?:\\.|(?!(?P=v))[^\\])*(?P=v)""",
    re.IGNORECASE,
)
#: `Set-Cookie: ...` as a header line
_HEADER_LINE = re.compile(rf"(?<![\w\-])((?:{_CREDENTIAL_HEADER}):[ \t]*)[^\r\n]+", re.IGNORECASE)
#: `scheme://user:password@host`
_USERINFO = re.compile(r"(://[^/\s:@'\"]*:)[^/\s@'\"]+@")

#: the loggers that log our requests: the SDK's, httpx's and httpcore's (httpcore 1.0)
_LOGGERS = (
    "binderfed",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_PREFIXES = tuple(f"{name}." for name in ("binderfed", "httpx", "httpcore"))


def _mask_quoted(match: re.Match[str]) -> str:
    text = match.group(0)
    quote = match.group("v")
    start = match.start("v") - match.start(0)
    return f"{text[:start]}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """`text` with every credential masked: secret query parameters, credential headers
    (`Authorization`, `Cookie`, `Set-Cookie`, ...) and a URL's password."""
    text = _QUOTED_HEADER.sub(_mask_quoted, text)
    text = _HEADER_LINE.sub(rf"\g<1>{MASK}", text)
    text = _SECRET_PARAM.sub(rf"\g<1>{MASK}", text)
    return _USERINFO.sub(rf"\g<1>{MASK}@", text)


class RedactSecrets(logging.Filter):
    """Masks credentials in a record's message, exception text and stack (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is the handler's to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # formatters use `exc_text` when it is set: format the exception here, masked
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_text = record.exc_text.rstrip("\n")
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Add the filter to every logger that emits our requests' records (idempotent)."""
    existing = [
        name for name in list(logging.Logger.manager.loggerDict) if name.startswith(_PREFIXES)
    ]
    for name in (*_LOGGERS, *existing):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
