"""Wire conventions of the Sterling emulator (reference §C.3, C.4, C.7).

- errors are ``{"errorCode": <int>, "errorDescription": "<text>"}`` with the HTTP status as
  the code; handlers raise :class:`ApiError` and the dispatcher turns it into that body;
- lists are bare arrays cut by ``_range=<start>-<end>`` (inclusive, zero-based); an empty
  result is a 404 error object, as the public clients expect (§C.3);
- ``searchFor`` is a SQL LIKE pattern (``%``, ``_``) that also matches as a prefix, the way
  one bug report shows ``searchFor=BP`` matching ``BP%``; case-insensitive (collation, [U]);
- GET shapes carry ``_id``/``_title``/``href``/``$ref`` and ``{code, display}`` enum objects;
  ``_include``/``_exclude`` project the domain fields, never the hypermedia ones.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import time
from typing import Any

import httpx

API = "/B2BAPIs/svc"
DEFAULT_RANGE = 100  # rows when a list call gives no _range [U]
MAX_RANGE = 1000  # rows one call returns at most, whatever the _range [U]
HYPERMEDIA = ("_id", "_title", "href", "$ref", "actions")


class ApiError(Exception):
    """A failure a handler reports; becomes ``{errorCode, errorDescription}`` with ``status``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def error_response(status: int, description: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"errorCode": status, "errorDescription": description}
    return httpx.Response(status, json=body, headers=headers)


def json_response(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def read_json(request: httpx.Request) -> dict[str, Any]:
    """The JSON object a POST/PUT carries; ApiError 415/400 when it is not one."""
    ctype = request.headers.get("content-type", "")
    if "json" not in ctype:
        raise ApiError(415, f"Unsupported Media Type: {ctype or 'none'}; use application/json")
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        raise ApiError(400, "API000100: The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "API000100: The request body must be a JSON object.")
    return body


def page(request: httpx.Request, rows: list[dict[str, Any]], what: str) -> httpx.Response:
    """A list response: ``rows`` cut by ``_range`` and projected; 404 when nothing is left."""
    start, end = parse_range(request.url.params.get("_range"))
    chosen = rows[start:min(end + 1, start + MAX_RANGE)]
    if not chosen:
        raise ApiError(404, f"API000161: No {what} found for the given criteria.")
    return json_response([project(request, row) for row in chosen])


def parse_range(value: str | None) -> tuple[int, int]:
    """``(start, end)`` of a ``_range`` value; ApiError 400 when malformed."""
    if value is None:
        return 0, DEFAULT_RANGE - 1
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if not match or int(match.group(1)) > int(match.group(2)):
        raise ApiError(400, f"API000160: Invalid _range '{value}'; expected <start>-<end> with start <= end.")
    return int(match.group(1)), int(match.group(2))


def like(pattern: str | None, value: str) -> bool:
    """Whether ``value`` matches the ``searchFor`` pattern (see the module docstring)."""
    if not pattern:
        return True
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.match(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def project(request: httpx.Request, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``_include``/``_exclude`` applied to its domain fields."""
    include = _fields(request.url.params.get("_include"))
    exclude = _fields(request.url.params.get("_exclude"))
    if not include and not exclude:
        return row
    return {k: v for k, v in row.items()
            if k in HYPERMEDIA or ((not include or k in include) and k not in exclude)}


def _fields(value: str | None) -> set[str]:
    return {f.strip() for f in (value or "").split(",") if f.strip()}


def coded(value: Any) -> dict[str, Any]:
    """A GET enum object: booleans display Yes/No, codes display themselves."""
    if isinstance(value, bool):
        return {"code": value, "display": "Yes" if value else "No"}
    return {"code": value, "display": str(value)}


def timestamp(when: float | None = None) -> str:
    """Sterling's timestamp style: ISO-8601 with a ``+0000`` offset (no colon)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(time.time() if when is None else when))


def hypermedia(base_url: str, resource: str, item_id: str, title: str) -> dict[str, Any]:
    href = f"{base_url}{API}/{resource}/{item_id}"
    return {"_id": item_id, "_title": f"{title}({item_id})", "href": href, "$ref": href}


def multipart_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """``name -> (filename, bytes)`` of a multipart/form-data body; ApiError 400 if it is not one."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(415, "Unsupported Media Type: messagebatches takes multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + request.content)
    if not message.is_multipart():
        raise ApiError(400, "API000100: The multipart body could not be read.")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return parts
