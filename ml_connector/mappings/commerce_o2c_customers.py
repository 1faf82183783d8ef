"""Order to cash, the customer master both ways. Pure functions: no I/O.

* Commerce customer -> Intacct CUSTOMER: the CUSTOMERID is the one the Commerce customer keeps
  in ``o2c.customer_id_attribute`` when it has one, else ``customer_id_prefix`` + its id; the
  Commerce id goes into the custom field ``customer_commerce_id_field``.
* Intacct CUSTOMER -> Commerce: the ``PUT /V1/customers/{id}`` body that keeps the CUSTOMERID
  as a customer attribute and carries the fields Intacct wins under the conflict rule
  (:mod:`.commerce_parties`), with the conflicts for the ledger.
* Intacct CREDITLIMIT -> the B2B company credit limit (``PUT /V1/companyCredits/{id}``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..connectors.intacct.models_commerce import Customer
from .commerce_common import bad, custom_attribute, need_dict
from .commerce_parties import FieldConflict, commerce_customer_update, commerce_party
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
    # A JSON number, as the API documents it; two decimals survive the float exactly enough.
    return {"creditLimit": {"id": credit["id"], "company_id": credit["company_id"], "credit_limit": float(limit),
                            "currency_code": credit.get("currency_code") or "USD",
                            "exceed_limit": bool(credit.get("exceed_limit", False))}}
