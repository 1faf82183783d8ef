"""Sage Intacct XML gateway codec: functions and request envelopes out, typed results in.

Requests are built with lxml (:mod:`._xml`), never by string formatting, and every text value
loses the code points XML 1.0 forbids before it is encoded. The function bodies live in
:mod:`.functions` and are re-exported here. Responses are parsed with the hardened parser of
:mod:`._xml`: a DOCTYPE or entity is refused before anything is expanded.

How a response becomes errors (the one classifier of this connector):

====================  ===========================================  =============================
level                 what                                         becomes
====================  ===========================================  =============================
body                  not XML, truncated, not a ``<response>``,    raised ``TransientError``
                      or carrying a DOCTYPE/entity (refused,
                      never expanded)
control               ``GW-0010``                                  raised ``RateLimited``
control / auth        "Please Try Again Later", other ``GW-*``     raised ``TransientError``
control               ``XL03000006``, ``GW-0011`` (sender)         raised ``AuthError``
control               ``XL03000003`` and anything else             raised ``RejectedError``
authentication        any failure, request sent with a session     raised ``SessionExpired``
authentication        any failure, request sent with a login       raised ``AuthError``
function              failure                                      ``FunctionResult.error``:
                                                                   ``RejectedError``
function              duplicate controlid (``uniqueid=true``)      ... ``DuplicateWrite``
function              ``aborted`` (its transaction rolled back),   ... ``TransientError``
                      or "Please Try Again Later"
====================  ===========================================  =============================

Why an unreadable body is transient and not a rejection: the outcome of the request is unknown
(a cut connection, a proxy page, a hostile middlebox), and a rejection would tell the ledger
that Intacct refused the documents, which nobody knows. Every write we send carries a function
controlid with ``uniqueid=true``, so asking again is safe, and ``_http`` bounds the retries.
The error carries a redacted excerpt of the body either way.

The errorno Intacct uses for a reused function controlid is not documented (reference §1.4);
:data:`DUPLICATE_ERRORNOS` holds the sandbox's synthetic code and is the one place to add the
real one when it is known.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from lxml import etree

from .._http import excerpt, redact
from ..errors import (
    AuthError,
    BadDocument,
    DuplicateWrite,
    IntegrationError,
    RateLimited,
    RejectedError,
    TransientError,
)
from ._xml import (
    XMLRefused,
    parse,
    parse_date,
    parse_datetime,
    strip_forbidden,
    sub,
    sub_fields,
    text,
    to_bytes,
    to_record,
)
from .functions import (
    bill_function,
    get_api_session_function,
    money,
    new_controlid,
    query_function,
    quote,
    read_by_query_function,
    read_function,
    read_more_function,
)
from .models import ArInvoice, ArInvoiceLine, Function, FunctionResult

__all__ = [
    "DUPLICATE_ERRORNOS", "Login", "ParsedResponse", "SessionExpired", "ar_invoice_from_record",
    "bill_function", "build_request", "get_api_session_function", "money", "new_controlid",
    "parse_response", "query_function", "quote", "read_by_query_function", "read_function",
    "read_more_function", "strip_forbidden",
]

SYSTEM = "intacct"
DUPLICATE_ERRORNOS: frozenset[str] = frozenset({"DUPLICATE_CONTROLID"})

_SUPPORT_ID = re.compile(r"\[(?:Support|Request) ID:\s*([^\]]+)\]")
_TRY_AGAIN = re.compile(r"try again later", re.I)


class SessionExpired(AuthError):
    """The session was refused (expired, unknown or revoked): a new session may fix it."""


@dataclass(frozen=True)
class Login:
    """User credentials for ``<login>`` authentication; the password never shows in a repr."""

    user_id: str
    company_id: str
    password: str = field(repr=False)
    location_id: str | None = None


@dataclass(frozen=True)
class ParsedResponse:
    """A successful response: the session's timing from ``<authentication>`` and the results."""

    control_id: str
    results: list[FunctionResult]
    session_timestamp: datetime | None = None
    session_timeout: datetime | None = None
    location_id: str | None = None


# --- envelope ----------------------------------------------------------------------------


