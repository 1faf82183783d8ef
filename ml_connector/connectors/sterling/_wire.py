"""Reading Sterling's responses and classifying its errors: the one place for both.

Sterling answers errors as ``{"errorCode": <int>, "errorDescription": "<text>"}`` (reference
§C.3), creates with ``{"Location": ...}`` and updates/deletes with ``{"rowsAffected": n}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

import httpx
from pydantic import BaseModel, ValidationError

from .._http import error_class_for_status, excerpt
from ..errors import IntegrationError, NotFound, RateLimited, RejectedError, TransientError

SYSTEM = "sterling"


def seg(value: str | int) -> str:
    # Document ids hold ':' (host:node:hex:seq); encode everything, as Windows hosts need.
    return quote(str(value), safe="")


def read_json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientError(f"Sterling answered {operation} with a body that is not JSON", system=SYSTEM,
                             operation=operation, status=response.status_code,
                             body_excerpt=excerpt(response.content)) from None


def parse(model: type[BaseModel], row: Any, operation: str) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        raise TransientError(f"Sterling answered {operation} with a record we cannot read: {exc.error_count()} errors",
                             system=SYSTEM, operation=operation, body_excerpt=excerpt(json.dumps(row)[:2000])) from None


def required(body: dict[str, Any], fields: Iterable[str], what: str) -> dict[str, Any]:
    missing = [f for f in fields if body.get(f) in (None, "")]
    if missing:
        raise ValueError(f"cannot {what}: missing {', '.join(missing)}")
    return body


def location_id(response: httpx.Response, operation: str) -> str | None:
    """The new id: the last path segment of ``{"Location": ...}`` (or the Location header)."""
    try:
        location = (response.json() or {}).get("Location")
    except (ValueError, AttributeError):
        location = None
    location = location or response.headers.get("location")
    if not location:
        return None
    path = str(location).split("?", 1)[0].rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) or None


def rows_affected(response: httpx.Response, operation: str) -> None:
    try:
        rows = int((response.json() or {}).get("rowsAffected", 1))
    except (ValueError, AttributeError, TypeError):
        rows = 1  # a 2xx without the usual body: the status line already said it worked
    if rows < 1:
        raise NotFound(f"Sterling {operation} matched no record", system=SYSTEM, operation=operation,
                       status=response.status_code, code="rows-affected-0")


def truthy(value: Any) -> bool:
    value = value.get("code") if isinstance(value, dict) else value
    return value is True or str(value).lower() in ("true", "1", "yes")


# -- error classification ---------------------------------------------------------------

_CODE = re.compile(r'"errorCode"\s*:\s*"?([^",}\s]+)')
_DESCRIPTION = re.compile(r'"errorDescription"\s*:\s*"((?:[^"\\]|\\.)*)')


def check(response: httpx.Response, *, operation: str = "") -> None:
    """Raise the typed error a ``{errorCode, errorDescription}`` body stands for; pass others.

    The class comes from the HTTP status, or from ``errorCode`` when an error object arrives
    with a 2xx status; the description becomes the message and ``errorCode`` the code.
    """
    if "json" not in response.headers.get("content-type", ""):
        return
    try:
        body = response.json()
    except ValueError:
        return
    if not (isinstance(body, dict) and "errorCode" in body):
        return
    code = str(body.get("errorCode"))
    cls = error_class_for_status(response.status_code)
    if cls is None:  # an error in a 2xx body: its errorCode, when it is an HTTP error status, says which
        in_body = error_class_for_status(int(code)) if code.isdigit() and 400 <= int(code) < 600 else None
        cls = in_body or RejectedError
    message = _message(operation, str(body.get("errorDescription") or f"error {code}"))
    context = dict(system=SYSTEM, operation=operation, status=response.status_code, code=code,
                   request_id=response.headers.get("x-request-id"), body_excerpt=excerpt(response.content))
    if cls is RateLimited:
        raise RateLimited(message, retry_after=None, **context)
    raise cls(message, **context)


def sterling_error(exc: IntegrationError) -> IntegrationError:
    """``exc`` with Sterling's own ``errorDescription``/``errorCode`` when its body excerpt
    carries them (JSON 4xx bodies reach us through the status table, not :func:`check`)."""
    if exc.code is not None or isinstance(exc, RateLimited) or not exc.body_excerpt:
        return exc
    code = _CODE.search(exc.body_excerpt)
    if not code:
        return exc
    description = _DESCRIPTION.search(exc.body_excerpt)
    text = description.group(1).replace('\\"', '"') if description else f"error {code.group(1)}"
    return type(exc)(_message(exc.operation, text), **{**exc._context(), "code": code.group(1)})


def _message(operation: str, description: str) -> str:
    return excerpt(f"Sterling refused {operation or 'the call'}: {description}", 240)
