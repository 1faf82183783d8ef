"""Commerce customers <-> Intacct vendors and customers: the shared party fields and the
documented conflict rule (``commerce.conflicts``, see :mod:`.commerce_tenant`).

A party is compared field by field in one vocabulary (name, email, first_name, last_name,
phone, address, status, currency, credit_limit...). :func:`reconcile` gives the winning value
of every field and a :class:`FieldConflict` for each field whose two values differ; the flows
write the winners to the losing side and every conflict to the ledger, so no overwrite is
silent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from ..connectors.intacct._xml import parse_datetime
from ..connectors.intacct.models_commerce import Contact, MailAddress
from .commerce_common import bad, email, integer, items, need_dict, stamp, text
from .commerce_tenant import ConflictRule

Side = Literal["intacct", "commerce"]


@dataclass(frozen=True)
class FieldConflict:
    """One field that differed between the two systems, and which value won and why."""

    field: str
    intacct_value: Any
    commerce_value: Any
    winner: Side
    reason: Literal["master", "newer", "tie"]

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if v is not None and not isinstance(v, str) else v) for k, v in asdict(self).items()}


def reconcile(intacct: dict[str, Any], intacct_modified: datetime | None, commerce: dict[str, Any],
              commerce_modified: datetime | None, rule: ConflictRule) -> tuple[dict[str, Any], list[FieldConflict]]:
    """(winning value per field, conflicts) of one party known to both systems.

    A field only one side has is taken from that side without a conflict. A field both have
    with different values goes to its master, else to the side modified last (``rule.tie``
    when the times are equal or unknown)."""
    merged: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for field in sorted(set(intacct) | set(commerce)):
        ours, theirs = intacct.get(field), commerce.get(field)
        if ours in (None, "") or theirs in (None, "") or ours == theirs:
            merged[field] = ours if ours not in (None, "") else theirs
            continue
        winner, reason = _winner(field, intacct_modified, commerce_modified, rule)
        merged[field] = ours if winner == "intacct" else theirs
        conflicts.append(FieldConflict(field, ours, theirs, winner, reason))
    return merged, conflicts


def _winner(field: str, intacct_modified: datetime | None, commerce_modified: datetime | None,
            rule: ConflictRule) -> tuple[Side, str]:
    if field in rule.intacct_fields:
        return "intacct", "master"
    if field in rule.commerce_fields:
        return "commerce", "master"
    if intacct_modified is None or commerce_modified is None or intacct_modified == commerce_modified:
        return rule.tie, "tie"
    return ("intacct" if intacct_modified > commerce_modified else "commerce"), "newer"


# --- Commerce side -------------------------------------------------------------------------


def default_billing(customer: dict, where: str) -> dict | None:
    """The customer's default billing address (else its first address), or None."""
    addresses = items(customer, where, "addresses")
    for address in addresses:
        if address.get("default_billing") is True:
            return address
    return addresses[0] if addresses else None


def mail_address(address: dict | None, where: str) -> MailAddress | None:
    if address is None:
        return None
    street = address.get("street") or []
    if not isinstance(street, list) or not all(isinstance(s, str) for s in street):
        raise bad(f"{where}: address street must be a list of strings", "wrong-type")
    region = address.get("region")
    if isinstance(region, dict):  # customer addresses nest it: {"region_code", "region"}
        region = region.get("region_code") or region.get("region")
    return MailAddress(
        address1=street[0] if street else None,
        address2=" ".join(street[1:]) or None,
        city=text(address, "city", where, required=False),
        state=address.get("region_code") or (str(region) if region else None),
        zip=text(address, "postcode", where, required=False),
        country_code=text(address, "country_id", where, required=False),
    )


def commerce_party(customer: dict) -> tuple[int, dict[str, Any], Contact]:
    """(customer id, comparable fields, Intacct contact) of a ``/V1/customers`` item."""
    customer = need_dict(customer, "customer")
    where = f"customer {customer.get('id', '?')}"
    customer_id = integer(customer, "id", where)
    mail = email(customer, "email", where)
    first = text(customer, "firstname", where, required=False, max_len=100)
    last = text(customer, "lastname", where, required=False, max_len=100)
    billing = default_billing(customer, where)
    company = text(billing, "company", where, required=False) if billing else None
    phone = text(billing, "telephone", where, required=False, max_len=40) if billing else None
    name = company or " ".join(p for p in (first, last) if p) or mail
    address = mail_address(billing, where)
    fields = {"name": name, "email": mail, "first_name": first, "last_name": last, "phone": phone,
              "address": address.model_dump(exclude_none=True) if address else None}
    contact = Contact(print_as=name, company_name=company, first_name=first, last_name=last, email=mail,
                      phone=phone, address=address)
    return customer_id, fields, contact


# --- Intacct side --------------------------------------------------------------------------


def field(record: dict, path: str) -> Any:
    """``DISPLAYCONTACT.EMAIL1`` from a query row (flat keys) or a read record (nested dicts)."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def intacct_party(record: dict) -> dict[str, Any]:
    """The comparable fields of a VENDOR or CUSTOMER record (read or query)."""
    address = field(record, "DISPLAYCONTACT.MAILADDRESS")
    mailing = None
    if isinstance(address, dict):
        mailing = {k: v for k, v in {
            "address1": address.get("ADDRESS1"), "address2": address.get("ADDRESS2"), "city": address.get("CITY"),
            "state": address.get("STATE"), "zip": address.get("ZIP"), "country_code": address.get("COUNTRYCODE"),
        }.items() if v}
    mail = field(record, "DISPLAYCONTACT.EMAIL1")
    return {"name": record.get("NAME") or None, "email": mail.lower() if isinstance(mail, str) and mail else None,
            "first_name": field(record, "DISPLAYCONTACT.FIRSTNAME") or None,
            "last_name": field(record, "DISPLAYCONTACT.LASTNAME") or None,
            "phone": field(record, "DISPLAYCONTACT.PHONE1") or None, "address": mailing or None,
            "status": record.get("STATUS") or None}


def _modified(record: dict) -> datetime | None:
    value = record.get("WHENMODIFIED")
    try:
        return parse_datetime(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def commerce_customer_update(record: dict, customer: dict, rule: ConflictRule,
                             attribute: tuple[str, str] | None = None) -> tuple[dict, list[FieldConflict]]:
    """(``PUT /V1/customers/{id}`` body, conflicts): the Commerce customer after applying what
    the Intacct VENDOR/CUSTOMER ``record`` wins under ``rule``; ``attribute`` (code, value) is
    kept as a customer custom attribute (e.g. the Intacct CUSTOMERID)."""
    customer = need_dict(customer, "customer")
    commerce_id, theirs, _contact = commerce_party(customer)
    merged, conflicts = reconcile(intacct_party(record), _modified(record), theirs,
                                  stamp(customer, "updated_at", f"customer {commerce_id}"), rule)
    attributes = [a for a in customer.get("custom_attributes") or []
                  if isinstance(a, dict) and (attribute is None or a.get("attribute_code") != attribute[0])]
    if attribute is not None:
        attributes.append({"attribute_code": attribute[0], "value": attribute[1]})
    body = {"id": commerce_id, "email": merged["email"],
            "firstname": merged.get("first_name") or customer.get("firstname"),
            "lastname": merged.get("last_name") or customer.get("lastname"),
            "website_id": customer.get("website_id"), "custom_attributes": attributes}
    return {"customer": body}, conflicts