def build_request(
    functions: Sequence[Function],
    *,
    sender_id: str,
    sender_password: str,
    control_id: str,
    uniqueid: bool,
    session_id: str | None = None,
    login: Login | None = None,
    transaction: bool = False,
) -> bytes:
    """The request envelope, control block in XSD order, authenticated by session or login."""
    if (session_id is None) == (login is None):
        raise ValueError("authenticate with exactly one of session_id and login")
    _check_controlids(functions)
    root = etree.Element("request")
    sub_fields(sub(root, "control"), [
        ("senderid", sender_id),
        ("password", sender_password),
        ("controlid", control_id),
        ("uniqueid", uniqueid),
        ("dtdversion", "3.0"),
        ("includewhitespace", False),
    ])
    operation = sub(root, "operation")
    operation.set("transaction", "true" if transaction else "false")  # explicit, as the SDK does
    _authentication(sub(operation, "authentication"), session_id, login)
    content = sub(operation, "content")
    for function in functions:
        element = sub(content, "function")
        element.set("controlid", function.controlid)
        element.append(parse(function.body))
    return to_bytes(root, declaration=True)


def _authentication(auth: etree._Element, session_id: str | None, login: Login | None) -> None:
    if login is None:
        sub(auth, "sessionid", session_id)
        return
    sub_fields(sub(auth, "login"), [  # XSD order: userid, companyid, password, clientid?, locationid?
        ("userid", login.user_id),
        ("companyid", login.company_id),
        ("password", login.password),
        ("locationid", login.location_id),
    ])


def _check_controlids(functions: Sequence[Function]) -> None:
    # A controlid is how a result finds its function, and the idempotency key of a write:
    # it must survive the trip unchanged and be unique within the request.
    if not functions:
        raise ValueError("a request needs at least one function")
    ids = [f.controlid for f in functions]
    if len(set(ids)) != len(ids):
        raise ValueError("function controlids must be unique within a request")
    if any(not cid or strip_forbidden(cid) != cid for cid in ids):
        raise ValueError("a function controlid must be non-empty XML-safe text")


# --- responses ---------------------------------------------------------------------------


def parse_response(
    body: bytes,
    *,
    session_auth: bool = False,
    operation: str = "",
    duplicate_errornos: Collection[str] = DUPLICATE_ERRORNOS,
) -> ParsedResponse:
    """The results of a response, or the typed error of a control/authentication failure.

    ``session_auth`` says the request was authenticated by a session, which turns an
    authentication failure into :class:`SessionExpired` (renewable) instead of ``AuthError``.
    """
    root = _response_root(body, operation)
    control = root.find("control")
    if text(control, "status") != "success":
        raise _raised_error(root.find("errormessage"), body, operation, level="control")
    operations = root.findall("operation")
    if not operations:
        raise TransientError("Intacct response has no operation", system=SYSTEM, operation=operation,
                             body_excerpt=excerpt(body))
    results: list[FunctionResult] = []
    for op in operations:
        auth = op.find("authentication")
        if text(auth, "status") != "success":
            level = "session" if session_auth else "login"
            raise _raised_error(op.find("errormessage"), body, operation, level=level)
        results.extend(_result(r, duplicate_errornos) for r in op.findall("result"))
    auth = operations[0].find("authentication")
    return ParsedResponse(
        control_id=text(control, "controlid"),
        results=results,
        session_timestamp=_iso(text(auth, "sessiontimestamp")),
        session_timeout=_iso(text(auth, "sessiontimeout")),
        location_id=text(auth, "locationid") or None,
    )


def _response_root(body: bytes, operation: str) -> etree._Element:
    try:
        root = parse(body)
    except XMLRefused as exc:
        kind = "hostile" if exc.hostile else "unreadable"
        raise TransientError(redact(f"{kind} Intacct response body: {exc}"), system=SYSTEM, operation=operation,
                             body_excerpt=excerpt(body)) from None
    if root.tag != "response" or root.find("control") is None:
        raise TransientError(f"Intacct response root is <{root.tag}>, expected <response><control>",
                             system=SYSTEM, operation=operation, body_excerpt=excerpt(body))
    return root


def _iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _error_entries(errormessage: etree._Element | None) -> list[dict[str, str]]:
    if errormessage is None:
        return []
    keys = ("errorno", "description", "description2", "correction")
    return [{k: text(error, k) for k in keys} for error in errormessage.findall("error")]


def _message(entries: list[dict[str, str]], fallback: str) -> tuple[str, str | None, str | None]:
    """(one-line message, first errorno, support/request id) of Intacct ``<error>`` entries."""
    parts, support_id = [], None
    for entry in entries:
        found = _SUPPORT_ID.search(entry["description2"]) or _SUPPORT_ID.search(entry["description"])
        if found and support_id is None:
            support_id = unquote(found.group(1).strip())
        correction = f"({entry['correction']})" if entry["correction"] else ""
        words = [entry["errorno"], entry["description"], entry["description2"], correction]
        parts.append(" ".join(w for w in words if w))
    message = " ".join("; ".join(p for p in parts if p).split()) or fallback
    code = entries[0]["errorno"] if entries else None
    return redact(message), code, support_id


