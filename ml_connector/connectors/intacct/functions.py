"""The bodies that go inside ``<function>``: generic create, readByQuery/readMore, read, query
and getAPISession, each returned as a :class:`~.models.Function` (controlid + serialized body).

Built with lxml through :mod:`._xml`, so every text value is escaped by lxml and loses the code
points XML 1.0 forbids. Money is rounded to cents here, with ``ROUND_HALF_UP``, so the amount we
send is exactly the amount that posts (Intacct would round anything longer itself).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from ._xml import DATE_FORMAT, sub, sub_fields, to_bytes
from .models import ApBill, Function

CENT = Decimal("0.01")
_BINARY_OPS = frozenset(
    {"equalto", "notequalto", "lessthan", "lessthanorequalto", "greaterthan", "greaterthanorequalto", "like", "notlike"}
)


def new_controlid(prefix: str = "fn") -> str:
    """A fresh controlid, for reads and requests (writes use their own deterministic ids)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def money(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to cents: Intacct keeps two decimals, and rounding here means
    the amount we send is exactly the amount that posts."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def _date(value: date) -> str:
    return (value.date() if isinstance(value, datetime) else value).strftime(DATE_FORMAT)


def _function(controlid: str | None, body: etree._Element) -> Function:
    return Function(controlid=controlid or new_controlid(), body=to_bytes(body))


def write_function(controlid: str, body: etree._Element, what: str = "a write") -> Function:
    """A write's function: ``controlid`` is its idempotency key and must be given."""
    if not controlid:  # never fall back to a random id: a retry would then post twice
        raise ValueError(f"{what} needs its idempotency key as controlid")
    return Function(controlid=controlid, body=to_bytes(body))


def legacy_date(parent: etree._Element, tag: str, value: date | None) -> None:
    """``<tag><year/><month/><day/></tag>`` (legacy functions, XSD sequence, zero-padded as the
    SDK does); nothing when ``value`` is None."""
    if value is None:
        return
    day = value.date() if isinstance(value, datetime) else value
    element = sub(parent, tag)
    sub_fields(element, [("year", f"{day.year:04d}"), ("month", f"{day.month:02d}"), ("day", f"{day.day:02d}")])


def legacy_custom_fields(parent: etree._Element, fields: Mapping[str, str] | None) -> None:
    """``<customfields><customfield><customfieldname/><customfieldvalue/>`` of a legacy function,
    in name order so the same document always renders the same bytes; nothing when empty."""
    if not fields:
        return
    element = sub(parent, "customfields")
    for name in sorted(fields):
        sub_fields(sub(element, "customfield"), [("customfieldname", name), ("customfieldvalue", fields[name])])


def bill_function(controlid: str, bill: ApBill) -> Function:
    """A generic ``<create><APBILL>`` for one bill; ``controlid`` is its idempotency key."""
    if not controlid:  # never fall back to a random id: a retry would then post twice
        raise ValueError("a bill needs its idempotency key as controlid")
    create = etree.Element("create")
    _apbill(sub(create, "APBILL"), bill)
    return _function(controlid, create)


def bill_update_function(controlid: str, recordno: str, bill: ApBill) -> Function:
    """A generic ``<update><APBILL>`` of the bill ``recordno`` to ``bill``: every header field and
    the whole line set (an update carrying ``APBILLITEMS`` replaces the bill's lines)."""
    update = etree.Element("update")
    apbill = sub(update, "APBILL")
    sub(apbill, "RECORDNO", recordno)
    _apbill(apbill, bill)
    return write_function(controlid, update, "a bill update")


def delete_function(controlid: str, object_name: str, recordno: str) -> Function:
    """A generic ``<delete><object/><keys/>`` of one record by RECORDNO."""
    delete = etree.Element("delete")
    sub_fields(delete, [("object", object_name), ("keys", recordno)])
    return write_function(controlid, delete, "a delete")


def reverse_bill_function(controlid: str, recordno: str, reversed_on: date, description: str | None = None) -> Function:
    """The legacy ``<reverse_bill key="RECORDNO">`` (XSD: ``datereversed``, ``description?``):
    Intacct posts the reversing entry on ``reversed_on`` and the bill stays, reversed."""
    body = etree.Element("reverse_bill", key=recordno)
    legacy_date(body, "datereversed", reversed_on)
    sub_fields(body, [("description", description)])
    return write_function(controlid, body, "a bill reversal")


def _apbill(apbill: etree._Element, bill: ApBill) -> None:
    sub_fields(apbill, [
        ("VENDORID", bill.vendor_id),
        ("WHENCREATED", _date(bill.when_created)),
        ("WHENPOSTED", _date(bill.when_posted) if bill.when_posted else None),
        ("WHENDUE", _date(bill.when_due)),
        ("RECORDID", bill.record_id),
        ("DOCNUMBER", bill.doc_number),
        ("DESCRIPTION", bill.description),
        ("CURRENCY", bill.currency),
    ])
    items = sub(apbill, "APBILLITEMS")
    for line in bill.lines:
        sub_fields(sub(items, "APBILLITEM"), [
            ("ACCOUNTNO", line.account_no),
            ("TRX_AMOUNT", money(line.amount)),
            ("ENTRYDESCRIPTION", line.memo),
            ("LOCATIONID", line.location_id),
            ("DEPARTMENTID", line.department_id),
            ("CLASSID", line.class_id),
            ("ITEMID", line.item_id),
        ])


def quote(value: str) -> str:
    """A readByQuery string literal: single quotes, with quote and backslash escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_by_query_function(
    object_name: str,
    query: str = "",
    *,
    fields: Sequence[str] = ("*",),
    page_size: int = 100,
    controlid: str | None = None,
) -> Function:
    """``readByQuery`` of ``object_name`` with a query string such as ``WHENMODIFIED >= '...'``."""
    if not 1 <= page_size <= 1000:
        raise ValueError("readByQuery page_size must be 1..1000")
    body = etree.Element("readByQuery")
    sub_fields(body, [("object", object_name), ("fields", ",".join(fields)), ("query", query), ("pagesize", page_size)])
    return _function(controlid, body)


def read_more_function(result_id: str, *, controlid: str | None = None) -> Function:
    """``readMore`` for the next page of the readByQuery that returned ``result_id``."""
    body = etree.Element("readMore")
    sub(body, "resultId", result_id)
    return _function(controlid, body)


def read_function(
    object_name: str, keys: Sequence[str], *, fields: Sequence[str] = ("*",), controlid: str | None = None
) -> Function:
    """``read`` of records by RECORDNO; unlike readByQuery it returns owned line items."""
    body = etree.Element("read")
    sub_fields(body, [("object", object_name), ("keys", ",".join(keys)), ("fields", ",".join(fields))])
    return _function(controlid, body)


def query_function(
    object_name: str,
    fields: Sequence[str],
    filter: tuple | None = None,
    orderby: Sequence[tuple[str, str]] = (),
    pagesize: int = 100,
    offset: int = 0,
    *,
    show_private: bool = False,
    case_insensitive: bool = False,
    controlid: str | None = None,
) -> Function:
    """A ``query`` function. ``filter`` is a nested tuple: ``("equalto", field, value)``,
    ``("in", field, [values])``, ``("between", field, (lo, hi))``, ``("isnull", field)``,
    ``("and", f1, f2, ...)``; ``orderby`` pairs a field with ``ascending``/``descending``."""
    if not 1 <= pagesize <= 2000 or offset < 0:
        raise ValueError("query pagesize must be 1..2000 and offset >= 0")
    body = etree.Element("query")
    select = sub(body, "select")
    for name in fields:
        sub(select, "field", name)
    sub(body, "object", object_name)
    if filter is not None:
        sub(body, "filter").append(_filter_element(filter))
    if orderby:
        orders = sub(body, "orderby")
        for name, direction in orderby:
            order = sub(orders, "order")
            sub(order, "field", name)
            sub(order, direction)
    if show_private or case_insensitive:
        options = sub(body, "options")  # XSD order: caseinsensitive, showprivate, returnformat
        if case_insensitive:
            sub(options, "caseinsensitive", True)
        if show_private:
            sub(options, "showprivate", True)
    sub_fields(body, [("pagesize", pagesize), ("offset", offset)])
    return _function(controlid, body)


def _filter_element(spec: tuple) -> etree._Element:
    op, *args = spec
    element = etree.Element(op)
    if op in ("and", "or"):
        if len(args) < 2:
            raise ValueError(f"query filter {op!r} needs at least two conditions")
        for child in args:
            element.append(_filter_element(child))
    elif op in ("isnull", "isnotnull"):
        sub(element, "field", args[0])
    elif op in ("in", "notin", "between"):
        name, values = args
        if not 1 <= len(values) <= 1000 or (op == "between" and len(values) != 2):
            raise ValueError(f"query filter {op!r} has a bad number of values")
        sub(element, "field", name)
        for value in values:
            sub(element, "value", value)
    elif op in _BINARY_OPS:
        sub_fields(element, [("field", args[0]), ("value", args[1])])
    else:
        raise ValueError(f"unknown query filter operator {op!r}")
    return element


def get_api_session_function(location_id: str | None = None, *, controlid: str | None = None) -> Function:
    """``getAPISession``, optionally for an entity; send it alone, with login authentication."""
    body = etree.Element("getAPISession")
    sub_fields(body, [("locationid", location_id)])
    return _function(controlid, body)


DEFAULT_EXCH_RATE_TYPE = "Intacct Daily Rate"


def legacy_currency(parent: etree._Element, currency: str | None, exch_rate_type: str = DEFAULT_EXCH_RATE_TYPE) -> None:
    """The optional currency group of legacy functions: ``currency`` then ``exchratetype``
    (the XSD asks for a rate type or a rate once a currency is given); nothing without one."""
    if currency:
        sub_fields(parent, [("currency", currency), ("exchratetype", exch_rate_type)])


def legacy_gl_line(parent: etree._Element, *, account_no: str, amount: Decimal, memo: str | None = None,
                   location_id: str | None = None, department_id: str | None = None,
                   item_id: str | None = None, class_id: str | None = None) -> None:
    """One legacy ``<lineitem>`` (bills, AP/AR adjustments, AR invoices), in XSD order:
    glaccountno, amount, memo, locationid, departmentid, itemid, classid."""
    sub_fields(sub(parent, "lineitem"), [
        ("glaccountno", account_no),
        ("amount", money(amount)),
        ("memo", memo),
        ("locationid", location_id),
        ("departmentid", department_id),
        ("itemid", item_id),
        ("classid", class_id),
    ])
