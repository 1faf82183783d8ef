"""Order to cash, the customer master both ways. Pure functions: no I/O.

* Commerce customer -> Intacct CUSTOMER: the CUSTOMERID is the one the Commerce customer keeps
  in ``o2c.customer_id_attribute`` when it has one, else ``customer_id_prefix`` + its id; the
  Commerce id goes into the custom field ``customer_commerce_id_field``.
* Intacct CUSTOMER -> Commerce: the ``PUT /V1/customers/{id}`` body that keeps the CUSTOMERID
  as a customer attribute and carries the fields Intacct wins under the conflict rule
  (:mod:`.commerce_parties`), with the conflicts for the ledger.
* Intacct CREDITLIMIT -> the B2B company credit limit (``PUT /V1/companyCredits/{id}``).
* An Intacct-created CUSTOMER -> the ``POST /V1/customers`` body (it needs an email and a name),
  and the ledger's ``conflict`` rows of a linked pair.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal, InvalidOperation

from ..connectors.errors import BadDocument
from ..connectors.intacct.models_commerce import Contact, Customer, MailAddress
from ..ledger.schema import SKIPPED
from ..ledger.store import Incoming
from .commerce_common import bad, custom_attribute, need_dict
from .commerce_parties import FieldConflict, commerce_customer_update, commerce_party, intacct_party
from .commerce_tenant import CommerceSettings, O2cSettings

OPERATION = "commerce-intacct-o2c"


def _o2c(commerce: CommerceSettings) -> O2cSettings:
    if commerce.o2c is None:
        raise bad("the tenant has no commerce.o2c section", "not-configured", OPERATION)
    return commerce.o2c


def customer_id_for(customer: dict, commerce: CommerceSettings) -> str:
    """The CUSTOMERID of a Commerce customer: its kept attribute, else prefix + id."""
    o2c = _o2c(commerce)
    kept = custom_attribute(customer, o2c.customer_id_attribute)
    if kept:
        if len(kept) > 20:
            raise bad(f"customer {customer.get('id')}: {o2c.customer_id_attribute} {kept[:30]!r} is longer "
                      "than 20 characters", "too-long", OPERATION)
        return kept
    customer_id, _fields, _contact = commerce_party(customer)
    return f"{o2c.customer_id_prefix}{customer_id}"


def customer_to_intacct(customer: dict, commerce: CommerceSettings) -> Customer:
    """A ``/V1/customers`` item -> the Intacct CUSTOMER (create, or update of the same id)."""
    o2c = _o2c(commerce)
    customer = need_dict(customer, "customer")
    customer_id, fields, contact = commerce_party(customer)
    return Customer(customer_id=customer_id_for(customer, commerce), name=fields["name"][:100], contact=contact,
                    custom={o2c.customer_commerce_id_field: str(customer_id)})


def intacct_to_commerce_customer(record: dict, customer: dict,
                                 commerce: CommerceSettings) -> tuple[dict, list[FieldConflict]]:
    """(``PUT /V1/customers/{id}`` body, conflicts) for Commerce customer ``customer`` from the
    Intacct CUSTOMER ``record`` (a ``read``/``query`` record). The body keeps the CUSTOMERID in
    ``customer_id_attribute`` and takes every contact field the conflict rule gives Intacct."""
    o2c = _o2c(commerce)
    record = need_dict(record, "Intacct customer")
    customer_id = record.get("CUSTOMERID")
    if not isinstance(customer_id, str) or not customer_id:
        raise bad("Intacct customer record has no CUSTOMERID", "missing-field", OPERATION)
    return commerce_customer_update(record, customer, commerce.conflicts, (o2c.customer_id_attribute, customer_id))


def credit_limit_to_company_credit(record: dict, credit: dict) -> dict | None:
    """The ``PUT /V1/companyCredits/{id}`` body that sets the B2B company credit limit to the
    Intacct CREDITLIMIT, or None when they already agree (no write, no history entry). The
    currency stays the company credit's: Intacct amounts in another currency are not converted."""
    record, credit = need_dict(record, "Intacct customer"), need_dict(credit, "company credit")
    raw = record.get("CREDITLIMIT")
    if raw in (None, ""):
        return None
    try:
        limit = Decimal(str(raw)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise bad(f"Intacct customer {record.get('CUSTOMERID')}: CREDITLIMIT {str(raw)[:20]!r} is not a number",
                  "wrong-type", OPERATION) from None
    if limit < 0:
        raise bad(f"Intacct customer {record.get('CUSTOMERID')}: negative CREDITLIMIT {limit}", "wrong-value", OPERATION)
    current = credit.get("credit_limit")
    if current is not None and not isinstance(current, bool) and Decimal(str(current)) == limit:
        return None
    for key in ("id", "company_id"):
        if not isinstance(credit.get(key), int) or isinstance(credit.get(key), bool):
            raise bad(f"company credit: {key} must be an integer", "wrong-type", OPERATION)
    # A Decimal: the client writes it as the JSON number the API documents, digit for digit.
    return {"creditLimit": {"id": credit["id"], "company_id": credit["company_id"], "credit_limit": limit,
                            "currency_code": credit.get("currency_code") or "USD",
                            "exceed_limit": bool(credit.get("exceed_limit", False))}}


# -- the Intacct side of the customer master ----------------------------------------------


CONTACT = ("PRINTAS", "COMPANYNAME", "FIRSTNAME", "LASTNAME", "EMAIL1", "PHONE1")
ADDRESS = ("ADDRESS1", "ADDRESS2", "CITY", "STATE", "ZIP", "COUNTRY", "COUNTRYCODE")
CONTACT_FIELDS = ("name", "email", "first_name", "last_name", "phone", "address")


def customer_fields(commerce: CommerceSettings) -> list[str]:
    """The CUSTOMER fields the customer master reads (``query`` keys, nested by :func:`nest`)."""
    return (["RECORDNO", "CUSTOMERID", "NAME", "STATUS", "WHENMODIFIED", "CREDITLIMIT", "MEGAENTITYID",
             commerce.o2c.customer_commerce_id_field] + [f"DISPLAYCONTACT.{f}" for f in CONTACT]
            + [f"DISPLAYCONTACT.MAILADDRESS.{f}" for f in ADDRESS])


def nest(record: dict) -> dict:
    """``DISPLAYCONTACT.MAILADDRESS.CITY`` query keys -> nested dicts, as ``read`` renders them."""
    out: dict = {}
    for key, value in record.items():
        node, *path = key.split(".")
        target = out
        for part in [node, *path][:-1]:
            target = target.setdefault(part, {})
        target[([node, *path])[-1]] = value
    return out


def conflict_rows(customer_id: str, conflicts) -> list[Incoming]:
    """One skipped ``conflict`` ledger row per distinct decision of the conflict rule."""
    rows = []
    for c in conflicts:
        data = c.as_dict()
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
        reason = (f"{c.field}: Intacct {data['intacct_value']!r} vs Commerce {data['commerce_value']!r} -> "
                  f"{c.winner} ({c.reason})")[:900]
        rows.append(Incoming(doc_type="conflict", partner="", natural_key=f"{customer_id}:{c.field}:{digest}",
                             source_ref=f"customer:{customer_id}", raw_payload=json.dumps(data).encode(),
                             status=SKIPPED, error_class="conflict", last_error=reason))
    return rows


def merged_contact(merged: dict) -> Contact:
    """The Intacct contact of a linked pair's fields after the conflict rule."""
    address = merged.get("address") or None
    return Contact(print_as=merged["name"], first_name=merged.get("first_name"), last_name=merged.get("last_name"),
                   email=merged.get("email"), phone=merged.get("phone"),
                   address=MailAddress(**address) if isinstance(address, dict) else None)


def website_for(record: dict, commerce: CommerceSettings) -> int:
    """The Commerce website of an Intacct customer: its entity's first website, else the first."""
    entity = record.get("MEGAENTITYID") or ""
    for website in commerce.websites.values():
        if entity and website.entity == entity:
            return website.website_id
    return min(w.website_id for w in commerce.websites.values())


def new_commerce_customer(record: dict, commerce: CommerceSettings) -> dict:
    """The ``POST /V1/customers`` customer of an Intacct-created customer (BadDocument if it
    cannot be one: Commerce needs an email and a name)."""
    party = intacct_party(record)
    where = f"Intacct customer {record.get('CUSTOMERID')}"
    if not party.get("email"):
        raise BadDocument(f"{where} has no email (DISPLAYCONTACT.EMAIL1): Commerce customers need one",
                          system="mapping", operation=OPERATION, code="missing-field")
    name = party.get("name") or ""
    first = party.get("first_name") or (name.split()[0] if name.split() else None)
    last = party.get("last_name") or (" ".join(name.split()[1:]) or name or None)
    if not first or not last:
        raise BadDocument(f"{where} has no name", system="mapping", operation=OPERATION, code="missing-field")
    return {"email": party["email"], "firstname": first[:100], "lastname": last[:100],
            "website_id": website_for(record, commerce),
            "custom_attributes": [{"attribute_code": commerce.o2c.customer_id_attribute,
                                   "value": record["CUSTOMERID"]}]}


def intacct_contact(record: dict) -> Contact:
    """The contact an Intacct customer record names (its display contact)."""
    party = intacct_party(record)
    return Contact(print_as=party.get("name") or record["CUSTOMERID"], first_name=party.get("first_name"),
                   last_name=party.get("last_name"), email=party.get("email"), phone=party.get("phone"))
