"""Magento error bodies -> the shared error tree, in exactly one place.

Magento answers failures with ``{"message": <template>, "parameters": <list|object>, "code"?,
"errors"?: [{message, parameters}], "trace"?}`` (reference §A.3). The template is *not*
interpolated: ``%1``..``%n`` come from a parameter list, ``%name`` from a parameter object, and
the client fills them in (§A.2.6). :func:`render_message` makes the one line an operator reads.

    HTTP 400 (validation, missing parameter)       -> RejectedError
    HTTP 401/403 (token, ACL, 2FA, OAuth problem)  -> AuthError (after one re-auth, see .auth)
    HTTP 404 (no such entity or route)             -> NotFound
    HTTP 429, 5xx, timeouts                        -> left to _http's status table (retried)
    a 2xx whose body is not the JSON we expect     -> TransientError (a proxy or WAF page)
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx

from .._http import error_class_for_status, excerpt
from ..errors import AuthError, IntegrationError, RateLimited, TransientError

SYSTEM = "adobe"
_PLACEHOLDER = re.compile(r"%(\d+|[A-Za-z_][A-Za-z0-9_]*)")
_TWO_FACTOR = "2fa provider-specific endpoints"


def loads(content: bytes | str) -> Any:
    """JSON with every non-integer number as ``Decimal``: money never passes through float."""
    return json.loads(content, parse_float=Decimal)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def fill(template: str, parameters: Any) -> str:
    """``template`` with ``%1``.. filled from a list and ``%name`` from an object.

    A placeholder without a value stays as written, so nothing is silently lost."""
    if not isinstance(template, str):
        return _text(template)

    def value(match: re.Match) -> str:
        key = match.group(1)
        if isinstance(parameters, list) and key.isdigit() and 1 <= int(key) <= len(parameters):
            return _text(parameters[int(key) - 1])
        if isinstance(parameters, dict) and key in parameters:
            return _text(parameters[key])
        return match.group(0)

    return _PLACEHOLDER.sub(value, template)


def render_message(body: Any) -> str | None:
    """The one-line, filled-in message of a Magento error body, or None if it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None
    parts = [fill(body["message"], body.get("parameters"))]
    for item in body.get("errors") or []:
        if isinstance(item, dict) and isinstance(item.get("message"), str):
            text = fill(item["message"], item.get("parameters"))
            if text not in parts:
                parts.append(text)
    return " ".join("; ".join(parts).split())


def check(response: httpx.Response, *, operation: str = "") -> None:
    """Raise the typed error a Magento error response stands for; let successes pass.

    ``_http.send`` calls this for 4xx bodies (except 429) before its status table, so the
    message is Magento's own words with the placeholders filled."""
    cls = error_class_for_status(response.status_code)
    if cls is None or cls is RateLimited or response.status_code >= 500:
        return
    raise error_for(response, cls, operation=operation)


def error_for(response: httpx.Response, cls: type[IntegrationError], *, operation: str = "") -> IntegrationError:
    """The error for one failed response (``cls`` comes from the HTTP status)."""
    body = _json_or_none(response.content)
    message = render_message(body)
    code = str(body["code"]) if isinstance(body, dict) and body.get("code") not in (None, "") else None
    text = response.content.decode("utf-8", "replace")
    if message is None and "oauth_problem=" in text:
        # The OAuth layer's own answer: "oauth_problem=signature_invalid&message=..."
        code = text.split("oauth_problem=", 1)[1].split("&", 1)[0].strip()[:40] or None
        message, cls = f"OAuth problem {code}", AuthError
    if message and _TWO_FACTOR in message:
        cls = AuthError
        message += " (two-factor auth is on for this admin user: use an integration instead of admin credentials)"
    context = dict(system=SYSTEM, operation=operation, status=response.status_code, code=code,
                   request_id=response.headers.get("x-request-id"), body_excerpt=excerpt(response.content))
    line = excerpt(f"Adobe Commerce: {message}" if message else f"HTTP {response.status_code} from Adobe Commerce", 300)
    return cls(line, **context)


def _json_or_none(content: bytes) -> Any:
    if not content or content.lstrip()[:1] not in (b"{", b"[", b'"'):
        return None
    try:
        return loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def json_body(response: httpx.Response, operation: str) -> Any:
    """The JSON value of a successful response (numbers as Decimal); unreadable -> TransientError."""
    try:
        return loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise TransientError("Adobe Commerce answered with a body that is not JSON", system=SYSTEM,
                             operation=operation, status=response.status_code,
                             request_id=response.headers.get("x-request-id"),
                             body_excerpt=excerpt(response.content)) from None
