"""B2B companies and company credit in the Adobe Commerce emulator (reference §A.6.5).

A company gets a credit record at creation (limit 0 unless given). ``balance`` goes negative as
credit is used: an order paid on account (``companycredit``) decreases it by the grand total
(operation 3, Purchased, with the PO number in the history); ``available_limit`` is computed
(limit + balance) and cannot be set. ``increaseBalance`` accepts operations 1, 2, 4, 5, 6 and
``decreaseBalance`` 2, 3, 4; both answer ``true``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import docs
from .errors import AdobeError, invalid_value, required_input
from .store import AdobeStore

INCREASE_TYPES, DECREASE_TYPES = {1, 2, 4, 5, 6}, {2, 3, 4}


def add_company(store: AdobeStore, name: str, email: str, *, credit_limit: Any = 0, currency: str = "USD",
                super_user_id: int | None = None, legal_name: str | None = None, vat_tax_id: str | None = None,
                city: str = "Chicago", region_id: int = 23, postcode: str = "60601") -> dict:
    cid = store.next_id("company")
    company = {"id": cid, "status": 1, "company_name": name, "legal_name": legal_name or name, "company_email": email,
               "vat_tax_id": vat_tax_id, "reseller_id": None, "street": ["100 Commerce Way"], "city": city,
               "country_id": "US", "region_id": region_id, "postcode": postcode, "telephone": "312-555-0100",
               "customer_group_id": 2, "sales_representative_id": 1, "super_user_id": super_user_id,
               "reject_reason": None, "rejected_at": None,
               "extension_attributes": {"applicable_payment_method": 0, "use_config_settings": 1}}
    store.tables["company"][cid] = company
    credit_id = store.next_id("credit")
    store.tables["credit"][credit_id] = {"id": credit_id, "company_id": cid, "credit_limit": docs.money(credit_limit),
                                         "balance": Decimal("0.00"), "currency_code": currency, "exceed_limit": False,
                                         "available_limit": docs.money(credit_limit)}
    store.record("company", cid, "company_save_after")
    return company


def credit_of_company(store: AdobeStore, company_id: Any) -> dict:
    store.get("company", company_id)
    return next(c for c in store.tables["credit"].values() if c["company_id"] == int(company_id))


def _history(store: AdobeStore, credit: dict, amount: Decimal, kind: int, options: dict, comment: Any) -> dict:
    hid = store.next_id("credit_history")
    item = {"id": hid, "company_credit_id": credit["id"], "user_id": 1, "user_type": 2,
            "currency_credit": credit["currency_code"], "currency_operation": credit["currency_code"], "rate": 1,
            "rate_credit": 0, "amount": amount, "balance": credit["balance"], "credit_limit": credit["credit_limit"],
            "available_limit": credit["available_limit"], "type": kind, "datetime": store.now(),
            "purchase_order": options.get("purchase_order"), "comment": comment}
    store.tables["credit_history"][hid] = item
    return item


def change_balance(store: AdobeStore, credit_id: Any, body: dict, *, increase: bool) -> bool:
    """``POST /V1/companyCredits/{id}/increaseBalance|decreaseBalance``."""
    credit = store.get("credit", credit_id)
    for name in ("value", "currency", "operationType"):
        if body.get(name) in (None, ""):
            raise required_input(name)
    kind = int(body["operationType"])
    if kind not in (INCREASE_TYPES if increase else DECREASE_TYPES):
        raise invalid_value("operationType", kind)
    if str(body["currency"]) != credit["currency_code"]:
        raise invalid_value("currency", body["currency"])
    value = docs.money(body["value"])
    if value <= 0:
        raise invalid_value("value", body["value"])
    signed = value if increase else -value
    if not increase and not credit["exceed_limit"] and credit["available_limit"] - value < 0:
        raise AdobeError(400, "The requested amount exceeds the available credit limit.")
    credit["balance"] += signed
    credit["available_limit"] = credit["credit_limit"] + credit["balance"]
    _history(store, credit, signed, kind, body.get("options") or {}, body.get("comment"))
    return True


def purchase_on_account(store: AdobeStore, company: dict, order: dict) -> None:
    """What checkout with ``companycredit`` does to the company's credit."""
    credit = credit_of_company(store, company["id"])
    change_balance(store, credit["id"], {
        "value": order["grand_total"], "currency": credit["currency_code"], "operationType": 3,
        "options": {"purchase_order": order["payment"].get("po_number"), "order_increment": order["increment_id"]},
    }, increase=False)


def update_credit(store: AdobeStore, credit_id: Any, body: dict) -> dict:
    """``PUT /V1/companyCredits/{id}`` with ``{"creditLimit": {...}}``."""
    credit = store.get("credit", credit_id)
    data = body.get("creditLimit")
    if not isinstance(data, dict):
        raise required_input("creditLimit")
    if "credit_limit" in data:
        credit["credit_limit"] = docs.money(data["credit_limit"])
    if "exceed_limit" in data:
        credit["exceed_limit"] = bool(data["exceed_limit"])
    credit["available_limit"] = credit["credit_limit"] + credit["balance"]
    return credit
