"""VENDOR and CUSTOMER: generic ``create``/``update`` bodies and the ``query`` lookups that find
an existing party by id, email or a custom field (reference §5.1, §5.2, §4.1).

Generic functions take uppercase fields in any order; they are still written in one fixed order
so a document always renders the same bytes (the ledger hashes the mapped payload). Custom
fields are child elements named by their integration name (reference §5, "Custom fields").
"""

from __future__ import annotations

import re
from typing import Literal

from lxml import etree

from ._xml import sub, sub_fields
from .functions import money, query_function, write_function
from .models import Function
from .models_commerce import Contact, Customer, Vendor

VENDOR_FIELDS = ("RECORDNO", "VENDORID", "NAME", "STATUS", "DISPLAYCONTACT.EMAIL1", "WHENMODIFIED")
CUSTOMER_FIELDS = ("RECORDNO", "CUSTOMERID", "NAME", "STATUS", "DISPLAYCONTACT.EMAIL1", "WHENMODIFIED")
# An integration name: what may safely become an element name and a query field.
CUSTOM_FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")


def _contact(parent: etree._Element, contact: Contact) -> None:
    display = sub(parent, "DISPLAYCONTACT")
    sub_fields(display, [
        ("PRINTAS", contact.print_as),
        ("COMPANYNAME", contact.company_name),
        ("FIRSTNAME", contact.first_name),
        ("LASTNAME", contact.last_name),
        ("EMAIL1", contact.email),
        ("PHONE1", contact.phone),
    ])
    address = contact.address
    if address is not None:
        sub_fields(sub(display, "MAILADDRESS"), [
            ("ADDRESS1", address.address1),
            ("ADDRESS2", address.address2),
            ("CITY", address.city),
            ("STATE", address.state),
            ("ZIP", address.zip),
            ("COUNTRY", address.country),
            ("COUNTRYCODE", address.country_code),
        ])


def _custom(parent: etree._Element, custom: dict[str, str]) -> None:
    for name in sorted(custom):
        if not CUSTOM_FIELD_NAME.match(name):
            raise ValueError(f"custom field name {name!r} is not an Intacct integration name")
        sub(parent, name, custom[name])


def _vendor_element(vendor: Vendor) -> etree._Element:
    element = etree.Element("VENDOR")
    sub_fields(element, [("VENDORID", vendor.vendor_id), ("NAME", vendor.name), ("STATUS", vendor.status),
                         ("CURRENCY", vendor.currency)])
    _contact(element, vendor.contact)
    _custom(element, vendor.custom)
    return element


def _customer_element(customer: Customer) -> etree._Element:
    element = etree.Element("CUSTOMER")
    credit = money(customer.credit_limit) if customer.credit_limit is not None else None
    sub_fields(element, [("CUSTOMERID", customer.customer_id), ("NAME", customer.name),
                         ("STATUS", customer.status), ("CURRENCY", customer.currency), ("CREDITLIMIT", credit)])
    _contact(element, customer.contact)
    _custom(element, customer.custom)
    return element


def _generic(verb: Literal["create", "update"], controlid: str, element: etree._Element, what: str) -> Function:
    body = etree.Element(verb)
    body.append(element)
    return write_function(controlid, body, what)


def vendor_create_function(controlid: str, vendor: Vendor) -> Function:
    """``<create><VENDOR>`` with VENDORID, NAME, DISPLAYCONTACT and custom fields."""
    return _generic("create", controlid, _vendor_element(vendor), "a vendor create")


def vendor_update_function(controlid: str, vendor: Vendor) -> Function:
    """``<update><VENDOR>`` keyed by VENDORID: every field of the model is written."""
    return _generic("update", controlid, _vendor_element(vendor), "a vendor update")


def customer_create_function(controlid: str, customer: Customer) -> Function:
    """``<create><CUSTOMER>`` with CUSTOMERID, NAME, CREDITLIMIT, DISPLAYCONTACT and custom fields."""
    return _generic("create", controlid, _customer_element(customer), "a customer create")


def customer_update_function(controlid: str, customer: Customer) -> Function:
    """``<update><CUSTOMER>`` keyed by CUSTOMERID."""
    return _generic("update", controlid, _customer_element(customer), "a customer update")


def _lookup_field(object_name: str, by: str) -> str:
    if by == "id":
        return f"{object_name}ID"
    if by == "email":
        return "DISPLAYCONTACT.EMAIL1"
    if CUSTOM_FIELD_NAME.match(by):
        return by
    raise ValueError(f"cannot look a {object_name.lower()} up by {by!r}")


def _lookup(object_name: str, fields: tuple[str, ...], by: str, value: str, controlid: str | None) -> Function:
    field = _lookup_field(object_name, by)
    select = fields if field in fields else fields + (field,)
    # Emails are compared case-insensitively: Commerce lowercases them, people typing into
    # Intacct do not. Ordered by RECORDNO so "the oldest match" is stable.
    return query_function(object_name, select, ("equalto", field, value), [("RECORDNO", "ascending")],
                          pagesize=100, show_private=True, case_insensitive=by == "email", controlid=controlid)


def vendor_lookup_function(by: str, value: str, *, controlid: str | None = None) -> Function:
    """A ``query`` of VENDOR by ``"id"`` (VENDORID), ``"email"`` (DISPLAYCONTACT.EMAIL1,
    case-insensitive) or a custom field's integration name (e.g. the Commerce customer id)."""
    return _lookup("VENDOR", VENDOR_FIELDS, by, value, controlid)


def customer_lookup_function(by: str, value: str, *, controlid: str | None = None) -> Function:
    """A ``query`` of CUSTOMER by ``"id"``, ``"email"`` or a custom field's integration name."""
    return _lookup("CUSTOMER", CUSTOMER_FIELDS, by, value, controlid)
