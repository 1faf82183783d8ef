"""QBO ``Fault`` objects -> the shared error tree, in exactly one place.

QBO reports failures as ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}],
"type": ...}}``, in a 4xx *or inside an HTTP 200* (reference §B.8), and per item inside a batch.
Key casing varies (``fault``/``error``/``message`` on 401s), so keys are read case-insensitively.

    Fault                                   -> error
    code 5010 (stale SyncToken)             -> StaleObject (re-read by Id, re-apply, retry)
    HTTP 429, code 3001, ThrottleExceeded   -> RateLimited (Intuit: wait 60 s)
    HTTP 401/403, Authentication/Authorization fault, codes 1-499 (e.g. 3200 arrives as 003200)
                                            -> AuthError
    code 610 on a read                      -> NotFound  (elsewhere: a dead reference -> Rejected)
    SystemFault, codes >= 10000, HTTP 5xx   -> TransientError
    anything else (ValidationFault, 6xxx)   -> RejectedError
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from .._http import excerpt, parse_retry_after
from ..errors import AuthError, IntegrationError, NotFound, RateLimited, RejectedError, TransientError

SYSTEM = "qbo"
# Intuit's advice after a 429; it documents no Retry-After header (reference §B.10).
THROTTLE_WAIT = 60.0
_AUTH_TYPES = {"authenticationfault", "authorizationfault", "authentication", "authorization"}
_AUTH_CODES = {"3200", "3100", "120", "100"}


class StaleObject(RejectedError):
    """QBO error 5010: the SyncToken sent is not the current one; someone changed the object.

    Not retryable as is: re-read the object by Id (a SyncToken from a query can be stale too),
    re-apply the change, and send again."""

    classification = "stale_object"


def loads(content: bytes | str) -> Any:
    """JSON with every number as ``Decimal``: QBO money must never pass through float."""
    return json.loads(content, parse_float=Decimal)


def _get(mapping: dict, key: str) -> Any:
    """``mapping[key]`` ignoring case, as QBO spells fault keys both ways."""
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    return next((v for k, v in mapping.items() if isinstance(k, str) and k.lower() == lowered), None)


def find_fault(body: Any) -> dict | None:
    """The ``Fault`` object of a response body, or None."""
    if not isinstance(body, dict):
        return None
    fault = _get(body, "Fault")
    return fault if isinstance(fault, dict) else None


def fault_errors(fault: dict) -> list[dict]:
    """The fault's ``Error`` entries as dicts with canonical keys ``Message``, ``Detail``, ``code``."""
    raw = _get(fault, "Error")
    entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return [
        {"Message": str(_get(e, "Message") or ""), "Detail": str(_get(e, "Detail") or ""),
         "code": str(_get(e, "code") or "").lstrip("0") or None, "element": _get(e, "element")}
        for e in entries if isinstance(e, dict)
    ]


def fault_error(
    fault: dict, *, status: int = 200, operation: str = "", request_id: str | None = None,
    body_excerpt: str = "", retry_after: float | None = None,
) -> IntegrationError:
    """The typed error one Fault stands for (see the table in the module docstring)."""
    errors = fault_errors(fault)
    first: dict[str, Any] = errors[0] if errors else {"Message": "", "Detail": "", "code": None}
    code, ftype = first["code"], str(_get(fault, "type") or "")
    text = _describe(first["Message"], first["Detail"]) or f"QBO fault {ftype or 'without detail'}"
    context: dict[str, Any] = dict(system=SYSTEM, operation=operation, status=status, request_id=request_id,
                                   body_excerpt=body_excerpt, code=code)
    message = excerpt(text, 240)
    cls = _fault_class(code, ftype, status, first["Message"], operation)
    if cls is RateLimited:
        return RateLimited(message, retry_after=THROTTLE_WAIT if retry_after is None else retry_after, **context)
    return cls(message, **context)


def _describe(message: str, detail: str) -> str:
    # QBO's Detail usually repeats the Message as its prefix ("Stale Object Error : You and...").
    if detail.startswith(message):
        return detail
    return " ".join(p for p in (message, detail) if p)


def _fault_class(code: str | None, ftype: str, status: int, message: str,
                 operation: str) -> type[IntegrationError]:
    number = int(code) if code and code.isdigit() else None
    if code == "5010":
        return StaleObject
    if status == 429 or code == "3001" or "ThrottleExceeded" in message:
        return RateLimited
    if status in (401, 403) or ftype.lower() in _AUTH_TYPES or code in _AUTH_CODES:
        return AuthError
    if code == "610" and operation == "read":
        return NotFound
    if status >= 500 or ftype.lower() == "systemfault" or (number is not None and number >= 10000):
        return TransientError
    if status == 404:
        return NotFound
    return RejectedError


def check(response: httpx.Response, *, operation: str = "") -> None:
    """Raise the typed error for a QBO response carrying a ``Fault`` (in a 200 or a 4xx).

    5xx is left to the shared status table (retried either way), and so is a 4xx without a
    Fault body. ``_http.send`` calls this after its status check."""
    if response.status_code >= 500:
        return
    fault = response_fault(response)
    if fault is None:
        return
    raise fault_error(
        fault, status=response.status_code, operation=operation,
        request_id=response.headers.get("intuit_tid"), body_excerpt=excerpt(response.content),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def response_fault(response: httpx.Response) -> dict | None:
    """The Fault of a JSON response, or None (also for non-JSON bodies)."""
    content = response.content
    if not content or content.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return find_fault(loads(content))
    except ValueError:
        return None