def _raised_error(errormessage: etree._Element | None, body: bytes, operation: str, *, level: str) -> IntegrationError:
    entries = _error_entries(errormessage)
    message, code, support_id = _message(entries, f"Intacct {level} failure without details")
    context: dict[str, Any] = dict(system=SYSTEM, operation=operation, code=code, request_id=support_id,
                                   body_excerpt=excerpt(body))
    message = f"{level} failure: {message}"
    if code == "GW-0010":
        return RateLimited(message, **context)
    if _TRY_AGAIN.search(message) or ((code or "").startswith("GW-") and code != "GW-0011"):
        return TransientError(message, **context)
    if level == "session":
        return SessionExpired(message, **context)
    if level == "login" or code in ("XL03000006", "GW-0011"):
        return AuthError(message, **context)
    return RejectedError(message, **context)


def _result(element: etree._Element, duplicate_errornos: Collection[str]) -> FunctionResult:
    status, function, controlid = (text(element, k) for k in ("status", "function", "controlid"))
    data = element.find("data")
    records = [to_record(r) for r in data if isinstance(r.tag, str)] if data is not None else []
    attrs = data.attrib if data is not None else {}
    error = None
    if status != "success":
        error = _function_error(element, status, function, duplicate_errornos)
    return FunctionResult(
        controlid=controlid,
        function=function,
        ok=error is None,
        key=text(element, "key") or _first_recordno(records),
        records=records,
        list_type=attrs.get("listtype"),
        count=_int(attrs.get("count")),
        total_count=_int(attrs.get("totalcount")),
        num_remaining=_int(attrs.get("numremaining")),
        result_id=attrs.get("resultId") or None,
        error=error,
    )


def _function_error(element: etree._Element, status: str, function: str,
                    duplicate_errornos: Collection[str]) -> IntegrationError:
    entries = _error_entries(element.find("errormessage"))
    message, code, support_id = _message(entries, f"Intacct function {status or 'failure'} without details")
    errornos = {e["errorno"] for e in entries}
    context: dict[str, Any] = dict(system=SYSTEM, operation=function, code=code, request_id=support_id,
                                   body_excerpt=excerpt(to_bytes(element)))
    if errornos & set(duplicate_errornos):
        return DuplicateWrite(message, **context)
    if status == "aborted" or _TRY_AGAIN.search(message):
        return TransientError(message, **context)
    return RejectedError(message, **context)


def _first_recordno(records: list[dict[str, Any]]) -> str | None:
    for record in records:
        if isinstance(record.get("RECORDNO"), str) and record["RECORDNO"]:
            return record["RECORDNO"]
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


# --- records -----------------------------------------------------------------------------


def ar_invoice_from_record(record: dict[str, Any], lines: Sequence[dict[str, Any]] = ()) -> ArInvoice:
    """An :class:`ArInvoice` from an ARINVOICE record (readByQuery) and its ARINVOICEITEM rows.

    Raises :class:`BadDocument` naming the RECORDNO when the record cannot be read, so one bad
    invoice is reported instead of silently skipped.
    """
    try:
        return ArInvoice(
            record_no=record["RECORDNO"],
            record_id=record.get("RECORDID") or record["RECORDNO"],
            customer_id=record["CUSTOMERID"],
            when_created=parse_date(record["WHENCREATED"]),
            when_due=parse_date(record["WHENDUE"]) if record.get("WHENDUE") else None,
            when_modified=parse_datetime(record["WHENMODIFIED"]),
            po_number=record.get("DOCNUMBER") or None,
            currency=record.get("CURRENCY") or None,
            total=Decimal(record.get("TRX_TOTALENTERED") or record.get("TOTALENTERED") or "0"),
            state=record.get("STATE") or None,
            lines=tuple(_ar_line(line) for line in lines),
        )
    except (KeyError, ValueError, InvalidOperation) as exc:  # pydantic's ValidationError is a ValueError
        raise BadDocument(
            f"unreadable ARINVOICE record {record.get('RECORDNO', '?')}: {type(exc).__name__}: {exc}".splitlines()[0],
            system=SYSTEM, operation="readByQuery", code="ARINVOICE",
        ) from None


def _ar_line(row: dict[str, Any]) -> ArInvoiceLine:
    return ArInvoiceLine(
        amount=Decimal(row.get("TRX_AMOUNT") or row.get("AMOUNT") or "0"),
        memo=row.get("ENTRYDESCRIPTION") or None,
        account_no=row.get("ACCOUNTNO") or None,
        item_id=row.get("ITEMID") or None,
    )
