"""BinderHub's wire format, server side: event encoding, build tokens, rate-limit headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from binderfed_sdk._redact import redact

if TYPE_CHECKING:
    import tornado.web

_access_log = logging.getLogger("tornado.access")

__all__ = ["KEEPALIVE", "encode_event", "log_request", "make_jwt", "verify_jwt"]

KEEPALIVE = b":keepalive\n\n"


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Tornado's access log line, with `token=` / `build_token=` values masked."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    request = handler.request
    millis = 1000.0 * request.request_time()
    uri = redact(request.uri or "")
    _access_log.log(level, f"{status} {request.method} {uri} ({request.remote_ip}) {millis:.1f}ms")


def encode_event(data: dict[str, Any]) -> bytes:
    """One server-sent event as BinderHub writes it: `data: <json>` and a blank line."""
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JSON Web Token, as PyJWT (and so BinderHub) writes its build tokens."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def verify_jwt(token: str, secret: bytes, *, audience: str, now: float | None = None) -> bool:
    """Whether ``token`` is an HS256 JWT signed with ``secret``, for ``audience``, unexpired."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        payload = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, TypeError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    expected = hmac.new(
        secret, f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, signature) or not isinstance(payload, dict):
        return False
    aud = payload.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        return False
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return False
    return exp > (time.time() if now is None else now)
